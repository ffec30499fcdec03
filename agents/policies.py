"""Device policies: how a household schedules its devices before it trades.

A policy looks at every device's flexibility for the coming interval and
returns a :class:`DevicePlan`; the household trades the resulting net position
and its devices then follow the plan. Policies are registered by name in
:data:`DEVICE_POLICIES`.
"""

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, overload

import numpy as np

from lemgrid.agents.devices import EV, Battery, HeatPump, ShiftableAppliance
from lemgrid.agents.devices.fleet import Fleet, python_sum
from lemgrid.agents.lp import schedule


@dataclass(slots=True)
class DevicePlan:
    """Average powers of one household's devices over an interval (injection positive)."""

    pv_kw: float = 0.0
    pv_curtailed_kw: float = 0.0
    battery_kw: float = 0.0
    ev_kw: float = 0.0
    appliance_kw: list[float] = field(default_factory=list)
    heat_pump_kw: float = 0.0  # space heating (electrical)
    hot_water_kw: float = 0.0  # the heat pump heating its tank (electrical)

    def net_kw(self, base_load_kw: float) -> float:
        """Net injection of the household if it follows the plan."""
        net = self.pv_kw + self.battery_kw + self.ev_kw + sum(self.appliance_kw) - base_load_kw
        return net + self.heat_pump_kw + self.hot_water_kw


@dataclass
class Devices:
    """What one household owns besides its base load."""

    pv_kwp: float = 0.0
    export_limit_kw: float | None = None
    battery: Battery | None = None
    ev: EV | None = None
    appliances: list[ShiftableAppliance] = field(default_factory=list)
    heat_pump: HeatPump | None = None
    fleet: Any = field(
        default=None, repr=False, compare=False
    )  # the Fleet holding it (agents/devices/fleet.py)

    def __deepcopy__(self, memo: dict[int, Any]) -> "Devices":
        """A copy of the devices alone, outside the fleet (copying one household copies no other)."""
        return Devices(
            self.pv_kwp,
            self.export_limit_kw,
            copy.deepcopy(self.battery, memo),
            copy.deepcopy(self.ev, memo),
            copy.deepcopy(self.appliances, memo),
            copy.deepcopy(self.heat_pump, memo),
        )

    def dispatch(self, plan: DevicePlan, t0_s: float, t1_s: float) -> DevicePlan:
        """Run the devices as planned; returns what they actually did (each clipped to its limits)."""
        done = DevicePlan(pv_kw=plan.pv_kw, pv_curtailed_kw=plan.pv_curtailed_kw)
        if self.battery is not None:
            done.battery_kw = self.battery.dispatch(plan.battery_kw, (t1_s - t0_s) / 3600)
        if self.ev is not None:
            done.ev_kw = self.ev.dispatch(plan.ev_kw, t0_s, t1_s)
        if self.heat_pump is not None:
            done.heat_pump_kw, done.hot_water_kw = self.heat_pump.dispatch(
                plan.heat_pump_kw, plan.hot_water_kw, t0_s, t1_s
            )
        done.appliance_kw = [
            a.dispatch(p, t0_s, t1_s) for a, p in zip(self.appliances, plan.appliance_kw, strict=True)
        ]
        return done


@dataclass(frozen=True)
class Forecast:
    """What a household expects from now on, one value per interval (the first is the coming one).

    Attributes:
        load_kw, pv_kw: its base load and PV output.
        buy_eur_per_kwh, sell_eur_per_kwh: the prices it expects to pay for imports and get for exports
            (a volumetric network fee included).
        hours: interval length.
        peak_eur_per_kw: a capacity tariff's price of a higher import peak (0: none).
        peak_so_far_kw: the import peak already billed in the current period.
    """

    load_kw: np.ndarray
    pv_kw: np.ndarray
    buy_eur_per_kwh: np.ndarray
    sell_eur_per_kwh: np.ndarray
    hours: float
    peak_eur_per_kw: float = 0.0
    peak_so_far_kw: float = 0.0


class DevicePolicy(Protocol):
    """The interface every device policy implements.

    ``needs_forecast``: whether ``plan`` reads ``forecast`` (else the model passes None).
    """

    name: str
    needs_forecast: bool

    def plan(
        self,
        devices: Devices,
        base_load_kw: float,
        pv_kw: float,
        t0_s: float,
        t1_s: float,
        forecast: Forecast | None = None,
    ) -> DevicePlan:
        """Schedule the devices for [t0, t1)."""
        ...


class SelfConsumption:
    """Rule-based: PV serves the home first, then the battery, then the market.

    1. Base load, running or due appliance cycles and the EV's charging mode
       (full power if ``immediate``, the deadline's minimum if ``deadline``) are served.
    2. A pending appliance cycle starts when PV surplus covers it, or, in a
       home without PV, as soon as its window opens.
    3. A ``deadline`` EV takes any remaining PV surplus.
    4. A heat pump (thermostat) heats what keeps the building and the tank at the
       bottom of their comfort bands, and stores remaining PV surplus as heat
       (building first, then tank) up to the top of the bands.
    5. The battery charges from the surplus, or discharges to cover a deficit.
    6. If an export limit is set, PV above it is curtailed.
    """

    name = "self_consumption"
    needs_forecast = False

    def plan(
        self,
        devices: Devices,
        base_load_kw: float,
        pv_kw: float,
        t0_s: float,
        t1_s: float,
        forecast: Forecast | None = None,
    ) -> DevicePlan:
        """Schedule the devices for [t0, t1)."""
        plan = DevicePlan(pv_kw=pv_kw)
        surplus = pv_kw - base_load_kw
        flexes = [a.flexibility(t0_s, t1_s) for a in devices.appliances]
        plan.appliance_kw = [f.p_max_kw for f in flexes]  # waiting (or fixed) by default
        surplus += sum(plan.appliance_kw)
        for i, flex in enumerate(flexes):
            extra = flex.p_min_kw - flex.p_max_kw  # what starting the cycle adds (negative)
            if flex.discrete and (devices.pv_kwp == 0 or surplus + extra >= 0):
                plan.appliance_kw[i] = flex.p_min_kw
                surplus += extra
        if devices.ev is not None:
            ev_flex = devices.ev.flexibility(t0_s, t1_s)
            plan.ev_kw = devices.ev.preferred_kw(ev_flex)
            surplus += plan.ev_kw
            if devices.ev.charging == "deadline" and surplus > 0:
                extra = min(surplus, plan.ev_kw - ev_flex.p_min_kw)
                plan.ev_kw -= extra
                surplus -= extra
        if devices.heat_pump is not None:
            surplus = thermostat(devices.heat_pump, plan, surplus, t0_s, t1_s)
        if devices.battery is not None:
            hours = (t1_s - t0_s) / 3600
            plan.battery_kw = devices.battery.flexibility(hours).clip(-surplus)
            surplus += plan.battery_kw
        if devices.export_limit_kw is not None and surplus > devices.export_limit_kw:
            plan.pv_curtailed_kw = min(surplus - devices.export_limit_kw, pv_kw)
            plan.pv_kw -= plan.pv_curtailed_kw
        return plan


@dataclass
class PlanColumns:
    """Many households' plans as columns, one row per household (the fields of :class:`DevicePlan`).

    ``appliance_kw`` is (households, most appliances); ``n_appliances`` says how many of a row count.
    """

    pv_kw: np.ndarray
    pv_curtailed_kw: np.ndarray
    battery_kw: np.ndarray
    ev_kw: np.ndarray
    appliance_kw: np.ndarray
    heat_pump_kw: np.ndarray
    hot_water_kw: np.ndarray
    n_appliances: np.ndarray

    @property
    def appliance_present(self) -> np.ndarray:
        """Which entries of ``appliance_kw`` are a household's appliances."""
        return np.arange(self.appliance_kw.shape[1]) < self.n_appliances[:, None]

    def net_kw(self, base_load_kw: np.ndarray) -> np.ndarray:
        """Each household's :meth:`DevicePlan.net_kw`, with the same operations in the same order."""
        appliances = python_sum(self.appliance_kw, self.appliance_present)
        net = self.pv_kw + self.battery_kw + self.ev_kw + appliances - base_load_kw
        return net + self.heat_pump_kw + self.hot_water_kw

    def plans(self) -> "PlanList":
        """One :class:`DevicePlan` per row, each built when it is first read."""
        return PlanList(self)

    def build(self) -> list[DevicePlan]:
        """Every row's :class:`DevicePlan`, built at once."""
        rows, counts = self.appliance_kw.tolist(), self.n_appliances.tolist()
        width = self.appliance_kw.shape[1]
        appliances = (
            rows if all(m == width for m in counts) else [r[:m] for r, m in zip(rows, counts, strict=True)]
        )
        return list(
            map(
                DevicePlan,
                self.pv_kw.tolist(),
                self.pv_curtailed_kw.tolist(),
                self.battery_kw.tolist(),
                self.ev_kw.tolist(),
                appliances,
                self.heat_pump_kw.tolist(),
                self.hot_water_kw.tolist(),
            )
        )

    def row(self, i: int) -> DevicePlan:
        """Row ``i``'s :class:`DevicePlan` (the same floats as :meth:`build`'s)."""
        return DevicePlan(
            float(self.pv_kw[i]),
            float(self.pv_curtailed_kw[i]),
            float(self.battery_kw[i]),
            float(self.ev_kw[i]),
            self.appliance_kw[i, : self.n_appliances[i]].tolist(),
            float(self.heat_pump_kw[i]),
            float(self.hot_water_kw[i]),
        )

    @classmethod
    def of(cls, plans: Sequence[DevicePlan]) -> "PlanColumns":
        """The columns of ``plans`` (those a :class:`PlanList` was made from, if it is one)."""
        if isinstance(plans, PlanList):
            return plans.columns.copy()
        n = len(plans)
        counts = np.array([len(p.appliance_kw) for p in plans], dtype=np.int64).reshape(n)
        appliance_kw = np.zeros((n, int(counts.max(initial=0))))
        for i in np.flatnonzero(counts).tolist():
            appliance_kw[i, : counts[i]] = plans[i].appliance_kw
        scalars = np.array(
            [
                (p.pv_kw, p.pv_curtailed_kw, p.battery_kw, p.ev_kw, p.heat_pump_kw, p.hot_water_kw)
                for p in plans
            ],
            dtype=float,
        ).reshape(n, 6)
        pv, cut, battery, ev, pump, water = scalars.T
        return cls(pv, cut, battery, ev, appliance_kw, pump, water, counts)

    def copy(self) -> "PlanColumns":
        """Columns of their own (changing them leaves these as they are)."""
        return PlanColumns(*(np.array(getattr(self, f.name)) for f in fields(self)))


class PlanList(Sequence[DevicePlan]):
    """Plans held as columns: a household's :class:`DevicePlan` is built when it is first read, then kept.

    Read-only: a stage that changes plans makes its own list (``list(plans)``) and
    replaces the changed ones with copies, so the columns always describe the plans.
    """

    def __init__(self, columns: PlanColumns) -> None:
        self.columns = columns
        self._built: dict[int, DevicePlan] = {}
        self._every: list[DevicePlan] | None = None

    def __len__(self) -> int:
        return len(self.columns.pv_kw)

    @overload
    def __getitem__(self, i: int) -> DevicePlan: ...
    @overload
    def __getitem__(self, i: slice) -> list[DevicePlan]: ...
    def __getitem__(self, i: int | slice) -> DevicePlan | list[DevicePlan]:
        if self._every is not None:
            return self._every[i]
        if isinstance(i, slice):
            return self.every()[i]
        if not -len(self) <= i < len(self):
            raise IndexError(f"no plan {i} of {len(self)}")
        i %= len(self)
        built = self._built.get(i)
        if built is None:
            built = self._built[i] = self.columns.row(i)
        return built

    def __iter__(self) -> Iterator[DevicePlan]:
        return iter(self.every())

    def every(self) -> list[DevicePlan]:
        """Every plan (those read before stay the same objects)."""
        if self._every is None:
            every = self.columns.build()
            for i, plan in self._built.items():
                every[i] = plan
            self._every = every
        return self._every


PLAN_SCALARS = ("pv_kw", "pv_curtailed_kw", "battery_kw", "ev_kw", "heat_pump_kw", "hot_water_kw")


def dispatch_columns(fleet: Fleet, plan: PlanColumns, t0_s: float, t1_s: float) -> PlanColumns:
    """:meth:`Devices.dispatch` for every household of ``fleet`` at once: what the devices did."""
    n, hours = fleet.n, (t1_s - t0_s) / 3600
    battery_kw = np.zeros(n)
    owner = fleet.battery_owner
    if len(owner):
        battery_kw[owner] = fleet.batteries.dispatch(plan.battery_kw[owner], hours)
    ev_kw = np.zeros(n)
    owner = fleet.ev_owner
    if len(owner):
        ev_kw[owner] = fleet.evs.dispatch(plan.ev_kw[owner], t0_s, t1_s)
    heat_pump_kw, hot_water_kw = np.zeros(n), np.zeros(n)
    for i in fleet.heat_pump_owner:
        heat_pump_kw[i], hot_water_kw[i] = fleet.members[i].heat_pump.dispatch(
            float(plan.heat_pump_kw[i]), float(plan.hot_water_kw[i]), t0_s, t1_s
        )
    appliance_kw = np.zeros_like(plan.appliance_kw)
    width = fleet.appliance_width
    appliance_kw[:, :width] = fleet.dispatch_appliances(plan.appliance_kw[:, :width], t0_s, t1_s)
    return PlanColumns(
        plan.pv_kw,
        plan.pv_curtailed_kw,
        battery_kw,
        ev_kw,
        appliance_kw,
        heat_pump_kw,
        hot_water_kw,
        plan.n_appliances,
    )


def self_consumption_columns(
    fleet: Fleet, base_load_kw: np.ndarray, pv_kw: np.ndarray, t0_s: float, t1_s: float
) -> PlanColumns:
    """:meth:`SelfConsumption.plan` for every household of ``fleet`` at once, bit for bit."""
    n, hours = fleet.n, (t1_s - t0_s) / 3600
    surplus = pv_kw - base_load_kw
    a_min, a_max, discrete = fleet.appliance_flexibility(t0_s, t1_s)
    present = np.arange(a_max.shape[1]) < fleet.n_appliances[:, None]
    appliance_kw = np.where(present, a_max, 0.0)  # waiting (or fixed) by default
    surplus = surplus + python_sum(appliance_kw, present)
    no_pv = fleet.pv_kwp == 0
    for j in range(appliance_kw.shape[1]):
        extra = a_min[:, j] - a_max[:, j]  # what starting the cycle adds (negative)
        start = present[:, j] & discrete[:, j] & (no_pv | (surplus + extra >= 0))
        appliance_kw[:, j] = np.where(start, a_min[:, j], appliance_kw[:, j])
        surplus = np.where(start, surplus + extra, surplus)
    ev_kw = np.zeros(n)
    owner = fleet.ev_owner
    if len(owner):
        e_min, e_max, immediate, deadline = fleet.ev_flexibility(t0_s, t1_s)
        ev = np.where(immediate, e_min, e_max)
        mine = surplus[owner] + ev
        room = ev - e_min
        extra = np.where(room < mine, room, mine)  # min(surplus, room)
        take = deadline & (mine > 0)
        ev_kw[owner] = np.where(take, ev - extra, ev)
        surplus[owner] = np.where(take, mine - extra, mine)
    heat_pump_kw, hot_water_kw = np.zeros(n), np.zeros(n)
    for i in fleet.heat_pump_owner:
        plan = DevicePlan()
        surplus[i] = thermostat(fleet.members[i].heat_pump, plan, float(surplus[i]), t0_s, t1_s)
        heat_pump_kw[i], hot_water_kw[i] = plan.heat_pump_kw, plan.hot_water_kw
    battery_kw = np.zeros(n)
    owner = fleet.battery_owner
    if len(owner):
        p_min, p_max = fleet.batteries.flexibility(hours)
        want = -surplus[owner]
        want = np.where(p_min > want, p_min, want)  # Flexibility.clip
        battery_kw[owner] = np.where(p_max < want, p_max, want)
        surplus[owner] = surplus[owner] + battery_kw[owner]
    limit = fleet.export_limit_kw
    with np.errstate(invalid="ignore"):
        over = surplus > limit  # no limit (NaN): never
    cut = surplus - limit
    cut = np.where(over, np.where(pv_kw < cut, pv_kw, cut), 0.0)  # min(surplus - limit, pv)
    return PlanColumns(
        np.where(over, pv_kw - cut, pv_kw),
        cut,
        battery_kw,
        ev_kw,
        appliance_kw,
        heat_pump_kw,
        hot_water_kw,
        fleet.n_appliances,
    )


def thermostat(hp: HeatPump, plan: DevicePlan, surplus_kw: float, t0_s: float, t1_s: float) -> float:
    """Heat pump: the bands' needs, plus PV surplus stored as heat; returns the surplus left."""
    space, water = hp.ranges(t0_s, t1_s)
    plan.heat_pump_kw, plan.hot_water_kw = space.p_max_kw, water.p_max_kw
    surplus_kw += space.p_max_kw + water.p_max_kw
    room = hp.power_kw + space.p_max_kw + water.p_max_kw
    for use, flex in (("heat_pump_kw", space), ("hot_water_kw", water)):
        extra = min(max(surplus_kw, 0.0), flex.p_max_kw - flex.p_min_kw, room)
        setattr(plan, use, getattr(plan, use) - extra)
        surplus_kw -= extra
        room -= extra
    return surplus_kw


class TimeOfUse(SelfConsumption):
    """Rule-based time-of-use battery: self-consumption, except in two daily windows.

    In the charging window (default 00:00-06:00) the battery charges at full
    power from the grid; in the discharging window (default 17:00-21:00) it
    discharges at full power, exporting what the home does not use. Hours are
    counted from local midnight of the run's first day (daylight-saving changes
    within a run are not followed).
    """

    name = "time_of_use"

    def __init__(self, charge_hours: tuple[int, int], discharge_hours: tuple[int, int]) -> None:
        self.charge_hours = charge_hours
        self.discharge_hours = discharge_hours

    def plan(
        self,
        devices: Devices,
        base_load_kw: float,
        pv_kw: float,
        t0_s: float,
        t1_s: float,
        forecast: Forecast | None = None,
    ) -> DevicePlan:
        """Self-consumption, with the battery overridden inside the windows."""
        plan = super().plan(devices, base_load_kw, pv_kw, t0_s, t1_s)
        if devices.battery is None:
            return plan
        hour = (t0_s / 3600) % 24
        flex = devices.battery.flexibility((t1_s - t0_s) / 3600)
        if self.charge_hours[0] <= hour < self.charge_hours[1]:
            plan.battery_kw = flex.p_min_kw
        elif self.discharge_hours[0] <= hour < self.discharge_hours[1]:
            plan.battery_kw = flex.p_max_kw
        return plan

    def adjust_columns(
        self, columns: PlanColumns, fleet: Fleet, rows: np.ndarray, t0_s: float, t1_s: float
    ) -> None:
        """:meth:`plan`'s windows applied to the self-consumption ``columns`` of households ``rows``."""
        hour = (t0_s / 3600) % 24
        owner = fleet.battery_owner
        mine = rows[owner]
        if not mine.any():
            return
        p_min, p_max = fleet.batteries.flexibility((t1_s - t0_s) / 3600)
        if self.charge_hours[0] <= hour < self.charge_hours[1]:
            columns.battery_kw[owner[mine]] = p_min[mine]
        elif self.discharge_hours[0] <= hour < self.discharge_hours[1]:
            columns.battery_kw[owner[mine]] = p_max[mine]


class LPOptimiser(SelfConsumption):
    """Forecast-based battery scheduling: a linear program over a rolling horizon.

    Every interval it solves, over the forecast horizon, for battery charge and
    discharge power, grid import and export that minimise the expected cost
    ``sum(buy * import - sell * export) * h + wear * (charge + discharge) * h``
    minus the value of the energy left at the end (at the last sell price after
    discharge losses), subject to the power balance (PV - load - other devices +
    discharge - charge - EV = export - import) plus, under a capacity tariff,
    its price times the import peak above what the period has already billed,
    the battery's power and
    state-of-charge limits and efficiencies, and the EV's stays (charger power
    while plugged, the energy each stay needs by its departure; stays are known
    ahead, as the load and PV forecasts are). The coming interval of the solution
    is dispatched; the rest is re-planned next interval (scipy HiGHS).
    Shiftable appliances follow the self-consumption rules (starting a cycle is
    a yes/no choice, not a linear one).
    """

    name = "lp_optimiser"
    needs_forecast = True

    def plan(
        self,
        devices: Devices,
        base_load_kw: float,
        pv_kw: float,
        t0_s: float,
        t1_s: float,
        forecast: Forecast | None = None,
    ) -> DevicePlan:
        """Self-consumption for the appliances; the battery and the EV follow the LP's first step."""
        plan = super().plan(devices, base_load_kw, pv_kw, t0_s, t1_s)
        battery, ev = devices.battery, devices.ev
        if (battery is None and ev is None) or forecast is None:
            return plan
        # what the plan injects besides base load, PV, battery and EV: appliances, curtailment
        other_kw = plan.net_kw(base_load_kw) - plan.battery_kw - plan.ev_kw - pv_kw + base_load_kw
        battery_kw, ev_kw = schedule(battery, forecast, other_kw, ev, t0_s)
        if battery is not None:
            plan.battery_kw = battery.flexibility(forecast.hours).clip(battery_kw[0])
        if ev is not None:
            plan.ev_kw = ev.flexibility(t0_s, t1_s).clip(ev_kw[0])
        return plan


# name -> builder(the scenario's ``strategies`` section)
DEVICE_POLICIES: dict[str, Callable[[Any], DevicePolicy]] = {
    "self_consumption": lambda p: SelfConsumption(),
    "time_of_use": lambda p: TimeOfUse(tuple(p.tou_charge_hours), tuple(p.tou_discharge_hours)),
    "lp_optimiser": lambda p: LPOptimiser(),
}
