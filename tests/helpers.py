"""Helpers the tests share: quick scenarios, running a model to its end, writing input files, the CLI.

Fixtures live in ``conftest.py`` (pytest finds them there); plain functions
and texts live here and are imported as ``from tests.helpers import ...``.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lemgrid.model import Model, Scenario


def run_to_end(scenario: Scenario, out_dir: Path | None = None) -> Model:
    """Run ``scenario`` to its last interval (writing its files into ``out_dir`` if given)."""
    model = Model(scenario, out_dir=out_dir)
    while model.running:
        model.step()
    return model


def hourly(**overrides: object) -> Scenario:
    """A quick scenario: one day at 60-minute intervals (24 power flows)."""
    items = [f"{k}={v}" for k, v in {"interval_minutes": 60, **overrides}.items()]
    return Scenario.load(None, items)


def write_file(folder: Path, text: str | bytes, name: str = "exp.yaml") -> Path:
    """Write ``text`` to ``folder/name`` and return the path."""
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def lemgrid(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``lemgrid`` command in a fresh interpreter; returns its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "lemgrid.experiments.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


# every table a run writes
TABLES = (
    "intervals",
    "households",
    "trades",
    "bus_voltages",
    "population",
    "ev_sessions",
    "appliance_cycles",
)

# two pricing designs, two seeds, one day at 4-hour intervals: the smallest real sweep
TINY_EXPERIMENT = """
name: tiny
description: two pricing designs, two seeds, one day at 4-hour intervals
base:
  interval_minutes: 240
  grid: {solver: power_grid_model}
  output: {bus_voltages: households}
axes:
  market.pricing: [uniform, zonal]
seeds: [1, 2]
baseline: {market.pricing: uniform}
"""


def assert_money_balances(households: pd.DataFrame, trades: pd.DataFrame, intervals: pd.DataFrame) -> None:
    """Money and local energy balance every interval of a run's tables (``intervals`` indexed by interval).

    Local payments net to zero; each household pays for what it bought locally and is
    paid for what it sold (with bid curves it may do both in one interval, at the price
    where its curve turns); the households' retail payments are the retailer's revenue;
    the local energy bought is the energy traded; what the DSO paid for flexibility is what the
    households received.
    """
    per = households.groupby("interval")
    np.testing.assert_allclose(per.local_payment_eur.sum(), 0.0, atol=1e-12)
    value = trades.energy_kwh * trades.price_eur_per_kwh
    owed = (
        pd.concat(
            [
                pd.DataFrame({"interval": trades.interval, "household": trades.buyer, "eur": value}),
                pd.DataFrame({"interval": trades.interval, "household": trades.seller, "eur": -value}),
            ]
        )
        .groupby(["interval", "household"])
        .eur.sum()
    )
    paid = households.set_index(["interval", "household"]).local_payment_eur
    np.testing.assert_allclose(owed.reindex(paid.index, fill_value=0.0), paid, atol=1e-12)
    np.testing.assert_allclose(per.retail_payment_eur.sum(), intervals.retailer_revenue_eur, atol=1e-12)
    traded = trades.groupby("interval").energy_kwh.sum()
    np.testing.assert_allclose(per.bought_local_kwh.sum()[traded.index], traded, atol=1e-12)
    np.testing.assert_allclose(per.sold_local_kwh.sum()[traded.index], traded, atol=1e-12)
    if "flexibility_cost_eur" in intervals:
        np.testing.assert_allclose(
            per.flexibility_payment_eur.sum(), intervals.flexibility_cost_eur, atol=1e-12
        )
