"""DSO controls applied in the grid step: inverter droop curves and phase switching.

These work on arrays of supply points (households): where each sits (bus
position, phase column), what its PV inverter may inject, and what else it
injects. They know nothing of markets.
"""

from dataclasses import dataclass

import numpy as np

from lemgrid.grid.state import GridState, PowerFlowSolver


@dataclass(frozen=True)
class Droop:
    """A piecewise-linear curve y(v), flat beyond its end points (np.interp)."""

    v_pu: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, v_pu: np.ndarray) -> np.ndarray:
        """The curve's value at each voltage."""
        return np.interp(v_pu, self.v_pu, self.y)


@dataclass(frozen=True)
class InverterResult:
    """What the inverters settled on, and the grid state they settled in."""

    state: GridState
    pv_kw: np.ndarray
    q_kvar: np.ndarray
    iterations: int
    settled: bool


def solve_with_inverters(
    solver: PowerFlowSolver,
    p_other_kw: np.ndarray,
    q_other_kvar: np.ndarray,
    pv_available_kw: np.ndarray,
    inverter_kva: np.ndarray,
    bus_pos: np.ndarray,
    phase_col: np.ndarray,
    volt_var: Droop | None,
    volt_watt: Droop | None,
    max_iterations: int = 30,
    tolerance_kw: float = 1e-3,
    damping: float = 0.5,
) -> InverterResult:
    """Power flow with PV inverters following volt-var and volt-watt droops, iterated until settled.

    Each inverter sees the voltage of its own phase at its bus. Volt-watt caps
    active power at ``volt_watt(v) * kVA``; volt-var sets reactive power to
    ``volt_var(v) * kVA`` (positive = injecting), within what the kVA rating
    leaves beside the active power (active power has priority). The fixed
    point is found by damped iteration: new setpoints move ``damping`` of the
    way towards the curves' values until no setpoint changes by more than
    ``tolerance_kw`` (kW or kvar).

    Args:
        solver: the feeder's solver backend.
        p_other_kw: active injections of everything but the PV, shape (n, 3).
        q_other_kvar: reactive injections of everything but the PV, shape (n, 3).
        pv_available_kw: PV output before droop control, shape (n,).
        inverter_kva: inverter rating, 0 where there is none.
        bus_pos: position of each inverter's bus in the solver's bus order.
        phase_col: each inverter's phase (0, 1, 2 for a, b, c).
        volt_var: the volt-var curve, or None to leave it off.
        volt_watt: the volt-watt curve, or None to leave it off.
        max_iterations: power flows at most.
        tolerance_kw: settled when no setpoint moves by more than this (kW or kvar).
        damping: share of the way towards the curves' values taken per iteration.
    """
    rows = np.arange(len(pv_available_kw))
    pv = pv_available_kw.copy()
    q = np.zeros_like(pv)
    has_inverter = inverter_kva > 0
    previous_change = np.inf
    for iteration in range(1, max_iterations + 1):
        p = p_other_kw.copy()
        qq = q_other_kvar.copy()
        p[rows, phase_col] += pv
        qq[rows, phase_col] += q
        state = solver.solve(p, qq)
        if not state.converged:
            return InverterResult(state, pv, q, iteration, settled=False)
        v = state.vm_pu[bus_pos, phase_col]
        target_pv = pv_available_kw.copy()
        if volt_watt is not None:
            target_pv = np.minimum(pv_available_kw, np.clip(volt_watt(v), 0, None) * inverter_kva)
        target_q = np.zeros_like(q)
        if volt_var is not None:
            room = np.sqrt(np.clip(inverter_kva**2 - target_pv**2, 0, None))
            target_q = np.clip(volt_var(v) * inverter_kva, -room, room)
        target_pv = np.where(has_inverter, target_pv, pv_available_kw)
        target_q = np.where(has_inverter, target_q, 0.0)
        change = max(np.abs(target_pv - pv).max(initial=0.0), np.abs(target_q - q).max(initial=0.0))
        if change <= tolerance_kw:
            return InverterResult(state, pv, q, iteration, settled=True)
        if change > previous_change:
            damping /= 2
        previous_change = change
        pv = pv + damping * (target_pv - pv)
        q = q + damping * (target_q - q)
    return InverterResult(state, pv, q, max_iterations, settled=False)


def choose_phase_switches(
    p_phase_kw: np.ndarray,
    phase_col: np.ndarray,
    switchable: np.ndarray,
    max_switches: int,
) -> list[tuple[int, int]]:
    """Greedy phase switching that evens out the per-phase net power (after Horta et al., 2016).

    ``p_phase_kw`` is each household's single-phase net injection (as scheduled
    for the coming interval). Up to ``max_switches`` times, the move of one switchable household
    to another phase that most reduces the spread (max - min) of the three
    phase totals is made, if it reduces it at all. Returns (household, new phase) pairs.
    """
    phase = phase_col.copy()
    totals = np.array([p_phase_kw[phase == k].sum() for k in range(3)])
    moves: list[tuple[int, int]] = []
    for _ in range(max_switches):
        best: tuple[float, int, int] | None = None
        spread = totals.max() - totals.min()
        for h in np.flatnonzero(switchable):
            for k in range(3):
                if k == phase[h]:
                    continue
                trial = totals.copy()
                trial[phase[h]] -= p_phase_kw[h]
                trial[k] += p_phase_kw[h]
                gain = spread - (trial.max() - trial.min())
                if gain > 1e-9 and (best is None or gain > best[0]):
                    best = (gain, int(h), k)
        if best is None:
            break
        _, mover, to = best
        totals[phase[mover]] -= p_phase_kw[mover]
        totals[to] += p_phase_kw[mover]
        phase[mover] = to
        moves.append((mover, to))
    return moves
