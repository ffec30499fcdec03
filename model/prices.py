"""Price signals: the retailer's import price and feed-in tariff per interval, flat, time-of-use or dynamic.

A dynamic price is indexed on an hourly wholesale (day-ahead) series plus
fixed adders (levies, taxes, the supplier's margin). The series comes from a
user's CSV file or from :func:`model_wholesale_eur_per_mwh`, a documented
model of a day-ahead price with a realistic daily and seasonal shape.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lemgrid.model.hourly_csv import read_hourly_csv


class PriceSeriesError(ValueError):
    """A wholesale price file or a tariff that cannot be used; the message names the file, row and rule."""


def model_wholesale_eur_per_mwh(times: pd.DatetimeIndex) -> np.ndarray:
    """A modelled day-ahead price (EUR/MWh) at each of ``times`` (local, time-zone aware).

    Shape, not data: a mean of 90 EUR/MWh, 25 higher in mid-winter than in
    mid-summer (cosine over the year, peak mid-January); each day a night
    trough at 03:00 (-20), a morning peak at 08:00 (+20), an evening peak at
    19:00 (+35) and a midday solar dip at 13:00 that is deep in summer (-45)
    and shallow in winter (-10). These are the features of the German-Luxembourg
    day-ahead market of 2023-2024 (EPEX SPOT; Fraunhofer ISE energy-charts
    hourly prices): evening peak above the morning peak, a solar valley that
    reaches zero on sunny summer weekends. Amplitudes are rounded; use a CSV
    of real prices (:func:`read_wholesale_csv`) for a study of a particular year.
    """
    hour = times.hour.to_numpy() + times.minute.to_numpy() / 60
    summer = np.cos(2 * np.pi * (times.dayofyear.to_numpy() - 182) / 365.25)  # 1 mid-summer, -1 mid-winter

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour - centre) / width) ** 2)

    solar_dip = 27.5 + 17.5 * summer
    return (
        90.0
        - 12.5 * summer
        - 20 * bump(3, 2.0)
        + 20 * bump(8, 1.5)
        + 35 * bump(19, 2.0)
        - solar_dip * bump(13, 2.5)
    )


def read_wholesale_csv(path: str | Path, times: pd.DatetimeIndex) -> np.ndarray:
    """Hourly prices (EUR/MWh) from ``path`` at each of ``times``, or a :class:`PriceSeriesError`.

    The file has a header ``timestamp,price_eur_per_mwh`` and follows the rules
    of :func:`model.hourly_csv.read_hourly_csv`; each interval takes its hour's price.
    """
    hours = times.tz_convert("UTC").floor("h")
    series = read_hourly_csv(
        path, "price_eur_per_mwh", "wholesale price", PriceSeriesError, need=(hours[0], hours[-1])
    )
    return series.reindex(hours).to_numpy()


@dataclass(frozen=True)
class TimeOfUseWindow:
    """A clock window [start_hour, end_hour) with its price; end < start wraps past midnight."""

    start_hour: float
    end_hour: float
    price_eur_per_kwh: float

    def contains(self, hour: np.ndarray) -> np.ndarray:
        """Whether each local clock hour lies in the window."""
        if self.start_hour <= self.end_hour:
            return (hour >= self.start_hour) & (hour < self.end_hour)
        return (hour >= self.start_hour) | (hour < self.end_hour)


def time_of_use(times: pd.DatetimeIndex, default: float, windows: list[TimeOfUseWindow]) -> np.ndarray:
    """Price per interval by local clock time: the first window that contains it, else ``default``."""
    hour = times.hour.to_numpy() + times.minute.to_numpy() / 60
    price = np.full(len(times), default, dtype=float)
    taken = np.zeros(len(times), dtype=bool)
    for w in windows:
        inside = w.contains(hour) & ~taken
        price[inside] = w.price_eur_per_kwh
        taken |= inside
    return price


def indexed(wholesale_eur_per_mwh: np.ndarray, adder_eur_per_kwh: float) -> np.ndarray:
    """A price that follows the wholesale price: ``wholesale / 1000 + adder`` (EUR/kWh)."""
    return np.asarray(wholesale_eur_per_mwh, dtype=float) / 1000 + adder_eur_per_kwh


def retailer_prices(
    retail: str,
    feed_in: str,
    flat_retail_eur_per_kwh: float,
    fixed_feed_in_eur_per_kwh: float,
    windows: list[TimeOfUseWindow],
    retail_adder_eur_per_kwh: float,
    feed_in_adder_eur_per_kwh: float,
    wholesale_file: str | None,
    times: pd.DatetimeIndex,
) -> tuple[np.ndarray, np.ndarray]:
    """The retail price and the feed-in tariff (EUR/kWh) at each of ``times`` (scenario section prices)."""
    wholesale = None
    if "dynamic" in (retail, feed_in):
        wholesale = (
            model_wholesale_eur_per_mwh(times)
            if wholesale_file is None
            else read_wholesale_csv(wholesale_file, times)
        )
    if retail == "flat":
        buy = np.full(len(times), flat_retail_eur_per_kwh)
    elif retail == "time_of_use":
        buy = time_of_use(times, flat_retail_eur_per_kwh, windows)
    else:
        buy = indexed(wholesale, retail_adder_eur_per_kwh)  # type: ignore[arg-type]
    sell = (
        np.full(len(times), fixed_feed_in_eur_per_kwh)
        if feed_in == "fixed"
        else indexed(wholesale, feed_in_adder_eur_per_kwh)  # type: ignore[arg-type]
    )
    above = np.flatnonzero(sell > buy)
    if len(above):
        k = int(above[0])
        raise PriceSeriesError(
            f"scenario field 'prices': at {times[k]} the feed-in tariff {sell[k]:.4f} EUR/kWh exceeds the "
            f"retail price {buy[k]:.4f}; a household could buy and sell back at a profit"
        )
    return buy, sell
