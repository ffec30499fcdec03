"""The ``lemgrid`` command. Heavy libraries load only after the arguments are parsed."""

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lemgrid",
        description="Co-simulate a local energy market and the three-phase LV grid it runs on.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scenario",
            type=Path,
            help="YAML scenario file (default: the built-in default scenario)",
        )
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override one scenario value, e.g. --set seed=7 --set penetration.pv=0.8 (repeatable)",
        )

    run = sub.add_parser("run", help="simulate one scenario and write its results")
    scenario_args(run)
    run.add_argument("--out", type=Path, help="results folder (default: results/<run-id>)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    show = sub.add_parser("scenario", help="print the fully resolved scenario as YAML")
    scenario_args(show)

    sub.add_parser("feeders", help="list the ready-made feeders with their size and rating")
    return parser


def _print_feeders() -> int:
    from grid.feeders import FEEDERS, load_feeder

    rows = [load_feeder(name).describe() for name in FEEDERS]
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))
    print(
        "\nor bring your own: feeder.name=custom, feeder.file=net.json, feeder.households_file=households.csv"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lemgrid`` console command."""
    args = _parser().parse_args(argv)
    if args.command == "feeders":
        return _print_feeders()

    from model.scenario import ScenarioError

    try:
        return _scenario_command(args)
    except ScenarioError as exc:
        print(f"lemgrid: {exc}", file=sys.stderr)
        return 2


def _scenario_command(args: argparse.Namespace) -> int:
    """``run`` and ``scenario``: both start from a validated scenario."""
    from model.scenario import Scenario

    try:
        scenario = Scenario.load(args.scenario, args.overrides)
    except OSError as exc:
        print(f"lemgrid: cannot read scenario file: {exc}", file=sys.stderr)
        return 2

    if args.command == "scenario":
        import yaml

        print(yaml.safe_dump(scenario.model_dump(), sort_keys=False), end="")
        return 0

    from experiments.run import format_summary, run_scenario
    from model import PowerFlowError

    out = args.out or Path("results") / scenario.run_id()
    print(
        f"lemgrid: simulating {scenario.days} day(s) from {scenario.start} on {scenario.feeder.name!r} "
        f"({scenario.n_intervals} intervals of {scenario.interval_minutes} min)",
        file=sys.stderr,
    )
    try:
        summary = run_scenario(scenario, out, progress=None if args.quiet else sys.stderr)
    except PowerFlowError as exc:
        print(f"lemgrid: {exc}\nlemgrid: partial results in {out}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nlemgrid: interrupted; the intervals done are written to {out}", file=sys.stderr)
        return 130
    print(format_summary(summary))
    print(f"\nresults: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
