"""Study 7 after the learning period: bills and grid metrics per strategy and set-up, with 95 % CIs.

Reads the finished runs of study 7's results folder and keeps only the days after the learning
period (default: the last day of each run). Per (strategy assumption, set-up) it prints one
Markdown table row, mean ± half-width of the 95 % Student-t interval over seeds:

- bill: the mean household's bill per day (EUR) over the kept days, all households, and for the
  learners' mix also per strategy (ZIP, Roth-Erev, Q-learning: each household's strategy from
  ``population.parquet``);
- local trade (kWh per day), feeder peak import (kW, highest 15-minute value), VUF: the 95th
  percentile over intervals of the feeder's highest VUF (%), intervals with any customer
  outside the voltage limits, highest line loading (%);
- a second table: paired differences to the reference set-up (uniform pay-as-clear,
  volumetric tariff) under the same strategy assumption and seed;
- a third: each learner's reward per day (the learning curve), mean over households and seeds.

Usage (from the repository root, after the sweep of docs/studies.md)::

    .venv/bin/python docs/studies/strategy_robustness.py results/study_7_strategy_robustness [learning_days]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE = "uniform pay_as_clear volumetric"
SETUPS = {
    "uniform pay_as_clear volumetric": "uniform (reference)",
    "heterogeneous p2p volumetric": "P2P",
    "heterogeneous continuous_double_auction volumetric": "CDA",
    "zonal pay_as_clear volumetric": "zonal",
    "uniform pay_as_clear capacity": "capacity tariff",
}


def mean_ci(values: list[float] | np.ndarray, digits: int = 2) -> str:
    """``mean ± half-width`` of the 95 % Student-t interval over seeds."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "n/a"
    if len(v) == 1 or np.allclose(v, v[0], rtol=0, atol=1e-12):
        return f"{v.mean():.{digits}f}"
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.{digits}f} ± {half:.{digits}f}"


def strategy_label(value: object) -> str:
    """A short name of the strategy assumption."""
    text = str(value)
    return "learners" if "{" in text or "zip" in text else text


def one_run(folder: Path, learning_days: int) -> dict[str, object]:
    """The kept days' metrics of one run."""
    run = json.loads((folder / "run.json").read_text())
    p = run["params"]
    iv = pd.read_parquet(folder / "intervals.parquet")
    per_day = 1440 // json.loads((folder / "scenario.json").read_text()).get("interval_minutes", 15)
    kept = iv.interval >= learning_days * per_day
    days = kept.sum() / per_day
    iv = iv[kept]
    hh = pd.read_parquet(folder / "households.parquet", columns=["interval", "household", "bill_eur"])
    hh = hh[hh.interval >= learning_days * per_day]
    pop = pd.read_parquet(folder / "population.parquet", columns=["household", "strategy"])
    bills = hh.groupby("household").bill_eur.sum() / days
    by_strategy = bills.groupby(pop.set_index("household").strategy).mean()
    row: dict[str, object] = {
        "strategy": strategy_label(p["households.strategy"]),
        "setup": f"{p['market.pricing']} {p['market.mechanism']} {p['tariff.kind']}",
        "seed": run["seed"],
        "bill": float(bills.mean()),
        "traded": float(iv.local_volume_kwh.sum() / days),
        "peak": float(iv.feeder_import_kw.max()),
        "vuf95": float(np.percentile(iv.vuf_max_percent.dropna(), 95)),
        "violations": int((iv.n_customers_outside_limits > 0).sum()),
        "loading": float(iv.line_loading_max_percent.max()),
    }
    for name, value in by_strategy.items():
        row[f"bill_{name}"] = float(value)
    curves = pd.read_parquet(folder / "learning_curves.parquet")
    for (name, day), value in curves.groupby(["strategy", "day"]).reward_eur.mean().items():
        row[f"reward_{name}_{day}"] = float(value)
    return row


def main(folder: Path, learning_days: int) -> None:
    """Print the three tables."""
    rows = [
        one_run(r.parent, learning_days)
        for r in sorted(folder.rglob("run.json"))
        if json.loads(r.read_text()).get("status") == "done"
    ]
    runs = pd.DataFrame(rows)
    metrics = ["bill", "traded", "peak", "vuf95", "violations", "loading"]
    print(f"{len(runs)} runs; days kept: from day {learning_days + 1}\n")
    print(
        "| strategy | set-up | bill (EUR/household/day) | traded (kWh/day) | peak import (kW) "
        "| VUF p95 (%) | intervals with a violation | max line loading (%) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (strategy, setup), g in runs.groupby(["strategy", "setup"], sort=False):
        cells = [mean_ci(g[m], 3 if m in ("bill", "vuf95") else 1) for m in metrics]
        print(f"| {strategy} | {SETUPS.get(setup, setup)} | " + " | ".join(cells) + " |")
    learners = runs[runs.strategy == "learners"]
    if len(learners):
        names = sorted(c[5:] for c in learners.columns if c.startswith("bill_") and learners[c].notna().any())
        print("\nLearners' mix, bill per household and day by strategy (EUR):\n")
        print("| set-up | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for setup, g in learners.groupby("setup", sort=False):
            print(
                f"| {SETUPS.get(setup, setup)} | "
                + " | ".join(mean_ci(g[f"bill_{n}"], 3) for n in names)
                + " |"
            )
    print("\nPaired differences to the reference set-up (same strategy assumption and seed):\n")
    print("| strategy | set-up | bill | traded | peak | VUF p95 | violations | max loading |")
    print("|---|---|---|---|---|---|---|---|")
    ref = runs[runs.setup == REFERENCE].set_index(["strategy", "seed"])
    for (strategy, setup), g in runs[runs.setup != REFERENCE].groupby(["strategy", "setup"], sort=False):
        g = g.set_index(["strategy", "seed"])
        diffs = [
            mean_ci((g[m] - ref.loc[g.index, m]).to_numpy(), 3 if m in ("bill", "vuf95") else 1)
            for m in metrics
        ]
        print(f"| {strategy} | {SETUPS.get(setup, setup)} | " + " | ".join(diffs) + " |")
    print("\nPaired differences to truthful households (same set-up and seed):\n")
    print("| strategy | set-up | bill | traded | peak | VUF p95 | violations | max loading |")
    print("|---|---|---|---|---|---|---|---|")
    truthful = runs[runs.strategy == "truthful"].set_index(["setup", "seed"])
    for (strategy, setup), g in runs[runs.strategy != "truthful"].groupby(["strategy", "setup"], sort=False):
        g = g.set_index(["setup", "seed"])
        diffs = [
            mean_ci((g[m] - truthful.loc[g.index, m]).to_numpy(), 3 if m in ("bill", "vuf95") else 1)
            for m in metrics
        ]
        print(f"| {strategy} | {SETUPS.get(setup, setup)} | " + " | ".join(diffs) + " |")
    reward_cols = [c for c in runs.columns if c.startswith("reward_")]
    if reward_cols:
        print(
            "\nLearning curves: mean reward per household and day (EUR), all set-ups, mean ± CI over runs:\n"
        )
        for name in ("truthful", "zip", "roth_erev", "q_learning"):
            cols = sorted(
                (c for c in reward_cols if c.startswith(f"reward_{name}_")),
                key=lambda c: int(c.rsplit("_", 1)[1]),
            )
            days = ", ".join(f"day {int(c.rsplit('_', 1)[1]) + 1}: {mean_ci(runs[c], 3)}" for c in cols)
            print(f"- {name}: {days}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
