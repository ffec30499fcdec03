"""Penetration, heterogeneity and reproducibility of the simulated population and its devices."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.model import Model, ScenarioError
from tests.helpers import hourly, run_to_end

DEVICE_COLUMNS = ["battery_kw", "ev_kw", "appliance_kw", "pv_curtailed_kw"]


def test_zero_penetration_is_the_pv_only_model_whatever_the_device_settings(tmp_path: Path) -> None:
    plain = hourly()
    tweaked = hourly(
        **{
            "ev.energy_kwh": 25,
            "ev.charging": "deadline",
            "battery.capacity_kwh": 20,
            "battery.soc_initial": 0.9,
            "flexible_load.appliances": "[{name: kettle, power_kw: 3, duration_minutes: 60, "
            "earliest_start_hour: 6, latest_finish_hour: 9}]",
        }
    )
    run_to_end(plain, tmp_path / "plain")
    run_to_end(tweaked, tmp_path / "tweaked")
    for name in ("intervals", "households", "trades", "bus_voltages"):
        a = pd.read_parquet(tmp_path / "plain" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "tweaked" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)
    hh = pd.read_parquet(tmp_path / "plain" / "households.parquet")
    assert (hh[DEVICE_COLUMNS] == 0).all().all()
    assert hh.battery_soc.isna().all()
    np.testing.assert_allclose(hh.net_injection_kw, hh.pv_kw - hh.base_load_kw, atol=1e-12)


def test_full_penetration_runs_with_every_device(tmp_path: Path) -> None:
    scenario = hourly(
        **{"penetration.pv": 1, "penetration.battery": 1, "penetration.ev": 1, "penetration.flexible_load": 1}
    )
    model = run_to_end(scenario, tmp_path)
    pop = model.population
    assert pop[["has_pv", "has_battery", "has_ev", "has_flexible_load"]].all().all()
    hh = pd.read_parquet(tmp_path / "households.parquet")
    assert (hh.ev_kw < 0).any() and (hh.battery_kw != 0).any() and (hh.appliance_kw < 0).any()
    iv = pd.read_parquet(tmp_path / "intervals.parquet")
    assert iv.converged.all()
    sessions = pd.read_parquet(tmp_path / "ev_sessions.parquet")
    assert len(sessions) >= 55 and set(sessions.household) == set(pop.household)


def test_owner_counts_are_exact_and_batteries_go_to_pv_owners_first() -> None:
    model = Model(
        hourly(**{"penetration.battery": 0.3, "penetration.ev": 0.5, "penetration.flexible_load": 0.2})
    )
    pop = model.population
    assert pop.has_battery.sum() == round(0.3 * 55)
    assert pop.has_ev.sum() == round(0.5 * 55)
    assert pop.has_flexible_load.sum() == round(0.2 * 55)
    assert pop[pop.has_battery].has_pv.all()  # 16 batteries, 33 PV owners
    three_phase = pop.ev_charger_kw > 7.4
    assert set(pop.ev_charger_kw[pop.has_ev]) <= {3.7, 7.4, 11.0} and three_phase.any()


def test_same_seed_same_population_and_devices_do_not_disturb_other_draws() -> None:
    a = Model(hourly(**{"penetration.ev": 0.5, "penetration.battery": 0.3}))
    b = Model(hourly(**{"penetration.ev": 0.5, "penetration.battery": 0.3}))
    pd.testing.assert_frame_equal(a.population, b.population)
    c = Model(hourly(**{"penetration.ev": 0.9, "penetration.battery": 0.3}))
    # common random numbers: more EVs leave base load, PV and batteries exactly as they were
    np.testing.assert_array_equal(a.load_kw, c.load_kw)
    np.testing.assert_array_equal(a.pv_kw, c.pv_kw)
    pd.testing.assert_series_equal(a.population.battery_capacity_kwh, c.population.battery_capacity_kwh)
    d = Model(hourly(**{"penetration.ev": 0.5, "penetration.battery": 0.3, "seed": 1}))
    assert not a.population.equals(d.population)


def test_three_phase_chargers_split_over_phases_single_phase_stay_on_theirs(tmp_path: Path) -> None:
    # fixed bidding: every car charges on arrival, so every charger is seen charging
    model = run_to_end(
        hourly(**{"penetration.ev": 1, "penetration.pv": 0, "bidding.mode": "fixed"}), tmp_path
    )
    hh = pd.read_parquet(tmp_path / "households.parquet")
    chargers = model.population.set_index("household").ev_charger_kw
    hh["three_phase"] = hh.household.map(chargers) > 7.4
    charging = hh[hh.ev_kw < 0]
    assert charging.three_phase.any() and (~charging.three_phase).any()
    for row in charging.itertuples():
        others = [p for p in "abc" if p != row.phase]
        own = getattr(row, f"net_injection_{row.phase}_kw")
        if row.three_phase:
            for p in others:
                assert getattr(row, f"net_injection_{p}_kw") == pytest.approx(row.ev_kw / 3)
            assert own == pytest.approx(row.net_injection_kw - 2 * row.ev_kw / 3)
        else:
            for p in others:
                assert getattr(row, f"net_injection_{p}_kw") == 0.0
            assert own == pytest.approx(row.net_injection_kw)


def test_appliance_window_without_a_feasible_interval_start_is_rejected() -> None:
    appliance = "[{name: washer, power_kw: 2, duration_minutes: 60, earliest_start_hour: 8.25, "
    appliance += "latest_finish_hour: 9.5}]"
    scenario = hourly(**{"penetration.flexible_load": 1, "flexible_load.appliances": appliance})
    with pytest.raises(ScenarioError, match="flexible_load.appliances.0.*washer.*60-minute boundary"):
        Model(scenario)


def test_device_tables_show_stays_and_cycles(tmp_path: Path) -> None:
    scenario = hourly(**{"penetration.ev": 0.5, "penetration.flexible_load": 0.5, "days": 2})
    run_to_end(scenario, tmp_path)
    sessions = pd.read_parquet(tmp_path / "ev_sessions.parquet")
    ended = sessions.dropna(subset=["unmet_kwh"])
    assert len(ended) > 0
    assert (ended.unmet_kwh[ended.feasible] < 1e-9).all()
    cycles = pd.read_parquet(tmp_path / "appliance_cycles.parquet")
    closed = cycles.dropna(subset=["shortfall_kwh"])
    assert len(closed) > 0 and (closed.shortfall_kwh.abs() < 1e-9).all()
    assert (closed.started >= closed.window_start).all()
    duration = closed.appliance.map({"washing_machine": 90, "dishwasher": 120})
    assert (closed.started + pd.to_timedelta(duration, unit="min") <= closed.window_end).all()


@pytest.mark.parametrize("charging", ["immediate", "deadline"])
def test_a_stay_that_began_before_the_run_starts_with_what_its_mode_charged_already(charging: str) -> None:
    model = Model(hourly(**{"penetration.ev": 1, "ev.charging": charging}))
    devices = [h.devices for h in model.households]
    for d in devices:
        first = d.ev.sessions[0]
        assert first.arrival_s < 0 < first.departure_s  # home at the first midnight
        before_h, after_h = -first.arrival_s / 3600, first.departure_s / 3600
        charger, need = d.ev.charger_kw, first.energy_needed_kwh
        if charging == "immediate":  # full power since arrival
            assert first.delivered_kwh == pytest.approx(min(need, charger * before_h))
        else:  # as late as the deadline allows: only what the hours after midnight cannot fit
            assert first.delivered_kwh == pytest.approx(max(need - charger * after_h, 0.0))
        assert all(s.delivered_kwh == 0 for s in d.ev.sessions[1:])
    # immediate charging from about 18:00 has finished most cars by midnight: no synchronised burst
    remaining = [d.ev.sessions[0].remaining_kwh for d in devices]
    if charging == "immediate":
        assert sum(r > 0 for r in remaining) < len(remaining) / 4
