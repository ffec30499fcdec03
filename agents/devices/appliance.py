"""Shiftable appliances (washing machine, dishwasher): whole cycles inside a time window.

Many appliances' state lives in one :class:`ApplianceFleet` (one array per
quantity; every cycle of every appliance in one table); a
:class:`ShiftableAppliance` and each of its :class:`ApplianceCycle` are views of
their rows, so an interval's flexibility and dispatch run across all appliances at once.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lemgrid.agents.devices.flexibility import FleetRow, Flexibility, python_sum

_NONE = math.nan  # a cycle not started


class CycleTable:
    """Cycles, one row each: window, start (NaN: not started) and energy served."""

    def __init__(self, n: int) -> None:
        self.window_start_s = np.zeros(n)
        self.window_end_s = np.zeros(n)
        self.started_s = np.full(n, _NONE)
        self.served_kwh = np.zeros(n)


class ApplianceCycle:
    """One run of an appliance that must start and finish inside ``[window_start_s, window_end_s]``.

    A view of one row of a :class:`CycleTable` (its own until an :class:`ApplianceFleet` gathers it).
    """

    def __init__(
        self,
        window_start_s: float,
        window_end_s: float,
        started_s: float | None = None,
        served_kwh: float = 0.0,
    ) -> None:
        self._table, self._row = CycleTable(1), 0
        self.window_start_s = window_start_s
        self.window_end_s = window_end_s
        self.started_s = started_s
        self.served_kwh = served_kwh

    @property
    def window_start_s(self) -> float:
        """The earliest start."""
        return float(self._table.window_start_s[self._row])

    @window_start_s.setter
    def window_start_s(self, value: float) -> None:
        self._table.window_start_s[self._row] = value

    @property
    def window_end_s(self) -> float:
        """The latest finish."""
        return float(self._table.window_end_s[self._row])

    @window_end_s.setter
    def window_end_s(self, value: float) -> None:
        self._table.window_end_s[self._row] = value

    @property
    def started_s(self) -> float | None:
        """When the cycle started (None: not yet)."""
        value = float(self._table.started_s[self._row])
        return None if math.isnan(value) else value

    @started_s.setter
    def started_s(self, value: float | None) -> None:
        self._table.started_s[self._row] = _NONE if value is None else value

    @property
    def served_kwh(self) -> float:
        """Energy the cycle has drawn so far."""
        return float(self._table.served_kwh[self._row])

    @served_kwh.setter
    def served_kwh(self, value: float) -> None:
        self._table.served_kwh[self._row] = value

    def _fields(self) -> tuple[float, float, float | None, float]:
        return self.window_start_s, self.window_end_s, self.started_s, self.served_kwh

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApplianceCycle) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return (
            "ApplianceCycle(window_start_s={!r}, window_end_s={!r}, started_s={!r}, served_kwh={!r})".format(
                *self._fields()
            )
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> "ApplianceCycle":
        return ApplianceCycle(*self._fields())


class ShiftableAppliance(FleetRow):
    """An appliance that runs a fixed cycle (``power_kw`` for ``duration_s``) once per window.

    A cycle starts only at an interval boundary. It must start at the last
    boundary from which it still finishes by the window's end; a policy may
    start it earlier. Once started it runs to the end.
    """

    def __init__(self, name: str, power_kw: float, duration_s: float, cycles: list[ApplianceCycle]) -> None:
        self.name = name
        self.power_kw = power_kw
        self.duration_s = duration_s
        self.cycles = cycles
        self._own_first = 0  # cycles before this one are finished or expired; time only moves forward
        self._fleet: ApplianceFleet | None = None  # the fleet holding it (ApplianceFleet), and its row
        self._row = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> "ShiftableAppliance":
        """A detached copy (outside any fleet)."""
        copy = ShiftableAppliance(
            self.name, self.power_kw, self.duration_s, [ApplianceCycle(*c._fields()) for c in self.cycles]
        )
        copy._first = self._first
        return copy

    @property
    def cycle_energy_kwh(self) -> float:
        """Energy of one whole cycle."""
        return self.power_kw * self.duration_s / 3600

    def _energy_kwh(self, start_s: float, t0_s: float, t1_s: float) -> float:
        overlap = max(0.0, min(start_s + self.duration_s, t1_s) - max(start_s, t0_s))
        return self.power_kw * overlap / 3600

    def _current(self, t0_s: float) -> list[ApplianceCycle]:
        """Cycles that may still matter at ``t0_s``: not finished, window open or to come."""
        while self._first < len(self.cycles) and self._done_by(self.cycles[self._first], t0_s):
            self._first += 1
        current = []
        for c in self.cycles[self._first :]:
            if c.window_start_s > t0_s:
                break
            current.append(c)
        return current

    def _done_by(self, c: ApplianceCycle, t0_s: float) -> bool:
        started = c.started_s
        if started is not None:
            return started + self.duration_s <= t0_s
        return c.window_end_s < t0_s + self.duration_s  # too late to start

    def _state(self, t0_s: float) -> tuple[list[tuple[ApplianceCycle, float]], ApplianceCycle | None]:
        """Cycles running at ``t0_s`` (with their start times) and the cycle that could start now."""
        running: list[tuple[ApplianceCycle, float]] = []
        startable = None
        for c in self._current(t0_s):
            started = c.started_s
            if started is not None:
                if started + self.duration_s > t0_s:
                    running.append((c, started))
            elif startable is None and c.window_start_s <= t0_s and t0_s + self.duration_s <= c.window_end_s:
                startable = c
        return running, startable

    def startable(self, t0_s: float) -> ApplianceCycle | None:
        """The cycle that could start at ``t0_s`` (None if none may start now)."""
        return self._state(t0_s)[1]

    def flexibility(self, t0_s: float, t1_s: float) -> Flexibility:
        """Either wait (0 kW) or start now; fixed while a cycle runs or when it must start now."""
        fleet = self._fleet
        if fleet is not None and fleet.current(t0_s, t1_s):
            return fleet.flexibility_of(self._row)
        hours = (t1_s - t0_s) / 3600
        running, cycle = self._state(t0_s)
        running_kwh = sum(self._energy_kwh(start, t0_s, t1_s) for _, start in running)
        base = -running_kwh / hours
        if cycle is None:
            return Flexibility(base, base, urgency=1.0 if running_kwh else 0.0)
        if t1_s + self.duration_s > cycle.window_end_s:  # the next boundary is too late
            on = base - self._energy_kwh(t0_s, t0_s, t1_s) / hours
            return Flexibility(on, on, urgency=1.0)
        return Flexibility(base - self._energy_kwh(t0_s, t0_s, t1_s) / hours, base, discrete=True)

    def dispatch(self, p_kw: float, t0_s: float, t1_s: float) -> float:
        """Start the pending cycle if ``p_kw`` asks (or it must), run started ones; return the power."""
        flex = self.flexibility(t0_s, t1_s)
        p_kw = flex.clip(p_kw)
        running, cycle = self._state(t0_s)
        if cycle is not None and p_kw == flex.p_min_kw:
            cycle.started_s = t0_s
            running.append((cycle, t0_s))
        for c, start in running:
            c.served_kwh += self._energy_kwh(start, t0_s, t1_s)
        if self._fleet is not None:
            self._fleet.changed()
        return p_kw


class ApplianceFleet:
    """Many appliances, one row each, and all their cycles in one :class:`CycleTable`.

    Row ``r``'s cycles are table rows ``start[r] .. end[r] - 1`` in time order;
    ``first[r]`` moves forward past the cycles that are done. The interval's
    flexibility of every appliance is computed once per state (:meth:`flexibility`).
    """

    def __init__(self, appliances: Sequence[ShiftableAppliance]) -> None:
        self.appliances = list(appliances)
        m = len(self.appliances)
        self.power_kw = np.array([a.power_kw for a in self.appliances], dtype=float).reshape(m)
        self.duration_s = np.array([a.duration_s for a in self.appliances], dtype=float).reshape(m)
        counts = np.array([len(a.cycles) for a in self.appliances], dtype=np.int64).reshape(m)
        self.end = np.cumsum(counts)
        self.start = self.end - counts
        self.cycles = CycleTable(int(counts.sum()))
        self.first = self.start.copy()
        row = 0
        for r, a in enumerate(self.appliances):
            self.first[r] += a._first
            for c in a.cycles:
                values = c._fields()
                c._table, c._row = self.cycles, row
                c.window_start_s, c.window_end_s, c.started_s, c.served_kwh = values
                row += 1
            a._fleet, a._row = self, r
        self._flex: tuple[float, float, int, tuple[np.ndarray, ...]] | None = None
        self.version = 0

    def changed(self) -> None:
        """A cycle's state changed through a view: the cached flexibility is stale, pointers re-synced."""
        self.version += 1

    def current(self, t0_s: float, t1_s: float) -> bool:
        """Whether :meth:`flexibility` for [t0, t1) is cached for the present state."""
        cached = self._flex
        return cached is not None and cached[0] == t0_s and cached[1] == t1_s and cached[2] == self.version

    def flexibility_of(self, row: int) -> Flexibility:
        """Row ``row``'s cached flexibility."""
        p_min, p_max, discrete, urgency = (x[row] for x in self._flex[3][:4])  # type: ignore[index]
        return Flexibility(float(p_min), float(p_max), bool(discrete), float(urgency))

    def _energy_kwh(
        self, start_s: np.ndarray, t0_s: float, t1_s: float, rows: Any = slice(None)
    ) -> np.ndarray:
        """:meth:`ShiftableAppliance._energy_kwh` of rows ``rows``, same operations."""
        end = start_s + self.duration_s[rows]
        end = np.where(t1_s < end, t1_s, end)  # min(start + duration, t1)
        begin = np.where(t0_s > start_s, t0_s, start_s)  # max(start, t0)
        overlap = end - begin
        overlap = np.where(overlap > 0.0, overlap, 0.0)  # max(0.0, overlap)
        return self.power_kw[rows] * overlap / 3600

    def _advance(self, t0_s: float) -> None:
        """Move every pointer past the cycles done by ``t0_s`` (:meth:`ShiftableAppliance._current`)."""
        c, duration = self.cycles, self.duration_s
        while len(c.started_s):
            can = self.first < self.end
            i = np.where(can, self.first, 0)
            started = c.started_s[i]
            done = np.where(
                np.isnan(started), c.window_end_s[i] < t0_s + duration, started + duration <= t0_s
            )
            step = can & done
            if not step.any():
                return
            self.first[step] += 1

    def _state(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Running cycles (table rows, -1: none; a column each), their energy, and the startable cycle."""
        m, c = len(self.appliances), self.cycles
        self._advance(t0_s)
        running_rows, running_kwh = [], []
        startable = np.full(m, -1, dtype=np.int64)
        alive = self.first < self.end
        k = 0
        while alive.any():
            i = np.where(alive, self.first + k, 0)
            alive &= c.window_start_s[i] <= t0_s
            started = c.started_s[i]
            not_started = np.isnan(started)
            running = alive & ~not_started & (started + self.duration_s > t0_s)
            running_rows.append(np.where(running, i, -1))
            running_kwh.append(np.where(running, self._energy_kwh(started, t0_s, t1_s), 0.0))
            free = alive & not_started & (startable < 0) & (t0_s + self.duration_s <= c.window_end_s[i])
            startable = np.where(free, i, startable)
            k += 1
            alive &= self.first + k < self.end
        rows = np.array(running_rows, dtype=np.int64).reshape(k, m).T
        kwh = np.array(running_kwh, dtype=float).reshape(k, m).T
        return rows, kwh, startable

    def flexibility(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, ...]:
        """Per appliance: ``p_min_kw``, ``p_max_kw``, ``discrete``, ``urgency``, startable, running cycles."""
        if self.current(t0_s, t1_s):
            return self._flex[3]  # type: ignore[index]
        hours = (t1_s - t0_s) / 3600
        rows, kwh, startable = self._state(t0_s, t1_s)
        running = rows >= 0
        total = python_sum(kwh, running)
        anything = running.any(axis=1)
        base = np.where(anything, -total / hours, 0.0)  # -sum(()) / hours is 0.0, not -0.0
        urgency = np.where(total != 0, 1.0, 0.0)
        has = startable >= 0
        now = base - self._energy_kwh(np.full(len(base), t0_s), t0_s, t1_s) / hours
        window_end = np.zeros(len(base))
        window_end[has] = self.cycles.window_end_s[startable[has]]
        late = has & (t1_s + self.duration_s > window_end)
        discrete = has & ~late
        p_min = np.where(has, now, base)
        p_max = np.where(late, now, base)
        urgency = np.where(late, 1.0, np.where(discrete, 0.0, urgency))
        out = (p_min, p_max, discrete, urgency, startable, rows)
        self._flex = (t0_s, t1_s, self.version, out)
        return out

    def dispatch(self, p_kw: np.ndarray, t0_s: float, t1_s: float) -> np.ndarray:
        """Every appliance as :meth:`ShiftableAppliance.dispatch` runs it; returns the powers."""
        p_min, p_max, discrete, _, startable, rows = self.flexibility(t0_s, t1_s)
        nearer_min = np.abs(p_kw - p_min) <= np.abs(p_kw - p_max)
        clipped = np.where(p_min > p_kw, p_min, p_kw)
        clipped = np.where(p_max < clipped, p_max, clipped)
        p_kw = np.where(discrete, np.where(nearer_min, p_min, p_max), clipped)
        c = self.cycles
        for j in range(rows.shape[1]):  # the cycles already running
            mine = rows[:, j] >= 0
            i = rows[mine, j]
            c.served_kwh[i] += self._energy_kwh(c.started_s[i], t0_s, t1_s, mine)
        start = (startable >= 0) & (p_kw == p_min)
        i = startable[start]
        c.started_s[i] = t0_s
        c.served_kwh[i] += self._energy_kwh(c.started_s[i], t0_s, t1_s, start)
        self.changed()
        return p_kw
