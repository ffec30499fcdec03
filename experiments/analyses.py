"""Study analyses: what the impact studies ask beyond the headline metrics.

An experiment names the analyses its report should add (``analyses:
[hosting_capacity]``); each reads the runs table and the run folders and
returns its text, Markdown and HTML tables (means with 95 % confidence
intervals over seeds) and figures:

- ``hosting_capacity``: per seed, the highest swept ``penetration.pv`` below
  the first one that violates a voltage or loading limit (review 3.5);
- ``unbalance_distribution``: distributions of the feeder's per-interval
  highest VUF and PVUR, and the share of intervals above the 2 % VUF limit of
  EN 50160 (review 3.2, 6.3);
- ``self_consumption_voltage``: each PV owner's self-consumption rate against
  the minutes its own supply voltage was outside limits (review 3.1);
- ``loss_allocation``: who carries the losses: the shares allocated to the
  third of households farthest from the transformer and to PV owners, and
  the check that allocations add up to the measured losses (review 5.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from lemgrid.experiments.shared import colour, mean_ci_text, run_combinations

if TYPE_CHECKING:
    from lemgrid.experiments.experiment import Experiment


@dataclass
class Analysis:
    """One analysis's contribution to the report."""

    title: str
    text: str
    table: pd.DataFrame
    figures: list[go.Figure] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        """The table as Markdown."""
        header = "| " + " | ".join(self.table.columns) + " |"
        rule = "|" + "---|" * len(self.table.columns)
        rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in self.table.itertuples(index=False)]
        return "\n".join([header, rule, *rows])

    @property
    def html(self) -> str:
        """The table as HTML."""
        return self.table.to_html(index=False, border=0)


def _done(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs.status == "done"]


def _scenario(results: Path, folder: str) -> Any:
    from lemgrid.model.scenario import Scenario

    return Scenario.from_json((results / folder / "scenario.json").read_text())


def hosting_capacity(results: Path, runs: pd.DataFrame, experiment: Experiment) -> Analysis:
    """Per design (every swept value but the PV penetration) and seed: the highest penetration hosted."""
    key = "penetration.pv"
    if key not in experiment.axes:
        raise ValueError(
            f"analysis 'hosting_capacity' needs {key!r} as an axis; axes: {list(experiment.axes)}"
        )
    designs = experiment.model_copy(update={"axes": {k: v for k, v in experiment.axes.items() if k != key}})
    done = _done(runs).copy()
    combinations = run_combinations(experiment, done)
    done["design"] = [designs.label(c) for c in combinations]
    reference_of = {designs.label(c): designs.label(experiment.reference_of(c)) for c in combinations}
    done["voltage"] = done.intervals_with_voltage_violation > 0
    done["thermal"] = done.congested_hours > 0
    done["violated"] = done.voltage | done.thermal
    levels = sorted(done[key].unique())
    rows, per_seed = [], []
    for design, group in done.groupby("design", sort=False):
        for seed, runs_of_seed in group.groupby("seed"):
            ordered = runs_of_seed.sort_values(key)
            bad = ordered[ordered.violated]
            if len(bad):
                first = bad.iloc[0]
                below = ordered[ordered[key] < first[key]]
                capacity = float(below[key].max()) if len(below) else 0.0
                if first.voltage:
                    limit = "overvoltage" if first.min_overvoltage_headroom_pu < 0 else "undervoltage"
                else:
                    limit = "thermal"
            else:
                capacity, limit = float(ordered[key].max()), "none reached"
            per_seed.append({"design": design, "seed": seed, "capacity": capacity, "limit": limit})
    table = pd.DataFrame(per_seed)
    capacity = table.pivot(index="seed", columns="design", values="capacity")
    for design, group in table.groupby("design", sort=False):
        reference = reference_of[design]
        paired = capacity[design] - capacity[reference]  # same households and weather per seed
        rows.append(
            {
                "design": design,
                "seeds": len(group),
                "hosting capacity (share of households with PV)": mean_ci_text(group.capacity),
                "reference": reference,
                "difference to the reference": "(reference)" if reference == design else mean_ci_text(paired),
                "first limit violated": ", ".join(
                    f"{k} ({v})" for k, v in group.limit.value_counts().items()
                ),
                "seeds without a violation up to the highest level": int(
                    (group.limit == "none reached").sum()
                ),
            }
        )
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["share of seeds violating a limit", "intervals with a voltage violation"],
    )
    for i, (design, group) in enumerate(done.groupby("design", sort=False)):
        by_level = group.groupby(key)
        line = {"color": colour(i)}
        fig.add_trace(
            go.Scatter(x=levels, y=by_level.violated.mean().reindex(levels), name=design, line=line),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=levels,
                y=by_level.intervals_with_voltage_violation.mean().reindex(levels),
                name=design,
                showlegend=False,
                line=line,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="PV penetration (share of households)")
    fig.update_layout(
        title="hosting capacity: when limits are first violated (mean over seeds)",
        height=480,
        legend={"orientation": "h", "y": -0.25},
    )
    return Analysis(
        title="Hosting capacity per design",
        text=(
            "For every seed, the highest PV penetration below the first swept level "
            f"({', '.join(map(str, levels))}) "
            "at which any interval has a bus voltage outside limits or a line or transformer above its limit "
            "(0 when even the lowest level violates; the highest level when none does, a lower bound)."
        ),
        table=pd.DataFrame(rows),
        figures=[fig],
    )


def unbalance_distribution(results: Path, runs: pd.DataFrame, experiment: Experiment) -> Analysis:
    """Per combination: distributions of the feeder's highest VUF and PVUR per interval."""
    done = _done(runs)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["highest VUF per interval (%)", "highest PVUR per interval (%)"],
    )
    rows = []
    for i, (combination, group) in enumerate(done.groupby("combination", sort=False)):
        per_seed: dict[str, list[float]] = {n: [] for n in ("vuf50", "vuf95", "vuf99", "over2", "pvur95")}
        pooled = []
        for folder in group.folder:
            iv = pd.read_parquet(
                results / folder / "intervals.parquet", columns=["vuf_max_percent", "pvur_max_percent"]
            ).dropna()
            pooled.append(iv)
            vuf = iv.vuf_max_percent.to_numpy()
            per_seed["vuf50"].append(float(np.percentile(vuf, 50)))
            per_seed["vuf95"].append(float(np.percentile(vuf, 95)))
            per_seed["vuf99"].append(float(np.percentile(vuf, 99)))
            per_seed["over2"].append(float((vuf > 2.0).mean()))
            per_seed["pvur95"].append(float(np.percentile(iv.pvur_max_percent, 95)))
        rows.append(
            {
                "combination": combination,
                "seeds": len(group),
                "VUF median (%)": mean_ci_text(per_seed["vuf50"]),
                "VUF p95 (%)": mean_ci_text(per_seed["vuf95"]),
                "VUF p99 (%)": mean_ci_text(per_seed["vuf99"]),
                "intervals with VUF > 2 %": mean_ci_text(per_seed["over2"]),
                "PVUR p95 (%)": mean_ci_text(per_seed["pvur95"]),
            }
        )
        everything = pd.concat(pooled)
        for col, column in enumerate(("vuf_max_percent", "pvur_max_percent")):
            values = np.sort(everything[column].to_numpy())
            fig.add_trace(
                go.Scatter(
                    x=values,
                    y=np.arange(1, len(values) + 1) / len(values),
                    name=combination,
                    legendgroup=combination,
                    showlegend=col == 0,
                    line={"color": colour(i)},
                ),
                row=1,
                col=col + 1,
            )
    fig.update_yaxes(title_text="share of intervals at or below", col=1)
    fig.update_layout(
        title="unbalance distributions (all seeds pooled)",
        height=560,
        legend={"orientation": "h", "y": -0.2},
    )
    return Analysis(
        title="Phase unbalance distributions",
        text=(
            "Per interval, the feeder's highest voltage unbalance factor (negative over positive sequence, "
            "IEC) and phase voltage unbalance rate (IEEE); percentiles per seed, then mean ± 95 % CI over "
            "seeds. EN 50160 limits the 10-minute VUF to 2 % for 95 % of a week."
        ),
        table=pd.DataFrame(rows),
        figures=[fig],
    )


def self_consumption_voltage(results: Path, runs: pd.DataFrame, experiment: Experiment) -> Analysis:
    """Per PV owner: self-consumption rate against minutes outside voltage limits at its own supply point."""
    done = _done(runs)
    fig = go.Figure()
    rows = []
    for i, (combination, group) in enumerate(done.groupby("combination", sort=False)):
        rho, rate, minutes, owners_outside = [], [], [], []
        for k, folder in enumerate(group.sort_values("seed").folder):
            per_household = _household_voltage_and_self_consumption(results, folder)
            pv = per_household[per_household.pv_kwh > 0]
            rate.append(pv.self_consumption.mean())
            minutes.append(pv.minutes_outside.mean())
            owners_outside.append(float((pv.minutes_outside > 0).mean()))
            if pv.minutes_outside.nunique() > 1 and pv.self_consumption.nunique() > 1:
                rho.append(float(stats.spearmanr(pv.self_consumption, pv.minutes_outside).statistic))
            if k == 0:
                fig.add_trace(
                    go.Scatter(
                        x=pv.self_consumption,
                        y=pv.minutes_outside,
                        mode="markers",
                        name=combination,
                        marker={"color": colour(i), "size": 7, "opacity": 0.7},
                        text=pv.index,
                    )
                )
        rows.append(
            {
                "combination": combination,
                "seeds": len(group),
                "self-consumption of PV owners": mean_ci_text(rate),
                "minutes outside limits per PV owner": mean_ci_text(minutes),
                "PV owners ever outside limits": mean_ci_text(owners_outside),
                "Spearman rho (self-consumption, minutes outside)": mean_ci_text(rho),
                "seeds with a defined rho": len(rho),
            }
        )
    fig.update_layout(
        title="each PV owner: self-consumption against minutes outside voltage limits (first seed)",
        xaxis_title="self-consumption rate (1 - export / PV generation)",
        yaxis_title="minutes with its supply voltage outside limits",
        height=460,
    )
    return Analysis(
        title="Self-consumption and voltage quality per household",
        text=(
            "For every PV owner: self-consumption = 1 - energy exported / PV energy (export = positive net "
            "injection at its meter) and the minutes its own supply voltage (its phase at its bus) was "
            "outside "
            "the limits; rho is the rank correlation across PV owners within one run, then mean ± 95 % CI "
            "over seeds. A negative rho means owners who use more of their PV see fewer violations."
        ),
        table=pd.DataFrame(rows),
        figures=[fig],
    )


def _household_voltage_and_self_consumption(results: Path, folder: str) -> pd.DataFrame:
    scenario = _scenario(results, folder)
    hh = pd.read_parquet(
        results / folder / "households.parquet", columns=["household", "pv_kw", "net_injection_kw", "vm_pu"]
    )
    hours = scenario.interval_minutes / 60
    hh["export_kwh"] = hh.net_injection_kw.clip(lower=0) * hours
    hh["pv_kwh"] = hh.pv_kw * hours
    hh["outside"] = (hh.vm_pu < scenario.grid.v_min_pu) | (hh.vm_pu > scenario.grid.v_max_pu)
    out = hh.groupby("household").agg(
        pv_kwh=("pv_kwh", "sum"), export_kwh=("export_kwh", "sum"), outside=("outside", "sum")
    )
    out["self_consumption"] = 1 - out.export_kwh / out.pv_kwh.where(out.pv_kwh > 0)
    out["minutes_outside"] = out.outside * scenario.interval_minutes
    return out


def loss_allocation(results: Path, runs: pd.DataFrame, experiment: Experiment) -> Analysis:
    """Per allocation method: who carries the losses, by electrical distance and PV ownership."""
    from lemgrid.grid.feeders import load_feeder
    from lemgrid.grid.topology import Tree

    done = _done(runs)
    trees: dict[str, tuple[Tree, pd.Index]] = {}
    fig = go.Figure()
    rows: list[dict[str, Any]] = []
    shares: dict[str, tuple[pd.Series, pd.Series]] = {}
    for i, (combination, group) in enumerate(done.groupby("combination", sort=False)):
        far, pv_share, gap, spread = {}, {}, [], []
        for k, (seed, folder, losses_kwh) in enumerate(
            group.sort_values("seed")[["seed", "folder", "losses_kwh"]].itertuples(index=False)
        ):
            scenario = _scenario(results, folder)
            name = scenario.feeder.name
            if name not in trees:
                feeder = load_feeder(name)
                trees[name] = (Tree(feeder), feeder.net.bus.index)
            tree, index = trees[name]
            population = pd.read_parquet(
                results / folder / "population.parquet", columns=["household", "bus", "has_pv"]
            )
            hh = pd.read_parquet(
                results / folder / "households.parquet", columns=["household", "loss_allocation_kwh"]
            )
            allocated = hh.groupby("household").loss_allocation_kwh.sum()
            population = population.set_index("household").join(allocated)
            population["distance_ohm"] = tree.z_from_root_ohm[index.get_indexer(population.bus)]
            total = population.loss_allocation_kwh.sum()
            farthest = population.distance_ohm >= population.distance_ohm.quantile(2 / 3)
            far[seed] = population.loss_allocation_kwh[farthest].sum() / total
            pv_share[seed] = population.loss_allocation_kwh[population.has_pv].sum() / total
            gap.append(total - losses_kwh)
            spread.append(population.loss_allocation_kwh.std(ddof=0))
            if k == 0:
                fig.add_trace(
                    go.Scatter(
                        x=population.distance_ohm,
                        y=population.loss_allocation_kwh,
                        mode="markers",
                        name=combination,
                        marker={
                            "color": colour(i),
                            "size": 7,
                            "opacity": 0.75,
                            "symbol": np.where(population.has_pv, "circle", "x"),
                        },
                        text=[
                            f"{h} ({'PV' if p else 'no PV'})"
                            for h, p in zip(population.index, population.has_pv, strict=True)
                        ],
                    )
                )
        shares[combination] = (pd.Series(far), pd.Series(pv_share))
        rows.append(
            {
                "combination": combination,
                "reference": group.reference.iloc[0],
                "seeds": len(group),
                "share to the farthest third": mean_ci_text(list(far.values())),
                "share to PV owners": mean_ci_text(list(pv_share.values())),
                "spread across households (kWh, std)": mean_ci_text(spread),
                "allocated - measured losses (kWh)": mean_ci_text(gap),
            }
        )
    for row in rows:  # paired by seed: the same households and weather under the reference method
        own, reference = shares[row["combination"]], shares.get(row.pop("reference"), None)
        for k, column in enumerate(("farthest third", "PV owners")):
            name = f"{column}: difference to reference"
            if reference is None or reference is own:
                row[name] = "(reference)"
            else:
                row[name] = mean_ci_text(own[k] - reference[k])
    fig.update_layout(
        title="losses allocated to each household over the run against its distance from the transformer "
        "(first seed; circles own PV)",
        xaxis_title="|Z| of the path from the transformer (ohm)",
        yaxis_title="allocated losses (kWh; negative: credited)",
        height=460,
    )
    return Analysis(
        title="Who carries the losses",
        text=(
            "Each household's allocated losses summed over the run; shares of the total allocated to the "
            "third of households electrically farthest from the transformer and to PV owners, mean ± 95 % CI "
            "over seeds, and their paired differences to the reference method (same seed: same households "
            "and weather). The allocated - measured column checks conservation."
        ),
        table=pd.DataFrame(rows),
        figures=[fig],
    )


ANALYSES: dict[str, Callable[[Path, pd.DataFrame, Experiment], Analysis]] = {
    "hosting_capacity": hosting_capacity,
    "unbalance_distribution": unbalance_distribution,
    "self_consumption_voltage": self_consumption_voltage,
    "loss_allocation": loss_allocation,
}
