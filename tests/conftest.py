"""Shared fixtures: small real runs, built once per test session (plain helpers: ``tests/helpers.py``)."""

from pathlib import Path

import pandas as pd
import pytest

from lemgrid.model import Model, Scenario
from tests.helpers import TABLES, hourly, run_to_end

# hourly and run_to_end live in tests/helpers.py; named here too for tests that import them from conftest
__all__ = ["hourly", "run_to_end"]

DAY_SCENARIOS = {
    # the default scenario: a June day, 15-min intervals, PV only
    "default": [],
    # the same day with every kind of device
    "devices": ["penetration.ev=0.5", "penetration.battery=0.4", "penetration.flexible_load=0.5"],
    # the same devices bidding their curves: the clearing dispatches them
    "curves": [
        "penetration.ev=0.5",
        "penetration.battery=0.4",
        "penetration.flexible_load=0.5",
        "bidding.mode=curves",
    ],
    "heat_pumps": [  # a winter day: heat pumps (some three-phase), batteries and EVs bidding curves
        "start=2026-01-15",
        "penetration.heat_pump=0.5",
        "heat_pump.three_phase_share=0.3",
        "penetration.ev=0.3",
        "penetration.battery=0.3",
        "bidding.mode=curves",
    ],
}


@pytest.fixture(scope="session", params=list(DAY_SCENARIOS))
def day_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    """A full day run to the end with its files, once per entry of DAY_SCENARIOS."""
    out = tmp_path_factory.mktemp(request.param)
    return run_to_end(Scenario.load(None, DAY_SCENARIOS[request.param]), out), out


@pytest.fixture(scope="session")
def day_tables(day_run: tuple[Model, Path]) -> dict[str, pd.DataFrame]:
    _, out = day_run
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}
