"""Weather and seasons: the outdoor temperature per interval, and the season a run covers.

The temperature comes from the scenario's ``weather.temperature_file`` (an hourly
CSV, linearly interpolated to each interval's midpoint) or from the documented
model of :func:`agents.profiles.ambient_temperature_c`. One series per run drives
heating demand, the heat pumps' COP and the PV cell temperature (PVWatts,
``pv.temperature_coefficient_per_k``, default -0.4 %/K, at the Faiman cell temperature).
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from lemgrid.agents.profiles import ambient_temperature_c
from lemgrid.model.hourly_csv import read_hourly_csv
from lemgrid.model.scenario import Scenario


class WeatherError(ValueError):
    """A temperature file that cannot be used; the message names the file, the row and the rule."""


def outdoor_temperature_c(cfg: Scenario, times: pd.DatetimeIndex) -> np.ndarray:
    """Outdoor air temperature (deg C) at the middle of each interval starting at ``times``."""
    mid = times + pd.Timedelta(minutes=cfg.interval_minutes / 2)
    w = cfg.weather
    if w.temperature_file is None:
        return ambient_temperature_c(
            mid,
            cfg.site.annual_mean_temperature_c,
            cfg.site.latitude_deg,
            w.seasonal_amplitude_k,
            w.daily_amplitude_k,
        )
    return read_temperature_csv(w.temperature_file, mid)


def read_temperature_csv(path: str | Path, times: pd.DatetimeIndex) -> np.ndarray:
    """Temperatures from an hourly CSV at each of ``times`` (linear between hours); else a WeatherError.

    The file has a header ``timestamp,temperature_c`` and follows the rules of
    :func:`model.hourly_csv.read_hourly_csv`; every temperature lies between
    -60 and 60 deg C.
    """
    utc = times.tz_convert("UTC")
    series = read_hourly_csv(
        path,
        "temperature_c",
        "temperature",
        WeatherError,
        need=(utc[0].floor("h"), utc[-1].ceil("h")),
        bounds=(-60.0, 60.0),
        unit="deg C",
    )
    first = series.index[0]
    hours_since = (series.index - first).total_seconds().to_numpy() / 3600
    wanted = (utc - first).total_seconds().to_numpy() / 3600
    return np.interp(wanted, hours_since, series.to_numpy())


_SEASONS = ("winter", "spring", "summer", "autumn")  # meteorological, northern hemisphere, from December


def season(start: dt.date, days: int, latitude_deg: float) -> str:
    """The season a run covers: ``year``, or the meteorological season of its middle day.

    A run of 365 days or more is a ``year``; otherwise December-February is
    winter, March-May spring and so on, flipped south of the equator.
    """
    if days >= 365:
        return "year"
    middle = start + dt.timedelta(days=days // 2)
    index = (middle.month % 12) // 3
    if latitude_deg < 0:
        index = (index + 2) % 4
    return _SEASONS[index]
