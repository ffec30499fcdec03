"""Progress of ``lemgrid run`` and ``lemgrid sweep``: a bar with rate and ETA on a terminal, else quiet."""

import io
import os
import pty
import subprocess
import sys

import pytest

from lemgrid.experiments.progress import ProgressBar, clock
from lemgrid.experiments.sweep import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_has_count_rate_and_eta_worked_by_hand() -> None:
    bar = ProgressBar(100, "runs", Terminal(), skipped=10)
    # 20 runs done by this process in 10 s: 2 runs/s, 70 left -> 35 s; 30 % of 30 characters filled
    assert bar.line(30, 10.0, "done 19, failed 1, skipped 10") == (
        "[#########.....................] 30/100 runs (done 19, failed 1, skipped 10)"
        "  2.0 runs/s  elapsed 10s  ETA 35s"
    )
    slow = ProgressBar(10, "runs", Terminal())  # under one a second: per minute
    assert "  1.5 runs/min  elapsed 2m00s  ETA 4m40s" in slow.line(3, 120.0)
    assert "ETA ?" in slow.line(0, 5.0)  # nothing done yet: nothing to estimate from
    assert (clock(3725), clock(185), clock(42)) == ("1h02m", "3m05s", "42s")


def test_a_terminal_gets_one_live_line_and_a_log_nothing() -> None:
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        bar = ProgressBar(20, "intervals", stream)
        for k in range(1, 21):
            bar.update(k)
        bar.close()
        text = stream.getvalue()
        if shown:
            last = text.rstrip("\n").split("\r\x1b[K")[-1]
            assert last.startswith("[" + "#" * 30 + "] 20/20 intervals") and "ETA 0s" in last
            assert text.endswith("\n") and text.count("\n") == 1  # one line, redrawn in place
        else:
            assert text == ""


def test_a_sweep_shows_runs_done_failed_and_eta_and_a_log_only_plan_failures_and_totals() -> None:
    for stream in (Terminal(), io.StringIO()):
        progress = Progress(total=5, skipped=1, stream=stream)
        progress.update({"status": "done", "params": {}, "seed": 1})
        progress.update({"status": "failed", "params": {"a": 1}, "seed": 2})
        progress.close()
        text = stream.getvalue()
        assert "5 runs: 1 already finished, 4 to run" in text and "run failed: {'a': 1} seed=2" in text
        assert (
            text.rstrip("\n")
            .split("\n")[-1]
            .split("\r\x1b[K")[-1]
            .startswith("[3/5] done 1, failed 1, skipped 1 in ")
        )
        if isinstance(stream, Terminal):
            assert "3/5 runs (done 1, failed 1, skipped 1)" in text and "ETA" in text
        else:
            assert "ETA" not in text and "\r" not in text and "\x1b" not in text


def _lemgrid_run(tmp_path, terminal: bool) -> str:
    """``lemgrid run`` of 12 two-hour intervals; its stderr, through a pseudo-terminal or a pipe."""
    cli = [sys.executable, "-m", "lemgrid.experiments.cli", "run", "--set", "interval_minutes=120"]
    cli += ["--set", "grid.solver=power_grid_model", "--out", str(tmp_path / ("tty" if terminal else "pipe"))]
    if not terminal:
        return subprocess.run(cli, capture_output=True, text=True, check=True).stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the run closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait() == 0, b"".join(chunks)[-3000:].decode(errors="replace")  # what it printed
    os.close(leader)
    return b"".join(chunks).decode()


@pytest.mark.slow  # two CLI runs
def test_lemgrid_run_shows_the_bar_on_a_terminal_and_nothing_in_a_pipe(tmp_path) -> None:
    shown = _lemgrid_run(tmp_path, terminal=True)
    assert "12/12 intervals" in shown and "intervals/s" in shown and "ETA" in shown
    assert "ETA" not in _lemgrid_run(tmp_path, terminal=False)
