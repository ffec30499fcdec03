"""Experiment files, sweeps (local pool and a real Dask LocalCluster), resume, failures and the report."""

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from lemgrid.experiments.cli import main
from lemgrid.experiments.experiment import ExperimentError, expand, load_experiment
from lemgrid.experiments.report import (
    METRICS,
    findings,
    headlines,
    load_runs,
    paired_differences,
    write_images,
)
from lemgrid.experiments.shared import colour, difference_text, is_noise, mean_ci_text
from lemgrid.experiments.sweep import _task, execute, sweep
from lemgrid.viz.serve import find_chromium
from tests.helpers import TINY_EXPERIMENT, write_file


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    """runs.parquet without what legitimately differs between executions (durations)."""
    return table.drop(columns=["duration_s"]).sort_values("folder").reset_index(drop=True)


def test_expansion_crosses_axes_zips_and_seeds(tmp_path: Path) -> None:
    path = write_file(
        tmp_path,
        TINY_EXPERIMENT.replace(
            "seeds: [1, 2]",
            "zip:\n  penetration.pv: [0.2, 0.8]\n  pv.kwp: [3, 6]\nseeds: 3",
        ),
    )
    experiment, base = load_experiment(path)
    runs = expand(experiment, base, tmp_path / "results")
    assert len(runs) == 2 * 2 * 3  # pricing x (pv, kwp) pairs x seeds
    assert {(r.params["penetration.pv"], r.params["pv.kwp"]) for r in runs} == {(0.2, 3), (0.8, 6)}
    assert {r.seed for r in runs} == {0, 1, 2}
    one = runs[0]
    assert one.scenario.interval_minutes == 240 and one.scenario.market.pricing == "uniform"
    assert (
        one.folder
        == tmp_path / "results" / "market.pricing=uniform" / "penetration.pv=0.2" / "pv.kwp=3" / "seed=0"
    )
    assert len({r.run_id for r in runs}) == len(runs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("market.pricing: [uniform, zonal]", "market.pricing: [uniform, nodal]"),
            r"run market.pricing='nodal'.*'market.pricing' = 'nodal'",
        ),
        (
            ("market.pricing: [uniform, zonal]", "market.pricing: [uniform, zonal]\n  market.colour: [red]"),
            r"run market.pricing='uniform', market.colour='red'.*'market.colour' = 'red': unknown field",
        ),
        (("seeds: [1, 2]", "seeds: [1, 2]\nzip: {penetration.pv: [0.1, 0.2], pv.kwp: [3]}"), "equal lengths"),
        (
            ("baseline: {market.pricing: uniform}", "baseline: {market.pricing: flat}"),
            "baseline market.pricing='flat'",
        ),
        (("name: tiny", "name: tiny\ncolour: blue"), "experiment field 'colour'"),
        (
            (
                "axes:\n  market.pricing: [uniform, zonal]",
                "zip:\n  market.pricing: [uniform, heterogeneous]\n  market.mechanism: [pay_as_clear, p2p]",
            ),
            "name every zipped key in the baseline",
        ),
        (("seeds: [1, 2]", "seeds: 0"), "experiment field 'seeds'"),
    ],
)
def test_invalid_experiment_files_are_rejected_before_anything_runs(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write_file(tmp_path, TINY_EXPERIMENT.replace(*change))
    with pytest.raises(ExperimentError, match=message):
        experiment, base = load_experiment(path)
        expand(experiment, base, tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_cli_reports_a_bad_file_and_lists_runs_in_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_file(tmp_path, TINY_EXPERIMENT.replace("[uniform, zonal]", "[uniform, nodal]"), "bad.yaml")
    assert main(["sweep", str(bad), "--results", str(tmp_path / "r")]) == 2
    assert "market.pricing='nodal'" in capsys.readouterr().err
    good = write_file(tmp_path, TINY_EXPERIMENT)
    assert main(["sweep", str(good), "--results", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("to run") == 4 and "4 runs in" in out
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("local")
    experiment, base = load_experiment(write_file(root, TINY_EXPERIMENT))
    results = root / "results"
    table = sweep(experiment, expand(experiment, base, results), results, workers=2)
    return results, table


def test_local_sweep_records_every_run(local_sweep: tuple[Path, pd.DataFrame]) -> None:
    results, table = local_sweep
    assert len(table) == 4 and (table.status == "done").all()
    assert sorted(table["market.pricing"]) == ["uniform", "uniform", "zonal", "zonal"]
    assert set(table.seed) == {1, 2}
    for row in table.itertuples():
        folder = results / row.folder
        assert json.loads((folder / "run.json").read_text())["run_id"] == row.run_id
        assert json.loads((folder / "summary.json").read_text())["run_id"] == row.run_id
        assert (folder / "intervals.parquet").exists() and not list(folder.glob("*.tmp"))
    assert not list(results.rglob("*.partial"))
    # queryable with DuckDB, as the README shows
    import duckdb

    counts = duckdb.sql(
        f"select \"market.pricing\", count(*) from '{results / 'runs.parquet'}' group by 1 order by 1"
    ).fetchall()
    assert counts == [("uniform", 2), ("zonal", 2)]


def test_a_dask_local_cluster_gives_the_same_runs(
    local_sweep: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    from distributed import LocalCluster

    _, local_table = local_sweep
    experiment, base = load_experiment(write_file(tmp_path, TINY_EXPERIMENT))
    results = tmp_path / "results"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        table = sweep(
            experiment, expand(experiment, base, results), results, scheduler=cluster.scheduler_address
        )
    pd.testing.assert_frame_equal(_comparable(table), _comparable(local_table))
    hosts = {json.loads((results / f / "run.json").read_text())["host"] for f in table.folder}
    assert hosts  # every run says where it ran


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path: Path) -> None:
    text = TINY_EXPERIMENT.replace(
        "axes:\n  market.pricing: [uniform, zonal]",
        "axes:\n  grid.max_iterations: [1, 30]\n  grid.on_nonconvergence: [abort]",
    ).replace("baseline: {market.pricing: uniform}", "")
    experiment, base = load_experiment(write_file(tmp_path, text))
    results = tmp_path / "results"
    table = sweep(experiment, expand(experiment, base, results), results, workers=2)
    failed = table[table.status == "failed"]
    assert len(table) == 4 and len(failed) == 2
    assert (failed["grid.max_iterations"] == 1).all()
    assert failed.error.str.contains("PowerFlowError").all() and failed.error.str.contains("Traceback").all()
    assert (table[table.status == "done"]["grid.max_iterations"] == 30).all()
    # a second sweep retries only the failed runs
    done_before = {
        f: (results / f / "run.json").stat().st_mtime_ns for f in table[table.status == "done"].folder
    }
    sweep(experiment, expand(experiment, base, results), results, workers=2)
    assert done_before == {f: (results / f / "run.json").stat().st_mtime_ns for f in done_before}


@pytest.mark.slow  # over 20 s; runs in make test-slow
def test_a_killed_sweep_resumes_without_redoing_finished_runs(tmp_path: Path) -> None:
    text = TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: [1, 2, 3]").replace(
        "interval_minutes: 240", "interval_minutes: 60"
    )
    path = write_file(tmp_path, text)
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lemgrid.experiments.cli",
            "sweep",
            str(path),
            "--results",
            str(results),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if len(list(results.rglob("run.json"))) >= 2:
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-run
        proc.wait()
    finished = {p.parent: p.stat().st_mtime_ns for p in results.rglob("run.json")}
    assert 2 <= len(finished) < 6, "the sweep was not killed part-way"
    experiment, base = load_experiment(path)
    runs = expand(experiment, base, results)
    log = tmp_path / "log.txt"
    with log.open("w") as stream:
        table = sweep(experiment, runs, results, workers=2, progress=stream)
    assert len(table) == 6 and (table.status == "done").all()
    assert f"{len(finished)} already finished" in log.read_text()
    assert {p: (p / "run.json").stat().st_mtime_ns for p in finished} == finished  # untouched
    assert not list(results.rglob("*.partial"))
    lines = log.read_text().splitlines()  # a log gets whole lines, no terminal control codes
    assert all("\r" not in line and "\x1b" not in line for line in lines)
    assert lines[-1].startswith("[6/6] done")


def test_report_leads_with_findings_and_keeps_few_figures_open(
    local_sweep: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    results, table = local_sweep
    assert main(["report", str(results)]) == 0
    assert "report:" in capsys.readouterr().out
    page = (results / "report.html").read_text()
    # the findings come first: the headline table before any figure
    assert page.index("<h2>Findings</h2>") < page.index("Plotly.newPlot")
    assert "zonal vs uniform" in page
    folded = sum(p.split("</details>")[0].count("Plotly.newPlot") for p in page.split("<details>")[1:])
    assert page.count("Plotly.newPlot") - folded <= 15  # open figures
    for label in METRICS.values():  # in the figures' JSON, "/" is written "\u002f"
        assert label in page or label.replace("/", "\\u002f") in page, label
    assert "2 combinations x 2 seeds" in page and "4 runs recorded, 4 finished, 0 failed" in page
    assert "feeder map" in page and "difference maps" in page and "a typical day" in page
    assert "<script src=" not in page and "<script type='text/javascript'>/**" in page  # plotly.js inlined
    # paired differences by hand: zonal minus uniform, seed by seed, and the t interval over two seeds
    _, runs = load_runs(results)
    diff = paired_differences(runs, "household_bills_eur")
    by_seed = table.pivot(index="seed", columns="market.pricing", values="household_bills_eur")
    d = by_seed.zonal - by_seed.uniform
    assert diff.mean_difference.iloc[0] == pytest.approx(d.mean())
    assert diff.ci95.iloc[0] == pytest.approx(12.706 * abs(d.iloc[0] - d.iloc[1]) / 2, rel=1e-3)
    assert diff.reference.iloc[0] == "uniform" and diff.seeds.iloc[0] == 2
    findings = (results / "findings.md").read_text()
    assert findings.index("## Findings") < findings.index("## Headline metrics")
    assert f"| zonal | 2 | {mean_ci_text(by_seed.zonal)} |" in findings
    assert difference_text(d.mean(), diff.ci95.iloc[0], runs.household_bills_eur.abs().max()) in findings
    assert "**zonal**: `market.pricing=zonal`" in findings


needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="needs Chromium: bash .ci/install-browser (CI runs it)"
)


@needs_chromium
@pytest.mark.slow
def test_a_figure_is_drawn_to_png_at_its_size_and_scale(tmp_path: Path) -> None:
    from PIL import Image

    # two red bars of 1 and 2 on a 0-2 axis filling a 400 x 200 image: 100 and 200 pixels high
    fig = go.Figure(
        go.Bar(x=[0, 1], y=[1, 2], width=0.5, marker={"color": "rgb(255,0,0)", "line": {"width": 0}}),
        layout={
            "height": 200,
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "xaxis": {"visible": False, "range": [-0.5, 1.5]},
            "yaxis": {"visible": False, "range": [0, 2]},
            "plot_bgcolor": "white",
        },
    )
    [path] = write_images([("bars", fig)], tmp_path / "png", width=400)
    assert path == tmp_path / "png" / "bars.png"
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (400, 200)
    red = np.all(np.asarray(image.convert("RGB")) == (255, 0, 0), axis=2)
    columns = np.flatnonzero(red.any(axis=0))
    left, right = columns[columns < 200], columns[columns >= 200]
    assert len(left) == pytest.approx(100, abs=2) and len(right) == pytest.approx(100, abs=2)  # 0.5 of 1
    assert red[:, left].sum(axis=0).max() == pytest.approx(100, abs=1)
    assert red[:, right].sum(axis=0).max() == pytest.approx(200, abs=1)


@needs_chromium
@pytest.mark.slow
def test_report_writes_the_headline_figure_as_png(
    local_sweep: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    results, _ = local_sweep
    assert main(["report", str(results), "--out", str(tmp_path / "report.html"), "--png", str(tmp_path)]) == 0
    assert f"figures: {tmp_path.resolve()}" in capsys.readouterr().out
    image = Image.open(tmp_path / "headline.png")
    width, height = image.size
    assert width == 900 and height > 0 and height % 300 == 0  # 300 pixels a row of two metrics
    # the bars are drawn in the report's first colour
    bar = tuple(int(colour(0)[i : i + 2], 16) for i in (1, 3, 5))
    assert np.all(np.asarray(image.convert("RGB")) == bar, axis=2).sum() > 100


def test_a_difference_below_numerical_noise_is_stated_as_identical() -> None:
    assert difference_text(2.4e-14, 3.7e-14, 0.19) == "no difference (identical results)"
    assert difference_text(2.416e-14, 3.7e-14, 200.0) == "no difference (identical results)"
    assert is_noise(0.0, 0.0, 0.0)
    assert not is_noise(1e-6, 1e-7, 0.19)  # a real, small effect is printed
    assert difference_text(0.012, 0.0034, 0.19) == "+0.012 (95 % CI 0.0086 to 0.0154): higher"
    assert "no clear difference" in difference_text(0.01, 0.02, 0.19)
    # two designs with identical results (up to float noise): "identical", and no number of the noise
    runs = pd.DataFrame(
        {
            "status": "done",
            "seed": [1, 2, 1, 2],
            "combination": ["a", "a", "b", "b"],
            "reference": "a",
            "mean_clearing_price_eur_per_kwh": [0.19, 0.2, 0.1899999999999999745, 0.2000000000000000111],
        }
    )
    differences = {
        "mean_clearing_price_eur_per_kwh": paired_differences(runs, "mean_clearing_price_eur_per_kwh")
    }
    text = findings(runs, differences) + str(headlines(runs, differences))
    assert "no difference (identical results)" in text
    assert not re.search(r"e-1\d|999999|000000", text), text  # float noise printed as a number
    same = pd.DataFrame({**runs.to_dict("list"), "mean_clearing_price_eur_per_kwh": [0.19] * 2 + [0.19] * 2})
    table = findings(
        same, {"mean_clearing_price_eur_per_kwh": paired_differences(same, "mean_clearing_price_eur_per_kwh")}
    )
    assert "| b | 2 | 0.19 | no difference (identical results) | a |" in table


def test_combinations_get_short_labels_and_references_per_baseline_key(tmp_path: Path) -> None:
    experiment, _ = load_experiment(
        write_file(
            tmp_path,
            TINY_EXPERIMENT.replace(
                "axes:\n  market.pricing: [uniform, zonal]",
                "axes:\n  penetration.pv: [0.2, 0.8]\n"
                "  households.strategy: [truthful, {zip: 0.5, q_learning: 0.5}]\n"
                "zip:\n  market.pricing: [uniform, heterogeneous, heterogeneous]\n"
                "  market.mechanism: [pay_as_clear, p2p, pay_as_bid]\n"
                "  tariff.kind: [none, none, volumetric]",
            ).replace(
                "baseline: {market.pricing: uniform}",
                "baseline: {market.pricing: uniform, market.mechanism: pay_as_clear, tariff.kind: none}",
            ),
        )
    )
    labels = [experiment.label(c) for c in experiment.combinations()]
    # the mechanism tells the zipped set-ups apart on its own: pricing and tariff are left out
    assert labels[:3] == [
        "pv=0.2, truthful, pay_as_clear",
        "pv=0.2, truthful, p2p",
        "pv=0.2, truthful, pay_as_bid",
    ]
    assert "pv=0.8, zip 0.5 + q_learning 0.5, p2p" in labels and len(set(labels)) == len(labels)
    # the reference keeps the run's own penetration and strategy, and takes the baseline's set-up
    combination = experiment.combinations()[-1]
    assert (
        experiment.label(experiment.reference_of(combination))
        == "pv=0.8, zip 0.5 + q_learning 0.5, pay_as_clear"
    )


def test_labels_tell_apart_keys_that_end_the_same(tmp_path: Path) -> None:
    """Two zipped flags both named ``enabled`` are labelled by their last two parts (study 13)."""
    experiment, _ = load_experiment(
        write_file(
            tmp_path,
            TINY_EXPERIMENT.replace(
                "axes:\n  market.pricing: [uniform, zonal]",
                "zip:\n  dso.flexibility.enabled: [false, true, true]\n"
                "  community.enabled: [false, false, true]",
            ).replace(
                "baseline: {market.pricing: uniform}",
                "baseline: {dso.flexibility.enabled: false, community.enabled: false}",
            ),
        )
    )
    assert [experiment.label(c) for c in experiment.combinations()] == [
        "flexibility.enabled=False, community.enabled=False",
        "flexibility.enabled=True, community.enabled=False",
        "flexibility.enabled=True, community.enabled=True",
    ]


def test_a_dead_run_leaves_the_collector_unfrozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model freezes its state out of the GC; a worker whose run raised must not keep it frozen."""
    from lemgrid.model import Model

    def broken_step(self: Model) -> None:
        raise RuntimeError("a device broke")

    monkeypatch.setattr(Model, "step", broken_step)
    experiment, base = load_experiment(write_file(tmp_path, TINY_EXPERIMENT))
    run = expand(experiment, base, tmp_path / "results")[0]
    record = execute(_task(run))
    assert record["status"] == "failed" and "a device broke" in record["error"]
    assert gc.get_freeze_count() == 0
