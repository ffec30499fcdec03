"""The impact studies: every study file is valid, and each analysis against a hand computation."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.experiments.analyses import (
    ANALYSES,
    hosting_capacity,
    loss_allocation,
    self_consumption_voltage,
    unbalance_distribution,
)
from lemgrid.experiments.cli import main
from lemgrid.experiments.experiment import Experiment, ExperimentError, expand, load_experiment
from lemgrid.experiments.report import load_runs, write_report
from lemgrid.experiments.shared import mean_ci_text
from lemgrid.experiments.sweep import sweep
from lemgrid.model.scenario import Scenario

STUDIES = sorted(
    (Path(__file__).parents[1] / "experiments" / "studies").glob("*.yaml"),
    key=lambda p: int(p.name.split("_")[0]),
)


def test_there_are_thirteen_studies() -> None:
    assert [p.name.split("_")[0] for p in STUDIES] == [str(i) for i in range(1, 14)]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_study_expands_into_valid_runs_and_says_how_to_run_it_at_full_size(
    path: Path, tmp_path: Path
) -> None:
    experiment, base = load_experiment(path)
    runs = expand(experiment, base, tmp_path)
    assert len(runs) >= 2 * len(experiment.seed_list)
    assert experiment.metrics and f"lemgrid sweep experiments/studies/{path.name}" in experiment.description
    assert experiment.name == f"study_{path.stem}"


def test_seeds_and_base_overrides_scale_a_study_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = STUDIES[4]  # constraint methods: 4 modes x 3 seeds
    experiment, base = load_experiment(path, ["days=5", "penetration.ev=0.2"], seeds=4)
    runs = expand(experiment, base, tmp_path)
    assert len(runs) == 4 * 4 and {r.seed for r in runs} == {0, 1, 2, 3}
    assert {r.scenario.days for r in runs} == {5} and {r.scenario.penetration.ev for r in runs} == {0.2}
    assert experiment.base["days"] == 5 and experiment.base["penetration.ev"] == 0.2  # recorded
    with pytest.raises(ExperimentError, match="'market.constraint_mode' is swept"):
        load_experiment(path, ["market.constraint_mode=opf"])
    args = ["sweep", str(path), "--dry-run", "--results", str(tmp_path / "r")]
    assert main([*args, "--seeds", "2", "--set", "days=2"]) == 0
    assert "8 runs in" in capsys.readouterr().out
    assert main([*args, "--set", "days=0"]) == 2
    assert "'days' = 0" in capsys.readouterr().err


def _experiment(**fields: object) -> Experiment:
    return Experiment.model_validate({"name": "t", **fields})


def test_hosting_capacity_is_the_level_below_the_first_violation_per_seed() -> None:
    experiment = _experiment(
        axes={"penetration.pv": [0.2, 0.4, 0.6], "market.pricing": ["uniform", "zonal"]}, seeds=2
    )
    # violations (voltage, thermal) per (pricing, seed) at 0.2, 0.4, 0.6
    table = {
        ("uniform", 0): [(0, 0), (3, 0), (5, 1)],  # first at 0.4 -> 0.2
        ("uniform", 1): [(0, 0), (0, 0), (0, 2)],  # thermal first at 0.6 -> 0.4
        ("zonal", 0): [(1, 0), (2, 0), (4, 0)],  # already at 0.2 -> 0
        ("zonal", 1): [(0, 0), (0, 0), (0, 0)],  # never -> 0.6, censored
    }
    rows = [
        {
            "penetration.pv": pv,
            "market.pricing": pricing,
            "seed": seed,
            "status": "done",
            "intervals_with_voltage_violation": v,
            "min_overvoltage_headroom_pu": -0.01 if v else 0.02,
            "congested_hours": h,
        }
        for (pricing, seed), levels in table.items()
        for pv, (v, h) in zip((0.2, 0.4, 0.6), levels, strict=True)
    ]
    result = hosting_capacity(Path("."), pd.DataFrame(rows), experiment).table.set_index("design")
    uniform = result.loc["uniform"]
    # mean of 0.2 and 0.4 with a t interval over two seeds: 12.706 * 0.1 / 1
    assert uniform["hosting capacity (share of households with PV)"] == "0.3 ± 1.3"
    assert uniform["first limit violated"] in ("overvoltage (1), thermal (1)", "thermal (1), overvoltage (1)")
    zonal = result.loc["zonal"]
    assert zonal["hosting capacity (share of households with PV)"] == "0.3 ± 3.8"
    assert zonal["seeds without a violation up to the highest level"] == 1
    # paired by seed against uniform: 0 - 0.2 and 0.6 - 0.4
    mean, half = zonal["difference to the reference"].split(" ± ")
    assert zonal["reference"] == "uniform" and float(mean) == pytest.approx(0, abs=1e-12) and half == "2.5"
    assert uniform["difference to the reference"] == "(reference)"
    with pytest.raises(ValueError, match="needs 'penetration.pv' as an axis"):
        hosting_capacity(Path("."), pd.DataFrame(rows), _experiment(axes={"market.pricing": ["uniform"]}))


def _run_folder(root: Path, name: str, tables: dict[str, pd.DataFrame], **scenario: object) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    for table, frame in tables.items():
        frame.to_parquet(folder / f"{table}.parquet")
    (folder / "scenario.json").write_text(Scenario.model_validate(scenario).model_dump_json())
    return name


def test_unbalance_distribution_percentiles_per_seed(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    runs = []
    seeds_vuf = {}
    for seed in (0, 1, 2):
        vuf = rng.uniform(0, 3, 200)
        seeds_vuf[seed] = vuf
        intervals = pd.DataFrame({"vuf_max_percent": vuf, "pvur_max_percent": 2 * vuf})
        folder = _run_folder(tmp_path, f"s{seed}", {"intervals": intervals})
        runs.append({"combination": "base", "seed": seed, "folder": folder, "status": "done"})
    row = unbalance_distribution(tmp_path, pd.DataFrame(runs), _experiment()).table.iloc[0]
    p95 = [np.percentile(v, 95) for v in seeds_vuf.values()]
    # the mean over seeds, rounded to what its CI supports
    assert row["VUF p95 (%)"] == mean_ci_text(p95) and " ± " in row["VUF p95 (%)"]
    over = [(v > 2).mean() for v in seeds_vuf.values()]
    assert row["intervals with VUF > 2 %"] == mean_ci_text(over)
    assert row["PVUR p95 (%)"] == mean_ci_text(2 * np.array(p95))


def test_self_consumption_against_minutes_outside_limits_by_hand(tmp_path: Path) -> None:
    # two hourly intervals, three households; C has no PV and is left out
    hh = pd.DataFrame(
        {
            "household": ["A", "B", "C", "A", "B", "C"],
            "pv_kw": [4.0, 2.0, 0.0, 4.0, 2.0, 0.0],
            "net_injection_kw": [3.0, 0.5, -1.0, 1.0, -0.5, -1.0],
            "vm_pu": [1.12, 1.05, 1.12, 1.11, 1.0, 1.0],
        }
    )
    folder = _run_folder(tmp_path, "run", {"households": hh}, interval_minutes=60)
    runs = pd.DataFrame([{"combination": "base", "seed": 0, "folder": folder, "status": "done"}])
    row = self_consumption_voltage(tmp_path, runs, _experiment()).table.iloc[0]
    # A: 1 - 4/8 = 0.5 with 120 minutes above 1.10; B: 1 - 0.5/4 = 0.875 with none
    assert row["self-consumption of PV owners"] == f"{(0.5 + 0.875) / 2:.4g}"
    assert row["minutes outside limits per PV owner"] == "60"
    assert row["PV owners ever outside limits"] == "0.5"
    assert row["Spearman rho (self-consumption, minutes outside)"] == "-1"


TINY_LOSSES = """
name: tiny_losses
description: loss allocation methods, one day at 4-hour intervals
base:
  interval_minutes: 240
  grid: {solver: power_grid_model}
  output: {bus_voltages: none}
axes:
  market.loss_allocation: [pro_rata, proportional_sharing]
seeds: [1, 2]
baseline: {market.loss_allocation: pro_rata}
metrics: [losses_kwh]
analyses: [loss_allocation]
"""


def test_loss_allocation_analysis_conserves_the_measured_losses(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(TINY_LOSSES)
    experiment, base = load_experiment(path)
    results = tmp_path / "results"
    sweep(experiment, expand(experiment, base, results), results, workers=2)
    _, runs = load_runs(results)
    table = loss_allocation(results, runs, experiment).table.set_index("combination")
    for combination, row in table.iterrows():
        gap = float(row["allocated - measured losses (kWh)"].split(" ± ")[0])
        assert abs(gap) < 1e-6, combination
        far = float(row["share to the farthest third"].split(" ± ")[0])
        assert 0 < far < 1
    # pro rata shares by metered energy whatever the distance; tracing charges the far end more
    far_share = {c: float(r["share to the farthest third"].split(" ± ")[0]) for c, r in table.iterrows()}
    assert far_share["proportional_sharing"] != far_share["pro_rata"]
    report = write_report(results)
    assert "Who carries the losses" in report.read_text()
    assert "## Who carries the losses" in (results / "findings.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_study_runs_and_reports_at_a_tiny_size(path: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    tiny = ["--seeds", "2", "--set", "days=1", "--set", "interval_minutes=60", "--workers", "2"]
    assert main(["sweep", str(path), "--results", str(results), "--report", *tiny]) == 0
    experiment, runs = load_runs(results)
    assert (runs.status == "done").all() and len(runs) == 2 * len(experiment.combinations())
    findings = (results / "findings.md").read_text()
    for metric in experiment.metrics:
        assert f"(`{metric}`)" in findings
    for name in experiment.analyses:
        assert f"## {ANALYSES[name](results, runs, experiment).title}" in findings
