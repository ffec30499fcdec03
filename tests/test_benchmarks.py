"""The benchmark runs (its timings are not asserted: tests never judge wall-clock time)."""

import subprocess
import sys
from pathlib import Path

import pytest

from lemgrid.viz.serve import find_chromium

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    """A benchmark script's standard output (it must exit 0)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return out.stdout


def test_interval_phase_benchmark_runs() -> None:
    out = _run("interval_phases.py", "--intervals", "2")
    for phase in ("decide", "clear", "grid", "record", "total"):
        assert phase in out


@pytest.mark.slow  # builds the 1,022-household feeder: over 20 s under load
def test_thousand_household_benchmark_runs() -> None:
    assert "1022 households:" in _run("thousand.py", "--intervals", "1", "--warm-up", "1")


@pytest.mark.slow  # over 20 s; runs in make test-slow
def test_solver_benchmark_and_cross_validation_run() -> None:
    assert "power_grid_model, batch" in _run("solvers.py", "--intervals", "3", "--repeats", "1")
    assert "kerber_vorstadtnetz" in _run("cross_validation.py", "--cases", "1")


@pytest.mark.slow  # over 20 s; runs in make test-slow
def test_performance_targets_benchmark_runs() -> None:
    out = _run("targets.py", "--quick")
    targets = ("year on the default feeder", "batch floor", "1,022 households", "peak memory", "sweep of 2")
    options = ("per-household cost", "constraint_mode=opf", "loss_allocation=marginal", "lp_optimiser")
    for target in (*targets, *options, "constraint_mode=post_check vs default interval where limits bind"):
        assert target in out


@pytest.mark.slow  # over 20 s; runs in make test-slow
@pytest.mark.skipif(find_chromium() is None, reason="needs Chromium: bash .ci/install-browser (CI runs it)")
def test_app_step_benchmark_runs() -> None:
    out = _run("viz_step.py", "--steps", "3")
    assert "first step:" in out and "median" in out


@pytest.mark.slow
def test_scaling_benchmark_runs() -> None:
    out = _run("scaling.py", "--small", "1", "--large", "2", "--intervals", "1")
    assert "146 households" in out and "292 households" in out and "scaling: per-household cost" in out


@pytest.mark.slow
def test_memory_benchmark_runs() -> None:
    out = _run("memory.py", "--short", "1", "--long", "1")
    assert "after building" in out and "memory: peak RSS 1 days / 1 day(s)" in out


@pytest.mark.slow  # 40 LP intervals first: over 20 s
def test_lp_solve_benchmark_reaches_the_runs_optimum_every_way() -> None:
    out = _run("lp_solves.py", "--intervals", "2", "--days", "2", "--skip", "40")  # a full 24-hour horizon
    rows = {line[:26].strip(): line[26:].split() for line in out.splitlines()}
    ways = ("solve", "cold, no presolve", "warm", "at the optimum", "run at the optimum")
    iterations = {how: float(rows[how][1]) for how in ways}
    for how in ways:
        assert float(rows[how][2]) <= 1e-9  # the same optimal cost as the run's own solve
    assert iterations["at the optimum"] == iterations["run at the optimum"] == 0  # started at an optimum
    assert 0 < iterations["warm"] < iterations["cold, no presolve"]  # the shifted basis is a head start
    assert rows["solve"][3].split("/")[0] == rows["solve"][3].split("/")[1]  # solve repeats the run's plans


@pytest.mark.slow  # 86 intervals of the congestion preset first: over 10 s
def test_curtailment_lps_tie_between_households() -> None:
    # README ("who is curtailed is HiGHS's choice"): both solves are optimal with the same total cut,
    # yet they cut other households; a tie-break rule would make this fail and the README change
    out = _run("curtailment_ties.py", "--skip", "86", "--intervals", "2")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert len(rows) == 2  # the preset's transformer binds in both intervals
    for row in rows:
        cost_diff, total_diff = float(row[4]), float(row[5])
        assert cost_diff <= 1e-12 and total_diff <= 1e-9
    assert all(int(row[8]) > 0 for row in rows)  # households cut by one solve only
