"""Shared fixtures: small real runs, built once per test session."""

from pathlib import Path

import pandas as pd
import pytest

from model import Model, Scenario


def run_to_end(scenario: Scenario, out_dir: Path) -> Model:
    model = Model(scenario, out_dir=out_dir)
    while model.running:
        model.step()
    return model


@pytest.fixture(scope="session")
def day_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    """The default scenario (a June day, 15-min intervals) run to the end, with its files."""
    out = tmp_path_factory.mktemp("day")
    return run_to_end(Scenario(), out), out


@pytest.fixture(scope="session")
def day_tables(day_run: tuple[Model, Path]) -> dict[str, pd.DataFrame]:
    _, out = day_run
    return {
        name: pd.read_parquet(out / f"{name}.parquet")
        for name in ("intervals", "households", "trades", "bus_voltages", "population")
    }


def hourly(**overrides: object) -> Scenario:
    """A quick scenario: one day at 60-minute intervals (24 power flows)."""
    items = [f"{k.replace('__', '.')}={v}" for k, v in {"interval_minutes": 60, **overrides}.items()]
    return Scenario.load(None, items)
