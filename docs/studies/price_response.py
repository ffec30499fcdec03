"""With and without price response: feeder peak and its hour, the 06:00 EV burst, EV energy in PV surplus.

Reads the finished runs of one or more sweep results folders (each run's ``run.json`` and
``intervals.parquet``) and prints one Markdown table row per (folder, combination):

- feeder peak: the highest 15-minute feeder import of a run (kW), mean ± 95 % CI over seeds,
  and the local clock hour it fell in (most common over seeds, with the count);
- the same without the run's last two hours, where EVs whose forecast horizon runs out at the
  end of the run bid inelastically (an end-of-run effect of the curves);
- 06:00 EV burst: EV charging power (kW, all households) averaged over the 06:00-07:00 local
  hour of every day, mean ± CI over seeds;
- EV peak hour: the local hour with the highest mean EV charging power (over days and seeds)
  and that power;
- EV energy in PV surplus: the share of EV charging energy charged in intervals in which the
  community injects net (``household_injection_kw`` > 0), mean ± CI over seeds;
- cheapest hour: the local hour with the lowest mean single local price (where there is one).

Usage (from the repository root, after the sweeps of docs/studies.md)::

    .venv/bin/python docs/studies/price_response.py results/1_curves results/1_fixed
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

TZ = "Europe/Berlin"  # the default site of every study
LAST_INTERVALS = 8  # the run's last two hours at 15 minutes


def mean_ci(values: list[float]) -> str:
    """``mean ± half-width`` of the 95 % Student-t interval (the value alone for one seed)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.1f}"
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.1f} ± {half:.1f}"


def run_rows(folder: Path) -> pd.DataFrame:
    """One row per finished run under ``folder`` (its path segments ``key=value`` name the combination)."""
    rows = []
    for record in sorted(folder.rglob("run.json")):
        run = json.loads(record.read_text())
        if run.get("status") != "done":
            continue
        parts = [p for p in record.parent.relative_to(folder).parts if not p.startswith("seed=")]
        iv = pd.read_parquet(record.parent / "intervals.parquet")
        local = pd.to_datetime(iv["time"], utc=True).dt.tz_convert(TZ)
        hour = local.dt.hour.to_numpy()
        ev = -iv["ev_kw"].to_numpy()  # charging is negative in the tables
        surplus = iv["household_injection_kw"].to_numpy() > 0
        imp = iv["feeder_import_kw"].to_numpy()
        peak_i = int(np.nanargmax(imp))
        body = len(imp) - LAST_INTERVALS  # without the run's last two hours (end-of-horizon effect)
        body_i = int(np.nanargmax(imp[:body]))
        price = iv["clearing_price_eur_per_kwh"] if "clearing_price_eur_per_kwh" in iv else None
        rows.append(
            {
                "combination": ", ".join(p.split("=", 1)[1] for p in parts) or "-",
                "seed": run["seed"],
                "peak_kw": float(iv["feeder_import_kw"].iloc[peak_i]),
                "peak_hour": int(hour[peak_i]),
                "body_peak_kw": float(imp[body_i]),
                "body_peak_hour": int(hour[body_i]),
                "ev_0600_kw": float(ev[hour == 6].mean()),
                "ev_by_hour": pd.Series(ev).groupby(hour).mean(),
                "ev_surplus_share": float(ev[surplus].sum() / ev.sum()) if ev.sum() > 0 else np.nan,
                "price_by_hour": None
                if price is None
                else pd.Series(price.to_numpy(dtype=float)).groupby(hour).mean(),
            }
        )
    return pd.DataFrame(rows)


def table(folders: list[Path]) -> str:
    """The Markdown table: one row per results folder and combination."""
    out = [
        "| results | combination | feeder peak (kW) | peak hour (local) | peak without the last 2 h (kW) "
        "| its hour | EV at 06:00-07:00 (kW) "
        "| EV peak hour: mean kW | EV energy in PV surplus (%) | cheapest local-price hour |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for folder in folders:
        runs = run_rows(folder)
        # keep the order in which the sweep lists its combinations
        for combo in dict.fromkeys(runs["combination"]):
            g = runs[runs["combination"] == combo]
            hours = Counter(g["peak_hour"]).most_common(1)[0]
            body_hours = Counter(g["body_peak_hour"]).most_common(1)[0]
            ev_hour = pd.concat(list(g["ev_by_hour"]), axis=1).mean(axis=1)
            prices = [p for p in g["price_by_hour"] if p is not None and p.notna().any()]
            cheap = "-"
            if prices:
                p = pd.concat(prices, axis=1).mean(axis=1).dropna()
                cheap = f"{int(p.idxmin()):02d}:00 ({p.min():.3f} EUR/kWh)"
            out.append(
                f"| {folder.name} | {combo} | {mean_ci(list(g['peak_kw']))} "
                f"| {hours[0]:02d}:00 ({hours[1]} of {len(g)} seeds) | {mean_ci(list(g['body_peak_kw']))} "
                f"| {body_hours[0]:02d}:00 ({body_hours[1]} of {len(g)}) | {mean_ci(list(g['ev_0600_kw']))} "
                f"| {int(ev_hour.idxmax()):02d}:00: {ev_hour.max():.1f} "
                f"| {mean_ci([100 * x for x in g['ev_surplus_share']])} | {cheap} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    print(table([Path(a) for a in sys.argv[1:]]))
