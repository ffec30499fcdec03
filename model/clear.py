"""Stage 3, clear: the market clears the orders under the network-constraint mode.

``none`` clears the orders as they are. ``post_check`` clears first; the DSO
then cuts households and their trades are curtailed pro rata (``trade_cuts``).
``sensitivity`` and ``opf`` cut the households' orders before clearing. The
result carries the trades, the price(s), the DSO's cuts and each household's
cleared quantities, which the dispatch stage will split onto devices.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lemgrid.agents.dso import DSO
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan
from lemgrid.agents.strategies import Order
from lemgrid.grid.sensitivity import one_hot
from lemgrid.model.constraints import Curtailment, Request
from lemgrid.model.decide import Decided
from lemgrid.model.flexibility import Procurement
from lemgrid.model.interval import Connections, Interval, injections, reactive
from lemgrid.model.market import ClearingResult, Mechanism
from lemgrid.model.trades import Trade, traded_kwh

TradeCuts = dict[int, tuple[float, str]]  # trade position -> curtailed kWh and the reason


@dataclass(frozen=True)
class Cleared:
    """The clearing, the DSO's cuts (kW per household) and the trades' curtailments (post-check)."""

    clearing: ClearingResult
    cut: Curtailment
    trade_cuts: TradeCuts = field(default_factory=dict)
    day_ahead: ClearingResult | None = None  # the day-ahead stage's clearing of this interval, if any
    forecast_eur_per_kwh: float | None = None  # with bid curves: the local price the households expected
    flexibility: Procurement | None = None  # the DSO's flexibility purchase, if it runs a flexibility market

    @property
    def trades(self) -> list[Trade]:
        """Every local trade settled in the interval: the interval market's, then the day-ahead market's."""
        if self.day_ahead is None:
            return self.clearing.trades
        return [*self.clearing.trades, *self.day_ahead.trades]

    @property
    def bought_kwh(self) -> np.ndarray:
        """Energy each household bought locally (its cleared purchase)."""
        return traded_kwh(self.clearing.trades, len(self.cut.export_kw))[0]

    @property
    def sold_kwh(self) -> np.ndarray:
        """Energy each household sold locally (its cleared sale)."""
        return traded_kwh(self.clearing.trades, len(self.cut.export_kw))[1]


@dataclass(frozen=True)
class Market:
    """What clearing needs besides the orders: the mechanism, the DSO and where households connect."""

    mechanism: Mechanism
    dso: DSO
    households: Sequence[Household]
    where: Connections


def clear(decided: Decided, iv: Interval, market: Market) -> Cleared:
    """Clear the orders under the DSO's constraint mode."""
    mode = market.dso.constraint_mode
    n = len(decided.plans)
    if mode == "none":
        return Cleared(market.mechanism.clear(decided.orders), Curtailment.nothing(n))
    hours = iv.hours
    request_ = request(decided, iv, market)
    if mode == "post_check":
        clearing = market.mechanism.clear(decided.orders)
        cut = market.dso.enforce(request_, hours)
        trades, trade_cuts = cut_trades(clearing.trades, cut, hours)
        return Cleared(
            ClearingResult(trades, clearing.price_eur_per_kwh, clearing.zone_prices), cut, trade_cuts
        )
    cut = market.dso.enforce(request_, hours)
    return Cleared(market.mechanism.clear(cut_orders(decided.orders, cut, hours)), cut)


def directions(where: Connections) -> np.ndarray:
    """(n, 3) how one kW of each row splits over the phases: its own, or a third each if three-phase."""
    own = one_hot(where.phase_col)
    return own if where.three_phase is None else np.where(where.three_phase[:, None], 1 / 3, own)


def request(decided: Decided, iv: Interval, market: Market) -> Request:
    """The reported positions and what each household could shed, as the DSO's constraint mode sees them."""
    plans, planned_kw = decided.plans, decided.planned_kw
    n = len(plans)
    ev_kw = np.array([p.ev_kw for p in plans])
    battery_kw = np.array([p.battery_kw for p in plans])
    ev_reducible = _ev_reducible(market.households, plans, iv)
    export_flex = np.clip(np.minimum(planned_kw, [p.pv_kw for p in plans]), 0, None)
    import_flex = np.clip(np.minimum(-planned_kw, np.clip(-battery_kw, 0, None) + ev_reducible), 0, None)
    export_cost, import_cost = cut_costs(
        decided.orders, n, iv.feed_in_tariff_eur_per_kwh, iv.import_price_eur_per_kwh
    )
    # a cut of PV or battery lands on the household's phase; of a three-phase charger, on all three
    where = market.where
    own_phase = directions(where)
    battery_share = np.divide(
        np.minimum(np.clip(-battery_kw, 0, None), import_flex),
        import_flex,
        out=np.ones(n),
        where=import_flex > 0,
    )
    ev_split = np.where(where.ev_three_phase[:, None], 1 / 3, own_phase)
    return Request(
        p_kw=injections(
            decided.reported_kwh / iv.hours,
            ev_kw,
            where,
            np.array([p.heat_pump_kw + p.hot_water_kw for p in plans]),
        ),
        q_kvar=reactive(iv.load_kvar, where),
        export_flex_kw=export_flex,
        import_flex_kw=import_flex,
        export_cost=export_cost,
        import_cost=import_cost,
        export_direction=own_phase,
        import_direction=battery_share[:, None] * own_phase + (1 - battery_share[:, None]) * ev_split,
    )


def cut_costs(
    orders: Sequence[Order], n: int, feed_in_eur_per_kwh: float, retail_eur_per_kwh: float
) -> tuple[np.ndarray, np.ndarray]:
    """What a kWh of each household's export and import cut is worth to it (EUR/kWh).

    A cut gives up the household's lowest-valued cleared energy first: of its
    sales (the PV a cut curtails), the one asking least; of its purchases, the
    one bidding least (with bid curves, the marginal step of its curve). A
    household without an order on a side is valued at the retailer's price.
    """
    export_cost = np.full(n, np.inf)
    import_cost = np.full(n, np.inf)
    for o in orders:
        cost = export_cost if o.side == "sell" else import_cost
        cost[o.household] = min(cost[o.household], o.price_eur_per_kwh)
    export_cost[np.isinf(export_cost)] = feed_in_eur_per_kwh
    import_cost[np.isinf(import_cost)] = retail_eur_per_kwh
    return export_cost, import_cost


def _ev_reducible(households: Sequence[Household], plans: Sequence[DevicePlan], iv: Interval) -> np.ndarray:
    """How much less each EV can charge: down to what its deadline still needs."""
    return np.array(
        [
            max(h.devices.ev.flexibility(iv.t0_s, iv.t1_s).p_max_kw - plans[h.index].ev_kw, 0.0)
            if h.devices.ev is not None
            else 0.0
            for h in households
        ]
    )


def cut_orders(orders: Sequence[Order], cut: Curtailment, hours: float) -> list[Order]:
    """Orders less each household's cut (sell orders by its export cut, buy orders by its import cut)."""
    left = {("sell", h): x * hours for h, x in enumerate(cut.export_kw) if x > 0}
    left.update({("buy", h): x * hours for h, x in enumerate(cut.import_kw) if x > 0})
    out = []
    for o in orders:
        key = (o.side, o.household)
        take = min(left.get(key, 0.0), o.energy_kwh)
        if take > 0:
            left[key] -= take
        if o.energy_kwh - take > 1e-9:
            out.append(replace(o, energy_kwh=o.energy_kwh - take))
    return out


def cut_trades(trades: list[Trade], cut: Curtailment, hours: float) -> tuple[list[Trade], TradeCuts]:
    """Trades less the cuts: a household's cut reduces its local trades pro rata, then its retail exchange.

    Returns the delivered trades (same order, possibly zero energy) and, per curtailed
    trade position, the energy cut and the reason.
    """
    energy = np.array([t.energy_kwh for t in trades])
    cut_by: TradeCuts = {}
    for side, cuts in (("seller", cut.export_kw), ("buyer", cut.import_kw)):
        for h in np.flatnonzero(cuts > 0):
            mine = [i for i, t in enumerate(trades) if getattr(t, side) == h]
            total = energy[mine].sum()
            if total <= 0:
                continue
            share = min(cuts[h] * hours / total, 1.0)
            for i in mine:
                amount = energy[i] * share
                energy[i] -= amount
                before = cut_by.get(i, (0.0, ""))[0]
                cut_by[i] = (before + amount, cut.reason[h])
    delivered = [
        Trade(t.buyer, t.seller, float(e), t.price_eur_per_kwh) for t, e in zip(trades, energy, strict=True)
    ]
    return delivered, cut_by
