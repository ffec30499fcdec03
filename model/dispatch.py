"""Stage 4, dispatch: the devices run as planned, less the DSO's cuts.

An export cut curtails PV; an import cut takes battery charging first, then EV
charging. Each household's devices then run (clipped to their limits) and the
result is one column per quantity across households.
"""

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan, Devices
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
    households = list(households)  # iterated often: a Mesa AgentSet walks its weak references each time
    if cut.export_kw.any() or cut.import_kw.any():
        export_kw, import_kw = cut.export_kw.tolist(), cut.import_kw.tolist()
        plans = [
            cut_plan(plan, export_kw[h.index], import_kw[h.index])
            for h, plan in zip(households, plans, strict=True)
        ]
    # the community manager's battery answers the positions as cleared and cut, as a real-time controller
    plans = redispatch(households, plans, iv.base_load_kw, iv.k, iv.hours)
    t0_s, t1_s = iv.t0_s, iv.t1_s
    done = [h.dispatch(plans[h.index], t0_s, t1_s) for h in households]
    columns = stack(done, iv.base_load_kw)
    nan = float("nan")
    states = [_state(h.devices, nan) for h in households]
    for name, values in zip(_STATE_COLUMNS, zip(*states, strict=True), strict=True):
        columns[name] = np.array(values)
    return done, columns


_STATE_COLUMNS = ("battery_soc", "comfort_violation_kh", "tank_violation_kh", "indoor_temperature_c")


def _state(devices: Devices, nan: float) -> tuple[float, float, float, float]:
    """A household's battery and heat-pump state after the interval, in :data:`_STATE_COLUMNS`' order."""
    soc = devices.battery.soc if devices.battery else nan
    pump = devices.heat_pump
    if not pump:
        return soc, 0.0, 0.0, nan
    return soc, pump.last_comfort_violation_kh, pump.last_tank_violation_kh, pump.indoor_c


def stack(done: list[DevicePlan], base_load_kw: np.ndarray) -> Columns:
    """Per-household columns of what the devices did in an interval."""
    rows = [
        (
            d.pv_kw,
            d.pv_curtailed_kw,
            d.battery_kw,
            d.ev_kw,
            sum(d.appliance_kw),
            d.heat_pump_kw + d.hot_water_kw,
            d.net_kw(b),  # one definition of the net position: DevicePlan.net_kw
        )
        for d, b in zip(done, base_load_kw.tolist(), strict=True)
    ]
    columns = {"base_load_kw": base_load_kw.copy()}
    for name, values in zip(_STACKED, zip(*rows, strict=True), strict=True):
        columns[name] = np.array(values)  # each column's own dtype, as a list of its values gives
    return columns


_STACKED = (
    "pv_kw",
    "pv_curtailed_kw",
    "battery_kw",
    "ev_kw",
    "appliance_kw",
    "heat_pump_kw",
    "net_injection_kw",
)
