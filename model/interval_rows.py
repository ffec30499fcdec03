"""The run's interval rows in memory, stored by column so a year costs megabytes, not gigabytes.

A row is appended as a dict (``model.metrics.interval_row``) and read back as
an equal dict; every ``CHUNK`` rows are packed column by column, float columns
into float64 arrays (the same bits), other columns (ints, bools, strings,
None, numpy scalars) into tuples. One dict per interval held a year's 35,040 rows at about
7 kB each; packed, a float costs 8 bytes.
"""

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

CHUNK = 96  # rows packed together: a day of 15-minute intervals


class IntervalRows(Sequence[dict[str, Any]]):
    """A list of interval rows (dicts) stored by column; ``column`` gives one column over the run."""

    def __init__(self) -> None:
        self._packed: list[dict[str, np.ndarray | tuple[Any, ...]]] = []
        self._open: list[dict[str, Any]] = []

    def append(self, row: dict[str, Any]) -> None:
        """Add the next interval's row."""
        self._open.append(row)
        if len(self._open) == CHUNK:
            self._packed.append(_pack(self._open))
            self._open = []

    def __len__(self) -> int:
        return len(self._packed) * CHUNK + len(self._open)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"interval row {index} out of range ({n} rows)")
        index %= n
        chunk, j = divmod(index, CHUNK)
        if chunk == len(self._packed):
            return dict(self._open[j])
        return {name: _item(values, j) for name, values in self._packed[chunk].items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def column(self, name: str) -> np.ndarray:
        """One column over every row so far, as floats (None as NaN)."""
        parts = [np.asarray(chunk[name], dtype=float) for chunk in self._packed]
        parts.append(np.array([row[name] for row in self._open], dtype=float))
        return np.concatenate(parts)


def _pack(rows: list[dict[str, Any]]) -> dict[str, np.ndarray | tuple[Any, ...]]:
    """Rows with the same keys, by column: columns of Python floats as float64 arrays, the rest as tuples."""
    packed: dict[str, np.ndarray | tuple[Any, ...]] = {}
    for name in rows[0]:
        values = tuple(row[name] for row in rows)
        floats = all(type(v) is float for v in values)  # numpy scalars stay as given, in the tuple
        packed[name] = np.array(values, dtype=np.float64) if floats else values
    return packed


def _item(values: np.ndarray | tuple[Any, ...], j: int) -> Any:
    """Value ``j`` of a packed column (a float column gives back a Python float, bit for bit)."""
    return float(values[j]) if isinstance(values, np.ndarray) else values[j]


def rows_column(rows: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    """One column of interval rows as floats (None as NaN), whether packed or a plain list of dicts."""
    if isinstance(rows, IntervalRows):
        return rows.column(name)
    return np.array([r[name] for r in rows], dtype=float)
