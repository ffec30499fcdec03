"""Each device's bid for the coming interval, from its physical state and a price forecast.

``future`` is the household's forecast of its marginal price (EUR/kWh) for
the intervals after the coming one, first entry the next interval. Every
device compares the coming interval's price with what the same energy would
cost or earn at its best alternative time (after TESP's battery and EV
agents, which bid from a price forecast and their state):

- base load and anything that must run now: inelastic;
- PV: sells at any price above its curtailment price;
- battery: charges if the price is below the value a charged kWh will
  fetch later (the forecast price of the slot it would be sold in, after
  losses and wear), discharges above the value of the kWh it gives up;
- EV: what the deadline needs now is inelastic; the rest is bought if the
  price is below the n-th cheapest forecast slot before departure (n = slots
  the rest needs), so its willingness to pay rises as its slack shrinks;
- shiftable appliance: starts if the price is at most the cheapest start it
  still has in its window (so the deferral cost rises as the window closes);
- heat pump: what keeps the building and the tank at the bottom of their
  comfort bands is inelastic; heat above that is bought if the price is at
  most the cheapest forecast price within the store's thermal slack, each
  later price scaled by the COP ratio and, for the building, by the share of
  stored heat still there then (so waiting wins unless now is cheaper).
"""

import math
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from lemgrid.agents.bids import Step, check_step
from lemgrid.agents.curve_table import StepTable
from lemgrid.agents.devices import EV, Battery, HeatPump, ShiftableAppliance
from lemgrid.agents.devices.fleet import Fleet

# device codes of a household's steps in a StepTable; appliance i is APPLIANCE_0 + i
DEVICES = ("base", "pv", "battery", "ev", "heat_pump:space", "heat_pump:water", "day_ahead")
BASE, PV, BATTERY, EV_CODE, SPACE, WATER, DAY_AHEAD = range(len(DEVICES))
APPLIANCE_0 = len(DEVICES)
_CODES = {name: i for i, name in enumerate(DEVICES)}


def device_code(name: str) -> int:
    """The code of a device name in a :class:`StepTable` ('appliance:<i>' is ``APPLIANCE_0 + i``)."""
    code = _CODES.get(name)
    if code is None:
        code = _CODES[name] = APPLIANCE_0 + int(name.removeprefix("appliance:"))
    return code


def device_name(code: int) -> str:
    """The device name of a code (:func:`device_code`'s inverse)."""
    return DEVICES[code] if code < APPLIANCE_0 else f"appliance:{code - APPLIANCE_0}"


class StepRows:
    """Many households' steps, collected device kind by kind (columns, or one device's steps), for one table.

    ``rank`` orders a household's steps: the table lists each household's steps by
    rank, and steps of one rank in the order they were added.
    """

    def __init__(self) -> None:
        self._columns: list[tuple[np.ndarray, ...]] = []
        self._steps: list[tuple[int, int, float, float, bool, int]] = []

    def columns(
        self,
        household: np.ndarray,
        device: int,
        kw: np.ndarray,
        price: np.ndarray,
        rank: int,
        discrete: bool = False,
    ) -> None:
        """One step per listed household, of ``device`` (continuous unless ``discrete``)."""
        n = len(household)
        self._columns.append(
            (household, np.full(n, device), kw, price, np.full(n, discrete), np.full(n, rank))
        )

    def steps(self, household: int, steps: Iterable[Step], rank: int) -> None:
        """One household's device's steps."""
        self._steps.extend(
            (household, device_code(s.device), s.kw, s.price_eur_per_kwh, s.discrete, rank) for s in steps
        )

    def table(self, n_households: int) -> StepTable:
        """The steps above dust as one table; a step that is not a number is an error naming its device."""
        parts = list(self._columns)
        if self._steps:
            parts.append(tuple(np.array(column) for column in zip(*self._steps, strict=True)))
        h, d, kw, p, disc, r = (np.concatenate(column) for column in zip(*parts, strict=True))
        bad = np.flatnonzero(~np.isfinite(kw) | np.isnan(p))
        if len(bad):
            i = int(bad[np.lexsort((r[bad], h[bad]))[0]])
            check_step(device_name(int(d[i])), float(kw[i]), float(p[i]))
        return StepTable.of(
            h.astype(np.int64), d.astype(np.int64), kw.astype(float), p.astype(float), disc, n_households, r
        )


class Outlook:
    """The price forecast ``future`` and what the devices read of it, computed once for all households."""

    def __init__(self, future: np.ndarray) -> None:
        self.prices = future

    @cached_property
    def best_first(self) -> np.ndarray:
        """The forecast prices, highest first (where a battery sells its stored kWh)."""
        return np.sort(self.prices)[::-1]

    @cached_property
    def running_min(self) -> np.ndarray:
        """``running_min[j]``: the cheapest of the first ``j + 1`` prices (an appliance's cheapest start)."""
        return np.minimum.accumulate(self.prices)


def outlook(future: "np.ndarray | Outlook") -> Outlook:
    """``future`` as an :class:`Outlook` (shared by every household that is given the same one)."""
    return future if isinstance(future, Outlook) else Outlook(future)


def base_step(kw: float) -> list[Step]:
    """Base load: consumed whatever the price."""
    return [Step("base", kw, math.inf)]


def pv_step(kw: float, curtailment_eur_per_kwh: float) -> list[Step]:
    """PV output, offered at any price at or above its curtailment price."""
    return [Step("pv", -kw, curtailment_eur_per_kwh)]


def battery_steps(battery: Battery, hours: float, future: "np.ndarray | Outlook") -> list[Step]:
    """One battery's steps (:func:`battery_columns` for a single battery)."""
    sell_kw, sell_price, buy_kw, buy_price = battery_columns([battery], hours, outlook(future))
    steps = [Step("battery", float(sell_kw[0]), float(sell_price[0]))] if sell_kw[0] < 0 else []
    return steps + ([Step("battery", float(buy_kw[0]), float(buy_price[0]))] if buy_kw[0] > 0 else [])


def battery_columns(
    batteries: Sequence[Battery], hours: float, future: Outlook
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every battery's sell and buy step: charge below, discharge above the value of its marginal kWh.

    The stored energy is sold in the best forecast slots first, at most one
    full-power interval per slot; the kWh at the top of storage goes to slot
    ``k = ceil(E/d) - 1`` (``E`` stored above the minimum, ``d`` one interval's
    discharge from storage), so discharging now pays if the price beats that
    slot's price. A kWh charged now would go to slot ``floor(E/d)`` and returns
    ``eta`` of its price; throughput wear is paid on the way in and out.

    Returns:
        per battery, the sell step's kW (< 0; 0: none) and price, the buy step's kW (> 0; 0: none) and price.
    """
    flex = [b.flexibility(hours) for b in batteries]
    state = np.array(
        [
            (
                f.p_min_kw,
                f.p_max_kw,
                b.energy_kwh,
                b.soc_min,
                b.capacity_kwh,
                b.power_kw,
                b.eta_charge,
                b.eta_discharge,
                b.degradation_cost_eur_per_kwh,
            )
            for b, f in zip(batteries, flex, strict=True)
        ],
        dtype=float,
    ).reshape(-1, 9)
    return fleet_battery_columns(*state.T, hours=hours, future=future)


def fleet_battery_columns(
    p_min: np.ndarray,
    p_max: np.ndarray,
    energy: np.ndarray,
    soc_min: np.ndarray,
    capacity: np.ndarray,
    power: np.ndarray,
    eta_charge: np.ndarray,
    eta_discharge: np.ndarray,
    wear: np.ndarray,
    *,
    hours: float,
    future: Outlook,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`battery_columns` from the batteries' columns (a :class:`BatteryFleet`'s) and flexibility."""
    sell_kw, buy_kw = -p_max, -p_min
    best = future.best_first
    if len(best) == 0:
        return np.zeros(len(p_min)), np.zeros(len(p_min)), np.zeros(len(p_min)), np.zeros(len(p_min))
    stored_kwh = energy - soc_min * capacity
    stored_kwh = np.where(0.0 > stored_kwh, 0.0, stored_kwh)  # max(E, 0.0), as Python's max picks
    per_slot_kwh = power * hours / eta_discharge
    eta = eta_charge * eta_discharge
    with np.errstate(divide="ignore", invalid="ignore"):  # a battery without power has no step
        ranks = stored_kwh / per_slot_kwh
        sell_rank = np.ceil(np.where(sell_kw < 0, ranks, 1.0)).astype(np.int64) - 1
        buy_rank = np.floor(np.where(buy_kw > 0, ranks + 1e-9, 0.0)).astype(np.int64)
    last = len(best) - 1
    sell_price = best[np.minimum(sell_rank, last)]
    buy_price = eta * best[np.minimum(buy_rank, last)] - 2 * wear
    return np.where(sell_kw < 0, sell_kw, 0.0), sell_price, np.where(buy_kw > 0, buy_kw, 0.0), buy_price


def free_battery_columns(
    devices: Sequence[Any], free: list[int], hours: float, future: Outlook
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`battery_columns` of households ``free``' batteries (from their fleet's table if shared)."""
    found = Fleet.of(devices)
    if found is not None:
        b, owner = found[0].batteries, found[0].battery_owner
        rows = np.arange(len(owner)) if free == owner.tolist() else np.flatnonzero(np.isin(owner, free))
        if np.array_equal(owner[rows], free):
            p_min, p_max = b.flexibility(hours)
            return fleet_battery_columns(
                p_min[rows],
                p_max[rows],
                b.energy_kwh[rows],
                b.soc_min[rows],
                b.capacity_kwh[rows],
                b.power_kw[rows],
                b.eta_charge[rows],
                b.eta_discharge[rows],
                b.degradation_cost_eur_per_kwh[rows],
                hours=hours,
                future=future,
            )
    return battery_columns([devices[i].battery for i in free], hours, future)


def ev_steps(ev: EV, t0_s: float, t1_s: float, future: "np.ndarray | Outlook") -> list[Step]:
    """What the deadline needs now (inelastic), and the rest at the n-th cheapest slot before departure."""
    future = outlook(future).prices
    flex = ev.flexibility(t0_s, t1_s)
    must_kw, can_kw = -flex.p_max_kw, -flex.p_min_kw
    steps = [Step("ev", must_kw, math.inf)]
    if can_kw - must_kw <= 0:
        return steps
    hours = (t1_s - t0_s) / 3600
    stays = ev.stays(t0_s, t1_s)
    departure_s = min(s.departure_s for s in stays)
    remaining_kwh = sum(s.remaining_kwh for s in stays) - must_kw * hours
    slots = min(int((departure_s - t1_s) // (t1_s - t0_s)), len(future))
    needed = math.ceil(remaining_kwh / (ev.charger_kw * hours) - 1e-9)
    if slots <= 0 or needed <= 0:
        return [Step("ev", can_kw, math.inf)]
    willingness = float(np.sort(future[:slots])[min(needed, slots) - 1])
    return [*steps, Step("ev", can_kw - must_kw, willingness)]


def appliance_steps(
    appliance: ShiftableAppliance, i: int, t0_s: float, t1_s: float, future: "np.ndarray | Outlook"
) -> list[Step]:
    """A running or due cycle is inelastic; a cycle that may wait starts if now is its cheapest start."""
    name = f"appliance:{i}"
    flex = appliance.flexibility(t0_s, t1_s)
    running = [Step(name, -flex.p_max_kw, math.inf)]
    if not flex.discrete:
        return [Step(name, -flex.p_min_kw, math.inf)]
    cycle = appliance.startable(t0_s)
    interval_s = t1_s - t0_s
    later = int((cycle.window_end_s - appliance.duration_s - t1_s) // interval_s) + 1 if cycle else 0
    ahead = outlook(future)
    later = min(later, len(ahead.prices))
    deferral = float(ahead.running_min[later - 1]) if later > 0 else math.inf  # min(future[:later])
    return [*running, Step(name, flex.p_max_kw - flex.p_min_kw, deferral, discrete=True)]


def ev_columns(
    rows: StepRows,
    devices: Sequence[Any],
    free: list[int],
    t0_s: float,
    t1_s: float,
    future: Outlook,
    rank: int,
) -> None:
    """:func:`ev_steps` of households ``free``' EVs, from their fleet's table where they share one."""
    found = Fleet.of(devices)
    if found is None:
        in_fleet, alone = np.zeros(0, dtype=bool), free
    elif free == found[0].ev_owner.tolist():  # every EV bids its curve (no fixed schedule): the usual case
        in_fleet, alone = np.ones(len(free), dtype=bool), []
    else:
        in_fleet = np.isin(found[0].ev_owner, free)
        alone = sorted(set(free) - set(found[0].ev_owner[in_fleet].tolist()))
    for i in alone:
        rows.steps(i, ev_steps(devices[i].ev, t0_s, t1_s, future), rank)
    if found is None or not in_fleet.any():
        return
    evs, owner = found[0].evs, found[0].ev_owner[in_fleet]
    p_min, p_max, _, stays = evs.flexibility(t0_s, t1_s)
    p_min, p_max, stays = p_min[in_fleet], p_max[in_fleet], stays[in_fleet]
    must, can = -p_max, -p_min
    hours, interval_s, prices = (t1_s - t0_s) / 3600, t1_s - t0_s, future.prices
    present = stays >= 0
    departures = np.where(present, evs.sessions.departure_s[np.where(present, stays, 0)], np.inf)
    departure = departures.min(axis=1, initial=np.inf)
    remaining = evs.remaining_kwh(stays) - must * hours
    flexible = (can - must > 0) & present.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # only flexible EVs' values count
        slots = np.floor_divide(np.where(flexible, departure - t1_s, 0.0), interval_s).astype(np.int64)
        slots = np.where(len(prices) < slots, len(prices), slots)
        needed = np.ceil(remaining / (evs.charger_kw[in_fleet] * hours) - 1e-9)
    needed = np.where(flexible, needed, 0.0).astype(np.int64)
    two = flexible & (slots > 0) & (needed > 0)
    first_kw = np.where(flexible & ~two, can, must)  # no slot left or nothing needed later: all now
    rows.columns(owner, EV_CODE, first_kw, np.full(len(owner), math.inf), rank)
    willingness = np.zeros(len(owner))
    if two.any():  # the n-th cheapest of the first `slots` prices: each horizon's prices ranked once
        horizons = np.unique(slots[two])
        ranked = np.sort(np.where(np.arange(len(prices)) < horizons[:, None], prices, np.inf), axis=1)
        nth = np.minimum(needed[two], slots[two]) - 1
        willingness[two] = ranked[np.searchsorted(horizons, slots[two]), nth]
    rows.columns(owner[two], EV_CODE, (can - must)[two], willingness[two], rank)


def appliance_columns(
    rows: StepRows, devices: Sequence[Any], t0_s: float, t1_s: float, future: Outlook, rank: int
) -> None:
    """:func:`appliance_steps` of every household's appliances (from their fleet's table if shared)."""
    found = Fleet.of(devices)
    alone = range(len(devices)) if found is None else np.flatnonzero(~found[1]).tolist()
    for i in alone:
        for j, a in enumerate(devices[i].appliances):
            rows.steps(i, appliance_steps(a, j, t0_s, t1_s, future), rank)
    if found is None or not len(found[0].appliance_owner):
        return
    fleet = found[0]
    fleet_appliances = fleet.appliances
    p_min, p_max, discrete, _, startable, _ = fleet_appliances.flexibility(t0_s, t1_s)
    has = startable >= 0
    window_end = np.zeros(len(has))
    window_end[has] = fleet_appliances.cycles.window_end_s[startable[has]]
    later = np.floor_divide(window_end - fleet_appliances.duration_s - t1_s, t1_s - t0_s).astype(np.int64) + 1
    later = np.where(has, later, 0)
    later = np.where(len(future.prices) < later, len(future.prices), later)  # min(later, len(prices))
    deferral = np.full(len(has), math.inf)
    soon = later > 0
    deferral[soon] = future.running_min[later[soon] - 1]  # min(future[:later])
    running = np.where(discrete, -p_max, -p_min)
    owner, slot = fleet.appliance_owner, fleet.appliance_slot
    for j in range(fleet.appliance_width):
        mine = slot == j
        rows.columns(owner[mine], APPLIANCE_0 + j, running[mine], np.full(int(mine.sum()), math.inf), rank)
        wait = mine & discrete
        rows.columns(owner[wait], APPLIANCE_0 + j, (p_max - p_min)[wait], deferral[wait], rank, discrete=True)


def heat_pump_steps(hp: HeatPump, t0_s: float, t1_s: float, future: "np.ndarray | Outlook") -> list[Step]:
    """Space heating and the tank: each store's need now inelastic, the rest at its value of waiting.

    A kWh of heat stored now replaces heat bought in a later slot ``j`` before the
    store drifts to its band's bottom (its slack); it is worth that slot's price
    times ``COP_now / COP_j``, times ``exp(-(j + 1) h / tau)`` for the building
    (stored heat leaks away with its time constant ``tau``; the tank has no losses).
    The willingness is the cheapest such alternative.
    """
    future = outlook(future).prices
    space, water = hp.ranges(t0_s, t1_s)
    hours = (t1_s - t0_s) / 3600
    k = hp.index(t0_s)
    cop_s, cop_w = hp.cops(k)
    later = np.arange(1, len(future) + 1)
    cops_later = np.array([hp.cops(k + int(j)) for j in later]).reshape(-1, 2)
    out_c = float(hp.outdoor_c[k])
    slack_s = _building_slack(hp, out_c, hours)
    slack_w = _tank_slack(hp, k)
    steps = [
        Step("heat_pump:space", -space.p_max_kw, math.inf),
        Step("heat_pump:water", -water.p_max_kw, math.inf),
    ]
    values = {
        "space": future * cop_s / cops_later[:, 0] * np.exp(-later * hours / hp.time_constant_h),
        "water": future * cop_w / cops_later[:, 1],
    }
    room = hp.power_kw + space.p_max_kw + water.p_max_kw  # rating left after both needs
    extra = {"space": space.p_max_kw - space.p_min_kw, "water": water.p_max_kw - water.p_min_kw}
    slack = {"space": slack_s, "water": slack_w}
    willing = {
        use: float(np.min(values[use][: max(1, min(slack[use], len(future)))]))
        for use in values
        if len(future)
    }
    for use in sorted(willing, key=lambda u: -willing[u]):  # the rating goes to the more valuable store first
        kw = min(extra[use], room)
        room -= kw
        steps.append(Step(f"heat_pump:{use}", kw, willing[use]))
    return steps


def _building_slack(hp: HeatPump, outdoor_c: float, hours: float) -> int:
    """Whole intervals the building can go unheated before it falls to the band's bottom."""
    low = hp.comfort.min_c
    if hp.indoor_c <= low:
        return 0
    if outdoor_c >= low:
        return 10**6
    return int(hp.time_constant_h * math.log((hp.indoor_c - outdoor_c) / (low - outdoor_c)) // hours)


def _tank_slack(hp: HeatPump, k: int) -> int:
    """Whole intervals the tank's hot water lasts, at the expected draws, before its band's bottom."""
    stock_kwh = (hp.tank_c - hp.tank.min_c) * hp.tank_kwh_per_k
    hours = hp.interval_s / 3600
    drawn = np.cumsum(hp.hot_water_kw[k:]) * hours
    return int(np.searchsorted(drawn, stock_kwh, side="right")) if stock_kwh > 0 else 0
