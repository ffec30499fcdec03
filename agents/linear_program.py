"""A linear program in HiGHS's column-wise form, solved as ``scipy.optimize.linprog(method="highs")`` would.

The lp_optimiser's programmes (:mod:`lemgrid.agents.lp`) and the DSO's curtailment
programmes (:mod:`lemgrid.model.constraints`) are small and solved many times per
interval; ``linprog`` spends much of each call checking its inputs and options.
:func:`solve` hands the same matrix to the same HiGHS build with the same options
instead, so HiGHS returns the same vertex, bit for bit, also where optima tie.
"""

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csc_array

_LOCAL = threading.local()
try:  # scipy's HiGHS build, the one linprog runs; private, so a scipy without it falls back to linprog
    from scipy.optimize._highspy import _core as _highs

    _OPTIONS = _highs.HighsOptions()  # linprog(method="highs")'s: presolve on, dual simplex, quiet
    _OPTIONS.presolve, _OPTIONS.simplex_strategy = "on", 1
    _OPTIONS.output_flag = _OPTIONS.log_to_console = False
except (ImportError, AttributeError):
    _highs = None


@dataclass(frozen=True)
class LinearProgram:
    """Minimise ``cost @ v`` subject to ``row_lower <= A @ v <= row_upper`` and ``lower <= v <= upper``.

    ``A`` is column-wise (``start``, ``index``, ``value``, as scipy's CSC with sorted
    row indices); its first ``n_ub`` rows are inequalities (``row_lower`` -inf), the
    rest equalities. This is the form in which ``linprog(method="highs")`` hands its
    ``A_ub`` stacked over ``A_eq`` to HiGHS.
    """

    cost: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_ub: int

    @classmethod
    def inequalities(
        cls, cost: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, lower: np.ndarray, upper: np.ndarray
    ) -> "LinearProgram":
        """``a_ub @ v <= b_ub`` (a dense matrix; its zeros are left out, as scipy's sparse matrices do)."""
        columns, rows = np.nonzero(a_ub.T)  # column by column, rows in order
        start = np.zeros(a_ub.shape[1] + 1, dtype=np.int32)
        np.cumsum(np.bincount(columns, minlength=a_ub.shape[1]), out=start[1:])
        return cls(
            cost,
            start,
            rows.astype(np.int32),
            a_ub[rows, columns],
            np.full(len(b_ub), -np.inf),
            b_ub,
            lower,
            upper,
            len(b_ub),
        )


def solve(lp: LinearProgram) -> np.ndarray:
    """The optimal ``v`` of ``lp`` from HiGHS's dual simplex after presolve, started cold.

    The same solver build and options as ``scipy.optimize.linprog(method="highs")``,
    without its input checks and result conversion, so the same vertex is returned
    when optima tie (the lp_optimiser's optima are often degenerate: equal forecast prices).
    Where scipy has no such module, through :func:`solve_with_linprog` (slower; the same vertex
    where linprog runs the same HiGHS build, as it does in the scipy versions tested).

    Raises:
        RuntimeError: if HiGHS finds no optimum.
    """
    if _highs is None:
        return solve_with_linprog(lp)
    model = highs_lp(lp)
    highs = getattr(_LOCAL, "highs", None)
    if highs is None:  # one HiGHS object per thread, cleared before every solve
        highs = _LOCAL.highs = _highs._Highs()
        highs.passOptions(_OPTIONS)
    highs.clearSolver()
    highs.passModel(model)
    highs.run()
    status = highs.getModelStatus()
    if status != _highs.HighsModelStatus.kOptimal:
        raise RuntimeError(f"linear program failed: {highs.modelStatusToString(status)}")
    return np.array(highs.getSolution().col_value)


def solve_with_linprog(lp: LinearProgram) -> np.ndarray:
    """The optimal ``v`` of ``lp`` through ``scipy.optimize.linprog(method="highs")`` (public, slower)."""
    a = csc_array((lp.value, lp.index, lp.start), shape=(len(lp.row_lower), len(lp.cost)))
    ub, eq = slice(0, lp.n_ub), slice(lp.n_ub, None)
    has_eq = len(lp.row_lower) > lp.n_ub
    result = linprog(
        lp.cost,
        A_ub=a[ub] if lp.n_ub else None,
        b_ub=lp.row_upper[ub] if lp.n_ub else None,
        A_eq=a[eq] if has_eq else None,
        b_eq=lp.row_upper[eq] if has_eq else None,
        bounds=np.column_stack([lp.lower, lp.upper]),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"linear program failed: {result.message}")
    return np.asarray(result.x)


def highs_lp(lp: LinearProgram) -> Any:
    """``lp`` as a HiGHS ``HighsLp`` (the arrays are copied into it)."""
    model = _highs.HighsLp()
    model.num_col_, model.num_row_ = len(lp.cost), len(lp.row_lower)
    matrix = model.a_matrix_
    matrix.num_col_, matrix.num_row_ = model.num_col_, model.num_row_
    matrix.format_ = _highs.MatrixFormat.kColwise
    matrix.start_, matrix.index_, matrix.value_ = lp.start, lp.index, lp.value
    model.col_cost_, model.col_lower_, model.col_upper_ = lp.cost, lp.lower, lp.upper
    model.row_lower_, model.row_upper_ = lp.row_lower, lp.row_upper
    return model
