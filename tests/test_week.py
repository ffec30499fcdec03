"""The devices issue's acceptance run: a week with EVs, batteries and flexible load, end to end."""

from pathlib import Path

import pandas as pd
import pytest

from lemgrid.experiments.cli import main


@pytest.mark.slow
def test_a_week_with_devices_keeps_every_limit(tmp_path: Path) -> None:
    out = tmp_path / "week"
    args = ["run", "--set", "penetration.ev=0.5", "--set", "penetration.battery=0.3"]
    args += ["--set", "penetration.flexible_load=0.5", "--set", "days=7", "--out", str(out), "--quiet"]
    assert main(args) == 0
    hh = pd.read_parquet(out / "households.parquet")
    pop = pd.read_parquet(out / "population.parquet").set_index("household")
    assert hh.interval.nunique() == 7 * 96
    batteries = hh.dropna(subset=["battery_soc"])
    assert batteries.battery_soc.between(0.10 - 1e-9, 0.95 + 1e-9).all()
    limit = batteries.household.map(pop.battery_power_kw)
    assert (batteries.battery_kw.abs() <= limit + 1e-9).all()
    evs = hh[hh.ev_kw < 0]
    assert (-evs.ev_kw <= evs.household.map(pop.ev_charger_kw) + 1e-9).all()
    sessions = pd.read_parquet(out / "ev_sessions.parquet").dropna(subset=["unmet_kwh"])
    assert len(sessions) >= 6 * 27
    assert (sessions.unmet_kwh[sessions.feasible] < 1e-9).all()
    cycles = pd.read_parquet(out / "appliance_cycles.parquet").dropna(subset=["shortfall_kwh"])
    assert (cycles.shortfall_kwh.abs() < 1e-9).all()
    # every household's devices are traced, ready to plot
    one = hh[hh.household == batteries.household.iloc[0]].set_index("interval")
    assert {"base_load_kw", "pv_kw", "battery_kw", "battery_soc", "ev_kw", "appliance_kw"} <= set(one.columns)
