"""CPU time per interval of a thousand households with bid curves (issue 20: at most 30 ms).

Usage: python benchmarks/thousand.py [--intervals N] [--warm-up W]

kerber_substation (1,022 households), 60 % PV, 30 % batteries, EVs and
appliances, bid curves, power-grid-model, from 2026-06-01: ``W`` intervals are
stepped untimed (the market and the devices warm up), then ``N`` are timed
with ``time.process_time``. Run it for two versions one after the other and
compare the ratio: absolute times move with the machine's load.
"""

import argparse
import time

from lemgrid.model import Model, Scenario

SCENARIO = [
    "feeder.name=kerber_substation",
    "grid.solver=power_grid_model",
    "penetration.pv=0.6",
    "penetration.battery=0.3",
    "penetration.ev=0.3",
    "penetration.flexible_load=0.3",
    "start=2026-06-01",
]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=32, help="intervals timed (default 32)")
    parser.add_argument("--warm-up", type=int, default=40, help="untimed intervals first (default 40)")
    args = parser.parse_args(argv)
    model = Model(Scenario.load(None, SCENARIO))
    for _ in range(args.warm_up):
        model.step()
    started = time.process_time()
    for _ in range(args.intervals):
        model.step()
    ms = (time.process_time() - started) / args.intervals * 1000
    print(f"{len(model.population)} households: {ms:.1f} ms CPU per interval (goal <= 30)")
    return ms


if __name__ == "__main__":
    main()
