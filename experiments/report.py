"""One self-contained HTML report of an experiment: which design is better for the grid, and for whom.

It reads ``results/<experiment>/`` (``experiment.json``, ``runs.parquet`` and
the run folders) and writes ``report.html`` with plotly's JavaScript inlined,
so it opens offline, and ``findings.md``, the headline numbers with their
confidence intervals as Markdown tables. Sections (the experiment's
``metrics`` choose the headline metrics, its ``analyses`` add study sections
first, see :mod:`experiments.analyses`):

1. what was run: experiment, swept keys, runs, seeds, failed runs;
2. every headline metric by swept combination (one point per seed);
3. paired differences against each combination's reference (see
   :mod:`experiments.experiment`), seed by seed, with a 95 % confidence
   interval over seeds (Student's t);
4. who pays: each household's bill over the run, by whether it owns PV;
5. a typical day: time-of-day means of feeder import, highest voltage, VUF and
   local price, per combination (first seed);
6. the feeder map: each bus's highest voltage and VUF over the run, per
   combination (first seed), on the feeder's coordinates (or a tree drawing).
"""

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from lemgrid.experiments.experiment import Experiment
from lemgrid.experiments.shared import (
    METRICS,
    NOISE_RELATIVE,
    cell,
    colour,
    difference_text,
    is_noise,
    magnitude,
    mean_ci,
    run_combinations,
)
from lemgrid.experiments.shared import plus_minus as _pm


class ReportInputError(ValueError):
    """A results folder the report cannot read; the message names the file and what is wrong."""


def check_results(results: Path) -> list[str]:
    """Check the results folder the report reads; returns warnings, raises on what it cannot read.

    Refused (:class:`ReportInputError`): no folder, ``experiment.json`` missing or
    not an experiment, ``runs.parquet`` missing, unreadable (garbage or
    truncated), without rows or columns, or rows of runs this experiment does
    not have, and a run marked done whose folder or ``run.json`` is gone (half
    written). Warned (the report is written from the runs that finished and says
    so): failed runs, and combinations with fewer finished seeds than the experiment's.
    """
    if not results.is_dir():
        raise ReportInputError(f"results folder {results}: does not exist; sweep an experiment into it first")
    experiment_file = results / "experiment.json"
    try:
        experiment = Experiment.model_validate_json(experiment_file.read_bytes())
    except OSError as exc:
        raise ReportInputError(f"{experiment_file}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise ReportInputError(
            f"{experiment_file}: not an experiment written by lemgrid sweep ({first[0].strip()})"
        ) from None
    runs_file = results / "runs.parquet"
    if not runs_file.is_file():
        raise ReportInputError(f"{results} holds no runs.parquet: sweep an experiment into it first")
    try:
        runs = pd.read_parquet(runs_file)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        reason = " ".join(str(exc).split())[:200]
        raise ReportInputError(
            f"{runs_file}: not a readable Parquet table ({reason}); sweep again to rewrite it"
        ) from None
    needed = {"seed", "status", "folder", "run_id", *experiment.swept_keys}
    if runs.empty:
        raise ReportInputError(f"{runs_file}: holds no runs; sweep the experiment first")
    missing = sorted(needed - set(runs.columns))
    if missing:
        raise ReportInputError(f"{runs_file}: lacks the columns {missing}; sweep again to rewrite it")
    known = {tuple(cell(c[k]) for k in experiment.swept_keys) for c in experiment.combinations()}
    strangers = [
        row for row in runs[experiment.swept_keys].itertuples(index=False) if tuple(row) not in known
    ]
    if experiment.swept_keys and strangers:
        raise ReportInputError(
            f"{runs_file}: holds runs {tuple(strangers[0])} that {experiment_file.name} does not sweep; "
            "the two files are of different experiments"
        )
    for row in runs[runs.status == "done"].itertuples():
        folder = results / str(row.folder)
        try:
            files = json.loads((folder / "run.json").read_bytes()).get("files", [])
        except (OSError, ValueError, AttributeError):
            files = None
        lost = ["run.json"] if files is None else [f for f in files if not (folder / f).is_file()]
        if lost:
            raise ReportInputError(
                f"run {row.folder} is marked done in runs.parquet but {', '.join(lost)} is missing or "
                "unreadable (half written or deleted); sweep again to redo it"
            )
    warnings = []
    failed = runs[runs.status != "done"]
    if len(failed):
        warnings.append(
            f"{len(failed)} of {len(runs)} runs failed (e.g. {failed.folder.iloc[0]}); the report uses "
            "the finished runs only and lists the failed ones"
        )
    if (runs.status == "done").sum() == 0:
        raise ReportInputError(f"{runs_file}: no run finished; see the runs' run.json for why")
    expected = len(experiment.seed_list)
    done_per = runs[runs.status == "done"].groupby(experiment.swept_keys or (lambda _: 0)).size()
    short = done_per[done_per < expected]
    if len(short) or len(done_per) < len(known):
        warnings.append(
            f"{len(short) + len(known) - len(done_per)} combinations have fewer than the experiment's "
            f"{expected} seeds finished; their means and CIs are over fewer seeds"
        )
    return warnings


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "base"


def load_runs(results: Path) -> tuple[Experiment, pd.DataFrame]:
    """The experiment and its runs table, with per-phase extremes reduced and two labels per run.

    ``combination`` names the run's swept values; ``reference`` the
    combination it is compared with (:meth:`Experiment.reference_of`).
    """
    experiment = Experiment.model_validate_json((results / "experiment.json").read_text())
    runs = pd.read_parquet(results / "runs.parquet")
    combinations = run_combinations(experiment, runs)
    runs["combination"] = [experiment.label(c) for c in combinations]
    runs["reference"] = [experiment.label(experiment.reference_of(c)) for c in combinations]
    for metric, reduce in (("vm_max_pu", "max"), ("vm_min_pu", "min"), ("trafo_loading_max_percent", "max")):
        cols = [f"{metric}_{p}" for p in "abc" if f"{metric}_{p}" in runs]
        if cols:
            runs[metric] = getattr(runs[cols], reduce)(axis=1)
    return experiment, runs


def paired_differences(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per combination: mean of (metric - its reference's) over the seeds both finished, with a 95 % CI."""
    done = runs[runs.status == "done"]
    by_label = {c: g.set_index("seed")[metric] for c, g in done.groupby("combination", sort=False)}
    rows = []
    for (combination, reference), group in done[done.combination != done.reference].groupby(
        ["combination", "reference"], sort=False
    ):
        if reference not in by_label:
            continue
        diff = (group.set_index("seed")[metric] - by_label[reference]).dropna()
        mean, half = mean_ci(diff)
        rows.append(
            {
                "combination": combination,
                "reference": reference,
                "seeds": len(diff),
                "mean_difference": mean,
                "ci95": half,
            }
        )
    return pd.DataFrame(rows, columns=["combination", "reference", "seeds", "mean_difference", "ci95"])


def findings(runs: pd.DataFrame, differences: dict[str, pd.DataFrame]) -> str:
    """Markdown tables: each metric by combination (mean ± 95 % CI over seeds) and its paired difference.

    ``differences`` maps each metric to its :func:`paired_differences` table.
    """
    done = runs[runs.status == "done"]
    parts = []
    for metric, table in differences.items():
        diffs = table.set_index("combination")
        lines = [
            f"### {METRICS[metric]} (`{metric}`)",
            "",
            "| combination | seeds | mean ± 95 % CI | difference to reference (95 % CI) | reference |",
            "|---|---|---|---|---|",
        ]
        scale = magnitude(done[metric])
        for combination, group in done.groupby("combination", sort=False):
            mean, half = mean_ci(group[metric].astype(float))
            row = f"| {combination} | {group[metric].notna().sum()} | {_pm(mean, half, scale)} |"
            if combination in diffs.index:
                d = diffs.loc[combination]
                row += f" {difference_text(d.mean_difference, d.ci95, scale)} | {d.reference} |"
            else:
                row += " (reference) | |"
            lines.append(row)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _by_combination(runs: pd.DataFrame, metric: str, label: str) -> go.Figure:
    fig = go.Figure()
    for combination, group in runs.groupby("combination", sort=False):
        fig.add_trace(
            go.Box(
                y=group[metric],
                name=combination,
                boxpoints="all",
                jitter=0.3,
                text=[f"seed {s}" for s in group.seed],
                showlegend=False,
            )
        )
    fig.update_layout(title=label, yaxis_title=label, height=380, margin={"t": 50, "b": 40})
    return fig


def _difference_bars(table: pd.DataFrame) -> go.Bar:
    """A :func:`paired_differences` table as bars with their 95 % CI whiskers."""
    return go.Bar(
        x=table.combination,
        y=table.mean_difference,
        error_y={"type": "data", "array": table.ci95, "visible": True},
    )


def _differences_figure(table: pd.DataFrame, label: str) -> go.Figure:
    fig = go.Figure(_difference_bars(table))
    fig.update_traces(text=[f"n={n}" for n in table.seeds], hovertext=[f"minus {r}" for r in table.reference])
    fig.update_layout(
        title=f"{label}: difference to the reference (mean over seeds, 95 % CI)",
        height=340,
        margin={"t": 50, "b": 40},
    )
    return fig


def _headline_figure(runs: pd.DataFrame, differences: dict[str, pd.DataFrame]) -> go.Figure:
    """Every headline metric in one grid: paired differences with CIs, or values by combination."""
    metrics = list(differences)
    cols = 2
    n_rows = (len(metrics) + cols - 1) // cols
    paired = (runs.combination != runs.reference).any()
    fig = make_subplots(
        rows=n_rows,
        cols=cols,
        subplot_titles=[METRICS[m] for m in metrics],
        vertical_spacing=0.55 / n_rows,
        horizontal_spacing=0.12,
    )
    done = runs[runs.status == "done"]
    for k, metric in enumerate(metrics):
        where = {"row": k // cols + 1, "col": k % cols + 1}
        if paired:
            trace = _difference_bars(differences[metric]).update(marker_color=colour(0), showlegend=False)
        else:
            by = done.groupby("combination", sort=False)[metric]
            trace = go.Bar(x=list(by.groups), y=by.mean(), marker_color=colour(0), showlegend=False)
        fig.add_trace(trace, **where)
    title = "difference to the reference (mean over seeds, 95 % CI)" if paired else "mean over seeds"
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_yaxes(tickformat=".4~g")
    fig.update_layout(title=title, height=300 * n_rows, margin={"t": 80, "b": 40})
    return fig


def headlines(runs: pd.DataFrame, differences: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    """Per headline metric and compared combination: (metric label, comparison, the finding in words)."""
    done = runs[runs.status == "done"]
    lines = []
    for metric, table in differences.items():
        scale = magnitude(done[metric])
        for d in table.itertuples():
            lines.append(
                (
                    METRICS[metric],
                    f"{d.combination} vs {d.reference}",
                    difference_text(d.mean_difference, d.ci95, scale),
                )
            )
    return lines


def _headline_html(lines: list[tuple[str, str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{html.escape(c)}</td><td>{html.escape(t)}</td></tr>"
        for m, c, t in lines
    )
    return (
        "<table><tr><th>metric</th><th>comparison (same seeds)</th>"
        "<th>paired difference, mean over seeds (95 % CI)</th></tr>" + rows + "</table>"
    )


def _values_figure(runs: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """Small multiples: every headline metric by combination, one point per seed."""
    cols = 3
    n_rows = (len(metrics) + cols - 1) // cols
    fig = make_subplots(
        rows=n_rows,
        cols=cols,
        subplot_titles=[METRICS[m] for m in metrics],
        vertical_spacing=0.5 / max(n_rows, 1),
        horizontal_spacing=0.08,
    )
    for k, metric in enumerate(metrics):
        for i, (combination, group) in enumerate(runs.groupby("combination", sort=False)):
            fig.add_trace(
                go.Box(
                    y=group[metric],
                    name=combination,
                    boxpoints="all",
                    jitter=0.3,
                    marker_color=colour(i),
                    text=[f"seed {s}" for s in group.seed],
                    showlegend=False,
                ),
                row=k // cols + 1,
                col=k % cols + 1,
            )
    fig.update_yaxes(tickformat=".4~g")  # no float noise in the tick labels
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_layout(title="headline metrics by combination (one point per seed)", height=300 * n_rows)
    return fig


def _first_run(runs: pd.DataFrame) -> dict[str, Path]:
    """Per combination, the folder of its first finished seed."""
    done = runs[runs.status == "done"].sort_values("seed")
    return {c: Path(g.folder.iloc[0]) for c, g in done.groupby("combination", sort=False)}


def _bills_figure(results: Path, runs: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    first = _first_run(runs)
    legend_once = next(iter(first), None)
    for combination, folder in first.items():
        hh = pd.read_parquet(results / folder / "households.parquet", columns=["household", "bill_eur"])
        population = pd.read_parquet(results / folder / "population.parquet", columns=["household", "has_pv"])
        bills = hh.groupby("household").bill_eur.sum().rename("bill").reset_index().merge(population)
        for has_pv, group in bills.groupby("has_pv"):
            fig.add_trace(
                go.Box(
                    y=group.bill,
                    x=[combination] * len(group),
                    name="with PV" if has_pv else "without PV",
                    legendgroup=str(has_pv),
                    showlegend=combination == legend_once,
                    marker_color="#e6a700" if has_pv else "#4a6fa5",
                )
            )
    fig.update_layout(
        boxmode="group",
        title="bill per household over the run, by PV ownership (first seed)",
        yaxis_title="EUR (negative: earned)",
        height=420,
    )
    return fig


def _typical_day_figure(results: Path, runs: pd.DataFrame) -> go.Figure:
    panels = [
        ("feeder_import_kw", "feeder import (kW)"),
        ("vm_max", "highest voltage (p.u.)"),
        ("vuf_max_percent", "highest VUF (%)"),
        ("mean_local_price_eur_per_kwh", "mean local price (EUR/kWh)"),
    ]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[p[1] for p in panels])
    for i, (combination, folder) in enumerate(_first_run(runs).items()):
        iv = pd.read_parquet(results / folder / "intervals.parquet")
        iv["vm_max"] = iv[[f"vm_max_{p}_pu" for p in "abc"]].max(axis=1)
        hour = iv.time.dt.hour + iv.time.dt.minute / 60
        day = iv.groupby(hour)[[p[0] for p in panels]].mean()
        for k, (col, _) in enumerate(panels):
            fig.add_trace(
                go.Scatter(
                    x=day.index,
                    y=day[col],
                    name=combination,
                    legendgroup=combination,
                    showlegend=k == 0,
                    line={"color": colour(i)},
                ),
                row=k // 2 + 1,
                col=k % 2 + 1,
            )
    fig.update_xaxes(title_text="hour of day (UTC)")
    fig.update_layout(title="a typical day: time-of-day means (first seed)", height=640)
    return fig


def _feeder_maps(results: Path, runs: pd.DataFrame) -> list[go.Figure]:
    """The baseline's highest voltage and VUF per bus, and each design's difference to it (first seed)."""
    from lemgrid.grid.feeders import load_feeder  # heavy: only for the map
    from lemgrid.grid.metrics import vuf_percent
    from lemgrid.grid.topology import Tree
    from lemgrid.model.scenario import Scenario

    per_bus_by: dict[str, pd.DataFrame] = {}
    where: dict[str, np.ndarray] = {}
    feeder_of: dict[str, str] = {}
    layouts: dict[str, tuple[np.ndarray, pd.Index]] = {}
    for combination, folder in _first_run(runs).items():
        voltages_file = results / folder / "bus_voltages.parquet"
        if not voltages_file.exists():
            continue
        bv = pd.read_parquet(voltages_file)
        if bv.empty:
            continue
        scenario = Scenario.from_json((results / folder / "scenario.json").read_text())
        if scenario.feeder.name == "custom":
            continue  # its file may not be here; the map needs the net
        if scenario.feeder.name not in layouts:
            feeder = load_feeder(scenario.feeder.name)
            layouts[scenario.feeder.name] = (Tree(feeder).layout(), feeder.net.bus.index)
        xy, index = layouts[scenario.feeder.name]
        wide = bv.pivot_table(index=["interval", "bus"], columns="phase", values=["vm_pu", "va_degree"])
        vm = wide["vm_pu"][["a", "b", "c"]].to_numpy()
        va = wide["va_degree"][["a", "b", "c"]].to_numpy()
        per_bus = (
            pd.DataFrame(
                {
                    "bus": wide.index.get_level_values("bus"),
                    "vm_max": vm.max(axis=1),
                    "vuf": vuf_percent(vm, va),
                }
            )
            .groupby("bus")[["vm_max", "vuf"]]
            .max()
        )
        per_bus_by[combination] = per_bus
        feeder_of[combination] = scenario.feeder.name
        where[combination] = xy[index.get_indexer(per_bus.index)]
    if not per_bus_by:
        return []
    baseline = next(iter(per_bus_by))
    base, xy_base = per_bus_by[baseline], where[baseline]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["highest voltage (p.u.)", "highest VUF (%)"])
    for k, (col, scale) in enumerate((("vm_max", "RdYlBu_r"), ("vuf", "Viridis"))):
        fig.add_trace(_map_trace(xy_base, base, col, scale, 0.45 if k == 0 else 1.0), row=1, col=k + 1)
    _hide_axes(fig)
    fig.update_layout(title=f"feeder map: {baseline} (first seed)", height=460)
    figures = [fig]
    others = [c for c in per_bus_by if c != baseline and feeder_of[c] == feeder_of[baseline]]
    if others:
        titles = []
        for c in others:
            delta = per_bus_by[c].vm_max.sub(base.vm_max).dropna()
            same = is_noise(float(delta.abs().max()), 0.0, magnitude(base.vm_max)) if len(delta) else False
            titles.append(f"{c} − {baseline}" + (": identical" if same else ""))
        diff = make_subplots(rows=1, cols=len(others), subplot_titles=titles)
        for k, c in enumerate(others):
            delta = (per_bus_by[c].vm_max - base.vm_max).to_frame("delta").dropna()
            limit = float(delta.delta.abs().max()) or 1e-12
            trace = _map_trace(where[c], delta, "delta", "RdBu_r", 1.0 if k == len(others) - 1 else None)
            trace.marker.update(cmin=-limit, cmax=limit)
            diff.add_trace(trace, row=1, col=k + 1)
        _hide_axes(diff)
        diff.update_layout(
            title=f"difference maps: each bus's highest voltage, design minus {baseline} (p.u., first seed)",
            height=420,
        )
        figures.append(diff)
    return figures


def _map_trace(
    xy: np.ndarray, table: pd.DataFrame, col: str, scale: str, colorbar_x: float | None
) -> go.Scattergl:
    return go.Scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        marker={
            "color": table[col],
            "colorscale": scale,
            "size": 6,
            "showscale": colorbar_x is not None,
            "colorbar": {"x": colorbar_x or 1.0, "len": 0.9, "tickformat": ".3~g"},
        },
        text=[f"bus {b}: {v:.4g}" for b, v in zip(table.index, table[col], strict=True)],
        showlegend=False,
    )


def _hide_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)


def write_report(results: Path, out: Path | None = None, png: Path | None = None) -> Path:
    """Write the experiment's HTML report and ``findings.md``; returns the report's path.

    The report goes to ``out`` (default ``<results>/report.html``) and the
    findings, the headline numbers as Markdown tables, beside it. With
    ``png``, the analysis figures and one grid of the headline metrics are
    also written there as PNG images (:func:`write_images`; needs Playwright,
    from ``lemgrid[viz]``, and Chromium).
    """
    from lemgrid.experiments.analyses import ANALYSES

    experiment, runs = load_runs(results)
    out = out or results / "report.html"
    done = runs[runs.status == "done"]
    failed = runs[runs.status != "done"]
    sections: list[str] = []
    images: list[tuple[str, go.Figure]] = []

    def figure(fig: go.Figure, image: str | None = None) -> None:
        sections.append(fig.to_html(full_html=False, include_plotlyjs=False))
        if image:
            images.append((image, fig))

    baseline = _label(experiment.baseline or experiment.combinations()[0])
    legend = "; ".join(
        f"<b>{html.escape(experiment.label(c))}</b>: {html.escape(_label(c))}"
        for c in experiment.combinations()
    )
    wanted = experiment.metrics or list(METRICS)
    metrics = [m for m in wanted if m in done and done[m].notna().any()]
    empty = [METRICS[m] for m in wanted if m not in metrics]
    differences = {m: paired_differences(runs, m) for m in metrics}  # report, findings and images share them
    notes = []
    for name in experiment.analyses:
        analysis = ANALYSES[name](results, runs, experiment)
        sections.append(f"<h2>{html.escape(analysis.title)}</h2><p>{html.escape(analysis.text)}</p>")
        notes.append(f"## {analysis.title}\n\n{analysis.text}\n\n{analysis.markdown}")
        sections.append(analysis.html)
        for k, fig in enumerate(analysis.figures):
            figure(fig, f"{name}_{k}")
    paired = bool((done.combination != done.reference).any())
    lines = headlines(runs, differences) if paired else []
    first_screen = (
        "<h2>Findings</h2><p>Each design against its reference with the same seeds (same population, "
        "weather and devices): the mean of the paired differences and its 95 % confidence interval "
        f"(Student's t). Baseline: <b>{html.escape(baseline)}</b>. Differences below numerical noise "
        f"(|mean| and CI within {NOISE_RELATIVE:g} of the metric's size) are stated as identical.</p>"
        + _headline_html(lines)
        if lines
        else ""
    )
    if paired:  # first, before the study sections
        headline = _headline_figure(runs, differences)
        sections.insert(0, headline.to_html(full_html=False, include_plotlyjs=False))
        images.append(("headline", headline))
    details = []
    if metrics:
        details.append(
            "<details><summary>Headline metrics by combination, one point per seed"
            + (f" (no value in any run: {html.escape(', '.join(empty))})" if empty else "")
            + "</summary>"
            + _values_figure(done, metrics).to_html(full_html=False, include_plotlyjs=False)
            + "</details>"
        )
    if len(done):
        sections.append("<h2>Who pays</h2>")
        figure(_bills_figure(results, runs))
        sections.append("<h2>A typical day</h2>")
        figure(_typical_day_figure(results, runs))
        maps = _feeder_maps(results, runs)
        if maps:
            sections.append("<h2>Feeder map</h2>")
            for fig in maps:
                figure(fig)
    sections.extend(details)
    seeds = sorted(runs.seed.unique().tolist())
    failed_rows = "".join(
        f"<tr><td>{html.escape(r.combination)}</td><td>{r.seed}</td>"
        f"<td><pre>{html.escape(str(r.error).strip().splitlines()[-1] if r.error else '')}</pre></td></tr>"
        for r in failed.itertuples()
    )
    failed_table = (
        "<h2>Failed runs</h2><table><tr><th>combination</th><th>seed</th><th>error</th></tr>"
        + failed_rows
        + "</table>"
        if len(failed)
        else ""
    )
    summary_line = (
        f"{runs.combination.nunique()} combinations x {len(seeds)} seeds ({', '.join(map(str, seeds))}): "
        f"{len(runs)} runs recorded, {len(done)} finished, {len(failed)} failed"
    )
    if "season" in done and done.season.notna().any():
        summary_line += f"; season: {', '.join(sorted(set(done.season.dropna())))}"
    header = f"""
<h1>lemgrid experiment: {html.escape(experiment.name)}</h1>
<p>{html.escape(experiment.description)}</p>
<ul>
<p>{summary_line}; baseline: {html.escape(baseline)}.</p>
{failed_table}
{first_screen}
<details><summary>What was run</summary><ul>
<li>base: {html.escape(json.dumps(experiment.base))}</li>
<li>swept: {html.escape(json.dumps({**experiment.axes, **experiment.zip}))}</li>
<li>combinations: {legend}</li>
</ul></details>
"""
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>lemgrid: {html.escape(experiment.name)}</title>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}pre{margin:0}summary{cursor:pointer}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body>{header}{''.join(sections)}</body></html>"
    )
    _write_atomic(out, page)
    text = (
        f"# Findings: {experiment.name}\n\n{experiment.description.strip()}\n\n"
        f"Base: `{json.dumps(experiment.base)}`. {summary_line}. Written by `lemgrid report {results}`.\n\n"
        + "Combinations: "
        + "; ".join(f"**{experiment.label(c)}**: `{_label(c)}`" for c in experiment.combinations())
        + ".\n\n"
        + ("## Findings\n\n" if lines else "")
        + "".join(f"- **{m}**, {c}: {t}\n" for m, c, t in lines)
        + ("\n" if lines else "")
        + "".join(f"{n}\n\n" for n in notes)
        + "## Headline metrics\n\n"
        + findings(runs, differences)
        + "\n"
    )
    _write_atomic(out.with_name("findings.md"), text)
    if png is not None:
        if not paired:
            images.append(("headline", _headline_figure(runs, differences)))
        write_images(images, png)
    return out


def check_png_export() -> str:
    """The Chromium that ``--png`` draws with; a :class:`ReportInputError` if it or Playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise ReportInputError(
            "lemgrid report --png needs Playwright: install lemgrid with its viz extra "
            "(pip install 'lemgrid[viz]')"
        ) from None
    from lemgrid.viz.serve import find_chromium

    chromium = find_chromium()
    if chromium is None:
        raise ReportInputError("lemgrid report --png needs Chromium: install the Debian package 'chromium'")
    return chromium


def write_images(images: list[tuple[str, go.Figure]], folder: Path, width: int = 900) -> list[Path]:
    """Draw each figure as ``<name>.png`` in ``folder``, ``width`` pixels wide; returns the files.

    plotly.js (inlined from plotly, nothing fetched) draws them in the system's Chromium, driven by
    Playwright as in the browser tests: one browser for all figures, each drawn only once the page
    has loaded.
    """
    chromium = check_png_export()
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content(f"<html><head><script>{get_plotlyjs()}</script></head><body></body></html>")
            for name, fig in images:
                size = {"format": "png", "width": width, "height": fig.layout.height or 450, "scale": 1}
                url = page.evaluate("([f, o]) => Plotly.toImage(f, o)", [json.loads(fig.to_json()), size])
                files.append(folder / f"{name}.png")
                files[-1].write_bytes(base64.b64decode(url.removeprefix("data:image/png;base64,")))
        finally:
            browser.close()
    return files


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
