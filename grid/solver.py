"""Solver backends by name. Each is built once per run and called once per interval."""

from lemgrid.grid.feeders import Feeder
from lemgrid.grid.pandapower_solver import PandapowerSolver
from lemgrid.grid.pgm_solver import PowerGridModelSolver
from lemgrid.grid.state import GridState, PowerFlowSolver

SOLVERS: dict[str, type[PandapowerSolver] | type[PowerGridModelSolver]] = {
    "pandapower": PandapowerSolver,
    "power_grid_model": PowerGridModelSolver,
}


def make_solver(name: str, feeder: Feeder, max_iteration: int = 30) -> PowerFlowSolver:
    """Build the solver backend registered under ``name`` for ``feeder``."""
    if name not in SOLVERS:
        raise ValueError(f"grid solver {name!r} does not exist; available: {sorted(SOLVERS)}")
    return SOLVERS[name](feeder, max_iteration=max_iteration)


__all__ = ["SOLVERS", "GridState", "PowerFlowSolver", "make_solver"]
