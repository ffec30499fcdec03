"""Ready-made feeders, phase assignment rules and a user's own feeder."""

from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from lemgrid.experiments.cli import main
from lemgrid.grid import FEEDERS, load_feeder
from lemgrid.grid.feeders import R0_PER_R1, X0_PER_X1, _kerber, feeder_from_files, make_three_phase
from lemgrid.model import Model, ScenarioError
from tests.helpers import hourly, run_to_end


@pytest.mark.parametrize("name", sorted(FEEDERS))
def test_every_feeder_runs_a_day_in_the_model(name: str, tmp_path: Path) -> None:
    model = run_to_end(hourly(**{"feeder.name": name, "grid.solver": "power_grid_model"}))
    assert model.summary is not None and model.summary["intervals_not_converged"] == 0
    assert len(model.population) == len(load_feeder(name).households)


def test_feeders_command_lists_every_feeder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeders"]) == 0
    out = capsys.readouterr().out
    for name in FEEDERS:
        assert name in out
    assert "146" in out and "630" in out  # kerber_vorstadtnetz: households, kVA


@pytest.mark.parametrize(
    ("rule", "shares"), [("round_robin", (1 / 3, 1 / 3, 1 / 3)), ("unbalanced", (0.6, 0.3, 0.1))]
)
def test_phase_assignment_rules(rule: str, shares: tuple[float, float, float]) -> None:
    pop = Model(hourly(**{"feeder.name": "kerber_vorstadtnetz", "feeder.phase_assignment": rule})).population
    counts = pop.phase.value_counts(normalize=True)
    for phase, share in zip("abc", shares, strict=True):
        assert counts[phase] == pytest.approx(share, abs=0.1)
    if rule == "round_robin":
        assert list(pop.phase[:6]) == list("abcabc")
    again = Model(
        hourly(**{"feeder.name": "kerber_vorstadtnetz", "feeder.phase_assignment": rule})
    ).population
    assert list(again.phase) == list(pop.phase)


def test_ieee_feeder_keeps_its_data_phases_by_default() -> None:
    pop = Model(hourly()).population
    assert list(pop.phase) == list(load_feeder("ieee_european_lv").households.phase)


def write_custom(tmp_path: Path, rows: str) -> tuple[str, str]:
    feeder = load_feeder("kerber_landnetz")
    net_file = tmp_path / "net.json"
    pp.to_json(feeder.net, str(net_file))
    csv = tmp_path / "households.csv"
    csv.write_text("household,bus,phase\n" + rows)
    return str(net_file), str(csv)


def test_a_users_own_feeder_runs(tmp_path: Path) -> None:
    feeder = load_feeder("kerber_landnetz")
    rows = "".join(f"home{i},{bus},{'abc'[i % 3]}\n" for i, bus in enumerate(feeder.households.bus))
    net_file, csv = write_custom(tmp_path, rows)
    scenario = hourly(**{"feeder.name": "custom", "feeder.file": net_file, "feeder.households_file": csv})
    model = Model(scenario)
    model.step()
    assert model.last_grid is not None and model.last_grid.converged
    assert list(model.population.household[:2]) == ["home0", "home1"]
    # same net, same households: the same physics as the ready-made feeder
    reference = Model(hourly(**{"feeder.name": "kerber_landnetz"}))
    reference.step()
    np.testing.assert_allclose(model.last_grid.vm_pu, reference.last_grid.vm_pu, atol=1e-12)


def test_bad_custom_feeders_are_explained(tmp_path: Path) -> None:
    net_file, csv = write_custom(tmp_path, "h1,999,a\n")
    with pytest.raises(ValueError, match=r"buses \[999\] are not in the net"):
        feeder_from_files(net_file, csv)
    net_file, csv = write_custom(tmp_path, "h1,3,x\n")
    with pytest.raises(ValueError, match=r"phases \['x'\] not in a, b, c"):
        feeder_from_files(net_file, csv)
    symmetric = pp.networks.create_kerber_landnetz_kabel_1()
    pp.to_json(symmetric, str(tmp_path / "sym.json"))
    with pytest.raises(ValueError, match="lacks three-phase columns"):
        feeder_from_files(str(tmp_path / "sym.json"), csv)
    with pytest.raises(ScenarioError, match="needs file"):
        hourly(**{"feeder.name": "custom"})
    with pytest.raises(ScenarioError, match="'feeder.file' = '/nonexistent.json': no such file"):
        hourly(**{"feeder.name": "custom", "feeder.file": "/nonexistent.json", "feeder.households_file": csv})
    with pytest.raises(ScenarioError, match="only for name 'custom'"):
        hourly(**{"feeder.households_file": csv})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FEEDERS))
def test_a_day_on_every_feeder_agrees_between_the_two_solvers(name: str, tmp_path: Path) -> None:
    """One day (hourly, EVs and batteries on) with runpp_3ph and power-grid-model: same physics."""
    devices = {"feeder.name": name, "penetration.ev": 0.5, "penetration.battery": 0.3}
    ref = run_to_end(hourly(**devices), tmp_path / "pp")
    fast = run_to_end(hourly(**devices, **{"grid.solver": "power_grid_model"}), tmp_path / "pgm")
    for model in (ref, fast):
        assert model.summary is not None and model.summary["intervals_not_converged"] == 0
    a = pd.read_parquet(tmp_path / "pp" / "intervals.parquet")
    b = pd.read_parquet(tmp_path / "pgm" / "intervals.parquet")
    assert a.line_loading_max_percent.max() > 1.0  # the day really loads the feeder
    for col in [f"vm_{m}_{p}_pu" for m in ("min", "max") for p in "abc"]:
        np.testing.assert_allclose(b[col], a[col], rtol=0, atol=1e-4, err_msg=col)
    for col in ["line_loading_max_percent", *(f"trafo_loading_{p}_percent" for p in "abc")]:
        np.testing.assert_allclose(b[col], a[col], rtol=0, atol=0.05, err_msg=col)
    np.testing.assert_allclose(b.losses_kw, a.losses_kw, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(b.feeder_import_kw, a.feeder_import_kw, rtol=0, atol=0.05)


def test_a_balanced_net_runs_with_one_option_and_one_household_per_load(tmp_path: Path) -> None:
    """CIGRE LV as a user would bring it: balanced data, no households CSV, ``three_phase: derive``."""
    cigre = pp.networks.create_cigre_network_lv()
    pp.to_json(cigre, str(tmp_path / "cigre.json"))
    scenario = hourly(
        **{"feeder.name": "custom", "feeder.file": tmp_path / "cigre.json", "feeder.three_phase": "derive"}
    )
    model = Model(scenario)
    model.step()
    assert model.last_grid is not None and model.last_grid.converged
    # one household per load, on the load's bus, phases a, b, c in turn
    assert list(model.population.bus) == list(cigre.load.bus)
    assert "".join(model.population.phase[:6]) == "abcabc"
    # the same physics as the shipped feeder built from the same data
    reference = Model(hourly(**{"feeder.name": "cigre_lv"}))
    reference.step()
    np.testing.assert_allclose(model.last_grid.vm_pu, reference.last_grid.vm_pu, atol=1e-12)


def test_make_three_phase_derives_the_documented_zero_sequence_data() -> None:
    net = pp.networks.create_cigre_network_lv()  # no vector_group column, no zero-sequence data
    assert "vector_group" not in net.trafo
    make_three_phase(net)
    assert list(net.trafo.vector_group) == ["Dyn"] * 3
    assert list(net.trafo.shift_degree) == [30.0] * 3  # Dyn1 stays Dyn1: the clock is in shift_degree
    np.testing.assert_array_equal(net.line.r0_ohm_per_km, 4.0 * net.line.r_ohm_per_km)
    np.testing.assert_array_equal(net.line.x0_ohm_per_km, 1.2 * net.line.x_ohm_per_km)
    assert (R0_PER_R1, X0_PER_X1) == (4.0, 1.2)
    np.testing.assert_array_equal(net.trafo.vk0_percent, net.trafo.vk_percent)
    named = pp.networks.create_kerber_landnetz_kabel_1()
    named.trafo["vector_group"] = "Yzn5"
    make_three_phase(named)
    assert list(named.trafo.vector_group) == ["Yzn"]  # a given group keeps its letters


@pytest.mark.slow
def test_the_shipped_simbench_grids_are_what_simbench_converts_to() -> None:
    """grid/data/*.json are regenerated by ``python -m lemgrid.grid.simbench``; a stale file fails here."""
    from lemgrid.grid.simbench import DATA, SIMBENCH_CODES, convert

    for name, code in SIMBENCH_CODES.items():
        shipped = pp.from_json(str(DATA / f"{name}.json"))
        fresh = convert(code)
        for table in ("bus", "line", "trafo", "load", "ext_grid"):
            a, b = (f[table].astype(object).where(f[table].notna(), None) for f in (shipped, fresh))
            pd.testing.assert_frame_equal(a, b, check_dtype=False, check_like=True, obj=f"{name}.{table}")


def test_kerber_cable_types_do_not_depend_on_the_global_random_state() -> None:
    """pandapower draws the house connections' cable types from Python's unseeded ``random``."""
    import random

    random.seed(1)
    first = _kerber(pp.networks.create_kerber_dorfnetz).line
    random.seed(2)
    state = random.getstate()
    second = _kerber(pp.networks.create_kerber_dorfnetz).line
    assert random.getstate() == state  # the caller's draws are left alone
    pd.testing.assert_frame_equal(first, second)
    assert first.std_type.nunique() == 3  # the main cable and both house-connection types
