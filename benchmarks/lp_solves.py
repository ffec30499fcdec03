"""Where the lp_optimiser's interval goes, programme by programme, and what any HiGHS call costs at least.

Usage: python benchmarks/lp_solves.py [--intervals N] [--days D] [--skip S]

``options.py --devices``'s LP setting (the default scenario, every household with PV,
a battery, an EV and appliances, ``households.strategy=lp_optimiser``, bid curves,
power-grid-model) is run for ``D`` days; every programme of the ``N`` intervals after
``S`` untimed ones (default: the middle day's 10:00) is kept, household by household,
with the CPU time that building it took. Each programme is then solved again, timed
(CPU) per programme:

- ``solve``: :func:`lemgrid.agents.linear_program.solve` as the run calls it (presolve, dual
  simplex, started cold: the vertex today's results hold);
- ``cold, no presolve``: the same without presolve;
- ``warm``: from the household's previous programme's optimal basis, shifted by one
  interval (cold where the programme's shape changed);
- ``at the optimum``: the programme handed over and started at an optimal basis
  (no simplex iteration): what a HiGHS call per programme costs at least;
- ``run at the optimum``: of that, HiGHS's run alone, as if the programme were kept
  in HiGHS and changed in place rather than handed over anew.

Each is set against ``solve``'s objective value and plan (with the mean simplex
iterations of each way), and turned into the LP
interval it would give: the truthful interval (timed in the same run, as
``options.py`` does) plus the interval's programmes, each built and solved that way.
Issue 20's goal is 3x the truthful interval.
"""

import argparse
import time
from collections import defaultdict
from typing import Any

import numpy as np
from options import ms_per_interval
from scipy.optimize._highspy import _core as _highs

from lemgrid.agents import linear_program, lp
from lemgrid.model import Model, Scenario

DEVICES = [f"penetration.{d}=1" for d in ("pv", "battery", "ev", "flexible_load")]


def programmes(intervals: int, skip: int, days: int) -> tuple[dict[int, list[lp.Program]], float]:
    """Each household's programmes of ``intervals`` intervals after ``skip``; the mean build time (ms)."""
    kept: dict[int, list[lp.Program]] = defaultdict(list)
    built_s: list[float] = []
    original = lp.program
    recording = False

    def program(
        battery: Any, forecast: Any, other_now_kw: float = 0.0, ev: Any = None, t0_s: float = 0.0
    ) -> Any:
        started = time.process_time()
        made = original(battery, forecast, other_now_kw, ev, t0_s)
        if recording:
            built_s.append(time.process_time() - started)
            kept[id(battery) if battery is not None else id(ev)].append(made)
        return made

    overrides = ["grid.solver=power_grid_model", f"days={days}", *DEVICES, "households.strategy=lp_optimiser"]
    model = Model(Scenario.load(None, overrides))
    lp.program = program  # schedule() looks it up in the module at every call
    try:
        for _ in range(skip):
            model.step()
        recording = True
        for _ in range(intervals):
            model.step()
    finally:
        lp.program = original
    return kept, float(np.mean(built_s)) * 1000


def highs_with(presolve: str) -> Any:
    """A HiGHS object with ``linprog(method="highs")``'s options, but ``presolve`` "on" or "off"."""
    options = _highs.HighsOptions()
    options.presolve, options.simplex_strategy = presolve, 1
    options.output_flag = options.log_to_console = False
    highs = _highs._Highs()
    highs.passOptions(options)
    return highs


def _shifted(basis: Any, p: lp.Program) -> Any:
    """``basis`` of the previous interval's programme moved one interval on (the last interval repeated)."""
    n = p.n
    cols, rows = list(basis.col_status), list(basis.row_status)

    def shift(status: list[Any], first: int, length: int) -> None:
        block = status[first : first + length]
        status[first : first + length] = block[1:] + block[-1:]

    for block in range(4):  # charge, discharge, import, export
        shift(cols, block * n, n)
    shift(cols, 4 * n, n + 1)  # energy
    for stay in range(p.m):
        shift(cols, 5 * n + 1 + stay * n, n)
    for block in range(2):  # balance, energy
        shift(rows, p.n_ub + block * n, n)
    if p.cost[-1] > 0:  # a capacity tariff: the first n rows cap each interval's import at the peak
        shift(rows, 0, n)
    if p.m > 1:  # the last n inequality rows share the charger between the stays
        shift(rows, p.n_ub - n, n)
    moved = _highs.HighsBasis()
    moved.col_status, moved.row_status, moved.valid = cols, rows, True
    return moved


def _shape(p: lp.Program) -> tuple[int, ...]:
    return len(p.cost), len(p.row_lower), p.n_ub, p.n, p.m


def timed(kept: dict[int, list[lp.Program]], how: str) -> tuple[float, float, list[np.ndarray]]:
    """Mean CPU ms and simplex iterations per programme solved ``how``, and the solutions in ``kept``'s order.

    ``how``: ``solve``, ``cold``, ``warm``, ``at the optimum`` (hand-over, basis and run timed) or
    ``run at the optimum`` (HiGHS's run alone timed, as if the programme were already in it).
    """
    solutions: list[np.ndarray] = []
    cpu, iterations = 0.0, 0
    for series in kept.values():
        highs = highs_with("off")
        previous: tuple[Any, tuple[int, ...]] | None = None
        for p in series:
            if how == "solve":
                started = time.process_time()
                v = linear_program.solve(p)
                cpu += time.process_time() - started
                iterations += linear_program._LOCAL.highs.getInfo().simplex_iteration_count
                solutions.append(v)
                continue
            optimal = None
            if how.endswith("at the optimum"):  # find an optimal basis first, untimed
                highs.passModel(linear_program.highs_lp(p))
                highs.run()
                optimal = highs.getBasis()
            started = time.process_time()
            highs.passModel(linear_program.highs_lp(p))
            if how == "warm" and previous is not None and previous[1] == _shape(p):
                highs.setBasis(_shifted(previous[0], p))
            elif optimal is not None:
                highs.setBasis(optimal)
            if how == "run at the optimum":
                started = time.process_time()
            highs.run()
            v = np.array(highs.getSolution().col_value)
            cpu += time.process_time() - started
            if highs.getModelStatus() != _highs.HighsModelStatus.kOptimal:
                raise RuntimeError(f"{how}: {highs.modelStatusToString(highs.getModelStatus())}")
            iterations += highs.getInfo().simplex_iteration_count
            previous = (highs.getBasis(), _shape(p))
            solutions.append(v)
    return cpu / len(solutions) * 1000, iterations / len(solutions), solutions


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=16, help="intervals whose programmes are kept")
    parser.add_argument("--days", type=int, default=3, help="run length (default 3); the middle day is used")
    parser.add_argument(
        "--skip", type=int, default=None, help="untimed intervals first (default: day 2, 10:00)"
    )
    args = parser.parse_args(argv)
    skip = (args.days // 2) * 96 + 40 if args.skip is None else args.skip
    truthful_ms = ms_per_interval(DEVICES, args.intervals, skip, args.days)
    kept, build_ms = programmes(args.intervals, skip, args.days)
    _, _, reference = timed(kept, "solve")  # once untimed: HiGHS and the caches warm
    every = [p for series in kept.values() for p in series]
    per_interval = len(every) / args.intervals
    sizes = np.array([_shape(p)[:2] for p in every])
    print(
        f"{len(every)} programmes ({per_interval:.1f} per interval over {args.intervals} intervals), "
        f"median {int(np.median(sizes[:, 0]))} columns and {int(np.median(sizes[:, 1]))} rows; "
        f"truthful interval {truthful_ms:.2f} ms; building a programme {build_ms:.3f} ms"
    )
    head = ("per programme", "ms", "iterations", "objective vs solve", "same plan", "LP interval", "ratio")
    print("{:<26} {:>7} {:>10} {:>19} {:>10} {:>12} {:>6}".format(*head))
    rows = []
    for how in ("solve", "cold, no presolve", "warm", "at the optimum", "run at the optimum"):
        ms, iterations, solutions = timed(kept, "cold" if how == "cold, no presolve" else how)
        objective = max(
            abs(p.cost @ v - p.cost @ r) / max(1.0, abs(p.cost @ r))
            for p, v, r in zip(every, solutions, reference, strict=True)
        )
        same = sum(np.array_equal(v, r) for v, r in zip(solutions, reference, strict=True))
        interval_ms = truthful_ms + per_interval * (build_ms + ms)
        ratio = interval_ms / truthful_ms
        rows.append((how, ms, ratio))
        plans = f"{same}/{len(every)}"
        print(
            f"{how:<26} {ms:>7.3f} {iterations:>10.1f} {objective:>19.1e} {plans:>10} {interval_ms:>9.1f} ms"
            f" {ratio:>6.2f}"
        )
    print("goal (issue 20): the lp_optimiser interval <= 3x the truthful interval")
    return rows


if __name__ == "__main__":
    main()
