"""The benchmark runs (its timings are not asserted: tests never judge wall-clock time)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_interval_phase_benchmark_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "interval_phases.py"), "--intervals", "2"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    for phase in ("decide", "clear", "grid", "record", "total"):
        assert phase in out.stdout


def test_solver_benchmark_and_cross_validation_run() -> None:
    for script, args, expect in [
        ("solvers.py", ["--intervals", "3", "--repeats", "1"], "power_grid_model, batch"),
        ("cross_validation.py", ["--cases", "1"], "kerber_vorstadtnetz"),
    ]:
        out = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        assert expect in out.stdout


def test_performance_targets_benchmark_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "targets.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    for target in ("year on the default feeder", "1,022 households", "peak memory", "sweep of 2 runs"):
        assert target in out.stdout


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="needs Chromium: bash .ci/install-browser (CI runs it)",
)
def test_app_step_benchmark_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "viz_step.py"), "--steps", "3"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "first step:" in out.stdout and "median" in out.stdout
