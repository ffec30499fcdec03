"""A hash of every column of every table of a set of short runs, to show a speed-up changes no result.

Usage:
    python benchmarks/same_results.py --out before.json      # on the old code
    python benchmarks/same_results.py --out after.json       # on the new code
    python benchmarks/same_results.py --compare before.json after.json

The runs cover bid curves (the default) and fixed bidding, every device kind,
each constraint mode and loss allocation (also where the limits bind), learning and LP strategies, the
mechanisms and a thousand households. A column whose values differ in the
last bit gets another hash. ``--compare`` lists the columns that differ and
exits 1 if any does.
"""

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
from options import CONGESTED

ALL_DEVICES = ["penetration.battery=0.5", "penetration.ev=0.5", "penetration.flexible_load=0.5"]
DAY = ["grid.solver=power_grid_model", "interval_minutes=30"]
RUNS: dict[str, list[str]] = {
    "default curves": ["grid.solver=power_grid_model"],
    "default fixed": ["grid.solver=power_grid_model", "bidding.mode=fixed"],
    "devices": [*DAY, *ALL_DEVICES, "penetration.heat_pump=0.3", "start=2026-01-15"],
    "post_check": [*DAY, *ALL_DEVICES, "market.constraint_mode=post_check"],
    "sensitivity": [*DAY, *ALL_DEVICES, "market.constraint_mode=sensitivity"],
    "opf": [*DAY, *ALL_DEVICES, "market.constraint_mode=opf"],
    "marginal losses": [*DAY, *ALL_DEVICES, "market.loss_allocation=marginal"],
    "proportional sharing": [*DAY, *ALL_DEVICES, "market.loss_allocation=proportional_sharing"],
    "learners p2p": [
        *DAY,
        *ALL_DEVICES,
        "households.strategy={zip: 0.34, roth_erev: 0.33, q_learning: 0.33}",
        "market.pricing=heterogeneous",
        "market.mechanism=p2p",
    ],
    "lp cda": [
        *DAY,
        *ALL_DEVICES,
        "households.strategy=lp_optimiser",
        "market.pricing=heterogeneous",
        "market.mechanism=continuous_double_auction",
    ],
    "zonal zi_c": [
        *DAY,
        *ALL_DEVICES,
        "market.pricing=zonal",
        "market.zonal.inter_zone_capacity_kwh=2",
        "households.strategy=zi_c",
    ],
    "pay_as_bid mixed": [
        *DAY,
        *ALL_DEVICES,
        "households.strategy={truthful: 0.5, zi_u: 0.25, q_learning: 0.25}",
        "market.pricing=heterogeneous",
        "market.mechanism=pay_as_bid",
    ],
    "community fixed": [
        *DAY,
        "bidding.mode=fixed",
        "households.strategy={truthful: 0.5, zip: 0.5}",
        "market.mechanism=community",
    ],
    "rule policies": [  # time-of-use batteries, deadline EVs, an export limit; devices follow the policy
        *DAY,
        *ALL_DEVICES,
        "households.device_policy=time_of_use",
        "ev.charging=deadline",
        "pv.export_limit_fraction_of_kwp=0.3",
        "bidding.mode=fixed",
    ],
    "kerber_substation": [
        "feeder.name=kerber_substation",
        "grid.solver=power_grid_model",
        "interval_minutes=120",
        *ALL_DEVICES,
    ],
}
# the congestion preset's Monday, where the limits bind (its transformer phases and first cable sections
# overload in the evening), so that the constraint modes cut: ``RUNS`` with the scenario file ``CONGESTED``
CONGESTED_RUNS: dict[str, list[str]] = {
    f"congested {mode}": ["days=1", f"market.constraint_mode={mode}"]
    for mode in ("post_check", "sensitivity", "opf")
}


def table_hashes(folder: Path) -> dict[str, str]:
    """{table.column: hash of its values} for every Parquet table in ``folder``."""
    out = {}
    for table in sorted(folder.rglob("*.parquet")):
        frame = pd.read_parquet(table)
        for column in frame.columns:
            values = pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes()
            out[f"{table.relative_to(folder)}.{column}"] = hashlib.sha256(values).hexdigest()[:16]
    return out


def run_hashes(overrides: list[str], scenario: str | None = None) -> dict[str, str]:
    """Run a scenario (the default, or the file ``scenario``) to its end; hash its tables."""
    from lemgrid.model import Model, Scenario

    with tempfile.TemporaryDirectory() as out:
        model = Model(Scenario.load(scenario, overrides), out_dir=out)
        while model.running:
            model.step()
        return table_hashes(Path(out))


def compare(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """The run/column names whose hashes differ (or that exist on one side only)."""
    differ = []
    for run in sorted(set(before) | set(after)):
        a, b = before.get(run, {}), after.get(run, {})
        differ += [f"{run}: {c}" for c in sorted(set(a) | set(b)) if a.get(c) != b.get(c)]
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the hashes of every run here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument(
        "--runs", nargs="*", default=[*RUNS, *CONGESTED_RUNS], help="which runs (default: all)"
    )
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        differ = compare(before, after)
        runs = len(set(before) | set(after))
        print(f"{len(differ)} columns differ over {runs} runs" + "".join(f"\n  {d}" for d in differ[:40]))
        return 1 if differ else 0
    hashes = {}
    for name in args.runs:
        hashes[name] = run_hashes(RUNS[name]) if name in RUNS else run_hashes(CONGESTED_RUNS[name], CONGESTED)
        print(f"{name}: {len(hashes[name])} columns", flush=True)
    if args.out:
        args.out.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
