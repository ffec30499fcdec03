"""The lemgrid command: help, scenario printing, errors, and a real run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lemgrid.experiments.cli import main
from lemgrid.model import Scenario


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lemgrid.experiments.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "run" in out.stdout and "scenario" in out.stdout


def test_scenario_prints_yaml_that_loads_back(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["scenario", "--set", "seed=7", "--set", "penetration.pv=0.3"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert Scenario.load(path) == Scenario.load(
        None, ["seed=7", "penetration.pv=0.3", "grid.solver=power_grid_model"]
    )
    assert yaml.safe_load(text)["seed"] == 7


def test_runs_and_sweeps_solve_with_power_grid_model_unless_the_scenario_names_a_solver(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def solver(*args: str) -> str:
        assert main(["scenario", *args]) == 0
        return yaml.safe_load(capsys.readouterr().out)["grid"]["solver"]

    assert Scenario().grid.solver == "pandapower"  # the library's default stays the reference
    assert solver() == "power_grid_model"
    assert solver("--set", "grid.v_min_pu=0.92") == "power_grid_model"
    assert solver("--set", "grid.solver=pandapower") == "pandapower"
    (tmp_path / "s.yaml").write_text("grid: {solver: pandapower}\n")
    assert solver("--scenario", str(tmp_path / "s.yaml")) == "pandapower"
    experiment = tmp_path / "e.yaml"
    experiment.write_text(
        "name: e\nbase: {days: 1}\naxes: {grid.solver: [pandapower, power_grid_model]}\nseeds: [3]\n"
    )
    assert main(["sweep", str(experiment), "--dry-run", "--results", str(tmp_path / "r")]) == 0
    listed = capsys.readouterr().out
    for named in ("pandapower", "power_grid_model"):  # an axis naming the solver keeps it
        assert Scenario.load(None, ["name=e", "seed=3", f"grid.solver={named}"]).run_id() in listed
    experiment.write_text("name: e\nbase: {days: 1}\naxes: {pv.kwp: [3]}\nseeds: [3]\n")
    assert main(["sweep", str(experiment), "--dry-run", "--results", str(tmp_path / "r")]) == 0
    fast = Scenario.load(None, ["name=e", "seed=3", "pv.kwp=3", "grid.solver=power_grid_model"])
    assert fast.run_id() in capsys.readouterr().out


def test_bad_value_exits_2_with_the_field_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--set", "pv.kwp=-1"]) == 2
    err = capsys.readouterr().err
    assert "'pv.kwp' = -1" in err


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--scenario", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read scenario file" in capsys.readouterr().err


def test_run_writes_results_and_prints_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code = main(["run", "--set", "interval_minutes=120", "--set", "seed=3", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"results: {out.resolve()}" in printed
    assert "max VUF / PVUR / LVUR" in printed
    summary = json.loads((out / "summary.json").read_text())
    minutes = f"{summary['customer_minutes_outside_limits']:.0f}"
    assert any(line.split()[-1] == minutes for line in printed.splitlines() if "customer-minutes" in line)
    assert summary["intervals"] == 12
    assert f"{summary['pv_kwh']:.1f} kWh" in printed
    dso = next(line for line in printed.splitlines() if "DSO network fees" in line)
    assert dso.endswith("0.00 EUR (0.0%)")  # no tariff by default


def test_an_interrupted_run_keeps_what_it_computed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from lemgrid.model import Model

    real_step = Model.step
    calls = {"n": 0}

    def step_then_ctrl_c(self: Model) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real_step(self)

    monkeypatch.setattr(Model, "step", step_then_ctrl_c)
    out = tmp_path / "cut"
    assert main(["run", "--set", "interval_minutes=120", "--out", str(out), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert list(intervals.interval) == [0, 1, 2]
    assert json.loads((out / "summary.json").read_text())["intervals"] == 3
    assert not list(out.glob("*.tmp"))
