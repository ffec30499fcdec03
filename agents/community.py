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
"""

from typing import TYPE_CHECKING

import numpy as np

from lemgrid.agents.devices import Battery
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan, Devices, Forecast
from lemgrid.agents.strategies import Strategy

if TYPE_CHECKING:
    from mesa import Model

MANAGER_NAME = "community_manager"


class Idle:
    """The manager's device policy before its own decision: nothing planned (it has no load or PV)."""

    name = "community_manager"
    needs_forecast = True  # its battery power is fixed before the market: the curve bids it inelastically

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
        return DevicePlan()


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
        objective: ``self_consumption`` or ``peak_shaving``.
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
        super().__init__(model, index, MANAGER_NAME, bus, phase, strategy, Idle(), Devices(battery=battery))
        self.objective = objective
        self.base_net_kw = base_net_kw
        self.per_day = intervals_per_day
        self.device_kw = np.full(len(base_net_kw), np.nan)  # the households' device net seen so far
        self.threshold_kw = np.nan  # the last peak-shaving threshold (import, kW)
        self.peak_today_kw = 0.0  # the community's highest import so far today, battery included
        self._seen = (-1, 0.0)  # the interval last decided and the community import then (kW)

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
