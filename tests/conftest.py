"""Shared fixtures: small real runs, built once per test session."""

from pathlib import Path

import pandas as pd
import pytest

from lemgrid.model import Model, Scenario


def run_to_end(scenario: Scenario, out_dir: Path) -> Model:
    model = Model(scenario, out_dir=out_dir)
    while model.running:
        model.step()
    return model


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
}
TABLES = (
    "intervals",
    "households",
    "trades",
    "bus_voltages",
    "population",
    "ev_sessions",
    "appliance_cycles",
)


@pytest.fixture(scope="session", params=list(DAY_SCENARIOS))
def day_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    """A full day run to the end with its files, once per entry of DAY_SCENARIOS."""
    out = tmp_path_factory.mktemp(request.param)
    return run_to_end(Scenario.load(None, DAY_SCENARIOS[request.param]), out), out


@pytest.fixture(scope="session")
def day_tables(day_run: tuple[Model, Path]) -> dict[str, pd.DataFrame]:
    _, out = day_run
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}


def hourly(**overrides: object) -> Scenario:
    """A quick scenario: one day at 60-minute intervals (24 power flows)."""
    items = [f"{k}={v}" for k, v in {"interval_minutes": 60, **overrides}.items()]
    return Scenario.load(None, items)
