"""Cost of each constraint mode, loss allocation and the LP strategy against the default interval, in one run.

Usage: python benchmarks/options.py [--intervals N] [--fixed] [--devices] [--days D] [--scenario FILE]

The default scenario (IEEE EU LV feeder, bid curves on, power-grid-model) is
run for ``D`` days (default 3) once as it is and once per option; everything up
to the middle day's 10:00 is stepped through untimed (``--skip`` intervals) and
the next ``N`` intervals, when PV, batteries and the market are active, are timed
(CPU time) in each. The middle day, because the lp_optimiser's 24-hour horizon
shrinks on a run's last day (its forecasts stop at the run's end), which changes
its programme's size every interval there. Each option is timed beside a run of
the default built with it: the two models step their timed intervals in turn, one
interval each, so that a machine whose speed drifts (a shared one drifts by half
within minutes) slows both alike; the ratio is the option's time over the default's
of its pair. Each ratio is printed next to its goal (issue 20: each constraint mode
and loss allocation <= 2x the default interval; lp_optimiser <= 3x the truthful interval).
``--fixed`` runs everything with ``bidding.mode=fixed`` instead; ``--devices`` gives
every household PV, a battery, an EV and appliances (as ``targets.py``'s year), so
that the LP and the constraint modes have flexibility to plan and cut. ``--scenario``
starts from a scenario file instead of the default scenario, e.g. the congestion preset
``experiments/presets/congested_suburb_ev_winter.yaml`` with ``--skip 84 --intervals 12``
(21:00-24:00 of its Monday, when its limits bind: ``CONGESTED`` and ``CONGESTED_WINDOW``).
"""

import argparse
import time
from pathlib import Path

from lemgrid.model import Model, Scenario

# where the constraint modes' limits bind: the congestion preset, its Monday 21:00-24:00
CONGESTED = str(Path(__file__).parents[1] / "experiments" / "presets" / "congested_suburb_ev_winter.yaml")
CONGESTED_WINDOW = ["--skip", "84", "--intervals", "12"]

OPTIONS: list[tuple[str, list[str], float]] = [
    ("constraint_mode=post_check", ["market.constraint_mode=post_check"], 2.0),
    ("constraint_mode=sensitivity", ["market.constraint_mode=sensitivity"], 2.0),
    ("constraint_mode=opf", ["market.constraint_mode=opf"], 2.0),
    ("loss_allocation=marginal", ["market.loss_allocation=marginal"], 2.0),
    ("loss_allocation=proportional_sharing", ["market.loss_allocation=proportional_sharing"], 2.0),
    ("strategy=lp_optimiser", ["households.strategy=lp_optimiser"], 3.0),
]


def stepped_model(overrides: list[str], skip: int, days: int, scenario: str | None) -> Model:
    """The scenario with power-grid-model, run for ``days``, stepped through ``skip`` intervals."""
    model = Model(Scenario.load(scenario, ["grid.solver=power_grid_model", f"days={days}", *overrides]))
    for _ in range(skip):
        model.step()
    return model


def ms_per_interval(
    overrides: list[str], intervals: int, skip: int, days: int, scenario: str | None = None
) -> float:
    """CPU milliseconds per interval over ``intervals`` intervals after ``skip`` untimed ones."""
    model = stepped_model(overrides, skip, days, scenario)
    started = time.process_time()
    for _ in range(intervals):
        model.step()
    return (time.process_time() - started) / intervals * 1000


def paired_ms(
    overrides: list[str], option: list[str], intervals: int, skip: int, days: int, scenario: str | None
) -> tuple[float, float]:
    """CPU ms per interval of the scenario without and with ``option``, timed intervals stepped in turn."""
    models = [stepped_model([*overrides, *extra], skip, days, scenario) for extra in ([], option)]
    spent = [0.0, 0.0]
    for _ in range(intervals):
        for k, model in enumerate(models):
            started = time.process_time()
            model.step()
            spent[k] += time.process_time() - started
    return spent[0] / intervals * 1000, spent[1] / intervals * 1000


def main(argv: list[str] | None = None) -> list[tuple[str, float, float, float]]:
    """Rows of (option, its ms per interval, its ratio to the default's of its pair, goal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=16, help="intervals timed per option (default 16)")
    parser.add_argument("--days", type=int, default=3, help="run length (default 3); the middle day is timed")
    parser.add_argument(
        "--skip", type=int, default=None, help="untimed intervals first (default: to the middle day's 10:00)"
    )
    parser.add_argument(
        "--fixed", action="store_true", help="bidding.mode=fixed instead of the default curves"
    )
    parser.add_argument("--devices", action="store_true", help="every household owns every device kind")
    parser.add_argument("--scenario", help="a scenario file to start from (default: the default scenario)")
    args = parser.parse_args(argv)
    skip = (args.days // 2) * 96 + 40 if args.skip is None else args.skip  # 96 intervals of 15 min a day
    devices = [f"penetration.{d}=1" for d in ("pv", "battery", "ev", "flexible_load")]
    base = (["bidding.mode=fixed"] if args.fixed else []) + (devices if args.devices else [])
    print(f"{'option':<38} {'ms/interval':>11} {'default':>8} {'ratio':>6} {'goal':>5}")
    rows = []
    for name, overrides, goal in OPTIONS:
        default_ms, ms = paired_ms(base, overrides, args.intervals, skip, args.days, args.scenario)
        rows.append((name, ms, ms / default_ms, goal))
        print(f"{name:<38} {ms:>11.1f} {default_ms:>8.1f} {ms / default_ms:>6.2f} {goal:>5.1f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
