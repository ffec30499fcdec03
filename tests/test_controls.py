"""DSO controls: inverter droops settle and remove overvoltage; phase switching lowers unbalance."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.grid import load_feeder, make_solver
from lemgrid.grid.controls import Droop, choose_phase_switches, solve_with_inverters
from tests.helpers import hourly, run_to_end

SUNNY = {
    "start": "2026-06-21",
    "weather.clear_day_probability": 1,
    "penetration.pv": 1,
    "pv.kwp": 7,
    "grid.solver": "power_grid_model",
}


def test_droop_is_piecewise_linear_and_flat_outside() -> None:
    volt_watt = Droop((1.06, 1.10), (1.0, 0.0))
    np.testing.assert_allclose(volt_watt(np.array([1.0, 1.06, 1.08, 1.10, 1.2])), [1.0, 1.0, 0.5, 0.0, 0.0])
    volt_var = Droop((0.92, 0.96, 1.04, 1.08), (0.44, 0.0, 0.0, -0.44))
    np.testing.assert_allclose(
        volt_var(np.array([0.9, 0.94, 1.0, 1.06, 1.1])), [0.44, 0.22, 0.0, -0.22, -0.44]
    )


@pytest.fixture(scope="module")
def sunny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    runs = {}
    for name, extra in {
        "none": {},
        "volt_watt": {"dso.volt_watt.enabled": "true"},
        "volt_var": {"dso.volt_var.enabled": "true"},
    }.items():
        out = tmp_path_factory.mktemp(name)
        model = run_to_end(hourly(**SUNNY, **extra), out)
        runs[name] = (model, out)
    return runs


def test_volt_watt_removes_an_overvoltage_that_exists_without_it(sunny_runs) -> None:
    plain, _ = sunny_runs["none"]
    controlled, out = sunny_runs["volt_watt"]
    assert plain.summary["intervals_with_voltage_violation"] >= 3
    assert max(plain.summary["vm_max_pu"].values()) > 1.12
    assert controlled.summary["intervals_with_voltage_violation"] == 0
    assert max(controlled.summary["vm_max_pu"].values()) <= 1.10
    assert controlled.summary["pv_curtailed_kwh"] > 0
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert (intervals.inverter_iterations < 30).all()  # every interval settled


def test_volt_var_lowers_the_peak_voltage(sunny_runs) -> None:
    plain, _ = sunny_runs["none"]
    controlled, out = sunny_runs["volt_var"]
    assert max(controlled.summary["vm_max_pu"].values()) < max(plain.summary["vm_max_pu"].values()) - 0.005
    hh = pd.read_parquet(out / "households.parquet")
    assert (hh.inverter_q_kvar < 0).any()  # absorbing at high voltage
    assert controlled.summary["pv_curtailed_kwh"] == 0


def test_curtailed_energy_is_settled_as_metered(sunny_runs) -> None:
    _, out = sunny_runs["volt_watt"]
    hh = pd.read_parquet(out / "households.parquet")
    delivered = hh.sold_local_kwh + hh.sold_retail_kwh - hh.bought_local_kwh - hh.bought_retail_kwh
    np.testing.assert_allclose(delivered, hh.net_injection_kw * 1.0, atol=1e-9)
    devices = hh.pv_kw + hh.battery_kw + hh.ev_kw + hh.appliance_kw - hh.base_load_kw
    np.testing.assert_allclose(hh.net_injection_kw, devices, atol=1e-9)
    assert (hh.pv_curtailed_kw > 0).any()


def test_settled_setpoints_sit_on_the_curves() -> None:
    feeder = load_feeder("ieee_european_lv")
    solver = make_solver("power_grid_model", feeder)
    n = len(feeder.households)
    phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    bus_pos = feeder.net.bus.index.get_indexer(feeder.households.bus)
    available = np.full(n, 6.0)
    kva = np.full(n, 6.3)
    p_other = np.zeros((n, 3))
    p_other[np.arange(n), phase] = -0.3
    volt_var = Droop((0.92, 0.96, 1.04, 1.08), (0.44, 0.0, 0.0, -0.44))
    volt_watt = Droop((1.06, 1.10), (1.0, 0.0))
    result = solve_with_inverters(
        solver, p_other, np.zeros((n, 3)), available, kva, bus_pos, phase, volt_var, volt_watt, 100, 1e-4
    )
    assert result.settled
    v = result.state.vm_pu[bus_pos, phase]
    expected_pv = np.minimum(available, volt_watt(v) * kva)
    np.testing.assert_allclose(result.pv_kw, expected_pv, atol=2e-4)
    room = np.sqrt(np.clip(kva**2 - expected_pv**2, 0, None))
    np.testing.assert_allclose(result.q_kvar, np.clip(volt_var(v) * kva, -room, room), atol=2e-4)
    assert (result.pv_kw < available).any()


def test_greedy_phase_switching_by_hand() -> None:
    # two 5 kW exporters on phase a, nothing on b and c: moving one to b evens a and b
    # (totals 5, 5, 0); moving the other to c would leave the spread at 5: it stays
    moves = choose_phase_switches(
        np.array([5.0, 5.0, 1.0]), np.array([0, 0, 1]), np.array([True, True, False]), 2
    )
    assert moves == [(0, 2)] or moves == [(0, 1)]
    # nothing switchable: nothing moves
    assert choose_phase_switches(np.array([5.0, 5.0]), np.array([0, 0]), np.array([False, False]), 3) == []


def test_phase_switching_lowers_unbalance_on_an_unbalanced_feeder(tmp_path: Path) -> None:
    common = {
        "feeder.phase_assignment": "unbalanced",
        "penetration.ev": 0.6,
        "ev.arrival_hour": 18,  # every car home at once: a strong evening unbalance
        "bidding.mode": "fixed",  # cars charge on arrival (with curves they wait for their cheapest hours)
        "interval_minutes": 30,
        "grid.solver": "power_grid_model",
    }
    plain = run_to_end(hourly(**common), tmp_path / "plain")
    switched = run_to_end(hourly(**common, **{"dso.phase_switching.enabled": "true"}), tmp_path / "switched")
    vuf_plain = np.array([r["vuf_max_percent"] for r in plain.interval_rows])
    vuf_switched = np.array([r["vuf_max_percent"] for r in switched.interval_rows])
    assert vuf_switched.max() < vuf_plain.max() - 0.5
    assert vuf_switched.mean() < vuf_plain.mean()
    moved = sum(r["n_phase_switches"] for r in switched.interval_rows)
    assert moved > 0
    hh = pd.read_parquet(tmp_path / "switched" / "households.parquet")
    assert (hh.groupby("household").phase.nunique() > 1).sum() > 0  # recorded per interval
    switchable = switched.population.phase_switchable
    assert switchable.sum() == round(0.2 * 55)
    changed = hh.groupby("household").phase.nunique() > 1
    assert set(changed[changed].index) <= set(switched.population.household[switchable])
