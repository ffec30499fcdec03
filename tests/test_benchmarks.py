"""The benchmark runs (its timings are not asserted: tests never judge wall-clock time)."""

import subprocess
import sys
from pathlib import Path

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
