"""Power-flow backend and limits."""

from typing import Literal

from pydantic import Field

from lemgrid.grid.solver import SOLVERS
from lemgrid.model.scenario._base import _Section, one_of


class GridSection(_Section):
    """Power-flow backend, limits and what to do when a power flow fails."""

    solver: one_of(lambda: SOLVERS) = "pandapower"  # type: ignore[valid-type]
    v_min_pu: float = Field(0.90, gt=0.5, lt=1.0)
    v_max_pu: float = Field(1.10, gt=1.0, lt=1.5)
    line_loading_limit_percent: float = Field(100.0, gt=0)
    max_iterations: int = Field(30, ge=1, le=1000)
    on_nonconvergence: Literal["continue", "abort"] = "continue"
