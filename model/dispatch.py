"""Stage 4, dispatch: the devices run as planned, less the DSO's cuts.

An export cut curtails PV; an import cut takes battery charging first, then EV
charging. Each household's devices then run (clipped to their limits) and the
result is one column per quantity across households.
"""

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan
from lemgrid.model.community import redispatch
from lemgrid.model.constraints import Curtailment
from lemgrid.model.interval import Interval

Columns = dict[str, np.ndarray]  # per-household column name -> values, in household order


def cut_plan(plan: DevicePlan, export_kw: float, import_kw: float) -> DevicePlan:
    """A plan changed by the DSO's cuts: export by curtailing PV, import by less battery, then EV charging.

    Without a cut it is ``plan`` itself (plans are not changed in place after they are made).
    """
    if not (export_kw > 0 or import_kw > 0):
        return plan
    out = replace(plan)
    if export_kw > 0:
        out.pv_curtailed_kw += export_kw
        out.pv_kw -= export_kw
    if import_kw > 0:
        from_battery = min(import_kw, max(-out.battery_kw, 0.0))
        out.battery_kw += from_battery
        out.ev_kw += min(import_kw - from_battery, max(-out.ev_kw, 0.0))
    return out


def dispatch(
    households: Sequence[Household], plans: list[DevicePlan], cut: Curtailment, iv: Interval
) -> tuple[list[DevicePlan], Columns]:
    """Run every household's devices; returns what each did and the per-household columns."""
    households = list(households)  # iterated five times: a Mesa AgentSet walks its weak references each time
    export_kw, import_kw = cut.export_kw.tolist(), cut.import_kw.tolist()
    cut_plans = [
        cut_plan(plan, export_kw[h.index], import_kw[h.index])
        for h, plan in zip(households, plans, strict=True)
    ]
    # the community manager's battery answers the positions as cleared and cut, as a real-time controller
    cut_plans = redispatch(households, cut_plans, iv.base_load_kw, iv.k, iv.hours)
    done = [h.dispatch(cut_plans[h.index], iv.t0_s, iv.t1_s) for h in households]
    columns = stack(done, iv.base_load_kw)
    columns["battery_soc"] = np.array(
        [h.devices.battery.soc if h.devices.battery else np.nan for h in households]
    )
    pumps = [h.devices.heat_pump for h in households]
    columns["comfort_violation_kh"] = np.array([p.last_comfort_violation_kh if p else 0.0 for p in pumps])
    columns["tank_violation_kh"] = np.array([p.last_tank_violation_kh if p else 0.0 for p in pumps])
    columns["indoor_temperature_c"] = np.array([p.indoor_c if p else np.nan for p in pumps])
    return done, columns


def stack(done: list[DevicePlan], base_load_kw: np.ndarray) -> Columns:
    """Per-household columns of what the devices did in an interval."""
    return {
        "base_load_kw": base_load_kw.copy(),
        "pv_kw": np.array([d.pv_kw for d in done]),
        "pv_curtailed_kw": np.array([d.pv_curtailed_kw for d in done]),
        "battery_kw": np.array([d.battery_kw for d in done]),
        "ev_kw": np.array([d.ev_kw for d in done]),
        "appliance_kw": np.array([sum(d.appliance_kw) for d in done]),
        "heat_pump_kw": np.array([d.heat_pump_kw + d.hot_water_kw for d in done]),
        "net_injection_kw": np.array(
            [d.net_kw(b) for d, b in zip(done, base_load_kw.tolist(), strict=True)]
        ),  # one definition of the net position: DevicePlan.net_kw
    }
