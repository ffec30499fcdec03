"""What a device can do in the coming interval."""

from typing import Any, NamedTuple

import numpy as np


class Flexibility(NamedTuple):
    """Feasible average power of a device over the coming interval (injection positive).

    A named tuple: every device states one or more per interval.

    Attributes:
        p_min_kw: the most the device can consume (most negative injection).
        p_max_kw: the most it can inject (for a load: the least it must consume, as a negative number or 0).
        discrete: only the two ends are feasible (an appliance cycle either starts or waits).
        urgency: 0 when the device could wait, 1 when it must take ``p_min_kw`` now (a deadline).
    """

    p_min_kw: float
    p_max_kw: float
    discrete: bool = False
    urgency: float = 0.0

    def clip(self, p_kw: float) -> float:
        """The feasible power closest to ``p_kw``."""
        if self.discrete:
            return self.p_min_kw if abs(p_kw - self.p_min_kw) <= abs(p_kw - self.p_max_kw) else self.p_max_kw
        return min(max(p_kw, self.p_min_kw), self.p_max_kw)


def python_sum(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per row, what Python's ``sum()`` of the row's present values gives, bit for bit.

    Python (>= 3.12) adds floats with Neumaier's compensation (Neumaier 1974,
    ZAMM 54:39, as CPython's ``builtin_sum``): the first value is added to the
    integer 0, each later one with its rounding error carried aside, and the
    carried error is added at the end when it is finite and not zero. With at
    most two values that changes nothing (the carried error is exactly what
    rounding ``a + b`` dropped), so only longer rows pay for it. An empty row sums to 0.0.
    """
    n, width = values.shape
    if width == 0:
        return np.zeros(n)
    total = np.where(present[:, 0], 0.0 + values[:, 0], 0.0)
    if width == 1:
        return total
    started = present[:, 0].copy()
    carried = np.zeros(n)
    for j in range(1, width):
        x, here = values[:, j], present[:, j]
        t = total + x
        if width > 2:
            with np.errstate(invalid="ignore"):  # inf - inf: a NaN error, left out at the end as Python does
                error = np.where(np.abs(total) >= np.abs(x), (total - t) + x, (x - t) + total)
            carried = np.where(here & started, carried + error, carried)
        total = np.where(here, np.where(started, t, 0.0 + x), total)
        started |= here
    if width == 2:
        return total
    with np.errstate(invalid="ignore"):
        add = (carried != 0) & np.isfinite(carried)
    return np.where(add, total + carried, total)


class FleetRow:
    """A device whose records (an EV's sessions, an appliance's cycles) may live in a fleet's table.

    ``_first``, its pointer past the records that are done, is its own outside a fleet
    and the fleet's row ``first[_row]`` (counted from ``start[_row]``) inside one.
    """

    _own_first: int
    _fleet: Any
    _row: int

    @property
    def _first(self) -> int:
        fleet = self._fleet
        if fleet is None:
            return self._own_first
        return int(fleet.first[self._row] - fleet.start[self._row])

    @_first.setter
    def _first(self, value: int) -> None:
        fleet = self._fleet
        if fleet is None:
            self._own_first = value
        else:
            fleet.first[self._row] = fleet.start[self._row] + value
