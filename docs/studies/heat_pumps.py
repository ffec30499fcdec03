"""Heat pumps with and without price response: daily energy, peak hour, feeder peak, comfort.

Reads the finished runs of a sweep of ``experiments/heat_pumps_winter.yaml`` (each run's
``run.json``, ``scenario.json``, ``intervals.parquet`` and ``households.parquet``) and prints
one Markdown table row per combination, mean ± 95 % CI over seeds:

- heat-pump electricity per heat-pump home and day (kWh);
- the local hour with the highest mean heat-pump power (over days and seeds) and that power
  (kW, all heat pumps together), and the same for the hour 07:00-08:00;
- the feeder's peak import (kW) and the local hour it fell in (most common over seeds);
- the heat pumps' electricity bought in 17:00-20:00 as a share of their total;
- kelvin-hours below the comfort band and below the tank band (all homes, whole run);
- the outdoor temperature the runs saw (mean, min, max over the run, deg C).

Usage (from the repository root)::

    .venv/bin/lemgrid sweep experiments/heat_pumps_winter.yaml --results results/heat_pumps_winter
    .venv/bin/python docs/studies/heat_pumps.py results/heat_pumps_winter
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lemgrid.model import Scenario
from lemgrid.model.build import times
from lemgrid.model.weather import outdoor_temperature_c


def mean_ci(values: list[float], fmt: str = ".1f") -> str:
    """``mean ± half-width`` of the 95 % Student-t interval (the value alone for one seed)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return format(v.mean(), fmt)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{format(v.mean(), fmt)} ± {format(half, fmt)}"


def one_run(folder: Path) -> dict[str, Any]:
    """The measures of one finished run."""
    cfg = Scenario.from_json((folder / "scenario.json").read_text())
    iv = pd.read_parquet(folder / "intervals.parquet")
    hh = pd.read_parquet(folder / "households.parquet")
    stamps = pd.DatetimeIndex(iv.time)
    local = (stamps if stamps.tz else stamps.tz_localize("UTC")).tz_convert(cfg.site.timezone)
    hours = cfg.interval_hours
    hp_kw = -iv.heat_pump_kw.to_numpy()
    n_pumps = hh[hh.indoor_temperature_c.notna()].household.nunique()
    by_hour = pd.Series(hp_kw).groupby(local.hour).mean()
    evening = (local.hour >= 17) & (local.hour < 20)
    peak = int(iv.feeder_import_kw.to_numpy().argmax())
    outdoor = outdoor_temperature_c(cfg, times(cfg)[0])
    return {
        "kwh_per_home_day": hp_kw.sum() * hours / n_pumps / cfg.days,
        "hp_by_hour_kw": by_hour.reindex(range(24), fill_value=np.nan).to_numpy(),
        "feeder_peak_kw": float(iv.feeder_import_kw.max()),
        "feeder_peak_hour": int(local[peak].hour),
        "evening_share": float(hp_kw[evening].sum() / hp_kw.sum()),
        "comfort_kh": float(iv.comfort_violation_kh.sum()),
        "tank_kh": float(iv.tank_violation_kh.sum()),
        "outdoor": (float(outdoor.mean()), float(outdoor.min()), float(outdoor.max())),
    }


def main(results: Path) -> None:
    """Print the table for one results folder."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for run_file in sorted(results.rglob("run.json")):
        run = json.loads(run_file.read_text())
        if run.get("status") != "done":
            continue
        label = ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
        rows.setdefault(label, []).append(one_run(run_file.parent))
    header = [
        "combination",
        "seeds",
        "HP kWh per home and day",
        "HP peak hour (kW; kW at 07:00)",
        "feeder peak kW (hour)",
        "HP energy 17-20 h",
        "K h below comfort / tank band",
        "outdoor mean (min, max) deg C",
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for label, runs in rows.items():

        def ci(key: str, fmt: str = ".1f", scale: float = 1.0, runs: list[dict[str, Any]] = runs) -> str:
            return mean_ci([scale * r[key] for r in runs], fmt)

        profile = np.nanmean([r["hp_by_hour_kw"] for r in runs], axis=0)
        hour = int(np.nanargmax(profile))
        at_seven = mean_ci([r["hp_by_hour_kw"][7] for r in runs])
        feeder_hour, feeder_count = Counter(r["feeder_peak_hour"] for r in runs).most_common(1)[0]
        mean, low, high = runs[0]["outdoor"]
        cells = [
            label,
            str(len(runs)),
            ci("kwh_per_home_day"),
            f"{hour}:00 ({profile[hour]:.1f}; {at_seven})",
            f"{ci('feeder_peak_kw')} ({feeder_hour}:00, {feeder_count}/{len(runs)})",
            f"{ci('evening_share', scale=100)} %",
            f"{ci('comfort_kh', '.2f')} / {ci('tank_kh', '.2f')}",
            f"{mean:.1f} ({low:.1f}, {high:.1f})",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        main(Path(folder))
