"""The low-voltage grid: feeders, three-phase power-flow solvers and metrics.

`grid/` knows nothing about markets or agents. It is a pure function of
(feeder, per-phase household injections) -> physical state.

Sign convention (used everywhere in lemgrid): power *injected* into the grid is
positive. A household exporting 2 kW has ``p_kw = +2``; one importing 2 kW has
``p_kw = -2``.
"""

from lemgrid.grid.feeders import FEEDERS, Feeder, load_feeder
from lemgrid.grid.metrics import IntervalMetrics, interval_metrics, pvur_percent, vuf_percent
from lemgrid.grid.pandapower_solver import PandapowerSolver
from lemgrid.grid.pgm_solver import PowerGridModelSolver
from lemgrid.grid.solver import SOLVERS, make_solver
from lemgrid.grid.state import GridState, PowerFlowSolver

__all__ = [
    "FEEDERS",
    "SOLVERS",
    "Feeder",
    "GridState",
    "IntervalMetrics",
    "PandapowerSolver",
    "PowerFlowSolver",
    "PowerGridModelSolver",
    "interval_metrics",
    "load_feeder",
    "make_solver",
    "pvur_percent",
    "vuf_percent",
]
