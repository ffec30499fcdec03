"""Study 11, the community manager: each manager against no manager, paired by seed, season and bidding.

Reads a finished sweep of ``experiments/studies/11_community_manager.yaml`` (``runs.parquet`` and
each run's ``intervals.parquet``) and prints one Markdown table row per season, bidding mode and
manager, mean ± 95 % CI over seeds (Student's t) of the paired difference to no manager:

- the feeder's peak import over the run (kW and %), and over days 2-3 only (the peak-shaving
  forecast knows yesterday's device demand from day 2 on);
- the households' mean bill (EUR per household over the run), the manager's bill (EUR; negative:
  it earned), the energy its battery holds at the end above its start (kWh), and the households'
  bill plus a 1/55 share of the manager's bill less that stored energy at the retail price
  (0.30 EUR/kWh), as if the households owned the manager;
- community self-consumption and self-sufficiency (the participants' net injection netted each
  interval), as values;
- losses (kWh) and the lowest voltage (p.u.).

Usage (from the repository root)::

    nice -n 15 .venv/bin/lemgrid sweep experiments/studies/11_community_manager.yaml --workers 1
    .venv/bin/python docs/studies/community_manager.py results/study_11_community_manager
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lemgrid.experiments.shared import mean_ci

KEYS = ["start", "bidding.mode"]
MANAGER = [
    "community.enabled",
    "community.objective",
    "community.battery.capacity_kwh",
    "community.battery.power_kw",
]


def _ci(values: pd.Series, fmt: str = ".1f") -> str:
    mean, half = mean_ci(pd.Series(values, dtype=float))
    return f"{mean:{fmt}}" if np.isnan(half) else f"{mean:{fmt}} ± {half:{fmt}}"


def _stored_kwh(results: Path, folder: str, capacity_kwh: float, soc_initial: float) -> float:
    """What the community battery holds at the end above its start (kWh stored; 0 without a manager)."""
    rows = pd.read_parquet(results / folder / "households.parquet", columns=["household", "battery_soc"])
    mine = rows[rows.household == "community_manager"].battery_soc
    return float((mine.iloc[-1] - soc_initial) * capacity_kwh) if len(mine) else 0.0


def _later_peak_kw(results: Path, folder: str, per_day: int) -> float:
    imports = pd.read_parquet(results / folder / "intervals.parquet", columns=["feeder_import_kw"])
    return float(imports.feeder_import_kw.iloc[per_day:].max())


def main(results: Path) -> None:
    """Print the study's table for the sweep in ``results``."""
    runs = pd.read_parquet(results / "runs.parquet")
    runs = runs[runs.status == "done"].copy()
    runs["vm_min"] = runs[[c for c in runs if c.startswith("vm_min_pu_")]].min(axis=1)
    runs["later_peak_kw"] = [_later_peak_kw(results, f, 96) for f in runs.folder]
    n_households, retail_eur_per_kwh, soc_initial = 55, 0.30, 0.1
    runs["stored_kwh"] = [
        _stored_kwh(results, f, c, soc_initial)
        for f, c in zip(runs.folder, runs["community.battery.capacity_kwh"], strict=True)
    ]
    # the manager's bill less what its stored energy at the end would cost at the retail price
    runs["manager_net_eur"] = runs.community_manager_bill_eur - retail_eur_per_kwh * runs.stored_kwh
    runs["together_eur"] = runs.mean_household_bill_eur + runs.manager_net_eur / n_households
    runs["manager"] = [
        "none"
        if not row["community.enabled"]
        else f"{row['community.objective']} {row['community.battery.capacity_kwh']:g} kWh / "
        f"{row['community.battery.power_kw']:g} kW"
        for _, row in runs.iterrows()
    ]
    print(
        "| season | bids | manager | peak (kW) | peak − none (kW) | peak − none (%) "
        "| peak days 2-3 − none (%) "
        "| mean household bill − none (EUR) | manager's bill (EUR) | stored at the end (kWh) "
        "| household + manager share − none (EUR) "
        "| community self-consumption | community self-sufficiency | losses − none (kWh) "
        "| lowest voltage − none (p.u.) |"
    )
    print("|" + "---|" * 15)
    for (start, mode), group in runs.groupby(KEYS, sort=False):
        none = group[group.manager == "none"].set_index("seed")
        for manager, rows in group.groupby("manager", sort=False):
            r = rows.set_index("seed")
            numeric = r.select_dtypes("number").columns
            d = r[numeric] - none[numeric] if manager != "none" else None
            season = "January" if str(start).startswith("2026-01") else "June"
            cells = [season, mode, manager, _ci(r.peak_feeder_import_kw)]
            if d is None:
                cells += ["", "", "", f"({_ci(r.mean_household_bill_eur, '.2f')})", "0", "", ""]
            else:
                pct = 100 * d.peak_feeder_import_kw / none.peak_feeder_import_kw
                later = 100 * d.later_peak_kw / none.later_peak_kw
                cells += [
                    _ci(d.peak_feeder_import_kw),
                    _ci(pct),
                    _ci(later),
                    _ci(d.mean_household_bill_eur, ".2f"),
                    _ci(r.community_manager_bill_eur, ".1f"),
                    _ci(r.stored_kwh, ".0f"),
                    _ci(d.together_eur, ".2f"),
                ]
            cells += [_ci(r.community_self_consumption, ".3f"), _ci(r.community_self_sufficiency, ".3f")]
            if d is None:
                cells += [f"({_ci(r.losses_kwh)})", f"({_ci(r.vm_min, '.4f')})"]
            else:
                cells += [_ci(d.losses_kwh), _ci(d.vm_min, ".4f")]
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/study_11_community_manager"))
