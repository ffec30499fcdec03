"""The performance targets, measured in one run: a year, a thousand households, memory, sweeps.

Usage: python benchmarks/targets.py [--quick] [--days N] [--year-only]

1. year: the default feeder with every household owning PV, a battery, an EV and
   shiftable appliances, 15-minute intervals for a year, pay-as-clear, every
   metric recorded (bus voltages at the households' buses), grid.solver
   power_grid_model. The same scenario with runpp_3ph is timed over its first
   days (a full year of it takes over half an hour) and compared per interval.
   The floor: the CPU time of one power-grid-model batch calculation (the same
   solver, sequential) over the year run's own recorded injections, every
   interval a scenario of the batch; the year's CPU time is set against it.
2. scale: kerber_substation (seven suburban feeders, 1,022 households) with
   PV (60 %), batteries, EVs and appliances (30 % each) bidding their curves,
   CPU ms per interval including market and grid, against 30 ms.
3. memory: peak resident memory of the year run's process (before the floor is
   timed), and a 14-day run's peak against a 1-day run's (``memory.py``).
4. sweeps: the same six three-day runs on one worker process, then on two.
5. scaling: per-household cost at 2,044 households against 584 (``scaling.py``).
6. options: each constraint mode, loss allocation and lp_optimiser against the
   default interval, bid curves on (``options.py``), in the default scenario's
   midday, where no limit binds, and in the congestion preset's Monday evening
   (21:00-24:00), where its transformer phases and first cable sections do.

Each case runs in a fresh process, so its peak memory is its own.
``--days`` shortens the year run (for development), ``--year-only`` stops after
the year, its floor and memory. ``--quick`` shrinks every case to seconds and runs them in this process (used
by the test suite to check that the benchmark runs; its numbers mean nothing).
"""

import argparse
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

DEVICES = ["penetration.pv=1", "penetration.battery=1", "penetration.ev=1", "penetration.flexible_load=1"]


def run_scenario(overrides: list[str], floor: bool = False) -> dict[str, Any]:
    """Run one scenario to the end (writing its files to a temporary folder); time it and its memory.

    With ``floor``, also time the power-flow floor over the run's own injections (after the
    peak memory is read, so it does not count in it).
    """
    import tempfile
    from pathlib import Path

    from lemgrid.model import Model, Scenario

    scenario = Scenario.load(None, ["output.bus_voltages=households", *overrides])
    with tempfile.TemporaryDirectory() as out:
        started, cpu_started = time.perf_counter(), time.process_time()
        model = Model(scenario, out_dir=out)
        built, cpu_built = time.perf_counter(), time.process_time()
        while model.running:
            model.step()
        finished, cpu_finished = time.perf_counter(), time.process_time()
        result = {
            "intervals": scenario.n_intervals,
            "build_s": built - started,
            "run_s": finished - built,
            "wall_s": finished - started,
            "cpu_s": cpu_finished - cpu_started,
            "run_cpu_s": cpu_finished - cpu_built,
            "timings": dict(model.timings),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if floor:
            result["floor_cpu_s"] = power_flow_floor_s(model.solver, Path(out) / "households.parquet")
    return result


def recorded_injections(households: Any) -> tuple[Any, Any]:
    """(n_intervals, n_households, 3) active and reactive injections as the run's power flows had them.

    From the households table: the per-phase active injections, and the reactive
    injection on the household's phase (where the loads and inverters put it).
    """
    import numpy as np
    import pyarrow.parquet as pq

    from lemgrid.grid.feeders import PHASES

    columns = ["interval", "phase", "q_injection_kvar", *(f"net_injection_{p}_kw" for p in PHASES)]
    table = pq.read_table(households, columns=columns).to_pandas()
    table = table.sort_values("interval", kind="stable")  # households in the feeder's order per interval
    n_intervals = table["interval"].nunique()
    shape = (n_intervals, len(table) // n_intervals)
    p_kw = np.stack([table[f"net_injection_{p}_kw"].to_numpy().reshape(shape) for p in PHASES], axis=-1)
    q_kvar = np.zeros_like(p_kw)
    phase = table["phase"].map(PHASES.index).to_numpy().reshape(shape)
    q_own = table["q_injection_kvar"].to_numpy().reshape(shape)
    np.put_along_axis(q_kvar, phase[..., None], q_own[..., None], axis=-1)
    return p_kw, q_kvar


def power_flow_floor_s(solver: Any, households: Any, chunk: int = 96) -> float:
    """CPU seconds of power-grid-model's batch calculation over the run's recorded injections.

    The run's own solver (feeder, methods, tolerance, outputs), every interval
    as one scenario of a batch update, calculated sequentially on one thread
    (the run uses one core); the reduction of its results is not counted. The
    batch is cut into days only so that its output (about 70 kB per interval)
    stays small; a day's call overhead is negligible against its 96 solves.
    """
    p_kw, q_kvar = recorded_injections(households)
    cpu = 0.0
    for first in range(0, len(p_kw), chunk):
        update = solver._update(p_kw[first : first + chunk], q_kvar[first : first + chunk])
        started = time.process_time()
        solver._calculate(update, threading=-1)  # sequential: the run uses one core
        cpu += time.process_time() - started
    return cpu


def in_fresh_process(overrides: list[str], floor: bool = False) -> dict[str, Any]:
    """``run_scenario`` in a new interpreter, so measurements do not mix."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(run_scenario, overrides, floor).result()


def _warm(counter: Any) -> None:
    """Worker start-up: one thread per process, one tiny run to load and cache everything, report ready."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # processes are the unit of parallelism; threads would compete for cores
    run_scenario(["grid.solver=power_grid_model", "interval_minutes=720", *DEVICES])
    with counter.get_lock():
        counter.value += 1


def sweep_throughput(runs: list[list[str]], workers: int) -> float:
    """Runs per second for a list of scenarios on ``workers`` warmed-up processes."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    with ctx.Pool(workers, initializer=_warm, initargs=(counter,)) as pool:
        while counter.value < workers:  # every worker imported and built: measure the work only
            time.sleep(0.05)
        started = time.perf_counter()
        pool.map(run_scenario, runs, chunksize=1)
        return len(runs) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmark runs")
    parser.add_argument("--days", type=int, default=365, help="length of the year run (default 365)")
    parser.add_argument("--year-only", action="store_true", help="only the year, its floor and memory")
    args = parser.parse_args(argv)
    sizes = (2, 1, 4, 2) if args.quick else (args.days, 2, 96, 6)
    year_days, reference_days, scale_intervals, sweep_runs = sizes

    import memory

    measure = run_scenario if args.quick else in_fresh_process  # quick: no process start-ups
    fast = ["grid.solver=power_grid_model", "start=2026-01-01", *DEVICES]
    if args.quick:
        fast.append("interval_minutes=240")
    year = measure([*fast, f"days={year_days}"], True)
    floor_ratio = year["run_cpu_s"] / year["floor_cpu_s"]
    split = year["timings"]
    shares = ", ".join(f"{k} {v / sum(split.values()):.0%}" for k, v in split.items())
    memory_days = ["--short", "1", "--long", "2"] if args.quick else ["--short", "1", "--long", "14"]
    memory_ratio = memory.main(memory_days)
    year_rows = [
        (
            f"year vs power-grid-model batch floor ({year['intervals']} intervals)",
            f"{year['run_cpu_s']:.1f} s CPU ({shares}) vs {year['floor_cpu_s']:.1f} s",
            f"{floor_ratio:.2f}x",
            "<= 2x",
        ),
        (
            "peak memory of the year run",
            f"{year['peak_rss_mb']:.0f} MB",
            f"{year['peak_rss_mb'] / 600:.2f}x of 600 MB",
            "<= 600 MB",
        ),
        (
            f"peak memory, {memory_days[3]} days / {memory_days[1]} day",
            "memory.py " + " ".join(memory_days),
            f"{memory_ratio:.2f}x",
            "<= 1.2x",
        ),
    ]
    if args.year_only:
        _print(year_rows)
        return year_rows
    reference = measure([*fast, f"days={reference_days}", "grid.solver=pandapower"])
    year_per_interval = year["run_s"] / year["intervals"]
    reference_per_interval = reference["run_s"] / reference["intervals"]
    year_s = year["wall_s"]
    scale = measure(
        [
            "feeder.name=kerber_substation",
            "grid.solver=power_grid_model",
            "bidding.mode=curves",
            f"days={max(1, scale_intervals // 96)}",
            "penetration.pv=0.6",
            "penetration.battery=0.3",
            "penetration.ev=0.3",
            "penetration.flexible_load=0.3",
        ]
        + ([] if scale_intervals >= 96 else [f"interval_minutes={1440 // scale_intervals}"])
    )
    scale_ms = scale["run_s"] / scale["intervals"] * 1000
    scale_cpu_ms = scale["run_cpu_s"] / scale["intervals"] * 1000  # CPU: the machine may be shared
    sweep_size = ["interval_minutes=240"] if args.quick else ["days=3"]
    runs = [
        ["grid.solver=power_grid_model", f"seed={seed}", *sweep_size, *DEVICES] for seed in range(sweep_runs)
    ]
    one = sweep_throughput(runs, 1)
    two = sweep_throughput(runs, 2)
    import options
    import scaling

    sizes = ["--intervals", "1", "--small", "1", "--large", "2"] if args.quick else ["--intervals", "8"]
    per_household = scaling.main(sizes)
    option_rows = options.main(["--intervals", "1", "--skip", "1"] if args.quick else [])
    binding = ["--intervals", "1", "--skip", "1"] if args.quick else options.CONGESTED_WINDOW
    binding_rows = options.main(["--scenario", options.CONGESTED, *binding])

    rows = [
        (
            f"year on the default feeder ({year['intervals']} intervals)",
            f"{year_s:.0f} s ({year_s / 60:.2f} min); {shares}",
            f"runpp_3ph {reference_per_interval * 1000:.1f} ms/interval vs {year_per_interval * 1000:.2f}: "
            f"{reference_per_interval / year_per_interval:.0f}x; same year with runpp_3ph about "
            f"{reference_per_interval * year['intervals'] / 60:.0f} min",
            "< 5 min (stretch 2 min)",
        ),
        (
            "1,000 households with bid curves, ms/interval (kerber_substation: 1,022 households)",
            f"{scale_cpu_ms:.1f} ms CPU ({scale_ms:.1f} wall) per interval, {scale['intervals']} intervals",
            f"{scale_cpu_ms / 30:.2f}x the goal",
            "<= 30 ms/interval",
        ),
        (
            f"sweep of {len(runs)} runs",
            f"{one:.2f} runs/s on 1 worker, {two:.2f} on 2",
            f"{two / one:.2f}x",
            ">= 1.8x on 2 workers",
        ),
        (
            "per-household cost, 2,044 vs 584 households",
            "scaling.py" + (" --intervals 8" if not args.quick else ""),
            f"{per_household:.2f}x",
            "<= 1.15x",
        ),
    ]
    rows[1:1] = year_rows
    rows += [
        (f"{name} vs default interval", f"{ms:.1f} ms/interval", f"{ratio:.2f}x", f"<= {goal:.0f}x")
        for name, ms, ratio, goal in option_rows
    ]
    rows += [
        (
            f"{name} vs default interval where limits bind (congestion preset, Monday 21:00-24:00)",
            f"{ms:.1f} ms/interval",
            f"{ratio:.2f}x",
            f"<= {goal:.0f}x",
        )
        for name, ms, ratio, goal in binding_rows
    ]
    _print(rows)
    return rows


def _print(rows: list[tuple[str, str, str, str]]) -> None:
    """The rows as an aligned table."""
    header = ("target", "measured", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), flush=True)


if __name__ == "__main__":
    main()
