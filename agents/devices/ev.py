"""Electric vehicle charging at home: plug-in and plug-out as SimPy events, with deadlines."""

import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from lemgrid.agents.devices.flexibility import FleetRow, Flexibility, python_sum

# 32 A at 230 V is the most a single-phase home charger draws; faster chargers use three phases.
SINGLE_PHASE_MAX_KW = 7.4


class SessionTable:
    """Charging sessions, one row each (``unmet_kwh`` NaN: the car has not left yet)."""

    def __init__(self, n: int) -> None:
        self.arrival_s = np.zeros(n)
        self.departure_s = np.zeros(n)
        self.energy_needed_kwh = np.zeros(n)
        self.delivered_kwh = np.zeros(n)
        self.unmet_kwh = np.full(n, math.nan)


def _session_column(name: str, doc: str, optional: bool = False) -> Any:
    """A session attribute stored in its table's column ``name`` (``optional``: NaN reads as None)."""

    def get(s: "ChargingSession") -> float | None:
        value = float(getattr(s._table, name)[s._row])
        return None if optional and math.isnan(value) else value

    def set_(s: "ChargingSession", value: float | None) -> None:
        getattr(s._table, name)[s._row] = math.nan if value is None else value

    return property(get, set_, doc=doc)


class ChargingSession:
    """One stay at home: the car arrives, needs energy, and leaves at its deadline.

    Times are SimPy seconds since the start of the run (the first session may
    have arrived before it). ``unmet_kwh`` is set when the car leaves. A view of
    one row of a :class:`SessionTable` (its own until an :class:`EVFleet` gathers it).
    """

    arrival_s = _session_column("arrival_s", "When the car arrives.")
    departure_s = _session_column("departure_s", "When it leaves (its deadline).")
    energy_needed_kwh = _session_column("energy_needed_kwh", "Energy the stay needs.")
    delivered_kwh = _session_column("delivered_kwh", "Energy charged so far.")
    unmet_kwh = _session_column(
        "unmet_kwh", "Energy missing when it left (None: not left yet).", optional=True
    )

    def __init__(
        self,
        arrival_s: float,
        departure_s: float,
        energy_needed_kwh: float,
        delivered_kwh: float = 0.0,
        unmet_kwh: float | None = None,
    ) -> None:
        self._table, self._row = SessionTable(1), 0
        self.arrival_s = arrival_s
        self.departure_s = departure_s
        self.energy_needed_kwh = energy_needed_kwh
        self.delivered_kwh = delivered_kwh
        self.unmet_kwh = unmet_kwh

    def _fields(self) -> tuple[Any, ...]:
        return self.arrival_s, self.departure_s, self.energy_needed_kwh, self.delivered_kwh, self.unmet_kwh

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChargingSession) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        names = ("arrival_s", "departure_s", "energy_needed_kwh", "delivered_kwh", "unmet_kwh")
        return (
            "ChargingSession("
            + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
            + ")"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> "ChargingSession":
        return ChargingSession(*self._fields())

    @property
    def remaining_kwh(self) -> float:
        """Energy still to charge before the deadline."""
        return max(self.energy_needed_kwh - self.delivered_kwh, 0.0)


def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds that [a0, a1) and [b0, b1) share."""
    return max(0.0, min(a1, b1) - max(a0, b0))


class EV(FleetRow):
    """A car and its home charger.

    Args:
        charger_kw: charger power limit; above 7.4 kW it is a three-phase charger
            and its power splits evenly over the phases.
        sessions: the car's stays at home, in time order, not overlapping.
        charging: ``'immediate'`` charges at full power from arrival (uncontrolled);
            ``'deadline'`` charges only what the deadline requires unless a
            policy adds more (e.g. from PV surplus).
    """

    def __init__(
        self, charger_kw: float, sessions: list[ChargingSession], charging: str = "immediate"
    ) -> None:
        self.charger_kw = charger_kw
        self.three_phase = charger_kw > SINGLE_PHASE_MAX_KW
        self.sessions = sessions
        self.charging = charging
        self.plugged = False
        self._own_first = 0  # sessions before this one have left; time only moves forward
        self._fleet: EVFleet | None = None  # the fleet holding it (EVFleet), and its row
        self._row = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> "EV":
        """A detached copy (outside any fleet)."""
        copy = EV(self.charger_kw, [ChargingSession(*s._fields()) for s in self.sessions], self.charging)
        copy.plugged, copy._first = self.plugged, self._first
        return copy

    def process(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """SimPy process: plug in at each arrival, plug out and record unmet energy at each departure."""
        for session in self.sessions:
            if session.arrival_s > env.now:
                yield env.timeout(session.arrival_s - env.now)
            self.plugged = True
            yield env.timeout(session.departure_s - env.now)
            session.unmet_kwh = session.remaining_kwh
            self.plugged = False

    def stays(self, t0_s: float, t1_s: float) -> list[ChargingSession]:
        """Stays overlapping [t0, t1), found from a moving start (``t0`` must not go back in time)."""
        while self._first < len(self.sessions) and self.sessions[self._first].departure_s <= t0_s:
            self._first += 1
        active = []
        for s in self.sessions[self._first :]:
            if s.arrival_s >= t1_s:
                break
            active.append(s)
        return active

    def flexibility(self, t0_s: float, t1_s: float) -> Flexibility:
        """Charging range over [t0, t1): at most what fits, at least what the deadline needs."""
        fleet = self._fleet
        if fleet is not None and fleet.current(t0_s, t1_s):
            return fleet.flexibility_of(self._row)
        hours = (t1_s - t0_s) / 3600
        e_max = e_min = 0.0
        for s in self.stays(t0_s, t1_s):
            plugged_h = overlap_s(s.arrival_s, s.departure_s, t0_s, t1_s) / 3600
            after_h = max(s.departure_s - max(t1_s, s.arrival_s), 0.0) / 3600
            can = min(s.remaining_kwh, self.charger_kw * plugged_h)
            e_max += can
            e_min += min(can, max(s.remaining_kwh - self.charger_kw * after_h, 0.0))
        urgency = e_min / e_max if e_max > 0 else 0.0
        return Flexibility(p_min_kw=-e_max / hours, p_max_kw=-e_min / hours, urgency=urgency)

    def preferred_kw(self, flex: Flexibility) -> float:
        """Power the charging mode asks for within ``flex``: full (immediate) or the minimum (deadline)."""
        return flex.p_min_kw if self.charging == "immediate" else flex.p_max_kw

    def dispatch(self, p_kw: float, t0_s: float, t1_s: float) -> float:
        """Charge at average power ``-p_kw`` over [t0, t1); returns the power actually drawn (negative)."""
        p_kw = self.flexibility(t0_s, t1_s).clip(p_kw)
        energy = -p_kw * (t1_s - t0_s) / 3600
        # sessions leaving first are served first, so a deadline is never traded for a later one
        for s in sorted(self.stays(t0_s, t1_s), key=lambda s: s.departure_s):
            plugged_h = overlap_s(s.arrival_s, s.departure_s, t0_s, t1_s) / 3600
            take = min(energy, s.remaining_kwh, self.charger_kw * plugged_h)
            s.delivered_kwh += take
            energy -= take
        if self._fleet is not None:
            self._fleet.version += 1
        return p_kw


class EVFleet:
    """Many EVs, one row each, and all their sessions in one :class:`SessionTable`.

    Row ``r``'s sessions are table rows ``start[r] .. end[r] - 1`` in time order (not
    overlapping, so also in order of departure); ``first[r]`` moves past the stays that
    have left. The interval's flexibility of every EV is computed once per state.
    """

    def __init__(self, evs: Sequence[EV]) -> None:
        self.evs = list(evs)
        m = len(self.evs)
        self.charger_kw = np.array([ev.charger_kw for ev in self.evs], dtype=float).reshape(m)
        self.immediate = np.array([ev.charging == "immediate" for ev in self.evs], dtype=bool).reshape(m)
        self.deadline = np.array([ev.charging == "deadline" for ev in self.evs], dtype=bool).reshape(m)
        counts = np.array([len(ev.sessions) for ev in self.evs], dtype=np.int64).reshape(m)
        self.end = np.cumsum(counts)
        self.start = self.end - counts
        self.sessions = SessionTable(int(counts.sum()))
        self.first = self.start.copy()
        row = 0
        for r, ev in enumerate(self.evs):
            self.first[r] += ev._first
            for session in ev.sessions:
                values = session._fields()
                session._table, session._row = self.sessions, row
                (
                    session.arrival_s,
                    session.departure_s,
                    session.energy_needed_kwh,
                    session.delivered_kwh,
                    session.unmet_kwh,
                ) = values
                row += 1
            ev._fleet, ev._row = self, r
        self.version = 0
        self._flex: tuple[float, float, int, tuple[np.ndarray, ...]] | None = None

    def current(self, t0_s: float, t1_s: float) -> bool:
        """Whether :meth:`flexibility` for [t0, t1) is cached for the present state."""
        cached = self._flex
        return cached is not None and cached[0] == t0_s and cached[1] == t1_s and cached[2] == self.version

    def flexibility_of(self, row: int) -> Flexibility:
        """Row ``row``'s cached flexibility."""
        p_min, p_max, urgency = (x[row] for x in self._flex[3][:3])  # type: ignore[index]
        return Flexibility(float(p_min), float(p_max), urgency=float(urgency))

    def stays(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Per EV (a row), the table rows of its stays overlapping [t0, t1) in order (-1 past the last)."""
        s = self.sessions
        while len(s.departure_s):  # EV.stays: move past the stays that have left
            can = self.first < self.end
            step = can & (s.departure_s[np.where(can, self.first, 0)] <= t0_s)
            if not step.any():
                break
            self.first[step] += 1
        columns = []
        alive = self.first < self.end
        k = 0
        while alive.any():
            i = np.where(alive, self.first + k, 0)
            alive &= s.arrival_s[i] < t1_s
            columns.append(np.where(alive, i, -1))
            k += 1
            alive &= self.first + k < self.end
        return np.array(columns, dtype=np.int64).reshape(k, len(self.evs)).T

    def _plugged_h(self, i: np.ndarray, t0_s: float, t1_s: float) -> np.ndarray:
        """:func:`overlap_s` of stays ``i`` with [t0, t1), in hours."""
        s = self.sessions
        departure, arrival = s.departure_s[i], s.arrival_s[i]
        end = np.where(t1_s < departure, t1_s, departure)  # min(departure, t1)
        begin = np.where(t0_s > arrival, t0_s, arrival)  # max(arrival, t0)
        overlap = end - begin
        return np.where(overlap > 0.0, overlap, 0.0) / 3600  # max(0.0, overlap)

    def _remaining_kwh(self, i: np.ndarray) -> np.ndarray:
        left = self.sessions.energy_needed_kwh[i] - self.sessions.delivered_kwh[i]
        return np.where(0.0 > left, 0.0, left)  # max(left, 0.0)

    def flexibility(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, ...]:
        """Every EV's ``p_min_kw``, ``p_max_kw``, ``urgency`` (:meth:`EV.flexibility`) and its stays' rows."""
        if self.current(t0_s, t1_s):
            return self._flex[3]  # type: ignore[index]
        hours = (t1_s - t0_s) / 3600
        stays = self.stays(t0_s, t1_s)
        m = len(self.evs)
        e_max, e_min = np.zeros(m), np.zeros(m)
        charger = self.charger_kw
        for k in range(stays.shape[1]):
            here = stays[:, k] >= 0
            i = np.where(here, stays[:, k], 0)
            s = self.sessions
            arrival, departure = s.arrival_s[i], s.departure_s[i]
            plugged_h = self._plugged_h(i, t0_s, t1_s)
            later = np.where(arrival > t1_s, arrival, t1_s)  # max(t1, arrival)
            after = departure - later
            after_h = np.where(0.0 > after, 0.0, after) / 3600
            remaining = self._remaining_kwh(i)
            most = charger * plugged_h
            can = np.where(most < remaining, most, remaining)  # min(remaining, charger * plugged)
            need = remaining - charger * after_h
            need = np.where(0.0 > need, 0.0, need)
            need = np.where(need < can, need, can)  # min(can, need)
            e_max = np.where(here, e_max + can, e_max)
            e_min = np.where(here, e_min + need, e_min)
        with np.errstate(divide="ignore", invalid="ignore"):
            urgency = np.where(e_max > 0, e_min / e_max, 0.0)
        out = (-e_max / hours, -e_min / hours, urgency, stays)
        self._flex = (t0_s, t1_s, self.version, out)
        return out

    def remaining_kwh(self, stays: np.ndarray) -> np.ndarray:
        """Per EV, Python's ``sum`` of its stays' remaining energy (``stays`` as :meth:`stays` gives)."""
        present = stays >= 0
        return python_sum(self._remaining_kwh(np.where(present, stays, 0)), present)

    def dispatch(self, p_kw: np.ndarray, t0_s: float, t1_s: float) -> np.ndarray:
        """Every EV as :meth:`EV.dispatch` charges it (the stay leaving first first); returns the powers."""
        p_min, p_max, _, stays = self.flexibility(t0_s, t1_s)
        p_kw = np.where(p_min > p_kw, p_min, p_kw)  # Flexibility.clip
        p_kw = np.where(p_max < p_kw, p_max, p_kw)
        energy = -p_kw * (t1_s - t0_s) / 3600
        s = self.sessions
        for k in range(stays.shape[1]):  # in time order, which is the order of departure
            here = stays[:, k] >= 0
            i = stays[here, k]
            remaining = self._remaining_kwh(i)
            take = energy[here]
            take = np.where(remaining < take, remaining, take)  # min(energy, remaining, charger * plugged)
            most = self.charger_kw[here] * self._plugged_h(i, t0_s, t1_s)
            take = np.where(most < take, most, take)
            s.delivered_kwh[i] += take
            energy[here] -= take
        self.version += 1
        return p_kw
