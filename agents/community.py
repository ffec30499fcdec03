"""The community manager: an aggregator that owns a community battery and runs it for the community.

It takes a seat in the local market like a household (its own row in the
population, on the battery's bus, with no load and no PV), so it clears,
settles and pays fees like any participant and the balances cover it. Its
battery is dispatched by the manager *before* the market, from the
community's planned net position, and bids that power inelastically: the
manager's objective is physical (keep the community's energy local, or keep
its import under a threshold), which a price-driven battery curve would trade
off against arbitrage. Objectives:

- ``self_consumption``: charge from the community's net export, discharge into
  its net import (the battery absorbs what the community would exchange).
- ``peak_shaving``: over the next 24 h, forecast the community's import (the
  households' own base-load and PV forecasts, the ones their policies plan on,
  plus their device demand at the same time yesterday: persistence), find the
  threshold above which the forecast import holds just the energy the battery
  can give, discharge above it and charge below it (classic threshold
  control, e.g. Oudalov et al. 2007, "Sizing and optimal operation of battery
  energy storage system for peak shaving application").
- ``sell_flexibility``: the battery stands by for the DSO's flexibility market
  (``dso.flexibility``). Unless the DSO buys, it charges in the community's
  valley (the mirror of peak shaving: up to the import level below which the
  24 h forecast holds just the room left in the battery) and never discharges
  on its own, so it holds its energy for the evening. After the market it offers
  the DSO its whole power range (:meth:`CommunityManager.asks`),
  is dispatched as bought and is not re-dispatched after the DSO.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lemgrid.agents.devices import Battery
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan, Devices, Forecast
from lemgrid.agents.strategies import Strategy

if TYPE_CHECKING:
    from mesa import Model

MANAGER_NAME = "community_manager"
SELLS_FLEXIBILITY = "sell_flexibility"


class Idle:
    """The manager's device policy before its own decision: nothing planned (it has no load or PV).

    Only a flexibility seller reads the price forecast (its asks are priced from it); it keeps the last one.
    """

    name = "community_manager"

    def __init__(self, needs_forecast: bool = False) -> None:
        self.needs_forecast = needs_forecast
        self.forecast: Forecast | None = None

    def plan(
        self,
        devices: Devices,
        base_load_kw: float,
        pv_kw: float,
        t0_s: float,
        t1_s: float,
        forecast: Forecast | None = None,
    ) -> DevicePlan:
        """An empty plan; :meth:`CommunityManager.plan_battery` sets the battery."""
        self.forecast = forecast
        return DevicePlan()


@dataclass(frozen=True)
class FlexibilityAsks:
    """What the manager's battery asks the DSO per kWh (AC) delivered, per kind of move.

    Attributes:
        charge_less: less charging now (downward: less import).
        discharge: discharging (downward).
        charge_more: more charging now (upward: less export).
    """

    charge_less: float
    discharge: float
    charge_more: float


def flexibility_asks(
    buy_eur_per_kwh: np.ndarray, sell_now_eur_per_kwh: float, battery: Battery, premium_eur_per_kwh: float
) -> FlexibilityAsks:
    """The battery's marginal value of each move: its opportunity cost at the forecast price, wear, a premium.

    ``buy_eur_per_kwh``: the forecast purchase price from now on (now first). Energy moved
    now is bought back (or not bought) at the cheapest later price ``p``: charging less
    now saves the price now and costs ``p`` later; a kWh discharged now takes ``1/eta_d``
    from storage, refilled with ``1/eta`` kWh at ``p`` (round trip ``eta``), earns the sale
    price now and wears ``1 + 1/eta`` kWh of throughput; charging more now costs the price
    now and saves ``p`` later. Each energy term is floored at 0 (a move that pays for
    itself asks only the premium).
    """
    now = float(buy_eur_per_kwh[0])
    later = float(buy_eur_per_kwh[1:].min()) if len(buy_eur_per_kwh) > 1 else now
    eta = battery.eta_charge * battery.eta_discharge
    wear = battery.degradation_cost_eur_per_kwh
    return FlexibilityAsks(
        charge_less=max(later - now, 0.0) + premium_eur_per_kwh,
        discharge=max(later / eta - sell_now_eur_per_kwh, 0.0) + (1 + 1 / eta) * wear + premium_eur_per_kwh,
        charge_more=max(now - later, 0.0) + premium_eur_per_kwh,
    )


def peak_threshold_kw(
    forecast_import_kw: np.ndarray, energy_kwh: float, hours: float, power_kw: float
) -> float:
    """The import level T above which the forecast holds ``energy_kwh`` (AC), shaving at most ``power_kw``.

    Solves ``sum(min(max(F - T, 0), power_kw)) * hours = energy_kwh`` for T by bisection; returns
    the forecast's peak minus the power when the energy is enough for every interval.
    """
    peak = float(forecast_import_kw.max())

    def shaved_kwh(t: float) -> float:
        return float(np.clip(forecast_import_kw - t, 0.0, power_kw).sum() * hours)

    low, high = peak - power_kw, peak
    if shaved_kwh(low) <= energy_kwh:
        return low
    for _ in range(50):
        mid = (low + high) / 2
        if shaved_kwh(mid) > energy_kwh:
            low = mid
        else:
            high = mid
    return high


class CommunityManager(Household):
    """A community aggregator with one battery, in the market as a participant at row ``index``.

    Args:
        objective: ``self_consumption``, ``peak_shaving`` or ``sell_flexibility``.
        base_net_kw: the community's forecast base-load-and-PV net injection per interval of the run
            (PV minus base load, summed over the households).
        intervals_per_day: the persistence horizon of the device-demand forecast.
    """

    def __init__(
        self,
        model: "Model",
        index: int,
        bus: int,
        phase: str,
        strategy: Strategy,
        battery: Battery,
        objective: str,
        base_net_kw: np.ndarray,
        intervals_per_day: int,
    ) -> None:
        policy = Idle(needs_forecast=objective == SELLS_FLEXIBILITY)
        super().__init__(model, index, MANAGER_NAME, bus, phase, strategy, policy, Devices(battery=battery))
        self.objective = objective
        self.base_net_kw = base_net_kw
        self.per_day = intervals_per_day
        self.device_kw = np.full(len(base_net_kw), np.nan)  # the households' device net seen so far
        self.threshold_kw = np.nan  # the last peak-shaving threshold (import, kW)
        self.peak_today_kw = 0.0  # the community's highest import so far today, battery included
        self._seen = (-1, 0.0)  # the interval last decided and the community import then (kW)
        self.flexibility_eur = 0.0  # what the DSO paid it for flexibility so far

    @property
    def redispatches(self) -> bool:
        """Whether it re-sets its battery after the market and the DSO (a seller delivers what it sold)."""
        return self.objective != SELLS_FLEXIBILITY

    @property
    def battery(self) -> Battery:
        """The community battery."""
        assert self.devices.battery is not None
        return self.devices.battery

    def plan_battery(self, community_kw: float, k: int, hours: float) -> DevicePlan:
        """The battery's power for interval ``k`` given the other participants' planned net injection."""
        self.device_kw[k] = community_kw - self.base_net_kw[k]
        if self.objective == "self_consumption":
            want = community_kw  # absorb the export (charge), supply the import (discharge)
            return DevicePlan(battery_kw=self.battery.flexibility(hours).clip(-want))
        import_kw = -community_kw
        if self.objective == SELLS_FLEXIBILITY:
            return DevicePlan(battery_kw=-self._valley_charge_kw(k, import_kw, hours))
        self._count_peak(k)
        forecast = self._forecast_import_kw(k, import_kw)
        b = self.battery
        usable_kwh = max(b.energy_kwh - b.soc_min * b.capacity_kwh, 0.0) * b.eta_discharge
        # never below today's peak so far (shaving under it lowers neither the day's billed peak nor
        # the feeder's), nor below zero (discharging into the community's export shaves nothing)
        threshold = peak_threshold_kw(forecast, usable_kwh, hours, b.power_kw)
        self.threshold_kw = max(threshold, self.peak_today_kw, 0.0)
        # above the threshold: discharge the excess; below it: charge up to it
        battery_kw = b.flexibility(hours).clip(import_kw - self.threshold_kw)
        self._seen = (k, import_kw - battery_kw)
        return DevicePlan(battery_kw=battery_kw)

    def _valley_charge_kw(self, k: int, import_kw: float, hours: float) -> float:
        """Charging that fills the battery in the community's lowest-import intervals of the coming 24 h.

        The level L below which the forecast import leaves just the battery's room (AC) is
        the peak-shaving threshold of the negated forecast; it charges up to L, never discharges.
        """
        b = self.battery
        room_kwh = max(b.soc_max * b.capacity_kwh - b.energy_kwh, 0.0) / b.eta_charge
        forecast = -self._forecast_import_kw(k, import_kw)
        level_kw = -peak_threshold_kw(forecast, room_kwh, hours, b.power_kw)
        return float(np.clip(level_kw - import_kw, 0.0, -b.flexibility(hours).p_min_kw))

    def asks(self, premium_eur_per_kwh: float) -> FlexibilityAsks:
        """Its asks to the DSO, priced from the price forecast its policy received this interval."""
        f = self.policy.forecast  # type: ignore[attr-defined]
        assert f is not None, "a flexibility seller's policy receives the forecast"
        return flexibility_asks(
            f.buy_eur_per_kwh, float(f.sell_eur_per_kwh[0]), self.battery, premium_eur_per_kwh
        )

    def _count_peak(self, k: int) -> None:
        """At a new interval, count the last one's import (last seen, after the battery) in today's peak."""
        last_k, last_import_kw = self._seen
        if last_k == k or last_k < 0:
            return
        same_day = last_k // self.per_day == k // self.per_day
        self.peak_today_kw = max(self.peak_today_kw, last_import_kw) if same_day else 0.0

    def _forecast_import_kw(self, k: int, import_now_kw: float) -> np.ndarray:
        """The community's import over the next 24 h: now, then base load and PV plus yesterday's devices."""
        end = min(k + self.per_day, len(self.base_net_kw))
        ahead = np.arange(k + 1, end)
        yesterday = ahead - self.per_day
        devices = np.where(yesterday >= 0, self.device_kw[np.maximum(yesterday, 0)], 0.0)
        later = -(self.base_net_kw[ahead] + np.nan_to_num(devices))
        return np.concatenate([[import_now_kw], later])
