"""How much of a curtailment LP's answer is HiGHS's choice among equally cheap cuts.

Usage: python benchmarks/curtailment_ties.py [--mode opf|sensitivity] [--skip S] [--intervals N]

The congestion preset (``options.CONGESTED``) is run with the constraint mode
through its Monday evening (``options.CONGESTED_WINDOW``: 21:00-24:00, where its
transformer phases bind); every curtailment LP of those intervals is kept and
solved again with HiGHS's presolve off. Both are optimal; the table compares
their cost, their total cut and the households they cut (a household counts as
cut above 1e-7 kW, as the run rounds; the same amount: within 1e-6 kW).
"""

import argparse
import time
from typing import Any

import numpy as np
from lp_solves import highs_with
from options import CONGESTED, CONGESTED_WINDOW, stepped_model

from lemgrid.agents import linear_program
from lemgrid.model import constraints


def programmes(mode: str, skip: int, intervals: int) -> list[linear_program.LinearProgram]:
    """Every curtailment LP of ``intervals`` intervals after ``skip``, as the run passed it to HiGHS."""
    kept: list[linear_program.LinearProgram] = []
    model = stepped_model([f"market.constraint_mode={mode}"], skip, 3, CONGESTED)
    original = constraints.linear_program.solve

    def keep(lp: Any) -> Any:
        kept.append(lp)
        return original(lp)

    constraints.linear_program.solve = keep
    try:
        for _ in range(intervals):
            model.step()
    finally:
        constraints.linear_program.solve = original
    return kept


def solve(lp: linear_program.LinearProgram, presolve: str) -> tuple[np.ndarray, float, float]:
    """The optimal cuts, the cost and the CPU seconds of HiGHS's run, with ``presolve`` on or off."""
    solver = highs_with(presolve)
    solver.passModel(linear_program.highs_lp(lp))
    started = time.process_time()
    solver.run()
    spent = time.process_time() - started
    return np.array(solver.getSolution().col_value), solver.getInfo().objective_function_value, spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["opf", "sensitivity"], default="opf")
    parser.add_argument("--skip", type=int, default=int(CONGESTED_WINDOW[1]))
    parser.add_argument("--intervals", type=int, default=int(CONGESTED_WINDOW[3]))
    args = parser.parse_args(argv)
    header = "LP  columns rows  cut kW  cost diff  total diff  cut (on/off)  same amount  one way only"
    print(f"{header}  ms (on/off)")
    for k, lp in enumerate(programmes(args.mode, args.skip, args.intervals)):
        (on, cost_on, t_on), (off, cost_off, t_off) = solve(lp, "on"), solve(lp, "off")
        cuts = len(lp.cost) - lp.n_ub  # export and import cuts; then one slack per row
        on, off = on[:cuts], off[:cuts]
        a, b = on > 1e-7, off > 1e-7
        same = int((a & b & (np.abs(on - off) <= 1e-6)).sum())
        print(
            f"{k:2d} {len(lp.cost):8d} {len(lp.row_lower):4d} {on.sum():7.1f} "
            f"{abs(cost_on - cost_off) / max(abs(cost_on), 1e-12):10.1e} {abs(on.sum() - off.sum()):11.1e} "
            f"{int(a.sum()):6d}/{int(b.sum()):<6d} {same:11d} {int((a ^ b).sum()):13d} "
            f"{t_on * 1000:7.1f}/{t_off * 1000:.1f}"
        )


if __name__ == "__main__":
    main()
