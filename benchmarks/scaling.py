"""Per-household cost of an interval at about 500 and 2,000 households, measured in one run.

Usage: python benchmarks/scaling.py [--intervals N] [--small COPIES] [--large COPIES]

Both feeders are copies of the Kerber suburban network (146 households each) on
one MV bus (``grid.feeders.substation``), written as a custom feeder: 4 copies
(584 households) and 14 copies (2,044). The households own PV (60 %),
batteries, EVs and appliances (30 % each), bid curves (the default), and the
grid is solved by power-grid-model. After one warm-up interval, ``N`` intervals
are timed in each; the ratio of the per-household costs is the scaling target
(<= 1.15: linear in households).
"""

import argparse
import tempfile
import time
from pathlib import Path

from lemgrid.grid.feeders import load_feeder, substation
from lemgrid.model import Model, Scenario

HOUSEHOLDS = [
    "grid.solver=power_grid_model",
    "penetration.pv=0.6",
    "penetration.battery=0.3",
    "penetration.ev=0.3",
    "penetration.flexible_load=0.3",
]


def write_feeder(copies: int, folder: Path) -> list[str]:
    """``copies`` Kerber suburban networks as custom-feeder files; the scenario overrides that load them."""
    import pandapower as pp

    feeder = substation(load_feeder("kerber_vorstadtnetz"), copies, f"kerber_x{copies}")
    net_json, csv = folder / f"x{copies}.json", folder / f"x{copies}.csv"
    pp.to_json(feeder.net, str(net_json))
    feeder.households.to_csv(csv, index=False)
    return ["feeder.name=custom", f"feeder.file={net_json}", f"feeder.households_file={csv}"]


def ms_per_interval(feeder: list[str], intervals: int) -> tuple[int, float, dict[str, float]]:
    """Households, ms per interval and ms per phase over ``intervals`` intervals after one warm-up."""
    model = Model(Scenario.load(None, [*feeder, *HOUSEHOLDS]))
    model.step()
    model.timings = dict.fromkeys(model.timings, 0.0)
    started = time.process_time()
    for _ in range(intervals):
        model.step()
    ms = (time.process_time() - started) / intervals * 1000
    return len(model.population), ms, {k: v / intervals * 1000 for k, v in model.timings.items()}


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=24, help="intervals timed per size (default 24)")
    parser.add_argument("--small", type=int, default=4, help="Kerber copies of the small case (default 4)")
    parser.add_argument("--large", type=int, default=14, help="Kerber copies of the large case (default 14)")
    args = parser.parse_args(argv)
    per_household = []
    with tempfile.TemporaryDirectory() as folder:
        for copies in (args.small, args.large):
            n, ms, phases = ms_per_interval(write_feeder(copies, Path(folder)), args.intervals)
            split = ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
            print(f"{n:>5} households: {ms:7.1f} ms/interval CPU ({split}), {ms / n * 1000:.1f} us/household")
            per_household.append(ms / n)
    ratio = per_household[1] / per_household[0]
    print(f"scaling: per-household cost large/small {ratio:.2f}x (target <= 1.15)")
    return ratio


if __name__ == "__main__":
    main()
