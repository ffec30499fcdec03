"""Which lines and transformer phases run above their loading limit, and when.

Fed interval by interval with the solved loadings; consecutive intervals above the
limit on one element make one episode. The episodes are the run's ``congestion``
table, and :func:`describe_congestion` turns it into the lines ``lemgrid run`` prints.
"""

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from lemgrid.grid.feeders import PHASES, Feeder

TRAFO_LIMIT_PERCENT = 100.0  # a transformer phase is congested above its rating (as model.metrics)
COLUMNS = ["element", "index", "phase", "name", "start", "end", "hours", "max_loading_percent"]


@dataclass(frozen=True)
class PhaseRatings:
    """Per-phase ratings (kVA): a line's maximum current at nominal phase voltage, a transformer's third."""

    line_kva: np.ndarray
    trafo_kva: np.ndarray

    @classmethod
    def of(cls, feeder: Feeder) -> "PhaseRatings":
        """The ratings of ``feeder``'s lines and transformers."""
        net = feeder.net
        line = net.line
        df = line.df.to_numpy() if "df" in line else np.ones(len(line))
        vn_kv = net.bus.vn_kv.loc[line.from_bus].to_numpy()
        line_kva = line.max_i_ka.to_numpy() * line.parallel.to_numpy() * df * vn_kv / np.sqrt(3) * 1000
        return cls(line_kva, net.trafo.sn_mva.to_numpy() * 1000 / 3)

    def per_branch(self, is_line: np.ndarray, position: np.ndarray) -> np.ndarray:
        """The ratings of branches given as (is a line, row position in its table), e.g. a tree's."""
        out = np.empty(len(is_line))
        out[is_line] = self.line_kva[position[is_line]]
        out[~is_line] = self.trafo_kva[position[~is_line]]
        return out

    def overload_kva(
        self, line_percent: np.ndarray, trafo_percent: np.ndarray, line_limit_percent: float
    ) -> float:
        """Apparent power above the limits: lines on their highest phase, transformer phases above 100 %."""
        if not ((line_percent > line_limit_percent).any() or (trafo_percent > TRAFO_LIMIT_PERCENT).any()):
            return 0.0  # what the sums below give then (NaN, a failed power flow, is not above a limit)
        line = np.clip(np.nan_to_num(line_percent) - line_limit_percent, 0, None) / 100 * self.line_kva
        trafo = np.clip(np.nan_to_num(trafo_percent) - TRAFO_LIMIT_PERCENT, 0, None) / 100
        return float(line.sum() + (trafo * self.trafo_kva[:, None]).sum())


@dataclass
class CongestionLog:
    """Episodes of lines above ``line_limit_percent`` and transformer phases above 100 %."""

    line_ids: np.ndarray
    line_names: np.ndarray
    trafo_ids: np.ndarray
    trafo_names: np.ndarray
    line_limit_percent: float
    episodes: list[dict[str, object]] = field(default_factory=list)
    _open: dict[tuple[str, int, str], dict[str, object]] = field(default_factory=dict)

    @classmethod
    def for_feeder(cls, feeder: Feeder, line_limit_percent: float) -> "CongestionLog":
        """An empty log for ``feeder``'s lines and transformers."""
        net = feeder.net

        def names(table: pd.DataFrame) -> np.ndarray:
            return (
                table["name"].fillna("").astype(str).to_numpy()
                if "name" in table
                else np.full(len(table), "")
            )

        return cls(feeder.line_ids, names(net.line), feeder.trafo_ids, names(net.trafo), line_limit_percent)

    def add(self, t0_s: float, t1_s: float, line_percent: np.ndarray, trafo_percent: np.ndarray) -> None:
        """Loadings constant over [t0, t1): lines (n_line,), transformers (n_trafo, 3). NaN is skipped."""
        over: dict[tuple[str, int, str], tuple[float, str]] = {}
        # NaN compares False: a failed power flow congests nothing (the limits are positive)
        for i in np.flatnonzero(line_percent > self.line_limit_percent):
            over[("line", int(self.line_ids[i]), "")] = (float(line_percent[i]), str(self.line_names[i]))
        for i, p in zip(*np.nonzero(trafo_percent > TRAFO_LIMIT_PERCENT), strict=True):
            over[("trafo", int(self.trafo_ids[i]), PHASES[p])] = (
                float(trafo_percent[i, p]),
                str(self.trafo_names[i]),
            )
        for key in [k for k, ep in self._open.items() if k not in over or ep["end_s"] != t0_s]:
            self.episodes.append(self._open.pop(key))
        for key, (loading, name) in over.items():
            episode = self._open.setdefault(
                key, {"key": key, "name": name, "start_s": t0_s, "end_s": t1_s, "max": loading}
            )
            episode["end_s"] = t1_s
            episode["max"] = max(float(episode["max"]), loading)  # type: ignore[arg-type]

    def table(self, start: pd.Timestamp) -> pd.DataFrame:
        """One row per episode (element, start, end in UTC, hours, highest loading), in time order."""
        rows = []
        for ep in [*self.episodes, *self._open.values()]:
            element, index, phase = cast(tuple[str, int, str], ep["key"])
            t0, t1 = float(ep["start_s"]), float(ep["end_s"])  # type: ignore[arg-type]
            rows.append(
                {
                    "element": element,
                    "index": index,
                    "phase": phase,
                    "name": ep["name"],
                    "start": (start + pd.Timedelta(seconds=t0)).tz_convert("UTC"),
                    "end": (start + pd.Timedelta(seconds=t1)).tz_convert("UTC"),
                    "hours": (t1 - t0) / 3600,
                    "max_loading_percent": ep["max"],
                }
            )
        frame = pd.DataFrame(rows, columns=COLUMNS).astype({"index": "int64", "hours": float})
        return frame.sort_values(["start", "element", "index", "phase"], ignore_index=True)


def describe_congestion(table: pd.DataFrame, timezone: str, top: int = 10) -> str:
    """Which elements congest, for how long, how far, and at which local hours (for ``lemgrid run``)."""
    if table.empty:
        return "congestion: no line or transformer phase above its limit"
    local = table.assign(start=table.start.dt.tz_convert(timezone), end=table.end.dt.tz_convert(timezone))
    lines = [f"congestion: {local[['element', 'index', 'phase']].drop_duplicates().shape[0]} elements"]
    by = local.groupby(["element", "index", "phase", "name"], sort=False)
    summary = by.agg(hours=("hours", "sum"), peak=("max_loading_percent", "max"), episodes=("hours", "size"))
    for (element, index, phase, name), row in (
        summary.sort_values("hours", ascending=False).head(top).iterrows()
    ):
        eps = local[(local.element == element) & (local["index"] == index) & (local.phase == phase)]
        when = ", ".join(
            f"{s:%a %d %b %H:%M}-{e:%H:%M}" for s, e in zip(eps.start.head(3), eps.end.head(3), strict=True)
        )
        more = f" and {len(eps) - 3} more" if len(eps) > 3 else ""
        label = f"{element} {index}" + (f" phase {phase}" if phase else "") + (f" ({name})" if name else "")
        lines.append(
            f"  {label}: {row.hours:.2f} h above the limit in {int(row.episodes)} episodes, up to "
            f"{row.peak:.0f} %; {when}{more}"
        )
    if len(summary) > top:
        lines.append(f"  ... and {len(summary) - top} more elements (all in congestion.parquet)")
    return "\n".join(lines)
