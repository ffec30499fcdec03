"""Per-interval solve time of each power-flow backend on the default feeder, measured in one run.

Usage: python benchmarks/solvers.py [--intervals N] [--repeats R]
Solves N random interval injection sets (the default scenario's households,
single-phase, -6..4 kW) with runpp_3ph, with power-grid-model one interval
at a time (as in the co-simulation loop), and with power-grid-model in one
batch, and prints milliseconds per interval and the speed-up over runpp_3ph.
Each timing is the best of R repeats.
"""

import argparse
import time
from collections.abc import Callable

import numpy as np

from lemgrid.grid import PandapowerSolver, PowerGridModelSolver, load_feeder


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(intervals: int, repeats: int) -> dict[str, float]:
    """Seconds per interval for each backend and mode."""
    feeder = load_feeder("ieee_european_lv")
    n = len(feeder.households)
    phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    rng = np.random.default_rng(0)
    p = np.zeros((intervals, n, 3))
    p[:, np.arange(n), phase] = rng.uniform(-6.0, 4.0, (intervals, n))
    q = np.zeros_like(p)
    reference = PandapowerSolver(feeder)
    fast = PowerGridModelSolver(feeder)
    reference.solve(p[0], q[0])  # warm-up: numba compilation
    fast.solve(p[0], q[0])
    cases = list(zip(p, q, strict=True))
    return {
        "runpp_3ph": best_of(repeats, lambda: [reference.solve(a, b) for a, b in cases]) / intervals,
        "power_grid_model, per interval": best_of(repeats, lambda: [fast.solve(a, b) for a, b in cases])
        / intervals,
        "power_grid_model, batch": best_of(repeats, lambda: fast.solve_batch(p, q)) / intervals,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    seconds = measure(args.intervals, args.repeats)
    reference = seconds["runpp_3ph"]
    print(f"IEEE European LV feeder, {args.intervals} intervals, best of {args.repeats}")
    print(f"{'backend':<32} {'ms/interval':>12} {'speed-up':>9}")
    for name, s in seconds.items():
        print(f"{name:<32} {s * 1000:>12.3f} {reference / s:>8.1f}x")


if __name__ == "__main__":
    main()
