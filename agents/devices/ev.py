"""Electric vehicle charging at home: plug-in and plug-out as SimPy events, with deadlines."""

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from lemgrid.agents.devices.flexibility import Flexibility

# 32 A at 230 V is the most a single-phase home charger draws; faster chargers use three phases.
SINGLE_PHASE_MAX_KW = 7.4


@dataclass
class ChargingSession:
    """One stay at home: the car arrives, needs energy, and leaves at its deadline.

    Times are SimPy seconds since the start of the run (the first session may
    have arrived before it). ``unmet_kwh`` is set when the car leaves.
    """

    arrival_s: float
    departure_s: float
    energy_needed_kwh: float
    delivered_kwh: float = 0.0
    unmet_kwh: float | None = None

    @property
    def remaining_kwh(self) -> float:
        """Energy still to charge before the deadline."""
        return max(self.energy_needed_kwh - self.delivered_kwh, 0.0)


def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds that [a0, a1) and [b0, b1) share."""
    return max(0.0, min(a1, b1) - max(a0, b0))


class EV:
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
        self._first = 0  # sessions before this one have left; time only moves forward
        self._flex: tuple[float, float, Flexibility] | None = None  # last answer, until a dispatch

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
        cached = self._flex
        if cached is not None and cached[0] == t0_s and cached[1] == t1_s:
            return cached[2]
        hours = (t1_s - t0_s) / 3600
        e_max = e_min = 0.0
        for s in self.stays(t0_s, t1_s):
            plugged_h = overlap_s(s.arrival_s, s.departure_s, t0_s, t1_s) / 3600
            after_h = max(s.departure_s - max(t1_s, s.arrival_s), 0.0) / 3600
            can = min(s.remaining_kwh, self.charger_kw * plugged_h)
            e_max += can
            e_min += min(can, max(s.remaining_kwh - self.charger_kw * after_h, 0.0))
        urgency = e_min / e_max if e_max > 0 else 0.0
        flex = Flexibility(p_min_kw=-e_max / hours, p_max_kw=-e_min / hours, urgency=urgency)
        self._flex = (t0_s, t1_s, flex)
        return flex

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
        self._flex = None
        return p_kw
