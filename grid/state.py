"""The physical state a solver returns, and the interface every solver implements."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class GridState:
    """The physical state of the feeder after one power flow.

    Every array is NaN when ``converged`` is False; ``error`` then says why.

    Attributes:
        converged: whether the power flow converged.
        error: the solver's reason for failing, empty when converged.
        vm_pu: phase-to-neutral voltage magnitude per bus (feeder's bus order) and phase a, b, c.
        va_degree: voltage angle per bus and phase.
        line_loading_percent: loading of each line (feeder's line order), highest phase.
        line_phase_loading_percent: loading of each line per phase a, b, c (the larger of
            its two ends' currents against the line's rating).
        trafo_loading_percent: loading per transformer and phase, the larger of its two sides'.
        trafo_side_loading_percent: loading per transformer, side (HV, LV) and phase: the side's
            phase current against its rated current.
        losses_kw: active losses of all lines and transformers.
        ext_grid_import_kw: active power drawn from the upstream grid (import
            into the feeder positive, export negative).
        line_p_from_kw: active power entering each line at its from-bus, all phases.
        trafo_p_hv_kw: active power entering each transformer at its HV side, all phases.
        line_losses_kw: active losses of each line, all phases (they sum, with the
            transformers', to ``losses_kw``).
        trafo_losses_kw: active losses of each transformer, all phases.
    """

    converged: bool
    error: str
    vm_pu: np.ndarray
    va_degree: np.ndarray
    line_loading_percent: np.ndarray
    line_phase_loading_percent: np.ndarray
    trafo_loading_percent: np.ndarray
    trafo_side_loading_percent: np.ndarray
    losses_kw: float
    ext_grid_import_kw: float
    line_p_from_kw: np.ndarray
    trafo_p_hv_kw: np.ndarray
    line_losses_kw: np.ndarray
    trafo_losses_kw: np.ndarray

    @classmethod
    def failed(cls, error: str, n_bus: int, n_line: int, n_trafo: int) -> "GridState":
        """A non-converged state: NaN everywhere and the reason."""
        nan3 = np.full((n_bus, 3), np.nan)
        return cls(
            converged=False,
            error=error,
            vm_pu=nan3,
            va_degree=nan3.copy(),
            line_loading_percent=np.full(n_line, np.nan),
            line_phase_loading_percent=np.full((n_line, 3), np.nan),
            trafo_loading_percent=np.full((n_trafo, 3), np.nan),
            trafo_side_loading_percent=np.full((n_trafo, 2, 3), np.nan),
            losses_kw=float("nan"),
            ext_grid_import_kw=float("nan"),
            line_p_from_kw=np.full(n_line, np.nan),
            trafo_p_hv_kw=np.full(n_trafo, np.nan),
            line_losses_kw=np.full(n_line, np.nan),
            trafo_losses_kw=np.full(n_trafo, np.nan),
        )


def as_slice(positions: np.ndarray) -> np.ndarray | slice:
    """``positions`` as a slice when they are consecutive: indexing with it gives a view, not a copy."""
    if len(positions) and (np.diff(positions) == 1).all():
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


class PowerFlowSolver(Protocol):
    """What the model needs from a solver backend.

    A solver is built once per run for a feeder, then called once per interval
    with the households' per-phase injections (kW, kvar, injection positive,
    shape ``(n_households, 3)`` in the feeder's household order).
    """

    name: str

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
        """Solve the feeder for one set of injections."""
        ...

    def solve_batch(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[GridState]:
        """Solve independent injection sets of shape ``(n_cases, n_households, 3)``."""
        ...
