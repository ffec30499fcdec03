"""Peak memory of a long run against a short one, each in a fresh process, measured in one run.

Usage: python benchmarks/memory.py [--short DAYS] [--long DAYS] [--plain-rows]

The year scenario of ``benchmarks/targets.py`` (every household with PV, a
battery, an EV and appliances; power-grid-model; bus voltages recorded), run
for ``--short`` (default 1) and ``--long`` (default 14) days. Printed per run:
peak resident memory after the model is built and at the end, and the ratio of
the peaks (target <= 1.2: memory flat in run length). ``--plain-rows`` keeps
the interval rows as a list of dicts, as before ``model/interval_rows.py``, for
an A/B of what packing them saves.
"""

import argparse
import multiprocessing as mp
import resource
import tempfile
from concurrent.futures import ProcessPoolExecutor

DEVICES = ["penetration.pv=1", "penetration.battery=1", "penetration.ev=1", "penetration.flexible_load=1"]


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(days: int, plain_rows: bool) -> tuple[float, float]:
    """Peak memory (MB) after building and after running a ``days``-day scenario."""
    from lemgrid.model import Model, Scenario

    overrides = ["output.bus_voltages=households", "grid.solver=power_grid_model", "start=2026-01-01"]
    scenario = Scenario.load(None, [*overrides, *DEVICES, f"days={days}"])
    with tempfile.TemporaryDirectory() as out:
        model = Model(scenario, out_dir=out)
        if plain_rows:
            model.interval_rows = []  # type: ignore[assignment]
        built = peak_mb()
        while model.running:
            model.step()
    return built, peak_mb()


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=1)
    parser.add_argument("--long", type=int, default=14)
    parser.add_argument("--plain-rows", action="store_true", help="interval rows as a list of dicts (A/B)")
    args = parser.parse_args(argv)
    peaks = []
    for days in (args.short, args.long):
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            built, end = pool.submit(run, days, args.plain_rows).result()
        print(f"{days:>4} days: peak RSS {built:.0f} MB after building, {end:.0f} MB at the end")
        peaks.append(end)
    ratio = peaks[1] / peaks[0]
    print(f"memory: peak RSS {args.long} days / {args.short} day(s) {ratio:.2f}x (target <= 1.2)")
    return ratio


if __name__ == "__main__":
    main()
