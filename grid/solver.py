"""Three-phase unbalanced power-flow solvers behind one interface.

A solver is built once per run for a feeder and then called once per interval
with the households' per-phase injections. ``pandapower`` (``runpp_3ph``,
sequence-component Newton-Raphson) is the reference.
"""

import copy
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandapower as pp
from pandapower.auxiliary import LoadflowNotConverged

from grid.feeders import Feeder

_P_COLS = ["p_a_mw", "p_b_mw", "p_c_mw"]
_Q_COLS = ["q_a_mvar", "q_b_mvar", "q_c_mvar"]


@dataclass(frozen=True)
class GridState:
    """The physical state of the feeder after one power flow.

    Every array is NaN when ``converged`` is False; ``error`` then says why.

    Attributes:
        converged: whether the power flow converged.
        error: the solver's reason for failing, empty when converged.
        vm_pu: phase-to-neutral voltage magnitude per bus and phase a, b, c.
        va_degree: voltage angle per bus and phase.
        line_loading_percent: loading of each line, highest phase.
        trafo_loading_percent: loading per transformer and phase.
        losses_kw: active losses of all lines and transformers.
        ext_grid_import_kw: active power drawn from the upstream grid (import
            into the feeder positive, export negative).

    """

    converged: bool
    error: str
    vm_pu: np.ndarray
    va_degree: np.ndarray
    line_loading_percent: np.ndarray
    trafo_loading_percent: np.ndarray
    losses_kw: float
    ext_grid_import_kw: float


class PowerFlowSolver(Protocol):
    """What the model needs from a solver backend."""

    name: str

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
        """Solve the feeder for household injections of shape (n_households, 3)."""
        ...


class PandapowerSolver:
    """Reference backend: ``pandapower.runpp_3ph`` on a private copy of the net.

    Each household is one ``asymmetric_load`` at its bus; an injection is
    written as a negative load, so ``p_kw`` keeps lemgrid's sign convention.
    """

    name = "pandapower"
    # Tighter than pandapower's 1e-8 MVA default: at 1e-8 the active-power balance of
    # the IEEE European LV feeder left ~8 W (of ~70 W losses) unaccounted at load buses,
    # at 1e-10 about 2 W, for ~5 % more solve time.
    tolerance_mva = 1e-10

    def __init__(self, feeder: Feeder, max_iteration: int = 30) -> None:
        self.feeder = feeder
        self.max_iteration = max_iteration
        self.net = copy.deepcopy(feeder.net)
        for bus, name in zip(feeder.households.bus, feeder.households.household, strict=True):
            pp.create_asymmetric_load(self.net, bus=int(bus), name=str(name))
        self._n_bus = len(self.net.bus)
        self._n_line = len(self.net.line)
        self._n_trafo = len(self.net.trafo)

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
        """Run ``runpp_3ph`` for injections ``p_kw``/``q_kvar`` of shape (n_households, 3)."""
        loads = self.net.asymmetric_load
        for k in range(3):
            loads[_P_COLS[k]] = -p_kw[:, k] / 1000.0
            loads[_Q_COLS[k]] = -q_kvar[:, k] / 1000.0
        try:
            pp.runpp_3ph(self.net, max_iteration=self.max_iteration, tolerance_mva=self.tolerance_mva)
        except LoadflowNotConverged as exc:
            return self._failed(f"runpp_3ph did not converge in {self.max_iteration} iterations: {exc}")
        return self._state()

    def _state(self) -> GridState:
        net = self.net
        bus = net.res_bus_3ph
        line = net.res_line_3ph
        trafo = net.res_trafo_3ph
        losses_mw = (
            line[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum()
            + trafo[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum()
        )
        ext_mw = net.res_ext_grid_3ph[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy().sum()
        return GridState(
            converged=True,
            error="",
            vm_pu=bus[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(),
            va_degree=bus[["va_a_degree", "va_b_degree", "va_c_degree"]].to_numpy(),
            line_loading_percent=line["loading_percent"].to_numpy(),
            trafo_loading_percent=trafo[
                ["loading_a_percent", "loading_b_percent", "loading_c_percent"]
            ].to_numpy(),
            losses_kw=float(losses_mw) * 1000.0,
            ext_grid_import_kw=float(ext_mw) * 1000.0,
        )

    def _failed(self, error: str) -> GridState:
        nan3 = np.full((self._n_bus, 3), np.nan)
        return GridState(
            converged=False,
            error=error,
            vm_pu=nan3,
            va_degree=nan3.copy(),
            line_loading_percent=np.full(self._n_line, np.nan),
            trafo_loading_percent=np.full((self._n_trafo, 3), np.nan),
            losses_kw=float("nan"),
            ext_grid_import_kw=float("nan"),
        )


SOLVERS: dict[str, type[PandapowerSolver]] = {
    "pandapower": PandapowerSolver,
}


def make_solver(name: str, feeder: Feeder, max_iteration: int = 30) -> PowerFlowSolver:
    """Build the solver backend registered under ``name`` for ``feeder``."""
    if name not in SOLVERS:
        raise ValueError(f"grid solver {name!r} does not exist; available: {sorted(SOLVERS)}")
    return SOLVERS[name](feeder, max_iteration=max_iteration)
