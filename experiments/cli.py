"""The ``lemgrid`` command. Heavy libraries load only after the arguments are parsed."""

import argparse
import sys
from dataclasses import replace
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

    sweep = sub.add_parser("sweep", help="run every combination and seed of an experiment file")
    sweep.add_argument(
        "experiment",
        type=Path,
        help="experiment YAML file, e.g. experiments/pricing_designs.yaml (shipped ones by name too)",
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="list the runs and whether they are done; run nothing"
    )
    sweep.add_argument("--workers", type=int, help="local worker processes (default: every core)")
    sweep.add_argument("--scheduler", help="run on a Dask cluster instead, e.g. tcp://host:8786")
    sweep.add_argument("--results", type=Path, help="results folder (default: results/<experiment name>)")
    sweep.add_argument("--report", action="store_true", help="write the HTML report when the sweep ends")
    sweep.add_argument(
        "--seeds", type=int, help="run this many seeds instead of the file's (e.g. a study at full size)"
    )
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a base scenario value, e.g. --set days=28 (repeatable; not a swept key)",
    )

    viz = sub.add_parser("viz", help="start the browser app on this machine and print its address")
    viz.add_argument("--port", type=int, default=8765)
    viz.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")

    report = sub.add_parser("report", help="write the HTML report of a swept experiment")
    report.add_argument(
        "results", type=Path, help="the experiment's results folder, e.g. results/pricing_designs"
    )
    report.add_argument("--out", type=Path, help="HTML file (default: <results>/report.html)")
    report.add_argument(
        "--png", type=Path, help="also write the headline and analysis figures as PNG images into this folder"
    )
    return parser


def _print_feeders() -> int:
    from lemgrid.grid.feeders import FEEDERS, load_feeder

    rows = [load_feeder(name).describe() for name in FEEDERS]
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))
    print(
        "\nor bring your own: feeder.name=custom, feeder.file=net.json (a pandapower net), optionally "
        "feeder.households_file=households.csv (default: one household per load) and "
        "feeder.three_phase=derive (for balanced data)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lemgrid`` console command.

    Exit codes: 0 done, 1 a run failed or a power flow aborted, 2 a bad input
    (file, field, value) or a disk that cannot be written, 130 interrupted.
    Every exit 2 prints one ``lemgrid: ...`` message naming the input and what is allowed.
    """
    args = _parser().parse_args(argv)
    if args.command == "feeders":
        return _print_feeders()
    if args.command == "viz":
        return _viz(args.host, args.port)

    from lemgrid.experiments.experiment import ExperimentError
    from lemgrid.experiments.report import ReportInputError
    from lemgrid.experiments.sweep import SweepBusyError
    from lemgrid.model.scenario import ScenarioError

    try:
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args.results, args.out, args.png)
        return _scenario_command(args)
    except (ScenarioError, ExperimentError, ReportInputError, SweepBusyError) as exc:
        print(f"lemgrid: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only or full disk, a folder that is a file: the path and the reason
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"lemgrid: cannot write or read {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def _scenario_command(args: argparse.Namespace) -> int:
    """``run`` and ``scenario``: both start from a validated scenario."""
    from lemgrid.experiments.experiment import shipped_experiment
    from lemgrid.experiments.run import with_run_solver
    from lemgrid.model.scenario import Scenario

    # a shipped preset by name, e.g. --scenario presets/congested_suburb_ev_winter
    scenario = with_run_solver(
        Scenario.load(args.scenario and shipped_experiment(args.scenario), args.overrides)
    )

    if args.command == "scenario":
        import yaml

        print(yaml.safe_dump(scenario.model_dump(), sort_keys=False), end="")
        return 0

    from lemgrid.experiments.run import check_writable, format_summary, run_scenario
    from lemgrid.model import PowerFlowError
    from lemgrid.model.checks import check_before_run

    check_before_run(scenario)
    out = args.out or Path("results") / scenario.run_id()
    check_writable(out)
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
    import pandas as pd

    from lemgrid.grid.congestion import describe_congestion

    print("\n" + describe_congestion(pd.read_parquet(out / "congestion.parquet"), scenario.site.timezone))
    print(f"\nresults: {out.resolve()}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from lemgrid.experiments.experiment import check_runs, expand, load_experiment
    from lemgrid.experiments.run import check_writable, with_run_solver
    from lemgrid.experiments.sweep import is_finished, sweep

    if args.workers is not None and args.workers < 1:
        print(f"lemgrid: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    experiment, base = load_experiment(args.experiment, args.overrides, args.seeds)
    results = args.results or Path("results") / experiment.name
    runs = [replace(run, scenario=with_run_solver(run.scenario)) for run in expand(experiment, base, results)]
    if args.dry_run:
        for run in runs:
            state = "done" if is_finished(run) else "to run"
            print(f"{state:7}  {run.folder}  ({run.run_id})")
        print(f"{len(runs)} runs in {results}")
        return 0
    check_runs(runs)
    check_writable(results)
    try:
        table = sweep(experiment, runs, results, workers=args.workers, scheduler=args.scheduler)
    except KeyboardInterrupt:
        print(
            f"\nlemgrid: interrupted; finished runs are kept in {results}, sweep again to resume",
            file=sys.stderr,
        )
        return 130
    failed = int((table.status != "done").sum()) if len(table) else 0
    print(
        f"results: {results.resolve()}  ({len(table)} runs, {failed} failed; one row per run in runs.parquet)"
    )
    if args.report:
        _report(results, None, None)
    return 1 if failed else 0


def _viz(host: str, port: int) -> int:
    import signal
    import subprocess

    from lemgrid.viz.serve import stop, viz_command

    command, env = viz_command(host, port)
    print(f"lemgrid: the app is at http://{host}:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    server = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGTERM, _interrupt)  # a plain kill stops the server too
    try:
        return server.wait()
    except KeyboardInterrupt:
        stop(server)  # never leave the server behind
        return 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _report(results: Path, out: Path | None, png: Path | None) -> int:
    from lemgrid.experiments.report import check_png_export, check_results, write_report
    from lemgrid.experiments.run import check_writable, remove_temporary

    if png is not None:
        check_png_export()  # before the report's work, so a missing browser is a clear error at once
    for warning in check_results(results):
        print(f"lemgrid: warning: {warning}", file=sys.stderr)
    target = out or results / "report.html"
    check_writable(target.parent)
    try:
        path = write_report(results, out, png)
    except OSError:
        remove_temporary(target.parent)
        raise
    print(f"report:  {path.resolve()}\nfindings: {path.with_name('findings.md').resolve()}")
    if png is not None:
        print(f"figures: {png.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
