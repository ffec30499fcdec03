"""Helpers the tests share: quick scenarios, running a model to its end, writing input files, the CLI.

Fixtures live in ``conftest.py`` (pytest finds them there); plain functions
and texts live here and are imported as ``from tests.helpers import ...``.
"""

import subprocess
import sys
from pathlib import Path

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
