"""Cost of price response: interval time with bid curves against fixed bidding, measured in one run.

Usage: python benchmarks/price_response.py [--days N] [--repeats R]
Runs the default experiment's household mix (60 % PV, 30 % batteries and EVs,
half the homes with an appliance; power-grid-model) with ``bidding.mode`` fixed
and curves, alternating, and prints the median time per interval of each and
their ratio, whole interval and the market part (decide + clear). The issue's
target: curves cost at most 1.5x the fixed interval.
"""

import argparse
import statistics
import time

from lemgrid.model import Model, Scenario

HOUSEHOLDS = [
    "grid.solver=power_grid_model",
    "penetration.pv=0.6",
    "penetration.battery=0.3",
    "penetration.ev=0.3",
    "penetration.flexible_load=0.5",
]


def measure(mode: str, days: int) -> tuple[float, float]:
    """Seconds per interval (whole, decide + clear) of one run."""
    model = Model(Scenario.load(None, [*HOUSEHOLDS, f"days={days}", f"bidding.mode={mode}"]))
    model.step()  # warm-up
    model.timings = dict.fromkeys(model.timings, 0.0)
    started = time.perf_counter()
    n = 0
    while model.running:
        model.step()
        n += 1
    whole = (time.perf_counter() - started) / n
    return whole, (model.timings["decide"] + model.timings["clear"]) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    runs: dict[str, list[tuple[float, float]]] = {"fixed": [], "curves": []}
    for _ in range(args.repeats):
        for mode in runs:
            runs[mode].append(measure(mode, args.days))
    med = {
        m: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for m, v in runs.items()
    }
    print(f"{'bidding':<8} {'ms/interval':>12} {'market ms':>10}")
    for mode, (whole, market) in med.items():
        print(f"{mode:<8} {whole * 1000:>12.2f} {market * 1000:>10.2f}")
    print(
        f"ratio curves/fixed: interval {med['curves'][0] / med['fixed'][0]:.2f}x (target <= 1.5), "
        f"market part {med['curves'][1] / med['fixed'][1]:.2f}x"
    )


if __name__ == "__main__":
    main()
