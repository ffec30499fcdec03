"""Ready-made feeders, phase assignment rules and a user's own feeder."""

from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from lemgrid.experiments.cli import main
from lemgrid.grid import FEEDERS, load_feeder
from lemgrid.grid.feeders import feeder_from_files
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
    with pytest.raises(ScenarioError, match="needs both file"):
        hourly(**{"feeder.name": "custom"})
    with pytest.raises(ScenarioError, match="'feeder.file' = '/nonexistent.json': no such file"):
        hourly(**{"feeder.name": "custom", "feeder.file": "/nonexistent.json", "feeder.households_file": csv})
    with pytest.raises(ScenarioError, match="only for name 'custom'"):
        hourly(**{"feeder.households_file": csv})
