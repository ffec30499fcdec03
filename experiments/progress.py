"""The progress bar of ``lemgrid run`` (intervals) and ``lemgrid sweep`` (runs).

One live line on a terminal: a bar, how many are done, the rate and an ETA
(a sweep adds its runs done, failed and skipped). Nothing when the stream is
not a terminal (a log file, a pipe, CI), so logs hold results, not a bar.
"""

import time
from typing import TextIO

WIDTH = 30  # characters of the bar


class ProgressBar:
    """Counts ``total`` items of ``unit`` and shows the state on ``stream`` if it is a terminal.

    Args:
        total: items to do, including ``skipped`` ones done before.
        unit: what is counted, plural (``"intervals"``, ``"runs"``).
        stream: where the line goes; None or a non-terminal: nothing is shown.
        skipped: items already done before this started (not in the rate).
    """

    def __init__(self, total: int, unit: str, stream: TextIO | None, skipped: int = 0) -> None:
        self.total, self.unit, self.skipped = total, unit, skipped
        self.stream = stream if stream is not None and stream.isatty() else None
        self.started = time.perf_counter()
        self.shown = float("-inf")

    def update(self, done: int, note: str = "") -> None:
        """Show the state after ``done`` items (at most 4 times a second, and always the last)."""
        if self.stream is None:
            return
        now = time.perf_counter()
        if now - self.shown < 0.25 and done < self.total:
            return
        self.shown = now
        self.stream.write("\r\033[K" + self.line(done, now - self.started, note))
        self.stream.flush()

    def line(self, done: int, elapsed_s: float, note: str = "") -> str:
        """The bar after ``done`` items and ``elapsed_s`` seconds: count, rate, elapsed, ETA."""
        new = done - self.skipped  # done by this process: the rate and the ETA come from these
        rate = new / elapsed_s if elapsed_s > 0 and new > 0 else float("nan")
        eta = (self.total - done) / rate if rate == rate else float("nan")
        filled = WIDTH * done // self.total if self.total else WIDTH
        per = f"{rate:.1f} {self.unit}/s" if not rate < 1 else f"{rate * 60:.1f} {self.unit}/min"
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{self.total} {self.unit}"
            + (f" ({note})" if note else "")
            + f"  {per if rate == rate else '? ' + self.unit + '/s'}"
            + f"  elapsed {clock(elapsed_s)}  ETA {clock(eta)}"
        )

    def close(self) -> None:
        """End the live line."""
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def clock(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m05s`` or ``42s``; ``?`` when not known yet (NaN)."""
    if seconds != seconds:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
