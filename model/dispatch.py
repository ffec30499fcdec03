"""Stage 4, dispatch: the devices run as planned, less the DSO's cuts.

An export cut curtails PV; an import cut takes battery charging first, then EV
charging. Each household's devices then run (clipped to their limits) and the
result is one column per quantity across households.
"""

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lemgrid.agents.devices.fleet import Fleet, python_sum
from lemgrid.agents.household import Household
from lemgrid.agents.policies import PLAN_SCALARS, DevicePlan, Devices, PlanColumns, dispatch_columns
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
    households: Sequence[Household], plans: Sequence[DevicePlan], cut: Curtailment, iv: Interval
) -> tuple[PlanColumns, Columns]:
    """Run every household's devices; returns what each did and the per-household columns (state too)."""
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
    fleet, outside = Fleet.split(households)
    if fleet is None:
        done = PlanColumns.of([h.dispatch(plans[h.index], t0_s, t1_s) for h in households])
        return done, stack(done, iv.base_load_kw) | _states([h.devices for h in households])
    done = dispatch_columns(fleet, PlanColumns.of(plans), t0_s, t1_s)
    for i in outside:  # outside the fleet (the community manager): on its own
        own = households[i].dispatch(plans[i], t0_s, t1_s)
        for name in PLAN_SCALARS:
            getattr(done, name)[i] = getattr(own, name)
        done.appliance_kw[i, : len(own.appliance_kw)] = own.appliance_kw
    columns = stack(done, iv.base_load_kw)
    columns.update(_states([h.devices for h in households], fleet, outside))
    return done, columns


_STATE_COLUMNS = ("battery_soc", "comfort_violation_kh", "tank_violation_kh", "indoor_temperature_c")


def _states(devices: list[Devices], fleet: Fleet | None = None, outside: Sequence[int] = ()) -> Columns:
    """Every household's battery and heat-pump state after the interval (:data:`_STATE_COLUMNS`).

    The fleet's batteries' state of charge comes from its table, as :attr:`Battery.soc` computes it;
    ``outside``: the positions of the households outside the fleet.
    """
    n, nan = len(devices), float("nan")
    soc, comfort, tank, indoor = np.full(n, nan), np.zeros(n), np.zeros(n), np.full(n, nan)
    own: Sequence[int] = range(n)
    pumps: Sequence[int] = range(n)
    if fleet is not None:
        b, owner = fleet.batteries, fleet.battery_owner
        with np.errstate(divide="ignore", invalid="ignore"):
            soc[owner] = np.where(b.capacity_kwh > 0, b.energy_kwh / b.capacity_kwh, 0.0)
        own = outside
        pumps = sorted(fleet.heat_pump_owner + list(outside))
    for i in own:
        battery = devices[i].battery
        if battery is not None:
            soc[i] = battery.soc
    for i in pumps:
        pump = devices[i].heat_pump
        if pump is not None:
            comfort[i], tank[i], indoor[i] = (
                pump.last_comfort_violation_kh,
                pump.last_tank_violation_kh,
                pump.indoor_c,
            )
    return dict(zip(_STATE_COLUMNS, (soc, comfort, tank, indoor), strict=True))


def stack(done: PlanColumns, base_load_kw: np.ndarray) -> Columns:
    """Per-household columns of what the devices did in an interval."""
    appliances = python_sum(done.appliance_kw, done.appliance_present)
    if not done.n_appliances.any():
        appliances = appliances.astype(np.int64)  # as summing no appliance gives (Python's 0)
    values = (
        done.pv_kw,
        done.pv_curtailed_kw,
        done.battery_kw,
        done.ev_kw,
        appliances,
        done.heat_pump_kw + done.hot_water_kw,
        done.net_kw(base_load_kw),  # one definition of the net position: DevicePlan.net_kw
    )
    columns = {"base_load_kw": base_load_kw.copy()}
    columns.update((name, np.array(v)) for name, v in zip(_STACKED, values, strict=True))
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
