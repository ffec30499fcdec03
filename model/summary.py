"""Run-level summary metrics, computed from the per-interval rows.

Definitions (also in the README):
- consumption: base load plus EV charging plus appliance cycles (battery
  charging is storage, not consumption);
- self-sufficiency: share of the households' consumption not imported from
  the retailer, ``1 - retail_import / consumption``;
- self-consumption: share of PV generation not exported to the retailer,
  ``1 - retail_export / pv``;
- peak feeder import/export: extreme substation exchange over all intervals;
- customer-minutes outside limits: households whose supply voltage (their
  phase at their bus) is outside the limits, times minutes;
- EN 50160 compliant share: households whose every week passes the check in
  :class:`grid.metrics.VoltageQuality`;
- VUF/PVUR 95th percentile: over the intervals, of each interval's highest
  value on the feeder (the distribution's tail without its single worst
  interval);
- congested hours: hours in which any line or a transformer phase is above
  its loading limit; congested line share: lines above their limit in at
  least one interval, over all lines;
- headrooms: the smallest distance to the voltage and thermal limits over the
  run (negative when a limit was violated): a hosting-capacity style margin;
- DSO cost recovery: network fees received over the network's cost for the
  simulated hours (``tariff.network_cost_eur_per_household_year``);
- curtailment cost: energy the constraint mode cut, valued at the limit
  prices of the households that gave it up (the welfare the limits cost).
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from lemgrid.model.scenario import Scenario


def _max(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.max()) if len(values) else None


def _min(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.min()) if len(values) else None


def _p95(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, 95)) if len(values) else None


def _share(part: float, whole: float) -> float | None:
    return 1.0 - part / whole if whole > 0 else None


def summarise(
    config: Scenario,
    rows: list[dict[str, Any]],
    households: Iterable[Any],
    retailer_revenue_eur: float,
    dso: Any,
    ev_sessions: pd.DataFrame,
    voltage_quality: pd.DataFrame,
    congested_lines: np.ndarray,
) -> dict[str, Any]:
    """Headline numbers of a run (JSON-ready; None where a value does not exist)."""

    def col(name: str) -> np.ndarray:
        return np.array([r[name] for r in rows], dtype=float)

    dt_h = config.interval_hours
    converged = np.array([r["converged"] for r in rows], dtype=bool)
    errors = [f"interval {r['interval']}: {r['power_flow_error']}" for r in rows if not r["converged"]]
    feeder = col("feeder_import_kw")
    volume = col("local_volume_kwh")
    price = col("mean_local_price_eur_per_kwh")
    traded = volume > 0
    base_kwh = float(col("base_load_kw").sum() * dt_h)
    ev_kwh = float(-col("ev_kw").sum() * dt_h) + 0.0  # + 0.0 turns -0.0 into 0.0
    appliance_kwh = float(-col("appliance_kw").sum() * dt_h) + 0.0
    consumption_kwh = base_kwh + ev_kwh + appliance_kwh
    pv_kwh = float(col("pv_kw").sum() * dt_h)
    battery = col("battery_kw")
    unmet = ev_sessions.unmet_kwh.dropna()
    retail_import = float(col("retail_import_kwh").sum())
    retail_export = float(col("retail_export_kwh").sum())
    outside = col("n_buses_outside_limits")
    overloaded = col("n_lines_overloaded")
    bills = np.array([h.bill_eur for h in households])
    vm_min = np.stack([col(f"vm_min_{p}_pu") for p in "abc"])
    vm_max = np.stack([col(f"vm_max_{p}_pu") for p in "abc"])
    trafo = np.stack([col(f"trafo_loading_{p}_percent") for p in "abc"])
    congested = (overloaded > 0) | (np.nan_to_num(trafo, nan=0.0).max(axis=0) > 100.0)
    return {
        "run_id": config.run_id(),
        "intervals": len(rows),
        "intervals_planned": config.n_intervals,
        "intervals_not_converged": int((~converged).sum()),
        "power_flow_errors": errors[:10],
        "consumption_kwh": consumption_kwh,
        "base_load_kwh": base_kwh,
        "ev_kwh": ev_kwh,
        "appliance_kwh": appliance_kwh,
        "pv_kwh": pv_kwh,
        "pv_curtailed_kwh": float(col("pv_curtailed_kw").sum() * dt_h),
        "battery_charged_kwh": float(-np.clip(battery, None, 0).sum() * dt_h) + 0.0,
        "battery_discharged_kwh": float(np.clip(battery, 0, None).sum() * dt_h),
        "ev_sessions_ended": int(len(unmet)),
        "ev_unmet_kwh": float(unmet.sum()),
        "local_traded_kwh": float(volume.sum()),
        "mean_clearing_price_eur_per_kwh": float(
            (price[traded] * volume[traded]).sum() / volume[traded].sum()
        )
        if traded.any()
        else None,
        "retail_import_kwh": retail_import,
        "retail_export_kwh": retail_export,
        "self_sufficiency": _share(retail_import, consumption_kwh),
        "self_consumption": _share(retail_export, pv_kwh),
        "feeder_import_kwh": float(np.nansum(np.clip(feeder, 0, None)) * dt_h),
        "feeder_export_kwh": float(np.nansum(np.clip(-feeder, 0, None)) * dt_h),
        "losses_kwh": float(np.nansum(col("losses_kw")) * dt_h),
        "peak_feeder_import_kw": _max(feeder),
        "peak_feeder_export_kw": _max(-feeder),
        "vm_min_pu": {p: _min(vm_min[i]) for i, p in enumerate("abc")},
        "vm_max_pu": {p: _max(vm_max[i]) for i, p in enumerate("abc")},
        "intervals_with_voltage_violation": int(np.nansum(outside > 0)),
        "bus_intervals_outside_limits": int(np.nansum(outside)),
        "vuf_max_percent": _max(col("vuf_max_percent")),
        "pvur_max_percent": _max(col("pvur_max_percent")),
        "vuf_p95_percent": _p95(col("vuf_max_percent")),
        "pvur_p95_percent": _p95(col("pvur_max_percent")),
        "lvur_max_percent": _max(col("lvur_max_percent")),
        "customer_minutes_outside_limits": float(np.nansum(col("n_customers_outside_limits")))
        * config.interval_minutes,
        "en50160_compliant_share": float(voltage_quality.groupby("household").en50160_compliant.all().mean())
        if len(voltage_quality)
        else None,
        "min_overvoltage_headroom_pu": _min(col("overvoltage_headroom_pu")),
        "min_undervoltage_headroom_pu": _min(col("undervoltage_headroom_pu")),
        "min_thermal_headroom_percent": _min(col("thermal_headroom_percent")),
        "trafo_loading_max_percent": {p: _max(trafo[i]) for i, p in enumerate("abc")},
        "trafo_unbalance_max_percent": _max(col("trafo_unbalance_percent")),
        "line_loading_max_percent": _max(col("line_loading_max_percent")),
        "intervals_with_line_overload": int(np.nansum(overloaded > 0)),
        "overloaded_line_hours": float(np.nansum(overloaded) * dt_h),
        "congested_hours": float(congested.sum() * dt_h),
        "congested_line_share": float(congested_lines.mean()) if len(congested_lines) else None,
        "household_bills_eur": float(bills.sum()),
        "retailer_revenue_eur": float(retailer_revenue_eur),
        "dso_revenue_eur": float(dso.revenue_eur),
        "dso_cost_recovery": dso.cost_recovery(len(rows) * dt_h),
        "curtailed_export_kwh": float(col("curtailed_export_kwh").sum()),
        "curtailed_import_kwh": float(col("curtailed_import_kwh").sum()),
        "curtailment_cost_eur": float(col("curtailment_cost_eur").sum()),
    }
