"""What the browser shows of one interval: an immutable snapshot taken right after the model stepped.

The page draws from frames only, never from the live model, so a figure is
always consistent (the model may be stepping in another thread while the page
renders) and the time slider can go back to any recorded interval.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lemgrid.agents.strategies import Order
from lemgrid.grid.metrics import vuf_percent
from lemgrid.model import Model
from lemgrid.model.trades import Trade


@dataclass(frozen=True)
class Frame:
    """The model's state after ``interval`` intervals.

    Attributes:
        interval: intervals done (0: nothing simulated yet).
        time: wall-clock start of the last interval done (the first interval's before any).
        vm_pu, vuf_percent: per bus (and phase) of the last power flow; None before one converged.
        branch_loading_percent: per branch of the feeder tree (lines, and a transformer's worst phase).
        trades, orders: the last clearing's trades and the orders it cleared.
        zone_prices: the last clearing's zonal prices.
        households: one row per household: bill so far, SoC, order, cleared energy and price.
        n_rows: how many of ``model.interval_rows`` belong to this frame.
    """

    interval: int
    time: pd.Timestamp
    vm_pu: np.ndarray | None
    vuf_percent: np.ndarray | None
    branch_loading_percent: np.ndarray | None
    trades: tuple[Trade, ...]
    orders: tuple[Order, ...]
    zone_prices: dict[int, float | None] = field(default_factory=dict)
    households: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_rows: int = 0


def take_frame(model: Model) -> Frame:
    """A snapshot of ``model`` as it is now (call it between steps, in the thread that steps)."""
    k = max(model.interval - 1, 0)
    state = model.last_grid
    vm = vuf = loading = None
    if state is not None and state.converged:
        vm = state.vm_pu.copy()
        vuf = np.asarray(vuf_percent(state.vm_pu, state.va_degree), dtype=float)
        loading = np.array(
            [
                state.line_loading_percent[b.position]
                if b.kind == "line"
                else float(state.trafo_loading_percent[b.position].max())
                for b in model.tree.branches
            ]
        )
    clearing = model.last_clearing
    trades = tuple(t for t in clearing.trades if t.energy_kwh > 1e-9) if clearing is not None else ()
    orders = tuple(o for o in model.last_orders if o.energy_kwh > 1e-9)
    return Frame(
        interval=model.interval,
        time=model.times[k].tz_localize(None),
        vm_pu=vm,
        vuf_percent=vuf,
        branch_loading_percent=loading,
        trades=trades,
        orders=orders,
        zone_prices=dict(clearing.zone_prices) if clearing is not None else {},
        households=_households(model, trades, orders),
        n_rows=len(model.interval_rows),
    )


def _households(model: Model, trades: tuple[Trade, ...], orders: tuple[Order, ...]) -> pd.DataFrame:
    """Per household: what it owns, its state and what it did in the last interval."""
    n = len(model.households)
    bought, sold, paid = np.zeros(n), np.zeros(n), np.zeros(n)
    for t in trades:
        bought[t.buyer] += t.energy_kwh
        sold[t.seller] += t.energy_kwh
        paid[t.buyer] += t.energy_kwh * t.price_eur_per_kwh
        paid[t.seller] -= t.energy_kwh * t.price_eur_per_kwh
    order_text = [""] * n
    for o in orders:
        order_text[o.household] += f"{o.side} {o.energy_kwh:.2f} kWh @ {o.price_eur_per_kwh:.3f}; "
    settlement = model.last_settlement
    pop = model.population
    cleared = bought - sold
    return pd.DataFrame(
        {
            "household": pop.household,
            "zone": pop.zone,
            "phase": pop.phase,
            "strategy": pop.strategy,
            "PV kWp": pop.pv_kwp.round(1),
            "battery kWh": pop.battery_capacity_kwh.round(1),
            "EV": pop.has_ev,
            "SoC": [
                round(h.devices.battery.soc, 2) if h.devices.battery is not None else np.nan
                for h in model.households
            ],
            "EV plugged": [bool(h.devices.ev is not None and h.devices.ev.plugged) for h in model.households],
            "order": [s.rstrip("; ") or "none" for s in order_text],
            "cleared kWh": cleared.round(3),  # bought locally minus sold locally
            "local price EUR/kWh": np.where(
                bought + sold > 0, np.abs(paid) / np.maximum(bought + sold, 1e-12), np.nan
            ).round(4),
            "last bill EUR": np.zeros(n) if settlement is None else np.round(settlement.bill_eur, 4),
            "bill EUR": [round(h.bill_eur, 3) for h in model.households],
        }
    )
