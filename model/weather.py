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

    The file has a header ``timestamp,temperature_c``; every timestamp carries
    its UTC offset (ISO 8601, e.g. ``2026-01-05T00:00:00+00:00``); rows are
    hourly, ascending, without gaps or repeats, and cover the whole run; every
    temperature is a finite number between -60 and 60 deg C.
    """
    where = f"temperature file {str(path)!r}"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise WeatherError(f"{where}: cannot read it as CSV: {exc}") from None
    missing = {"timestamp", "temperature_c"} - set(frame.columns)
    if missing:
        raise WeatherError(f"{where}: needs the columns timestamp,temperature_c; missing {sorted(missing)}")
    if frame.empty:
        raise WeatherError(f"{where}: has no rows")
    naive = np.flatnonzero(~frame.timestamp.str.strip().str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True))
    if len(naive):
        row = int(naive[0])
        raise WeatherError(
            f"{where}: row {row + 2}: timestamp {frame.timestamp.iloc[row]!r} has no time zone; write every "
            "timestamp with its UTC offset, e.g. 2026-01-05T00:00:00+00:00"
        )
    try:
        stamps = pd.to_datetime(frame.timestamp, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise WeatherError(
            f"{where}: a timestamp is not ISO 8601 (e.g. 2026-01-05T00:00:00+00:00): {exc}"
        ) from None
    values = pd.to_numeric(frame.temperature_c, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(values) & (np.abs(values) <= 60)))
    if len(bad):
        row = int(bad[0])
        raise WeatherError(
            f"{where}: row {row + 2}: temperature_c {frame.temperature_c.iloc[row]!r} is not a number "
            "between -60 and 60 deg C (NaN and empty cells are not allowed)"
        )
    step = stamps.diff().iloc[1:].to_numpy()
    off = np.flatnonzero(step != np.timedelta64(1, "h"))
    if len(off):
        row = int(off[0]) + 1
        raise WeatherError(
            f"{where}: row {row + 2}: {stamps.iloc[row]} follows {stamps.iloc[row - 1]}; rows must be "
            "hourly, ascending, without gaps or repeats"
        )
    utc = times.tz_convert("UTC")
    first, last = stamps.iloc[0], stamps.iloc[-1]
    need_first, need_last = utc[0].floor("h"), utc[-1].ceil("h")
    if need_first < first or need_last > last:
        raise WeatherError(
            f"{where}: covers {first} to {last} ({len(frame)} hours), but the run needs {need_first} "
            f"to {need_last} (UTC); check the start date, the number of days and the time zone"
        )
    hours_since = (stamps - first).dt.total_seconds().to_numpy() / 3600
    wanted = (utc - first).total_seconds().to_numpy() / 3600
    return np.interp(wanted, hours_since, values)


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
