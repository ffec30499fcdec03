"""Stage 1, observe: every household plans its devices and reports what it expects to exchange.

Each device policy plans the household's devices for the interval (the LP
policy from a :class:`Forecaster` forecast), the household reports its expected
net energy (the demand attack may change some reports), and each strategy gets
an :class:`~agents.strategies.Observation` of its position and the prices.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from lemgrid.agents.devices.fleet import Fleet
from lemgrid.agents.household import Household
from lemgrid.agents.policies import (
    DevicePlan,
    Forecast,
    PlanList,
    SelfConsumption,
    TimeOfUse,
    self_consumption_columns,
)
from lemgrid.agents.strategies import Observation
from lemgrid.model.community import manage
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.interval import Interval
from lemgrid.model.scenario import Scenario
from lemgrid.model.tariffs import NetworkTariff


@dataclass(frozen=True)
class Attack:
    """The scenario's attack on market data: scaled prices (``price``) or scaled reports (``demand``)."""

    kind: str
    factor: float
    start_interval: int
    targets: np.ndarray  # households whose reports the demand attack scales

    @classmethod
    def of(cls, attack: Any, targets: np.ndarray) -> "Attack":
        """The attack a scenario's ``attack`` section describes, on ``targets``."""
        return cls(attack.kind, attack.factor, attack.start_interval, targets)

    def price_signal(self, k: int) -> float:
        """The factor on every price the households see in interval ``k``."""
        return self.factor if self.kind == "price" and k >= self.start_interval else 1.0

    def reports(self, k: int, planned_kwh: np.ndarray) -> np.ndarray:
        """What the households report as their expected net energy in interval ``k``."""
        if self.kind == "demand" and k >= self.start_interval:
            return np.where(self.targets, planned_kwh * self.factor, planned_kwh)
        return planned_kwh.copy()


@dataclass(frozen=True)
class Forecaster:
    """Each household's forecast over the strategies' LP horizon.

    Its own load and PV (perfect foresight), the prices it expects as the price
    signal shows them (the retailer's; with bid curves, the local-price forecast,
    at which it both buys and sells) plus the tariff's import fee, and the
    tariff's price of a higher import peak with the peak billed so far in the period.
    """

    load_kw: np.ndarray  # (n, n_intervals)
    pv_kw: np.ndarray
    horizon: int
    n_intervals: int
    tariff: NetworkTariff
    retail_eur_per_kwh: np.ndarray  # (n_intervals,) the retailer's prices over the run
    feed_in_eur_per_kwh: np.ndarray
    local: PriceForecast | None = None  # with bid curves: plan against the local-price forecast

    @classmethod
    def of(
        cls,
        cfg: Scenario,
        load_kw: np.ndarray,
        pv_kw: np.ndarray,
        tariff: NetworkTariff,
        prices: PriceForecast,
    ) -> "Forecaster":
        """The run's forecaster: LP horizon, the retailer's prices, and the local forecast with curves."""
        horizon = max(1, round(cfg.strategies.lp_horizon_hours / cfg.interval_hours))
        local = prices if cfg.bidding.mode == "curves" else None
        return cls(
            load_kw,
            pv_kw,
            horizon,
            cfg.n_intervals,
            tariff,
            prices.retail_eur_per_kwh,
            prices.feed_in_eur_per_kwh,
            local,
        )

    def __call__(self, i: int, iv: Interval) -> Forecast:
        """Household ``i``'s forecast from interval ``iv.k`` on."""
        k = iv.k
        end = min(k + self.horizon, self.n_intervals)
        fee = self.tariff.forecast_import_eur_per_kwh
        buy = self.retail_eur_per_kwh[k:end] + self.tariff.import_charge_eur_per_kwh[k:end]
        sell = self.feed_in_eur_per_kwh[k:end]
        if self.local is not None:  # it adds the published import charge itself
            buy = sell = self.local.ahead(k, end - k)
        return Forecast(
            load_kw=self.load_kw[i, k:end],
            pv_kw=self.pv_kw[i, k:end],
            buy_eur_per_kwh=buy * iv.price_signal + fee,
            sell_eur_per_kwh=sell * iv.price_signal,
            hours=iv.hours,
            peak_eur_per_kw=self.tariff.forecast_peak_eur_per_kw,
            peak_so_far_kw=self.tariff.forecast_peak_so_far_kw(i),
        )


@dataclass(frozen=True)
class Observed:
    """The households' plans, planned and reported positions, and their strategies' observations."""

    plans: Sequence[DevicePlan]
    planned_kw: np.ndarray
    reported_kwh: np.ndarray
    observations: "Observations"


def observe(households: Iterable[Household], iv: Interval, forecast: Forecaster, attack: Attack) -> Observed:
    """Plan every household's devices, take its report and build its strategy's observation."""
    households = list(households)  # iterated three times: a Mesa AgentSet walks its weak references each time
    plans, planned_kw = plan(households, iv, forecast)
    plans, planned_kw = manage(households, plans, planned_kw, iv.k, iv.hours)  # the community battery
    reported_kwh = attack.reports(iv.k, planned_kw * iv.hours)
    return Observed(plans, planned_kw, reported_kwh, observations(households, iv, plans, reported_kwh))


def plan(
    households: list[Household], iv: Interval, forecast: Forecaster
) -> tuple[Sequence[DevicePlan], np.ndarray]:
    """Every household's plan and its planned net injection (kW).

    The rule-based policies plan the whole fleet at once (:func:`self_consumption_columns`);
    any other policy, or a household outside the fleet, plans on its own.
    """
    base, pv = iv.base_load_kw.tolist(), iv.pv_kw.tolist()  # Python floats, as float(base_kw[i]) gives
    t0_s, t1_s = iv.t0_s, iv.t1_s
    found = Fleet.of([h.devices for h in households])
    ruled = np.zeros(len(households), dtype=bool)
    if found is not None:
        fleet, members = found
        ruled = members & np.array([type(h.policy) in (SelfConsumption, TimeOfUse) for h in households])
    if not ruled.any():
        ruled_plans: Sequence[DevicePlan] = []
        net_kw = np.zeros(len(households))
    else:
        columns = self_consumption_columns(fleet, iv.base_load_kw, iv.pv_kw, t0_s, t1_s)
        for policy, rows in _time_of_use(households, ruled):
            policy.adjust_columns(columns, fleet, rows, t0_s, t1_s)
        ruled_plans, net_kw = columns.plans(), columns.net_kw(iv.base_load_kw)
    own = np.flatnonzero(~ruled).tolist()
    if not own:
        return ruled_plans, net_kw
    plans = [
        ruled_plans[h.index]
        if ruled[h.index]
        else h.plan(
            base[h.index], pv[h.index], t0_s, t1_s, forecast(h.index, iv) if h.policy.needs_forecast else None
        )
        for h in households
    ]
    net_kw[own] = [plans[i].net_kw(base[i]) for i in own]
    return plans, net_kw


def _time_of_use(households: list[Household], ruled: np.ndarray) -> list[tuple[TimeOfUse, np.ndarray]]:
    """The time-of-use policies among the ruled households, one per setting of windows, and whose they are."""
    groups: dict[tuple[Any, Any], tuple[TimeOfUse, np.ndarray]] = {}
    for h in households:
        policy = h.policy
        if ruled[h.index] and type(policy) is TimeOfUse:
            key = (policy.charge_hours, policy.discharge_hours)
            if key not in groups:
                groups[key] = (policy, np.zeros(len(households), dtype=bool))
            groups[key][1][h.index] = True
    return list(groups.values())


class Observations(Sequence[Observation]):
    """What each household's strategy sees, as columns; one household's :class:`Observation` on first use.

    The shared prices and the time are held once; the batteries' state is read
    when the interval is observed (the devices move later in the interval).
    Strategies that decide as a batch (:func:`lemgrid.agents.strategies.in_batch`)
    read the columns and never build a household's tuple.
    """

    def __init__(
        self,
        iv: Interval,
        reported_kwh: list[float],
        voltage_pu: list[float],
        battery_planned_kw: list[float],
        battery: list[tuple[float | None, float, float]],
    ) -> None:
        signal = iv.price_signal
        self.interval, self.hours = iv.k, iv.hours
        self.retail = iv.import_price_eur_per_kwh * signal
        self.feed_in = iv.feed_in_tariff_eur_per_kwh * signal
        self.last = None if iv.last_price_eur_per_kwh is None else iv.last_price_eur_per_kwh * signal
        self.interval_of_day, self.intervals_per_day = iv.k % iv.intervals_per_day, iv.intervals_per_day
        self.reported_kwh = reported_kwh
        self._voltage = voltage_pu
        self._planned = battery_planned_kw
        self._battery = battery
        self._built: dict[int, Observation] = {}

    def __len__(self) -> int:
        return len(self.reported_kwh)

    @overload
    def __getitem__(self, i: int) -> Observation: ...
    @overload
    def __getitem__(self, i: slice) -> list[Observation]: ...
    def __getitem__(self, i: int | slice) -> Observation | list[Observation]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"household {i} is not observed")
        built = self._built.get(i)
        if built is None:
            voltage = self._voltage[i]
            soc, min_kw, max_kw = self._battery[i]
            built = self._built[i] = Observation(
                i,
                self.interval,
                self.reported_kwh[i],
                self.retail,
                self.feed_in,
                self.last,
                self.interval_of_day,
                self.intervals_per_day,
                self.hours,
                soc,
                self._planned[i],
                min_kw,
                max_kw,
                None if math.isnan(voltage) else voltage,
            )
        return built


NO_BATTERY: tuple[float | None, float, float] = (None, 0.0, 0.0)


def observations(
    households: list[Household], iv: Interval, plans: Sequence[DevicePlan], reported_kwh: np.ndarray
) -> Observations:
    """What each household's strategy sees: its reported position, the prices and its battery's room.

    What every household sees alike (the prices, the time) is computed once.
    """
    hours = iv.hours
    battery = [NO_BATTERY] * len(plans)
    fleet, outside = Fleet.split(households)
    if fleet is not None:  # the fleet's batteries from its table, as each battery's soc and flexibility give
        table, owner = fleet.batteries, fleet.battery_owner.tolist()
        capacity = table.capacity_kwh
        soc = np.divide(table.energy_kwh, capacity, out=np.zeros(table.n), where=capacity > 0)
        p_min, p_max = table.flexibility(hours)
        for i, row in zip(owner, zip(soc.tolist(), p_min.tolist(), p_max.tolist(), strict=True), strict=True):
            battery[i] = row
    for h in (households[i] for i in outside):
        b = h.devices.battery
        if b is not None:
            flex = b.flexibility(hours)
            battery[h.index] = (b.soc, flex.p_min_kw, flex.p_max_kw)
    return Observations(
        iv,
        reported_kwh.tolist(),
        iv.last_supply_voltage_pu.tolist(),
        plans.columns.battery_kw.tolist() if isinstance(plans, PlanList) else [p.battery_kw for p in plans],
        battery,
    )
