"""Measure what price response does (the README's table): python docs/measure_price_response.py.

Two days at hourly intervals on the default feeder, 60 % PV, 30 % batteries and
EVs, half the homes with a shiftable appliance (power-grid-model), with fixed
bidding and with bid curves, under a flat and a time-of-use retail price; and with
curves under the flat price: a day-ahead stage (10 % load and 20 % PV forecast
error), and perfect local-price foresight (4 runs).
"""

import numpy as np
import pandas as pd

from lemgrid.model import Model, Scenario

HOUSEHOLDS = [
    "days=2",
    "interval_minutes=60",
    "grid.solver=power_grid_model",
    "penetration.pv=0.6",
    "penetration.battery=0.3",
    "penetration.ev=0.3",
    "penetration.flexible_load=0.5",
]


def paid(model: Model, rows: pd.DataFrame, column: str) -> float:
    """Mean retail price of the energy a device drew (EUR/kWh)."""
    used = -rows[column].clip(upper=0).to_numpy()
    return float((model.retail_eur_per_kwh * used).sum() / used.sum())


VARIANTS = [
    (retail, mode, [f"prices.retail={retail}", f"bidding.mode={mode}"])
    for retail in ("flat", "time_of_use")
    for mode in ("fixed", "curves")
] + [
    (
        "flat",
        "day-ahead",
        ["bidding.day_ahead=true", "bidding.load_forecast_error=0.1", "bidding.pv_forecast_error=0.2"],
    ),
    ("flat", "perfect", ["bidding.forecast=perfect", "bidding.foresight_passes=4"]),
]

for retail, label, keys in VARIANTS:
    model = Model(Scenario.load(None, [*HOUSEHOLDS, *keys]))
    while model.running:
        model.step()
    rows = pd.DataFrame(model.interval_rows)
    traded = rows[rows.local_volume_kwh + rows.day_ahead_volume_kwh > 0]
    price = traded.mean_local_price_eur_per_kwh.fillna(traded.day_ahead_price_eur_per_kwh)
    corr = np.corrcoef(price, traded.household_injection_kw)[0, 1] if price.std() > 0 else float("nan")
    peak = rows.feeder_import_kw.idxmax()
    mae = model.summary["price_forecast_mae_eur_per_kwh"]
    print(
        f"retail={retail:<11} bidding={label:<9} peak {rows.feeder_import_kw.max():6.1f} kW "
        f"at {model.times[peak]:%H:%M}  local price std {price.std():.3f} corr {corr:+.2f}  "
        f"retail price paid: EV {paid(model, rows, 'ev_kw'):.3f} "
        f"appliance {paid(model, rows, 'appliance_kw'):.3f}  "
        f"unmet EV {model.summary['ev_unmet_kwh']:.2f} kWh  "
        f"traded {model.summary['local_traded_kwh']:.0f} kWh, "
        f"day-ahead {model.summary['day_ahead_traded_kwh']:.0f} kWh  "
        f"forecast MAE {'-' if mae is None else f'{mae:.3f}'}"
    )
