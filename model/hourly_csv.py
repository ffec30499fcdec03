"""One reader for the hourly series users supply as CSV (wholesale prices, outdoor temperatures).

The file has a header ``timestamp,<column>``; every timestamp carries its UTC
offset (ISO 8601, e.g. ``2026-06-01T00:00:00+02:00``); rows are hourly,
ascending, without gaps or repeats, and cover the hours the run needs; every
value is a finite number within the quantity's bounds. Any other file is
refused with the error class the caller names, quoting the file, the row and
the rule.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def read_hourly_csv(
    path: str | Path,
    column: str,
    what: str,
    error: type[ValueError],
    need: tuple[pd.Timestamp, pd.Timestamp],
    bounds: tuple[float, float] = (-np.inf, np.inf),
    unit: str = "",
) -> pd.Series:
    """The file's values indexed by UTC hour; ``need`` is the first and last hour (UTC) the run reads."""
    where = f"{what} file {str(path)!r}"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise error(f"{where}: cannot read it as CSV: {exc}") from None
    missing = {"timestamp", column} - set(frame.columns)
    if missing:
        raise error(f"{where}: needs the columns timestamp,{column}; missing {sorted(missing)}")
    if frame.empty:
        raise error(f"{where}: has no rows")
    stamps = _utc_stamps(frame.timestamp, where, error)
    values = _finite_values(frame[column], column, where, error, bounds, unit)
    step = stamps.diff().iloc[1:].to_numpy()
    repeat = np.flatnonzero(step == np.timedelta64(0))
    if len(repeat):
        raise error(f"{where}: row {int(repeat[0]) + 3}: timestamp {stamps.iloc[repeat[0] + 1]} repeats")
    off = np.flatnonzero(step != np.timedelta64(1, "h"))
    if len(off):
        row = int(off[0]) + 1
        raise error(
            f"{where}: row {row + 2}: {stamps.iloc[row]} follows {stamps.iloc[row - 1]}; rows must be "
            "hourly, ascending, without gaps or repeats"
        )
    first, last = stamps.iloc[0], stamps.iloc[-1]
    if need[0] < first or need[1] > last:
        raise error(
            f"{where}: covers {first} to {last} ({len(frame)} hours), but the run needs {need[0]} "
            f"to {need[1]} (UTC); check the start date, the number of days and the time zone"
        )
    return pd.Series(values, index=pd.DatetimeIndex(stamps))


def _utc_stamps(raw: pd.Series, where: str, error: type[ValueError]) -> pd.Series:
    naive = np.flatnonzero(~raw.str.strip().str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True))
    if len(naive):
        row = int(naive[0])
        raise error(
            f"{where}: row {row + 2}: timestamp {raw.iloc[row]!r} has no time zone; write every "
            "timestamp with its UTC offset, e.g. 2026-06-01T00:00:00+02:00"
        )
    try:
        return pd.to_datetime(raw, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise error(f"{where}: a timestamp is not ISO 8601 (e.g. 2026-06-01T00:00:00+02:00): {exc}") from None


def _finite_values(
    raw: pd.Series, column: str, where: str, error: type[ValueError], bounds: tuple[float, float], unit: str
) -> np.ndarray:
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    lo, hi = bounds
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= lo) & (values <= hi)))
    if len(bad):
        row = int(bad[0])
        limits = f" between {lo:g} and {hi:g} {unit}".rstrip() if np.isfinite(lo) or np.isfinite(hi) else ""
        raise error(
            f"{where}: row {row + 2}: {column} {raw.iloc[row]!r} is not a finite number{limits} "
            "(NaN and empty cells are not allowed)"
        )
    return values
