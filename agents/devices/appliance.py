"""Shiftable appliances (washing machine, dishwasher): whole cycles inside a time window."""

from dataclasses import dataclass

from lemgrid.agents.devices.flexibility import Flexibility


@dataclass
class ApplianceCycle:
    """One run of an appliance that must start and finish inside ``[window_start_s, window_end_s]``."""

    window_start_s: float
    window_end_s: float
    started_s: float | None = None
    served_kwh: float = 0.0


class ShiftableAppliance:
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
        self._first = 0  # cycles before this one are finished or expired; time only moves forward
        self._flex: tuple[float, float, Flexibility] | None = None  # last answer, until a dispatch

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
        if c.started_s is not None:
            return c.started_s + self.duration_s <= t0_s
        return c.window_end_s < t0_s + self.duration_s  # too late to start

    def _state(self, t0_s: float) -> tuple[list[tuple[ApplianceCycle, float]], ApplianceCycle | None]:
        """Cycles running at ``t0_s`` (with their start times) and the cycle that could start now."""
        running: list[tuple[ApplianceCycle, float]] = []
        startable = None
        for c in self._current(t0_s):
            if c.started_s is not None:
                if c.started_s + self.duration_s > t0_s:
                    running.append((c, c.started_s))
            elif startable is None and c.window_start_s <= t0_s and t0_s + self.duration_s <= c.window_end_s:
                startable = c
        return running, startable

    def startable(self, t0_s: float) -> ApplianceCycle | None:
        """The cycle that could start at ``t0_s`` (None if none may start now)."""
        return self._state(t0_s)[1]

    def flexibility(self, t0_s: float, t1_s: float) -> Flexibility:
        """Either wait (0 kW) or start now; fixed while a cycle runs or when it must start now."""
        cached = self._flex
        if cached is not None and cached[0] == t0_s and cached[1] == t1_s:
            return cached[2]
        hours = (t1_s - t0_s) / 3600
        running, cycle = self._state(t0_s)
        running_kwh = sum(self._energy_kwh(start, t0_s, t1_s) for _, start in running)
        base = -running_kwh / hours
        if cycle is None:
            flex = Flexibility(base, base, urgency=1.0 if running_kwh else 0.0)
        elif t1_s + self.duration_s > cycle.window_end_s:  # the next boundary is too late
            on = base - self._energy_kwh(t0_s, t0_s, t1_s) / hours
            flex = Flexibility(on, on, urgency=1.0)
        else:
            flex = Flexibility(base - self._energy_kwh(t0_s, t0_s, t1_s) / hours, base, discrete=True)
        self._flex = (t0_s, t1_s, flex)
        return flex

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
        self._flex = None
        return p_kw
