"""What the report and the study analyses share: metric labels, run combinations, CIs and colours.

Both :mod:`lemgrid.experiments.report` and :mod:`lemgrid.experiments.analyses`
import this module and neither imports the other's helpers, so the
experiment, report and analyses modules form no import cycle.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from lemgrid.experiments.experiment import Experiment

# column in runs.parquet -> label; per-phase extremes are reduced to one column first
METRICS: dict[str, str] = {
    "local_traded_kwh": "energy traded locally (kWh)",
    "mean_clearing_price_eur_per_kwh": "mean local price (EUR/kWh)",
    "household_bills_eur": "household bills, all households (EUR)",
    "self_sufficiency": "self-sufficiency",
    "self_consumption": "self-consumption",
    "community_self_sufficiency": "community self-sufficiency",
    "community_self_consumption": "community self-consumption",
    "mean_household_bill_eur": "mean household bill (EUR)",
    "community_manager_bill_eur": "community manager's bill (EUR)",
    "vm_max_pu": "highest voltage (p.u.)",
    "vm_min_pu": "lowest voltage (p.u.)",
    "intervals_with_voltage_violation": "intervals with a voltage violation",
    "customer_minutes_outside_limits": "customer-minutes outside limits",
    "vuf_max_percent": "highest VUF (%)",
    "vuf_p95_percent": "VUF, 95th percentile over intervals (%)",
    "pvur_max_percent": "highest PVUR (%)",
    "pvur_p95_percent": "PVUR, 95th percentile over intervals (%)",
    "trafo_loading_max_percent": "highest transformer phase loading (%)",
    "line_loading_max_percent": "highest line loading (%)",
    "min_overvoltage_headroom_pu": "smallest overvoltage headroom (p.u.; negative: violated)",
    "congested_hours": "hours with a line or transformer above its limit",
    "congested_line_share": "share of lines above their limit at least once",
    "losses_kwh": "losses (kWh)",
    "peak_feeder_import_kw": "peak feeder import (kW)",
    "peak_feeder_export_kw": "peak feeder export (kW)",
    "dso_revenue_eur": "DSO network fees (EUR)",
    "battery_discharged_kwh": "energy discharged from batteries (kWh)",
    "heat_pump_kwh": "heat pumps' electricity (kWh)",
    "comfort_violation_kh": "kelvin-hours below the comfort band",
    "tank_violation_kh": "kelvin-hours below the tank band",
    "curtailed_export_kwh": "export curtailed by the DSO (kWh)",
    "curtailed_import_kwh": "import curtailed by the DSO (kWh)",
    "curtailment_cost_eur": "welfare lost to curtailment (EUR)",
    "duration_s": "run time (s)",
}


def cell(value: Any) -> Any:
    """An axis value as runs.parquet stores it (mappings and lists as JSON)."""
    return json.dumps(value) if isinstance(value, dict | list) else value


def run_combinations(experiment: Experiment, runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's combination of swept values, as the experiment file gives them."""
    keys = experiment.swept_keys
    by_cells = {tuple(cell(c[k]) for k in keys): c for c in experiment.combinations()}
    if not keys or not len(runs):
        return [experiment.combinations()[0]] * len(runs)
    return [by_cells[tuple(row)] for row in runs[keys].itertuples(index=False)]


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95 % confidence interval (Student's t; NaN below two values)."""
    values = values.dropna()
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return mean, half


def mean_ci_text(values: Any) -> str:
    """``mean ± half-width`` of the 95 % CI of ``values`` (NaN dropped; the mean alone for one value)."""
    values = pd.Series(values, dtype=float)
    return plus_minus(*mean_ci(values), magnitude(values))


# A difference smaller than this, relative to the metric's magnitude, is floating-point noise (summing
# the same numbers in another order), not an effect: reported as "identical", never as a number.
NOISE_RELATIVE = 1e-9


def magnitude(values: Any) -> float:
    """The metric's scale for the noise rule: its largest absolute value (0 when there is none)."""
    finite = pd.Series(values, dtype=float).abs().dropna()
    return float(finite.max()) if len(finite) else 0.0


def is_noise(mean: float, half: float, scale: float) -> bool:
    """Whether a difference (mean, CI half-width) is below numerical noise for a metric of size ``scale``."""
    tolerance = NOISE_RELATIVE * scale
    return bool(abs(mean) <= tolerance and (np.isnan(half) or half <= tolerance))


def difference_text(mean: float, half: float, scale: float) -> str:
    """A paired difference in words: identical, or the effect with its 95 % CI and whether it excludes 0."""
    if np.isnan(mean):
        return "–"
    if is_noise(mean, half, scale):
        return "no difference (identical results)"
    if np.isnan(half):
        return f"{_round(mean):+} (one seed: no CI)"
    low, high = mean - half, mean + half
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no clear difference (CI includes 0)"
    return f"{_round(mean, half):+} (95 % CI {_round(low, half)} to {_round(high, half)}): {verdict}"


def _round(value: float, half: float = np.nan) -> float:
    """``value`` to the precision its CI supports (2 significant digits of the half-width), else 4 digits."""
    if value == 0 or not np.isfinite(value):
        return value
    if np.isfinite(half) and half > 0:
        digits = 1 - int(np.floor(np.log10(half)))
    else:
        digits = 3 - int(np.floor(np.log10(abs(value))))
    return float(round(value, max(digits, 0) if abs(value) >= 1 else digits))


def plus_minus(mean: float, half: float, scale: float | None = None) -> str:
    """``mean ± half`` for a cell, rounded to its CI; a dash if no value, the mean alone if no CI or noise."""
    if np.isnan(mean):
        return "–"
    noise = np.isnan(half) or half <= NOISE_RELATIVE * (abs(mean) if scale is None else scale)
    return f"{mean:.4g}" if noise else f"{_round(mean, half):.4g} ± {half:.2g}"


def colour(i: int) -> str:
    """The i-th colour of the report's palette (plotly's default, repeating)."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    return palette[i % len(palette)]
