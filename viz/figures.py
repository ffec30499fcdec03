"""Plotly figures of a running :class:`model.Model`: the feeder map and the market, grid and agent panels.

Pure functions of the model's fixed parts (feeder, population, scenario) and
one :class:`viz.frames.Frame`, so they are tested without a browser and stay
consistent while the model steps; ``viz/panels.py`` puts them on the page. Every
figure has the same traces from frame to frame (the page updates them in
place) and fixed colour scales, so colours compare across time.
"""

from functools import lru_cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lemgrid.grid.feeders import PHASES
from lemgrid.grid.topology import Tree
from lemgrid.model import Model
from lemgrid.viz.frames import Frame

COLOUR_BY = ("voltage a", "voltage b", "voltage c", "VUF")
# fixed colour scales: 0.90-1.10 p.u. diverging at 1.0 (EN 50160's +-10 %), VUF 0-2 % (its limit)
VOLTAGE_RANGE_PU = (0.90, 1.10)
VUF_RANGE_PERCENT = (0.0, 2.0)
# line loading in fixed bands, one legend entry each: (lower bound %, colour, label)
LOADING_BANDS = (
    (0.0, "#c8c8c8", "< 50 %"),
    (50.0, "#f2b134", "50-80 %"),
    (80.0, "#e8590c", "80-100 %"),
    (100.0, "#c00000", ">= 100 %"),
)
TRADE_FULL_WIDTH_KWH = 1.0  # a trade of this energy (or more) is drawn with the widest arrow
ZONE_COLOURS = ("#4a6fa5", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@lru_cache(maxsize=8)
def _geometry(tree: Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bus coordinates and each branch's segment as (x0, x1, NaN) rows (cached: the map's fixed part)."""
    xy = tree.layout()
    up = np.array([b.upstream for b in tree.branches])
    down = np.array([b.downstream for b in tree.branches])
    gap = np.full(len(up), np.nan)  # NaN: a break between segments
    xs = np.column_stack([xy[up, 0], xy[down, 0], gap])
    ys = np.column_stack([xy[up, 1], xy[down, 1], gap])
    return xy, xs, ys


def _devices(pop: pd.DataFrame) -> list[str]:
    return [
        "+".join(d for d, has in (("PV", r.has_pv), ("battery", r.has_battery), ("EV", r.has_ev)) if has)
        or "none"
        for r in pop.itertuples()
    ]


def feeder_map(model: Model, frame: Frame, colour_by: str = "voltage a") -> go.Figure:
    """The feeder on its coordinates, in the state of ``frame``.

    Buses coloured by a phase's voltage (0.90-1.10 p.u., diverging at 1.0) or
    by VUF (0-2 %), lines by loading band, households by zone and marked by
    their devices (hover: devices, SoC, order, cleared energy, price, bill so
    far), the interval's local trades as arrows from seller to buyer whose
    width follows the energy.
    """
    tree = model.tree
    xy, xs, ys = _geometry(tree)
    fig = go.Figure()
    loading = frame.branch_loading_percent
    for k, (low, colour, label) in enumerate(LOADING_BANDS):
        high = LOADING_BANDS[k + 1][0] if k + 1 < len(LOADING_BANDS) else np.inf
        band = (
            np.flatnonzero((loading >= low) & (loading < high))
            if loading is not None
            else np.arange(len(xs) if k == 0 else 0)
        )
        fig.add_trace(
            go.Scatter(
                x=xs[band].ravel(),
                y=ys[band].ravel(),
                mode="lines",
                line={"color": colour, "width": 1 if k == 0 else 3},
                name=f"line loading {label}",
                hoverinfo="skip",
            )
        )
    if colour_by == "VUF":
        values, (cmin, cmax) = frame.vuf_percent, VUF_RANGE_PERCENT
        scale, title, cmid = "Viridis", "VUF %", None
    else:
        phase = PHASES.index(colour_by[-1])
        values = None if frame.vm_pu is None else frame.vm_pu[:, phase]
        (cmin, cmax), scale, title, cmid = VOLTAGE_RANGE_PU, "RdBu_r", f"V {colour_by[-1]} p.u.", 1.0
    shown = np.full(len(xy), np.nan) if values is None else np.asarray(values, dtype=float)
    bus_text = (
        [f"bus {b}: no power flow yet" for b in range(len(xy))]
        if frame.vm_pu is None or frame.vuf_percent is None
        else [
            f"bus {b}: V a/b/c {v[0]:.3f} / {v[1]:.3f} / {v[2]:.3f} p.u., VUF {u:.2f} %"
            for b, (v, u) in enumerate(zip(frame.vm_pu, frame.vuf_percent, strict=True))
        ]
    )
    fig.add_trace(
        go.Scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            marker={
                "color": shown,
                "colorscale": scale,
                "cmin": cmin,
                "cmax": cmax,
                "cmid": cmid,
                "size": 5,
                "colorbar": {"title": {"text": title}, "len": 0.8},
            },
            text=bus_text,
            hoverinfo="text",
            name="buses",
        )
    )
    pop = model.population
    hx, hy = xy[tree.household_bus, 0], xy[tree.household_bus, 1]
    devices = _devices(pop)
    hh = frame.households
    text = [
        f"<b>{r['household']}</b> (zone {r['zone']}, phase {r['phase']}, {r['strategy']})<br>devices: {d}"
        + (f", SoC {r['SoC']:.0%}" if r["SoC"] == r["SoC"] else "")
        + (", EV plugged in" if r["EV plugged"] else "")
        + f"<br>order: {r['order']}<br>cleared {r['cleared kWh']:+.2f} kWh"
        + (
            f" at {r['local price EUR/kWh']:.3f} EUR/kWh"
            if r["local price EUR/kWh"] == r["local price EUR/kWh"]
            else ""
        )
        + f"<br>bill so far {r['bill EUR']:.2f} EUR (last interval {r['last bill EUR']:+.3f})"
        for r, d in zip(hh.to_dict("records"), devices, strict=True)
    ]
    symbols = [{"none": "circle-open"}.get(d, "diamond" if "battery" in d else "square") for d in devices]
    zone = pop.zone.to_numpy()
    for z in range(int(zone.max()) + 1):
        mine = np.flatnonzero(zone == z)
        fig.add_trace(
            go.Scatter(
                x=hx[mine],
                y=hy[mine],
                mode="markers",
                marker={
                    "symbol": [symbols[i] for i in mine],
                    "size": 10,
                    "color": ZONE_COLOURS[z % len(ZONE_COLOURS)],
                    "line": {"width": 1, "color": "black"},
                },
                text=[text[i] for i in mine],
                hoverinfo="text",
                name=f"households, zone {z}" if zone.max() > 0 else "households",
            )
        )
    trades = frame.trades
    sellers = np.array([t.seller for t in trades], dtype=int)
    buyers = np.array([t.buyer for t in trades], dtype=int)
    # one invisible marker mid-way along each trade, for its hover text (arrows cannot hover)
    fig.add_trace(
        go.Scatter(
            x=(hx[sellers] + hx[buyers]) / 2,
            y=(hy[sellers] + hy[buyers]) / 2,
            mode="markers",
            marker={"size": 8, "color": "#ff7f0e", "opacity": 0.5},
            text=[
                f"{pop.household.iloc[t.seller]} -> {pop.household.iloc[t.buyer]}: "
                f"{t.energy_kwh:.3f} kWh at {t.price_eur_per_kwh:.3f} EUR/kWh"
                for t in trades
            ],
            hoverinfo="text",
            name="trades (seller -> buyer, width: kWh)",
        )
    )
    arrows = [
        {
            "x": hx[t.buyer],
            "y": hy[t.buyer],
            "ax": hx[t.seller],
            "ay": hy[t.seller],
            "xref": "x",
            "yref": "y",
            "axref": "x",
            "ayref": "y",
            "showarrow": True,
            "arrowhead": 2,
            "arrowsize": 1,
            "arrowwidth": 0.8 + 4.2 * min(t.energy_kwh / TRADE_FULL_WIDTH_KWH, 1.0),
            "arrowcolor": "#ff7f0e",
            "opacity": 0.8,
            "text": "",
        }
        for t in trades
    ]
    fig.update_layout(
        title=f"feeder {model.feeder.name}: {frame.time:%a %d %b %H:%M} (interval {frame.interval})",
        height=560,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        legend={"orientation": "h"},
        annotations=arrows,
        uirevision="map",  # keep zoom and pan while the colours change
    )
    return fig


def rows_of(model: Model, frame: Frame) -> pd.DataFrame:
    """The interval rows up to ``frame`` (with every column even before the first), timed by wall clock."""
    rows = model.interval_rows[: frame.n_rows]  # a copy: the list may grow while the page draws
    if rows:
        table = pd.DataFrame(rows)
    else:
        from lemgrid.model.recorder import SCHEMAS

        table = pd.DataFrame({f.name: pd.Series(dtype=float) for f in SCHEMAS["intervals"]})
    table["clock"] = model.times.tz_localize(None)[table.interval.to_numpy(dtype=int)]
    return table


def market_figure(model: Model, frame: Frame) -> go.Figure:
    """Local price over time against the retail price and feed-in tariff, with the traded volume."""
    rows = rows_of(model, frame)
    market = model.config.market
    fig = go.Figure()
    # the same traces every time (empty before the first interval): the page updates them in place
    x = rows.clock
    fig.add_trace(go.Bar(x=x, y=rows.local_volume_kwh, name="traded kWh", yaxis="y2", opacity=0.4))
    fig.add_trace(
        go.Scatter(x=x, y=rows.mean_local_price_eur_per_kwh, mode="lines+markers", name="local price")
    )
    fig.add_trace(
        go.Scatter(x=x, y=[market.retail_price_eur_per_kwh] * len(x), name="retail", line={"dash": "dash"})
    )
    fig.add_trace(
        go.Scatter(x=x, y=[market.feed_in_tariff_eur_per_kwh] * len(x), name="feed-in", line={"dash": "dot"})
    )
    fig.update_layout(
        title="market: price and volume",
        height=320,
        yaxis={"title": "EUR/kWh"},
        yaxis2={"title": "kWh", "overlaying": "y", "side": "right"},
        xaxis={"title": "local time"},
        margin={"t": 40, "b": 30},
        uirevision="market",
    )
    return fig


def order_book_figure(model: Model, frame: Frame) -> go.Figure:
    """Supply and demand curves of the frame's interval (step functions of the orders), and zonal prices."""
    fig = go.Figure()
    orders = frame.orders
    for side, name, descending in (("buy", "demand", True), ("sell", "supply", False)):
        book = sorted(
            (o for o in orders if o.side == side), key=lambda o: o.price_eur_per_kwh, reverse=descending
        )
        q = np.cumsum([0.0] + [o.energy_kwh for o in book])
        p = [o.price_eur_per_kwh for o in book]
        x: np.ndarray | list[float] = np.repeat(q, 2)[1:-1] if p else []
        fig.add_trace(go.Scatter(x=x, y=np.repeat(p, 2), mode="lines", name=name))
    if frame.zone_prices:
        for zone, price in frame.zone_prices.items():
            if price is not None:
                fig.add_hline(y=price, line_dash="dot", annotation_text=f"zone {zone}")
    fig.update_layout(
        title=f"order book at {frame.time:%H:%M}",
        height=320,
        xaxis={"title": "kWh"},
        yaxis={"title": "EUR/kWh"},
        margin={"t": 40, "b": 30},
    )
    return fig


def grid_figure(model: Model, frame: Frame) -> go.Figure:
    """Transformer loading per phase, voltage extremes per phase with the limits, VUF/PVUR and losses."""
    from plotly.subplots import make_subplots

    rows = rows_of(model, frame)
    fig = make_subplots(
        rows=2, cols=2, subplot_titles=["transformer loading %", "voltage p.u.", "unbalance %", "losses kW"]
    )
    # the same traces every time (empty before the first interval): the page updates them in place
    x = rows.clock
    for p in PHASES:
        fig.add_trace(go.Scatter(x=x, y=rows[f"trafo_loading_{p}_percent"], name=f"trafo {p}"), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=rows[f"vm_max_{p}_pu"], name=f"max {p}"), row=1, col=2)
        fig.add_trace(
            go.Scatter(x=x, y=rows[f"vm_min_{p}_pu"], name=f"min {p}", line={"dash": "dot"}), row=1, col=2
        )
    grid = model.config.grid
    for limit in (grid.v_min_pu, grid.v_max_pu):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[limit] * len(x),
                name="limit",
                line={"color": "red", "dash": "dash"},
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.add_trace(go.Scatter(x=x, y=rows.vuf_max_percent, name="VUF"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=rows.pvur_max_percent, name="PVUR"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=rows.losses_kw, name="losses"), row=2, col=2)
    fig.update_layout(title="grid", height=520, margin={"t": 60, "b": 30}, uirevision="grid")
    return fig


def agents_table(frame: Frame, sort_by: str = "bill EUR", descending: bool = True) -> pd.DataFrame:
    """One row per household in the frame's state, sorted by a column."""
    return frame.households.sort_values(sort_by, ascending=not descending, kind="stable")
