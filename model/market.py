"""Clearing mechanisms: turn one interval's orders into trades.

Each mechanism is a small class; :data:`MECHANISMS` names them and
:mod:`model.pricing` registers how to build each and which pricing design
each one implements.
Energy that no local counterparty takes is settled with the retailer
(see :mod:`model.settlement`), so a mechanism only reports local trades.
Every trade's price lies within both parties' limit prices, except in
community sharing, where members accept the manager's internal price, and in
bilateral P2P, where a buyer's limit for a seller's energy includes its
preference for that seller.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from lemgrid.agents.strategies import Order
from lemgrid.model.order_book import OrderBook
from lemgrid.model.trades import Trade, TradeList, trade_columns


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
        """Energy traded locally (Python's sum over the trades, in trade order)."""
        return sum(trade_columns(self.trades)[2].tolist())

    @cached_property
    def mean_price_eur_per_kwh(self) -> float | None:
        """Volume-weighted mean price of the local trades (None without trades; computed once)."""
        volume = self.volume_kwh
        if volume <= 0:
            return None
        _, _, kwh, price = trade_columns(self.trades)
        return sum((kwh * price).tolist()) / volume

    @property
    def n_trades(self) -> int:
        """Local trades delivering energy."""
        return int((trade_columns(self.trades)[2] > 0).sum())


class Mechanism(Protocol):
    """The interface every clearing mechanism implements."""

    name: str

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match one interval's orders."""
        ...


def _fill_by_level(
    qty: np.ndarray, prices: np.ndarray, total_kwh: float, marginal_price: float, better: np.ndarray
) -> np.ndarray:
    """Fill orders up to ``total_kwh``: strictly better prices in full, the marginal level pro rata."""
    fill = np.where(better, qty, 0.0)
    at_margin = (prices == marginal_price) & ~better
    rest = total_kwh - fill.sum()
    if at_margin.any():
        fill[at_margin] = qty[at_margin] * min(1.0, max(rest, 0.0) / qty[at_margin].sum())
    return fill


def _pair(bid_fill: np.ndarray, ask_fill: np.ndarray) -> tuple[list[int], list[int], list[float]]:
    """Split filled quantities into pairs, walking both books in priority order.

    Returns each pair's bid position, ask position (in the sorted books) and quantity.
    Past the last filled order of either book nothing trades, so the walk stops there.
    """
    b_left = bid_fill[: _filled_end(bid_fill)].tolist()  # Python floats: the same arithmetic, cheaper
    a_left = ask_fill[: _filled_end(ask_fill)].tolist()
    pairs: list[tuple[int, int, float]] = []
    n_b, n_a = len(b_left), len(a_left)
    if not (n_b and n_a):
        return [], [], []
    i = j = 0
    b, a = b_left[0], a_left[0]  # what is left of the current bid and ask
    while True:
        q = b if b <= a else a  # min(b, a): b unless a < b
        if q > 0:
            pairs.append((i, j, q))
            b -= q
            a -= q
        if b <= 1e-12:
            i += 1
            if i == n_b:
                break
            b = b_left[i]
        if a <= 1e-12:
            j += 1
            if j == n_a:
                break
            a = a_left[j]
    bid_at, ask_at, kwh = zip(*pairs, strict=True) if pairs else ((), (), ())
    return list(bid_at), list(ask_at), list(kwh)


def _filled_end(fill: np.ndarray) -> int:
    """One past the last order with a positive fill."""
    filled = np.flatnonzero(fill > 0)
    return int(filled[-1]) + 1 if len(filled) else 0


def _books(orders: Sequence[Order]) -> tuple[list[Order], list[Order]]:
    """Bids by descending price, asks by ascending price; ties by household index."""
    bids = sorted((o for o in orders if o.side == "buy"), key=lambda o: (-o.price_eur_per_kwh, o.household))
    asks = sorted((o for o in orders if o.side == "sell"), key=lambda o: (o.price_eur_per_kwh, o.household))
    return bids, asks


MIN_TRADE_KWH = 1e-9  # a call auction crossing less than this trades nothing


@dataclass(frozen=True)
class _Matched:
    """A call auction's outcome: the sorted books (positions in the order book), their fills and margins."""

    book: OrderBook
    bids: np.ndarray
    bid_fill: np.ndarray
    asks: np.ndarray
    ask_fill: np.ndarray
    last_bid: float
    last_ask: float

    def equilibrium_interval(self) -> tuple[float, float]:
        """The competitive-equilibrium interval of the fills (:func:`equilibrium_interval`)."""
        b, a = self.book.take(self.bids), self.book.take(self.asks)
        return equilibrium_interval(b.kwh, b.price, self.bid_fill, a.kwh, a.price, self.ask_fill)

    def trades(self, price: float | Callable[[np.ndarray, np.ndarray], np.ndarray]) -> list[Trade]:
        """The filled quantities as buyer-seller trades at one ``price``, or ``price(bid, ask)`` per pair."""
        i, j, kwh = _pair(self.bid_fill, self.ask_fill)
        bid, ask = self.bids[i], self.asks[j]
        if callable(price):
            prices = price(self.book.price[bid], self.book.price[ask]).tolist()
        else:
            prices = [price] * len(kwh)
        return TradeList(self.book.household[bid].tolist(), self.book.household[ask].tolist(), kwh, prices)


def _call_auction(
    orders: "Sequence[Order] | OrderBook", max_volume_kwh: float | None = None
) -> _Matched | None:
    """Match the books while the best bid is at least the best ask (up to ``max_volume_kwh``).

    Returns the books, each order's fill and the marginal bid and ask prices,
    or None if nothing crosses. Orders priced strictly better than the
    marginal one fill completely; orders at exactly the marginal price share
    the rest in proportion to their size (no time priority in a call auction).
    """
    book = OrderBook.of(orders)
    bids, asks = book.sorted_sides()
    cap = np.inf if max_volume_kwh is None else max_volume_kwh
    p_b, p_a = book.price[bids], book.price[asks]
    q_b, q_a = book.kwh[bids], book.kwh[asks]
    # the walk only reaches the crossing orders: bids at least the best ask, asks at most the best bid
    n_b = int(np.searchsorted(-p_b, -p_a[0], side="right")) if len(asks) else 0
    n_a = int(np.searchsorted(p_a, p_b[0], side="right")) if len(bids) else 0
    bp, ap = p_b[:n_b].tolist(), p_a[:n_a].tolist()
    b_left, a_left = q_b[:n_b].tolist(), q_a[:n_a].tolist()
    volume = 0.0
    i = j = 0
    last_bid = last_ask = None
    while i < n_b and j < n_a and bp[i] >= ap[j] and volume < cap - 1e-12:
        q = min(b_left[i], a_left[j], cap - volume)
        volume += q
        b_left[i] -= q
        a_left[j] -= q
        last_bid, last_ask = bp[i], ap[j]
        if b_left[i] <= 1e-12:
            i += 1
        if a_left[j] <= 1e-12:
            j += 1
    if last_bid is None or last_ask is None or volume <= MIN_TRADE_KWH:
        return None  # nothing, or numerical dust that no price could be formed on
    bid_fill = _fill_by_level(q_b, p_b, volume, last_bid, p_b > last_bid)
    ask_fill = _fill_by_level(q_a, p_a, volume, last_ask, p_a < last_ask)
    return _Matched(book, bids, bid_fill, asks, ask_fill, last_bid, last_ask)


def equilibrium_interval(
    qty_b: np.ndarray,
    p_b: np.ndarray,
    bid_fill: np.ndarray,
    qty_a: np.ndarray,
    p_a: np.ndarray,
    ask_fill: np.ndarray,
) -> tuple[float, float]:
    """The prices at which every order is content with its fill: the competitive-equilibrium interval.

    The books' quantities, prices and fills (bids, then asks). A price p supports
    the fills if every order that trades is priced at p or
    better (filled bids >= p >= filled asks) and every order left with a
    residual is priced at p or worse (residual bids <= p <= residual asks).
    With divisible quantities a partly filled marginal order pins the interval
    to its own price. Under a volume cap (zonal borders) the residual orders
    are rationed rather than priced out, so only the filled ones bound it.
    """
    tol = 1e-12
    lo = max(p_a[ask_fill > tol].max(initial=-np.inf), p_b[qty_b - bid_fill > tol].max(initial=-np.inf))
    hi = min(p_b[bid_fill > tol].min(initial=np.inf), p_a[qty_a - ask_fill > tol].min(initial=np.inf))
    if lo > hi:  # rationed by a cap: only the filled orders bound the price
        lo, hi = p_a[ask_fill > tol].max(), p_b[bid_fill > tol].min()
    return float(lo), float(hi)


class PayAsClear:
    """Uniform-price call auction: everyone trades at one price.

    Bids are sorted by descending price, asks by ascending price; they are
    matched while the best remaining bid is at least the best remaining ask,
    which trades the competitive-equilibrium quantity. Orders priced strictly
    better than the marginal one fill completely; orders at exactly the
    marginal price share the remaining quantity in proportion to their size
    (no time priority in a call auction). Ties in sorting break by household index.

    The price is a k-double auction over the competitive-equilibrium interval
    [lo, hi] (:func:`equilibrium_interval`; Satterthwaite and Williams 1989):
    ``lo + k (hi - lo)``, k = 1/2 by default. So no order priced better than
    the clearing price is left out, and none priced worse trades.

    Args:
        max_volume_kwh: optional cap on the volume (the best-priced orders fill first).
        k: where in the equilibrium interval the price lies (0: its bottom, 1: its top).
    """

    name = "pay_as_clear"

    def __init__(self, max_volume_kwh: float | None = None, k: float = 0.5) -> None:
        self.max_volume_kwh = max_volume_kwh
        self.k = k

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match ``orders`` at one price."""
        matched = _call_auction(orders, self.max_volume_kwh)
        if matched is None:
            return ClearingResult(trades=[], price_eur_per_kwh=None)
        lo, hi = matched.equilibrium_interval()
        price = lo + self.k * (hi - lo)
        return ClearingResult(trades=matched.trades(price), price_eur_per_kwh=price)


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
        return ClearingResult(trades=matched.trades(_midpoint), price_eur_per_kwh=None)


def _midpoint(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Each pair's price halfway between its bid and its ask."""
    return (bid + ask) / 2


class Trader(Protocol):
    """What the continuous double auction asks of a household's strategy between rounds."""

    def requote(self, order: Order) -> float:
        """The price for the residual of ``order`` in the next trading round."""
        ...

    def hear(self, side: str, price_eur_per_kwh: float, accepted: bool, active: bool) -> None:
        """Learn from a shout (if ``listens``): side, price, whether it traded, whether still active."""
        ...


@dataclass(slots=True, eq=False)
class _Resting:
    """An order's residual, and whether it is in the book."""

    order: Order
    price: float
    arrival: int
    left_kwh: float
    in_book: bool = False


class ContinuousDoubleAuction:
    """Continuous double auction over ``rounds`` trading rounds inside the interval.

    Each household shouts one order per side at a time, its most valued
    first (highest limit for a buyer, lowest for a seller); its next order
    enters once that one is filled (units in sequence, as in Gode and Sunder
    1993). An arriving order trades against the best resting order on the
    other side as long as they cross (bid >= ask), at the resting order's
    price (the standing quote), partially if sizes differ; what is left of it
    rests in the book, which ranks by price, then arrival.

    Round 1: every household's first order per side arrives at its placed
    price, in a random order drawn from the model's random generator. Each
    later round, every household with a residual, in a fresh random order,
    cancels its resting order and re-quotes it (or quotes its next one) with
    its strategy (``Trader.requote``, relative to the order's limit price).
    The book persists between rounds: only the re-quoting order leaves it.
    After the last round every resting order is cancelled and its residual
    goes to the retailer. Every arrival is a shout that listening traders hear
    (ZIP learns from it, Cliff 1997). Without traders nobody re-quotes; a
    round that neither trades, moves a quote nor brings a new order ends the
    interval early (the later rounds would repeat it).

    Args:
        rng: source of the arrival orders.
        rounds: trading rounds per interval (>= 1).
        traders: each household's strategy, by household index (None: nobody re-quotes).
    """

    name = "continuous_double_auction"

    def __init__(
        self, rng: np.random.Generator, rounds: int = 1, traders: Sequence[Trader] | None = None
    ) -> None:
        self.rng = rng
        self.rounds = rounds
        self.traders = traders
        self.listeners = [(h, t) for h, t in enumerate(traders or ()) if getattr(t, "listens", False)]
        self._left: dict[int, float] = {}

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Run the book over the interval's orders for the configured rounds."""
        book: dict[str, list[_Resting]] = {"buy": [], "sell": []}
        trades: list[Trade] = []
        queues: dict[tuple[int, str], list[_Resting]] = {}
        self._left = {}
        for o in orders:
            queues.setdefault((o.household, o.side), []).append(
                _Resting(o, o.price_eur_per_kwh, 0, o.energy_kwh)
            )
            self._left[o.household] = self._left.get(o.household, 0.0) + o.energy_kwh
        for (_, side), queue in queues.items():  # most valued first; stable, so ties keep placing order
            queue.sort(key=lambda r: -r.order.limit if side == "buy" else r.order.limit)
        arrival = 0
        for round_ in range(self.rounds):
            if round_ > 0 and self.traders is None:
                break
            heads = [q[0] for q in queues.values() if q]
            batch = [heads[int(i)] for i in self.rng.permutation(len(heads))]
            changed = False
            traded_before = len(trades)
            for entry in batch:
                if entry.left_kwh <= 1e-12:  # filled while resting, earlier in this round
                    continue
                if round_ > 0:
                    if entry.in_book:
                        book[entry.order.side].remove(entry)
                    else:
                        changed = True  # a new order enters
                    price = self.traders[entry.order.household].requote(  # type: ignore[index]
                        replace(entry.order, energy_kwh=entry.left_kwh, price_eur_per_kwh=entry.price)
                    )
                    changed = changed or price != entry.price
                    entry.price = price
                entry.arrival = arrival
                arrival += 1
                self._arrive(entry, book, trades)
            for q in queues.values():  # orders filled as resting orders leave their queues
                while q and q[0].left_kwh <= 1e-12:
                    q.pop(0)
            if round_ > 0 and not changed and len(trades) == traded_before:
                break
        return ClearingResult(trades=trades, price_eur_per_kwh=None)

    def _arrive(self, entry: _Resting, book: dict[str, list[_Resting]], trades: list[Trade]) -> None:
        """Trade an arriving order against the book; rest its residual; tell the traders."""
        side = entry.order.side
        other = book["sell" if side == "buy" else "buy"]
        first_price: float | None = None
        while entry.left_kwh > 1e-12 and other:
            best = other[0]
            crosses = entry.price >= best.price if side == "buy" else best.price >= entry.price
            if not crosses:
                break
            q = min(entry.left_kwh, best.left_kwh)
            buyer, seller = (entry, best) if side == "buy" else (best, entry)
            trades.append(Trade(buyer.order.household, seller.order.household, q, best.price))
            first_price = best.price if first_price is None else first_price
            entry.left_kwh -= q
            best.left_kwh -= q
            self._left[buyer.order.household] -= q
            self._left[seller.order.household] -= q
            if best.left_kwh <= 1e-12:
                best.in_book = False
                other.pop(0)
        entry.in_book = entry.left_kwh > 1e-12
        if entry.in_book:
            mine = book[side]
            mine.append(entry)
            sign = -1 if side == "buy" else 1
            mine.sort(key=lambda r: (sign * r.price, r.arrival))
        if self.listeners:
            accepted = first_price is not None
            shout = first_price if first_price is not None else entry.price
            for h, trader in self.listeners:
                trader.hear(side, shout, accepted, self._left.get(h, 0.0) > 1e-12)


class BilateralP2P:
    """Bilateral peer-to-peer trading with per-pair preferences (product differentiation).

    A buyer values energy from seller ``s`` at its bid plus a preference
    ``preference[buyer, seller]`` (EUR/kWh; e.g. its own premium for green
    energy, a discount for electrical distance, minus any per-pair network
    fee; cf. Sorin et al. 2019, Le Cadre et al. 2019). This is
    preference-weighted matching: every pair whose bid covers the ask and
    whose preference-adjusted surplus ``bid - ask + preference`` is not
    negative can trade; pairs are filled greedily from the highest adjusted
    surplus down (ties by buyer, then seller index). Each pair's price splits
    that surplus equally (the Nash bargaining solution of the pair):
    ``(bid + ask + preference) / 2``, which lies between the seller's ask and
    the buyer's value of this seller's energy (``bid + preference``). A buyer
    may so pay a premium above its bid (even above the retail price) for
    energy it prefers, as a green tariff charges one; a seller never gets
    less than its ask. Prices therefore differ across pairs even when every
    buyer bids the same and every seller asks the same.

    Args:
        preference_eur_per_kwh: (n_households, n_households) matrix indexed [buyer, seller].
    """

    name = "p2p"

    def __init__(self, preference_eur_per_kwh: np.ndarray) -> None:
        self.preference = preference_eur_per_kwh

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match buyers to their preferred sellers, each pair at its own bargained price."""
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
            bid, ask = bids[i].price_eur_per_kwh, asks[j].price_eur_per_kwh
            value = bid + self.preference[bids[i].household, asks[j].household]  # >= ask for a listed pair
            trades.append(Trade(bids[i].household, asks[j].household, q, float((value + ask) / 2)))
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
        k: the pay-as-clear price rule's k in every stage.
    """

    name = "zonal"

    def __init__(self, zone: np.ndarray, inter_zone_capacity_kwh: float | None, k: float = 0.5) -> None:
        self.zone = np.asarray(zone)
        self.capacity = inter_zone_capacity_kwh
        self.k = k

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Clear every zone, then the inter-zone residual."""
        book = OrderBook.of(orders)
        trades: list[Trade] = []
        zone_prices: dict[int, float | None] = {}
        rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        left: list[np.ndarray] = [np.zeros(0)]
        zone_of = self.zone[book.household]
        for z in np.unique(self.zone):
            inside = book.take(np.flatnonzero(zone_of == z))
            result = PayAsClear(k=self.k).clear(inside)
            zone_prices[int(z)] = result.price_eur_per_kwh
            trades.extend(result.trades)
            kept, kwh = _residual(inside, result.trades)
            rows.append(np.flatnonzero(zone_of == z)[kept])
            left.append(kwh)
        if self.capacity is None or self.capacity > 0:
            residual = book.take(np.concatenate(rows), np.concatenate(left))
            trades.extend(PayAsClear(self.capacity, self.k).clear(residual).trades)
        uniform = zone_prices[int(self.zone[0])] if len(zone_prices) == 1 else None
        return ClearingResult(trades=trades, price_eur_per_kwh=uniform, zone_prices=zone_prices)


def _residual(book: OrderBook, trades: list[Trade]) -> tuple[np.ndarray, np.ndarray]:
    """What is left of ``book`` after ``trades``: positions (bids, then asks, by priority) and kWh.

    A household's fills go to its best-priced orders first.
    """
    filled: dict[tuple[bool, int], float] = {}
    for t in trades:
        filled[(True, t.buyer)] = filled.get((True, t.buyer), 0.0) + t.energy_kwh
        filled[(False, t.seller)] = filled.get((False, t.seller), 0.0) + t.energy_kwh
    bids, asks = book.sorted_sides()
    order = np.concatenate([bids, asks])
    kept: list[int] = []
    kwh: list[float] = []
    for pos, h, b, q in zip(
        order.tolist(),
        book.household[order].tolist(),
        book.buys[order].tolist(),
        book.kwh[order].tolist(),
        strict=True,
    ):
        used = min(q, filled.get((b, h), 0.0))
        filled[(b, h)] = filled.get((b, h), 0.0) - used
        if q - used > 1e-9:
            kept.append(pos)
            kwh.append(q - used)
    return np.array(kept, dtype=np.int64), np.array(kwh, dtype=float)


MECHANISMS: tuple[str, ...] = (
    "pay_as_clear",
    "pay_as_bid",
    "continuous_double_auction",
    "p2p",
    "community",
    "none",
)
