"""Plotly figures of a running :class:`model.Model`: the feeder map and the market, grid and agent panels.

Pure functions of the model's state, so they are tested without a browser;
``viz/app.py`` puts them on the page.
"""

from functools import lru_cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lemgrid.grid.feeders import PHASES
from lemgrid.grid.metrics import vuf_percent
from lemgrid.grid.topology import Tree
from lemgrid.model import Model

CONGESTED_PERCENT = 80.0  # lines drawn red from this loading on
COLOUR_BY = ("voltage a", "voltage b", "voltage c", "VUF")


@lru_cache(maxsize=8)
def _geometry(tree: Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Bus coordinates and the line segments of a feeder (cached: the map's fixed part)."""
    xy = tree.layout()
    xs: list[float] = []
    ys: list[float] = []
    ends = []
    for b in tree.branches:
        xs += [float(xy[b.upstream, 0]), float(xy[b.downstream, 0]), np.nan]  # NaN: a gap
        ys += [float(xy[b.upstream, 1]), float(xy[b.downstream, 1]), np.nan]
        ends.append((b.upstream, b.downstream))
    # numpy arrays: plotly validates them at once and the widget sends them as binary buffers
    return xy, np.array(xs), np.array(ys), ends


def feeder_map(model: Model, colour_by: str = "voltage a") -> go.Figure:
    """The feeder on its coordinates, with the interval's state.

    Buses coloured by a phase's voltage or by VUF, congested lines red,
    households marked by devices (hover: strategy), the interval's local trades
    as links. The figure always has the same traces, so the page updates them in place.
    """
    tree = model.tree
    xy, xs, ys, ends = _geometry(tree)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#bbbbbb", "width": 1}, name="lines"))
    state = model.last_grid
    hot: list[int] = []
    if state is not None and state.converged:
        for k, b in enumerate(tree.branches):
            loading = (
                state.line_loading_percent[b.position]
                if b.kind == "line"
                else float(state.trafo_loading_percent[b.position].max())
            )
            if loading >= CONGESTED_PERCENT:
                hot += [3 * k, 3 * k + 1, 3 * k + 2]
        if colour_by == "VUF":
            values = vuf_percent(state.vm_pu, state.va_degree)
            scale, title = "Viridis", "VUF %"
        else:
            values = state.vm_pu[:, PHASES.index(colour_by[-1])]
            scale, title = "RdYlBu_r", f"V {colour_by[-1]} p.u."
    else:
        values, scale, title = np.zeros(len(xy)), "Greys", "no power flow yet"
    fig.add_trace(
        go.Scatter(
            x=xs[hot],
            y=ys[hot],
            mode="lines",
            line={"color": "red", "width": 3},
            name=f"lines >= {CONGESTED_PERCENT:.0f} %",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            marker={
                "color": np.asarray(values, dtype=float),
                "colorscale": scale,
                "size": 5,
                "colorbar": {"title": title},
            },
            name="buses",
            hoverinfo="skip",
        )
    )
    pop = model.population
    hx, hy = xy[tree.household_bus, 0], xy[tree.household_bus, 1]
    devices = [
        "+".join(d for d, has in (("PV", r.has_pv), ("battery", r.has_battery), ("EV", r.has_ev)) if has)
        or "none"
        for r in pop.itertuples()
    ]
    symbols = {"none": "circle-open"}
    fig.add_trace(
        go.Scatter(
            x=hx,
            y=hy,
            mode="markers",
            marker={
                "symbol": [symbols.get(d, "diamond" if "battery" in d else "square") for d in devices],
                "size": 9,
                "color": ["#e6a700" if p else "#4a6fa5" for p in pop.has_pv],
                "line": {"width": 1, "color": "black"},
            },
            text=[
                f"{n}: {d}, {s}, phase {p}"
                for n, d, s, p in zip(pop.household, devices, pop.strategy, pop.phase, strict=True)
            ],
            hoverinfo="text",
            name="households",
        )
    )
    links = [
        t for t in (model.last_clearing.trades if model.last_clearing is not None else []) if t.energy_kwh > 0
    ]
    sellers = np.array([t.seller for t in links], dtype=int)
    buyers = np.array([t.buyer for t in links], dtype=int)
    gap = np.full(len(links), np.nan)
    tx = np.column_stack([hx[sellers], hx[buyers], gap]).ravel()
    ty = np.column_stack([hy[sellers], hy[buyers], gap]).ravel()
    fig.add_trace(
        go.Scatter(
            x=tx, y=ty, mode="lines", line={"color": "#ff7f0e", "width": 1.5, "dash": "dot"}, name="trades"
        )
    )
    fig.update_layout(
        title=f"feeder {model.feeder.name}: interval {model.interval}",
        height=520,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        legend={"orientation": "h"},
        uirevision="map",  # keep zoom and pan while the colours change
    )
    return fig


def _rows(model: Model) -> pd.DataFrame:
    """The interval rows so far (with every column even before the first interval)."""
    if model.interval_rows:
        return pd.DataFrame(model.interval_rows)
    from lemgrid.model.recorder import SCHEMAS

    return pd.DataFrame({f.name: pd.Series(dtype=float) for f in SCHEMAS["intervals"]})


def market_figure(model: Model) -> go.Figure:
    """Local price over time against the retail price and feed-in tariff, with the traded volume."""
    rows = _rows(model)
    market = model.config.market
    fig = go.Figure()
    # the same traces every time (empty before the first interval): the page updates them in place
    x = rows.interval
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
        margin={"t": 40, "b": 30},
        uirevision="market",
    )
    return fig


def order_book_figure(model: Model) -> go.Figure:
    """Supply and demand curves of the last interval (step functions of the orders), and zonal prices."""
    fig = go.Figure()
    orders = model.last_orders
    for side, name, descending in (("buy", "demand", True), ("sell", "supply", False)):
        book = sorted(
            (o for o in orders if o.side == side), key=lambda o: o.price_eur_per_kwh, reverse=descending
        )
        q = np.cumsum([0.0] + [o.energy_kwh for o in book])
        p = [o.price_eur_per_kwh for o in book]
        x: np.ndarray | list[float] = np.repeat(q, 2)[1:-1] if p else []
        fig.add_trace(go.Scatter(x=x, y=np.repeat(p, 2), mode="lines", name=name))
    clearing = model.last_clearing
    if clearing is not None and clearing.zone_prices:
        for zone, price in clearing.zone_prices.items():
            if price is not None:
                fig.add_hline(y=price, line_dash="dot", annotation_text=f"zone {zone}")
    fig.update_layout(
        title=f"order book of interval {max(model.interval - 1, 0)}",
        height=320,
        xaxis={"title": "kWh"},
        yaxis={"title": "EUR/kWh"},
        margin={"t": 40, "b": 30},
    )
    return fig


def grid_figure(model: Model) -> go.Figure:
    """Transformer loading per phase, voltage extremes per phase with the limits, VUF/PVUR and losses."""
    from plotly.subplots import make_subplots

    rows = _rows(model)
    fig = make_subplots(
        rows=2, cols=2, subplot_titles=["transformer loading %", "voltage p.u.", "unbalance %", "losses kW"]
    )
    # the same traces every time (empty before the first interval): the page updates them in place
    x = rows.interval
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


def agents_table(model: Model) -> pd.DataFrame:
    """One row per household: strategy, devices, bill so far, state of charge, last reward and action."""
    pop = model.population
    settlement = model.last_settlement
    return pd.DataFrame(
        {
            "household": pop.household,
            "phase": pop.phase,
            "strategy": pop.strategy,
            "PV kWp": pop.pv_kwp.round(1),
            "battery kWh": pop.battery_capacity_kwh.round(1),
            "EV": pop.has_ev,
            "bill EUR": [round(h.bill_eur, 3) for h in model.households],
            "SoC": [round(h.devices.battery.soc, 2) if h.devices.battery else None for h in model.households],
            "last action": [h.strategy.last_action for h in model.households],
            "last bill EUR": None if settlement is None else np.round(settlement.bill_eur, 4),
        }
    )
