"""Clearing mechanisms: turn one interval's orders into trades.

Each mechanism is a small class; :data:`MECHANISMS` names them and
:mod:`model.pricing` registers how to build each and which pricing design
each one implements.
Energy that no local counterparty takes is settled with the retailer
(see :mod:`model.settlement`), so a mechanism only reports local trades.
Every trade's price lies within both parties' limit prices, except in
community sharing, where members accept the manager's internal price.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from lemgrid.agents.strategies import Order


@dataclass(frozen=True, slots=True)
class Trade:
    """Energy one household sells to another in an interval, at a price."""

    buyer: int
    seller: int
    energy_kwh: float
    price_eur_per_kwh: float


def traded_kwh(trades: Iterable[Trade], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy each of ``n`` households bought and sold locally in ``trades`` (kWh, in trade order)."""
    bought = np.zeros(n)
    sold = np.zeros(n)
    for t in trades:
        bought[t.buyer] += t.energy_kwh
        sold[t.seller] += t.energy_kwh
    return bought, sold


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one clearing.

    Attributes:
        trades: the local trades.
        price_eur_per_kwh: the single price every trade paid, if the design has one.
        zone_prices: under the zonal design, each zone's own clearing price (None: no trade in it).
    """

    trades: list[Trade]
    price_eur_per_kwh: float | None
    zone_prices: dict[int, float | None] = field(default_factory=dict)

    @cached_property
    def volume_kwh(self) -> float:
        """Energy traded locally."""
        return sum(t.energy_kwh for t in self.trades)

    @cached_property
    def mean_price_eur_per_kwh(self) -> float | None:
        """Volume-weighted mean price of the local trades (None without trades; computed once)."""
        volume = self.volume_kwh
        if volume <= 0:
            return None
        return sum(t.energy_kwh * t.price_eur_per_kwh for t in self.trades) / volume


class Mechanism(Protocol):
    """The interface every clearing mechanism implements."""

    name: str

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match one interval's orders."""
        ...


def _fill_by_level(
    orders: list[Order], total_kwh: float, marginal_price: float, better: np.ndarray
) -> np.ndarray:
    """Fill ``orders`` up to ``total_kwh``: strictly better prices in full, the marginal level pro rata."""
    qty = np.array([o.energy_kwh for o in orders])
    fill = np.where(better, qty, 0.0)
    at_margin = np.array([o.price_eur_per_kwh == marginal_price for o in orders], dtype=bool) & ~better
    rest = total_kwh - fill.sum()
    if at_margin.any():
        fill[at_margin] = qty[at_margin] * min(1.0, max(rest, 0.0) / qty[at_margin].sum())
    return fill


def _pair(
    bids: list[Order],
    bid_fill: np.ndarray,
    asks: list[Order],
    ask_fill: np.ndarray,
    price: Callable[[Order, Order], float],
) -> list[Trade]:
    """Split filled quantities into buyer-seller pairs, walking both books in priority order.

    ``price(bid, ask)`` prices each pair from its two orders.
    """
    trades: list[Trade] = []
    i = j = 0
    b_left = bid_fill.copy()
    a_left = ask_fill.copy()
    while i < len(bids) and j < len(asks):
        q = min(b_left[i], a_left[j])
        if q > 0:
            trades.append(Trade(bids[i].household, asks[j].household, float(q), price(bids[i], asks[j])))
            b_left[i] -= q
            a_left[j] -= q
        if b_left[i] <= 1e-12:
            i += 1
        if a_left[j] <= 1e-12:
            j += 1
    return trades


def _books(orders: Sequence[Order]) -> tuple[list[Order], list[Order]]:
    """Bids by descending price, asks by ascending price; ties by household index."""
    bids = sorted((o for o in orders if o.side == "buy"), key=lambda o: (-o.price_eur_per_kwh, o.household))
    asks = sorted((o for o in orders if o.side == "sell"), key=lambda o: (o.price_eur_per_kwh, o.household))
    return bids, asks


def _call_auction(
    orders: Sequence[Order], max_volume_kwh: float | None = None
) -> tuple[list[Order], np.ndarray, list[Order], np.ndarray, float, float] | None:
    """Match the books while the best bid is at least the best ask (up to ``max_volume_kwh``).

    Returns the books, each order's fill and the marginal bid and ask prices,
    or None if nothing crosses. Orders priced strictly better than the
    marginal one fill completely; orders at exactly the marginal price share
    the rest in proportion to their size (no time priority in a call auction).
    """
    bids, asks = _books(orders)
    cap = np.inf if max_volume_kwh is None else max_volume_kwh
    volume = 0.0
    i = j = 0
    b_left = [o.energy_kwh for o in bids]
    a_left = [o.energy_kwh for o in asks]
    last_bid = last_ask = None
    while (
        i < len(bids)
        and j < len(asks)
        and bids[i].price_eur_per_kwh >= asks[j].price_eur_per_kwh
        and volume < cap - 1e-12
    ):
        q = min(b_left[i], a_left[j], cap - volume)
        volume += q
        b_left[i] -= q
        a_left[j] -= q
        last_bid, last_ask = bids[i].price_eur_per_kwh, asks[j].price_eur_per_kwh
        if b_left[i] <= 1e-12:
            i += 1
        if a_left[j] <= 1e-12:
            j += 1
    if last_bid is None or last_ask is None or volume <= 0:
        return None
    bid_fill = _fill_by_level(
        bids, volume, last_bid, np.array([o.price_eur_per_kwh > last_bid for o in bids], dtype=bool)
    )
    ask_fill = _fill_by_level(
        asks, volume, last_ask, np.array([o.price_eur_per_kwh < last_ask for o in asks], dtype=bool)
    )
    return bids, bid_fill, asks, ask_fill, last_bid, last_ask


class PayAsClear:
    """Uniform-price call auction: everyone trades at one price.

    Bids are sorted by descending price, asks by ascending price; they are
    matched while the best remaining bid is at least the best remaining ask.
    The price is the midpoint of the marginal (last matched) bid and ask, so it
    lies within every filled order's limit. Orders priced strictly better than
    the marginal one fill completely; orders at exactly the marginal price
    share the remaining quantity in proportion to their size (no time
    priority in a call auction). Ties in sorting break by household index.

    Args:
        max_volume_kwh: optional cap on the volume (the best-priced orders fill first).
    """

    name = "pay_as_clear"

    def __init__(self, max_volume_kwh: float | None = None) -> None:
        self.max_volume_kwh = max_volume_kwh

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match ``orders`` at one price."""
        matched = _call_auction(orders, self.max_volume_kwh)
        if matched is None:
            return ClearingResult(trades=[], price_eur_per_kwh=None)
        bids, bid_fill, asks, ask_fill, last_bid, last_ask = matched
        price = (last_bid + last_ask) / 2
        pairs = _pair(bids, bid_fill, asks, ask_fill, lambda bid, ask: price)
        return ClearingResult(trades=pairs, price_eur_per_kwh=price)


class NoTrading:
    """No local market: every household buys from and sells to the retailer (the reference design)."""

    name = "none"

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match nothing."""
        return ClearingResult(trades=[], price_eur_per_kwh=None)


class PayAsBid:
    """Discriminatory call auction: the same matching as pay-as-clear, a price per pair.

    The books are matched exactly as in :class:`PayAsClear` (so both clear the
    same quantity on the same book) and split into buyer-seller pairs in
    priority order; each pair trades at the midpoint of its own bid and ask
    (a k = 1/2 double auction per pair). Every party trades at its own limit
    or better, and what buyers pay is exactly what sellers receive.
    """

    name = "pay_as_bid"

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match ``orders``; each pair at its own price."""
        matched = _call_auction(orders)
        if matched is None:
            return ClearingResult(trades=[], price_eur_per_kwh=None)
        bids, bid_fill, asks, ask_fill, _, _ = matched
        trades = _pair(
            bids,
            bid_fill,
            asks,
            ask_fill,
            lambda bid, ask: (bid.price_eur_per_kwh + ask.price_eur_per_kwh) / 2,
        )
        return ClearingResult(trades=trades, price_eur_per_kwh=None)


class ContinuousDoubleAuction:
    """Continuous double auction inside the interval: an order book filled as orders arrive.

    Orders arrive one by one in a random order drawn from the model's random
    generator. An arriving order trades against the best resting order on the
    other side as long as they cross (bid >= ask), at the resting order's
    price (the standing quote), partially if sizes differ; what is left of it
    rests in the book. The book ranks by price, then arrival.

    Args:
        rng: source of the arrival order.
    """

    name = "continuous_double_auction"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Run the book over the interval's orders in a random arrival order."""
        resting: dict[str, list[list]] = {"buy": [], "sell": []}  # [price, arrival, household, left]
        trades: list[Trade] = []
        for arrival, idx in enumerate(self.rng.permutation(len(orders))):
            order = orders[int(idx)]
            left = order.energy_kwh
            other = resting["sell" if order.side == "buy" else "buy"]
            while left > 1e-12 and other:
                best = other[0]
                crosses = (
                    order.price_eur_per_kwh >= best[0]
                    if order.side == "buy"
                    else best[0] >= order.price_eur_per_kwh
                )
                if not crosses:
                    break
                q = min(left, best[3])
                buyer, seller = (
                    (order.household, best[2]) if order.side == "buy" else (best[2], order.household)
                )
                trades.append(Trade(buyer, seller, q, best[0]))
                left -= q
                best[3] -= q
                if best[3] <= 1e-12:
                    other.pop(0)
            if left > 1e-12:
                book = resting[order.side]
                book.append([order.price_eur_per_kwh, arrival, order.household, left])
                sign = -1 if order.side == "buy" else 1
                book.sort(key=lambda r: (sign * r[0], r[1]))
        return ClearingResult(trades=trades, price_eur_per_kwh=None)


class BilateralP2P:
    """Bilateral peer-to-peer matching with per-pair preferences (product differentiation).

    A buyer values energy from seller ``s`` at its bid plus a preference
    ``preference[buyer, seller]`` (EUR/kWh; e.g. a premium for green energy,
    a discount for electrical distance, minus any per-pair network fee).
    Every pair whose bid covers the ask and whose preference-adjusted surplus
    ``bid - ask + preference`` is not negative can trade; pairs are filled
    greedily from the highest adjusted surplus down (ties by buyer, then
    seller index), each at the midpoint of its own bid and ask.

    Args:
        preference_eur_per_kwh: (n_households, n_households) matrix indexed [buyer, seller].
    """

    name = "p2p"

    def __init__(self, preference_eur_per_kwh: np.ndarray) -> None:
        self.preference = preference_eur_per_kwh

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match buyers to their preferred sellers."""
        bids, asks = _books(orders)
        pairs = [
            (b.price_eur_per_kwh - a.price_eur_per_kwh + self.preference[b.household, a.household], i, j)
            for i, b in enumerate(bids)
            for j, a in enumerate(asks)
            if b.price_eur_per_kwh >= a.price_eur_per_kwh
        ]
        pairs = [p for p in pairs if p[0] >= 0]
        pairs.sort(key=lambda p: (-p[0], bids[p[1]].household, asks[p[2]].household))
        b_left = [o.energy_kwh for o in bids]
        a_left = [o.energy_kwh for o in asks]
        trades = []
        for _, i, j in pairs:
            q = min(b_left[i], a_left[j])
            if q <= 1e-12:
                continue
            b_left[i] -= q
            a_left[j] -= q
            price = (bids[i].price_eur_per_kwh + asks[j].price_eur_per_kwh) / 2
            trades.append(Trade(bids[i].household, asks[j].household, q, price))
        return ClearingResult(trades=trades, price_eur_per_kwh=None)


class CommunitySharing:
    """Community self-consumption: a manager shares the members' surplus among them.

    The local supply S (all sell quantities) and demand D (all buy
    quantities) are matched pro rata: when S <= D every seller sells all it
    offers and every buyer gets the same share S/D of its demand; otherwise
    every buyer is served and every seller sells the share D/S. Each buyer's
    energy comes from the sellers in proportion to what they sell. Limit
    prices are not used: members accept the internal price, which is

    - ``sdr`` (supply-demand ratio, Liu et al. 2017): with SDR = S/D < 1 the
      price is ``fit * retail / ((retail - fit) * SDR + fit)`` (the retail
      price when local energy is scarce, falling to the feed-in tariff at
      SDR = 1), and the feed-in tariff when SDR >= 1;
    - ``mid_market`` (Long et al. 2017): the midpoint of retail price and feed-in tariff.

    Either way the price lies between the feed-in tariff and the retail price.
    """

    name = "community"

    def __init__(self, retail_eur_per_kwh: float, feed_in_eur_per_kwh: float, pricing: str) -> None:
        self.retail = retail_eur_per_kwh
        self.fit = feed_in_eur_per_kwh
        self.pricing = pricing

    def price(self, supply_kwh: float, demand_kwh: float) -> float:
        """The internal price for a given local supply and demand."""
        if self.pricing == "mid_market":
            return (self.retail + self.fit) / 2
        sdr = supply_kwh / demand_kwh
        if sdr >= 1:
            return self.fit
        return self.fit * self.retail / ((self.retail - self.fit) * sdr + self.fit)

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Share the surplus pro rata at the internal price."""
        bids, asks = _books(orders)
        supply = sum(o.energy_kwh for o in asks)
        demand = sum(o.energy_kwh for o in bids)
        if supply <= 0 or demand <= 0:
            return ClearingResult(trades=[], price_eur_per_kwh=None)
        volume = min(supply, demand)
        price = self.price(supply, demand)
        trades = [
            Trade(b.household, a.household, volume * (b.energy_kwh / demand) * (a.energy_kwh / supply), price)
            for b in bids
            for a in asks
        ]
        return ClearingResult(trades=trades, price_eur_per_kwh=price)


class ZonalClearing:
    """Zonal pricing: each zone of the feeder clears on its own, then zones trade what is left.

    Stage 1 runs ``PayAsClear`` inside every zone (one price per zone).
    Stage 2 runs ``PayAsClear`` once more on the orders left over in all
    zones, capped at ``inter_zone_capacity_kwh`` per interval (None:
    unlimited, 0: isolated zones); those trades cross zone borders (a zone's
    leftover bids and asks never cross each other) and trade at the stage-2
    price. With one zone this is exactly pay-as-clear.

    Args:
        zone: zone of each household.
        inter_zone_capacity_kwh: the most energy that may cross zone borders per interval.
    """

    name = "zonal"

    def __init__(self, zone: np.ndarray, inter_zone_capacity_kwh: float | None) -> None:
        self.zone = np.asarray(zone)
        self.capacity = inter_zone_capacity_kwh

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Clear every zone, then the inter-zone residual."""
        trades: list[Trade] = []
        zone_prices: dict[int, float | None] = {}
        residual: list[Order] = []
        for z in np.unique(self.zone):
            inside = [o for o in orders if self.zone[o.household] == z]
            result = PayAsClear().clear(inside)
            zone_prices[int(z)] = result.price_eur_per_kwh
            trades.extend(result.trades)
            filled: dict[tuple[str, int], float] = {}
            for t in result.trades:
                filled[("buy", t.buyer)] = filled.get(("buy", t.buyer), 0.0) + t.energy_kwh
                filled[("sell", t.seller)] = filled.get(("sell", t.seller), 0.0) + t.energy_kwh
            bids, asks = _books(inside)
            for o in bids + asks:  # a household's fills go to its best-priced orders first
                key = (o.side, o.household)
                used = min(o.energy_kwh, filled.get(key, 0.0))
                filled[key] = filled.get(key, 0.0) - used
                if o.energy_kwh - used > 1e-9:
                    residual.append(Order(o.household, o.side, o.energy_kwh - used, o.price_eur_per_kwh))
        if self.capacity is None or self.capacity > 0:
            trades.extend(PayAsClear(self.capacity).clear(residual).trades)
        uniform = zone_prices[int(self.zone[0])] if len(zone_prices) == 1 else None
        return ClearingResult(trades=trades, price_eur_per_kwh=uniform, zone_prices=zone_prices)


MECHANISMS: tuple[str, ...] = (
    "pay_as_clear",
    "pay_as_bid",
    "continuous_double_auction",
    "p2p",
    "community",
    "none",
)
