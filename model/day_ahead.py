"""The day-ahead stage (``bidding.day_ahead: true``): a market on forecast curves schedules batteries and EVs.

At the start of each day of the run, every household bids its devices' curves
for each interval of the day, built as in the interval market
(:func:`model.bidding.step_table`) but from its *forecasts*: its own base
load and PV with the scenario's forecast error, the local-price forecast, and
the state its devices would be in if the day went as cleared so far. The
households know their EVs' stays and their appliances' windows a day ahead.
The day's intervals are cleared one after the other by the scenario's
mechanism; after each, copies of the devices dispatch along the cleared
quantities, so the next interval's curves start from the scheduled state.
Strategies do not shape day-ahead bids (every household quotes its curves
truthfully), network constraints are not applied day-ahead (the DSO acts in
the interval market), and the price-manipulation attack does not reach it.

What the day-ahead market fixes for each interval: each battery's and EV's
power (they follow the schedule, clipped to what is feasible when the interval
comes, so an EV's deadline is still met), and each household's net day-ahead
purchase. In the interval market the household then bids its deviation from
that position (base load, PV and appliances as they really are), and the
retailer settles what neither market covers. Both stages' trades are paid at
their own prices; the day-ahead trades of an interval are settled with it.
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lemgrid.agents.device_curves import Outlook as PriceOutlook
from lemgrid.agents.household import Household
from lemgrid.agents.policies import Devices
from lemgrid.model.bidding import Band, Scheduled, curve_bids, dispatch_curves, step_table, without_own_trades
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.market import ClearingResult, Mechanism
from lemgrid.model.scenario import Bidding
from lemgrid.model.trades import traded_kwh


@dataclass(frozen=True)
class Outlook:
    """What the households know a day ahead: their forecast load and PV and the retailer's prices.

    Attributes:
        load_kw, pv_kw: (n, n_intervals) each household's forecast base load and PV.
        retail_eur_per_kwh, feed_in_eur_per_kwh: the retailer's prices per interval.
        interval_s: interval length in seconds; intervals_per_day: intervals in a day.
        network_import_eur_per_kwh: the network tariff's import charge per interval, as published
            (the tariff's own array: a dynamic tariff publishes the coming day at midnight, before
            the day clears); a purchase from the retailer costs the retail price plus it.
    """

    load_kw: np.ndarray
    pv_kw: np.ndarray
    retail_eur_per_kwh: np.ndarray
    feed_in_eur_per_kwh: np.ndarray
    interval_s: float
    intervals_per_day: int
    network_import_eur_per_kwh: np.ndarray


@dataclass(frozen=True)
class DaySchedule:
    """One day's day-ahead result: per interval of the day, the clearing and the scheduled powers.

    ``battery_kw`` and ``ev_kw`` are (n, intervals of the day), injection positive.
    """

    first: int
    clearings: list[ClearingResult]
    battery_kw: np.ndarray
    ev_kw: np.ndarray

    def covers(self, k: int) -> bool:
        """Whether interval ``k`` belongs to this day."""
        return self.first <= k < self.first + len(self.clearings)


class DayAhead:
    """The day-ahead market of a run: clears each day when its first interval comes.

    Args:
        outlook: the households' forecasts and the retailer's prices.
        mechanism: the scenario's clearing mechanism (the same design clears both stages).
        forecast: the local-price forecast the curves value future energy with.
        cfg: the bidding section (horizon, PV curtailment price).
    """

    def __init__(self, outlook: Outlook, mechanism: Mechanism, forecast: PriceForecast, cfg: Bidding) -> None:
        self.outlook = outlook
        self.mechanism = mechanism
        self.forecast = forecast
        self.cfg = cfg
        self.day: DaySchedule | None = None

    def positions(self, k: int, households: Sequence[Household]) -> list[Scheduled]:
        """Per household: battery and EV power and the net purchase (kW) fixed day-ahead for ``k``."""
        day = self._day(k, households)
        j = k - day.first
        hours = self.outlook.interval_s / 3600
        bought, sold = traded_kwh(day.clearings[j].trades, len(households))
        net_kw = (bought - sold) / hours
        return [
            Scheduled(
                battery_kw=float(day.battery_kw[i, j]) if h.devices.battery is not None else None,
                ev_kw=float(day.ev_kw[i, j]) if h.devices.ev is not None else None,
                day_ahead_bought_kw=float(net_kw[i]),
            )
            for i, h in enumerate(households)
        ]

    def clearing(self, k: int) -> ClearingResult:
        """The day-ahead clearing of interval ``k`` (its day must have been cleared)."""
        if self.day is None or not self.day.covers(k):
            raise RuntimeError(f"interval {k}'s day has not been cleared day-ahead")
        return self.day.clearings[k - self.day.first]

    def _day(self, k: int, households: Sequence[Household]) -> DaySchedule:
        if self.day is None or not self.day.covers(k):
            per_day = self.outlook.intervals_per_day
            first = k - k % per_day
            last = min(first + per_day, self.outlook.load_kw.shape[1])
            self.day = self.clear_day(first, last, [copy.deepcopy(h.devices) for h in households])
        return self.day

    def clear_day(self, first: int, last: int, devices: list[Devices]) -> DaySchedule:
        """Clear intervals ``first .. last-1`` one after the other, ``devices`` (copies) following each."""
        o, cfg = self.outlook, self.cfg
        hours = o.interval_s / 3600
        horizon = max(1, round(cfg.horizon_hours / hours))
        battery = np.zeros((len(devices), last - first))
        ev = np.zeros_like(battery)
        clearings = []
        for j, k in enumerate(range(first, last)):
            t0, t1 = k * o.interval_s, (k + 1) * o.interval_s
            future = self.forecast.ahead(k + 1, horizon)
            retail = float(o.retail_eur_per_kwh[k] + o.network_import_eur_per_kwh[k])
            feed_in = float(o.feed_in_eur_per_kwh[k])
            band = Band(t0, t1, PriceOutlook(future), retail, feed_in, cfg.pv_curtailment_price_eur_per_kwh)
            load_kw, pv_kw = (np.asarray(x[:, k], dtype=float) for x in (o.load_kw, o.pv_kw))
            table = step_table(devices, load_kw, pv_kw, band, [None] * len(devices))
            bids = curve_bids(table, band, hours, [])
            clearing = without_own_trades(self.mechanism.clear(bids.orders))
            for i, (d, plan) in enumerate(
                zip(devices, dispatch_curves(bids, clearing, devices, hours), strict=True)
            ):
                done = d.dispatch(plan, t0, t1)
                battery[i, j], ev[i, j] = done.battery_kw, done.ev_kw
            clearings.append(clearing)
        return DaySchedule(first, clearings, battery, ev)


def forecast_profiles(
    load_kw: np.ndarray, pv_kw: np.ndarray, cfg: Bidding, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The households' forecasts of their base load and PV: the true profiles times ``1 + error``.

    The error is normal, independent per household and interval, with the relative
    standard deviations ``load_forecast_error`` and ``pv_forecast_error`` (forecasts
    are never negative); with no error the true profiles themselves are returned.
    """
    rng = np.random.default_rng([seed, 0xDA])
    load = load_kw if cfg.load_forecast_error == 0 else _with_error(load_kw, cfg.load_forecast_error, rng)
    pv = pv_kw if cfg.pv_forecast_error == 0 else _with_error(pv_kw, cfg.pv_forecast_error, rng)
    return load, pv


def _with_error(kw: np.ndarray, relative_std: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(kw * (1 + relative_std * rng.standard_normal(kw.shape)), 0.0, None)
