"""Running an experiment: every run once, in parallel, resumable, each result written atomically.

Runs execute in worker processes: a local process pool by default, or the
workers of a Dask distributed cluster (``scheduler="tcp://host:8786"``; the
workers must see the results folder, e.g. on a shared file system). Each run
writes into ``<folder>.partial/`` and is renamed to its folder only when it
ends, with ``run.json`` saying whether it finished or failed (with the
traceback). A run is finished when its folder's ``run.json`` says ``done``
for the same run id (the hash of its resolved scenario): sweeping again skips
it, so an interrupted sweep resumes where it stopped. ``runs.parquet`` (one
row per run: swept values, seed, status, duration, summary metrics) is
rewritten atomically as runs finish and at the end.
"""

import fcntl
import gc
import json
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from lemgrid.experiments.experiment import Experiment, Run
from lemgrid.experiments.progress import ProgressBar, clock

RUN_FILE = "run.json"
LOCK_FILE = ".lock"


class SweepBusyError(RuntimeError):
    """Another sweep holds the results folder."""


def is_finished(run: Run) -> bool:
    """Whether ``run``'s folder holds a finished result of this very scenario, with all of its files."""
    record = _read_record(run.folder)
    if record is None or record.get("status") != "done" or record.get("run_id") != run.run_id:
        return False
    return all((run.folder / name).is_file() for name in record.get("files", []))


def lock_results(results: Path) -> Any:
    """Hold ``results`` for this process: a second sweep into it is refused until this one ends or dies.

    Returns the open lock file; the lock goes with the process (also on SIGKILL).

    Raises:
        SweepBusyError: naming the process that holds it.
    """
    results.mkdir(parents=True, exist_ok=True)
    handle = (results / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise SweepBusyError(
            f"another lemgrid sweep (pid {holder}) is writing into {results}; wait for it to end, "
            "or sweep into another --results folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the sweep that started it is gone (even after SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="lemgrid-parent-watch", daemon=True).start()


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def execute(task: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario in a worker; never raises for a failing run (the record says it failed).

    ``task`` holds ``scenario`` (JSON), ``folder``, ``run_id``, ``params`` and ``seed``.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # processes are the unit of parallelism
    from lemgrid.model import Model, Scenario  # imported in the worker

    folder = Path(task["folder"])
    partial = folder.with_name(folder.name + ".partial")
    started = time.perf_counter()
    record: dict[str, Any] = {
        "run_id": task["run_id"],
        "params": task["params"],
        "seed": task["seed"],
        "host": os.uname().nodename,
    }
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            model = Model(Scenario.from_json(task["scenario"]), out_dir=partial)
            while model.running:
                model.step()
            record.update(status="done", error="")
        except OSError:
            raise  # the disk, not the run: handled below
        except Exception:  # a failing run is a result: recorded, and the others go on
            record.update(status="failed", error=traceback.format_exc())
        finally:
            gc.unfreeze()  # the model froze its state (Model.__init__); a run that died did not finalize
        record["duration_s"] = round(time.perf_counter() - started, 3)
        if record["status"] == "done":  # done only with every file in place
            record["files"] = sorted(p.name for p in partial.iterdir() if p.is_file())
        (partial / RUN_FILE).write_text(json.dumps(record, indent=2, default=str))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except OSError as exc:  # full or read-only disk: nothing half-written stays behind
        shutil.rmtree(partial, ignore_errors=True)
        where = exc.filename or partial
        record.update(
            status="failed",
            error=f"cannot write the run's results: {where}: {exc.strerror or exc}",
            duration_s=round(time.perf_counter() - started, 3),
        )
    return record


def _task(run: Run) -> dict[str, Any]:
    return {
        "scenario": run.scenario.to_json(),
        "folder": str(run.folder),
        "run_id": run.run_id,
        "params": run.params,
        "seed": run.seed,
    }


class Progress:
    """A sweep's runs done, failed and skipped: a live bar with rate and ETA on a terminal.

    A log (not a terminal) gets no bar, only the plan, each failed run and the
    totals at the end.
    """

    def __init__(self, total: int, skipped: int, stream: TextIO) -> None:
        self.total, self.skipped, self.stream = total, skipped, stream
        self.done = self.failed = 0
        self.bar = ProgressBar(total, "runs", stream, skipped)
        self._say(f"{total} runs: {skipped} already finished, {total - skipped} to run")
        self.bar.update(skipped, self._counts())

    def update(self, record: dict[str, Any]) -> None:
        """Count one finished run and show the state."""
        if record["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
            self._say(f"run failed: {record['params']} seed={record['seed']} (see its run.json)")
        self.bar.update(self.skipped + self.done + self.failed, self._counts())

    def _counts(self) -> str:
        return f"done {self.done}, failed {self.failed}, skipped {self.skipped}"

    def _say(self, text: str) -> None:
        """A line of its own, also in a log (above the live bar on a terminal)."""
        self.stream.write(("\r\033[K" if self.bar.stream else "") + text + "\n")
        self.stream.flush()
        self.bar.shown = float("-inf")  # redraw the bar below it at the next update

    def close(self) -> None:
        """End the live line and state the totals."""
        self.bar.close()
        elapsed = time.perf_counter() - self.bar.started
        self._say(
            f"[{self.skipped + self.done + self.failed}/{self.total}] {self._counts()} in {clock(elapsed)}"
        )


def _local(tasks: list[dict[str, Any]], workers: int) -> Iterable[dict[str, Any]]:
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_exit_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = [pool.submit(execute, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _dask(tasks: list[dict[str, Any]], scheduler: str) -> Iterable[dict[str, Any]]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler, timeout="30s") as client:
        futures = [client.submit(execute, t, key=f"lemgrid-{t['run_id']}", pure=False) for t in tasks]
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)


def sweep(
    experiment: Experiment,
    runs: list[Run],
    results: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: TextIO = sys.stderr,
) -> pd.DataFrame:
    """Run every unfinished run of ``runs`` and return ``runs.parquet``'s table.

    Args:
        experiment: the experiment the runs belong to (its file is copied to the results).
        runs: the expanded runs (see :func:`experiments.experiment.expand`).
        results: the experiment's results folder.
        workers: local worker processes (default: every core).
        scheduler: a Dask scheduler address; runs there instead of locally.
        progress: where the progress lines go.
    """
    results.mkdir(parents=True, exist_ok=True)
    lock = lock_results(results)
    try:
        _write_atomic(results / "experiment.json", experiment.model_dump_json(indent=2))
        return _sweep_locked(experiment, runs, results, workers, scheduler, progress)
    finally:
        lock.close()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sweep_locked(
    experiment: Experiment,
    runs: list[Run],
    results: Path,
    workers: int | None,
    scheduler: str | None,
    progress: TextIO,
) -> pd.DataFrame:
    pending = [r for r in runs if not is_finished(r)]
    bar = Progress(len(runs), len(runs) - len(pending), progress)
    tasks = [_task(r) for r in pending]
    execute_all: Callable[[], Iterable[dict[str, Any]]] = (
        (lambda: _dask(tasks, scheduler))
        if scheduler
        else (lambda: _local(tasks, workers or os.cpu_count() or 1))
    )
    last_write = time.perf_counter()
    try:
        for record in execute_all() if tasks else []:
            bar.update(record)
            if time.perf_counter() - last_write > 5:
                write_runs_table(experiment, runs, results)
                last_write = time.perf_counter()
    finally:
        bar.close()
        table = write_runs_table(experiment, runs, results)
    return table


def _flatten(summary: dict[str, Any]) -> dict[str, Any]:
    """Summary metrics as columns: per-phase dicts become ``key_a``..., lists become text."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            out[key] = "; ".join(map(str, value))
        else:
            out[key] = value
    return out


def write_runs_table(experiment: Experiment, runs: list[Run], results: Path) -> pd.DataFrame:
    """``runs.parquet``: one row per run that has ended (finished or failed), written atomically."""
    rows = []
    for run in runs:
        record = _read_record(run.folder)
        if record is None or record.get("run_id") != run.run_id:
            continue
        row: dict[str, Any] = {
            **{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in run.params.items()},
            "seed": run.seed,
            "run_id": run.run_id,
            "folder": str(run.folder.relative_to(results)),
            "status": record["status"],
            "duration_s": record["duration_s"],
            "error": record["error"],
        }
        summary_file = run.folder / "summary.json"
        if record["status"] == "done" and summary_file.exists():
            row.update(_flatten(json.loads(summary_file.read_text())))
            row["run_id"] = run.run_id
        rows.append(row)
    table = pd.DataFrame(rows)
    tmp = results / "runs.parquet.tmp"
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, results / "runs.parquet")
    finally:
        tmp.unlink(missing_ok=True)
    return table
