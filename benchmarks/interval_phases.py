"""Time the phases of the interval loop (decide, clear, grid, record) on the default scenario.

Usage: python benchmarks/interval_phases.py [--intervals N] [--solver NAME] [--year-scenario]
Prints milliseconds per interval for each phase and its share of the total. The
first interval (numba compiles pandapower's kernels there) is run before timing starts.
``--year-scenario`` times the scenario of ``targets.py``'s year instead (every
household with PV, a battery, an EV and appliances, bus voltages recorded).
"""

import argparse
import tempfile
import time

from lemgrid.model import Model, Scenario

YEAR_SCENARIO = [
    "output.bus_voltages=households",
    "start=2026-01-01",
    "days=2",
    "penetration.pv=1",
    "penetration.battery=1",
    "penetration.ev=1",
    "penetration.flexible_load=1",
]


def measure(
    intervals: int, solver: str = "pandapower", overrides: list[str] | None = None
) -> tuple[dict[str, float], float, float]:
    """Run ``intervals`` steps of the default scenario (writing its files) and return the timings."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        model = Model(Scenario.load(None, [f"grid.solver={solver}", *(overrides or [])]), out_dir=out)
        build_s = time.perf_counter() - started
        model.step()  # warm-up: JIT compilation, first-touch allocations
        model.timings = dict.fromkeys(model.timings, 0.0)
        for _ in range(intervals):
            model.step()
        model.finalize()
        return dict(model.timings), build_s, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--intervals",
        type=int,
        default=95,
        help="intervals to time after the warm-up (default: the rest of the day, 95)",
    )
    parser.add_argument("--solver", default="pandapower", help="grid.solver (default: pandapower)")
    parser.add_argument("--year-scenario", action="store_true", help="the year scenario of targets.py")
    args = parser.parse_args(argv)
    overrides = YEAR_SCENARIO if args.year_scenario else None
    timings, build_s, wall_s = measure(args.intervals, args.solver, overrides)
    total = sum(timings.values())
    name = "year" if args.year_scenario else "default"
    print(
        f"{name} scenario, grid.solver={args.solver}, {args.intervals} intervals; "
        f"model build {build_s:.2f} s, wall {wall_s:.2f} s"
    )
    print(f"{'phase':<8} {'ms/interval':>12} {'share':>7}")
    for phase, seconds in timings.items():
        print(f"{phase:<8} {seconds / args.intervals * 1000:>12.2f} {seconds / total:>7.1%}")
    print(f"{'total':<8} {total / args.intervals * 1000:>12.2f} {1:>7.0%}")


if __name__ == "__main__":
    main()
