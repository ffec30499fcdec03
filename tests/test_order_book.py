"""The call auctions on order-book columns against the object-based rules they replaced, on random books.

``_reference_*`` below are the clearing rules as they were written order by order
(before the book became columns). The columnar clearing must give the same
trades, in the same order, with the same floats, and the same price: ties at
equal prices and equal quantities, empty sides and single orders included.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lemgrid.agents.strategies import Order, Truthful
from lemgrid.model.market import PayAsBid, PayAsClear, ZonalClearing
from lemgrid.model.order_book import OrderBook
from lemgrid.model.settlement import settle
from lemgrid.model.trades import Trade, trade_columns


def _reference_books(orders: Sequence[Order]) -> tuple[list[Order], list[Order]]:
    bids = sorted((o for o in orders if o.side == "buy"), key=lambda o: (-o.price_eur_per_kwh, o.household))
    asks = sorted((o for o in orders if o.side == "sell"), key=lambda o: (o.price_eur_per_kwh, o.household))
    return bids, asks


def _reference_fill(orders: list[Order], total: float, marginal: float, better: np.ndarray) -> np.ndarray:
    qty = np.array([o.energy_kwh for o in orders])
    fill = np.where(better, qty, 0.0)
    at_margin = np.array([o.price_eur_per_kwh == marginal for o in orders], dtype=bool) & ~better
    rest = total - fill.sum()
    if at_margin.any():
        fill[at_margin] = qty[at_margin] * min(1.0, max(rest, 0.0) / qty[at_margin].sum())
    return fill


def _reference_auction(orders: Sequence[Order], cap_kwh: float | None = None) -> tuple | None:
    bids, asks = _reference_books(orders)
    cap = np.inf if cap_kwh is None else cap_kwh
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
    if last_bid is None or last_ask is None or volume <= 1e-9:
        return None
    bid_fill = _reference_fill(
        bids, volume, last_bid, np.array([o.price_eur_per_kwh > last_bid for o in bids])
    )
    ask_fill = _reference_fill(
        asks, volume, last_ask, np.array([o.price_eur_per_kwh < last_ask for o in asks])
    )
    return bids, bid_fill, asks, ask_fill


def _reference_interval(bids: list[Order], bid_fill: np.ndarray, asks: list[Order], ask_fill: np.ndarray):
    tol = 1e-12
    qty_b = np.array([o.energy_kwh for o in bids])
    qty_a = np.array([o.energy_kwh for o in asks])
    p_b = np.array([o.price_eur_per_kwh for o in bids])
    p_a = np.array([o.price_eur_per_kwh for o in asks])
    lo = max(p_a[ask_fill > tol].max(initial=-np.inf), p_b[qty_b - bid_fill > tol].max(initial=-np.inf))
    hi = min(p_b[bid_fill > tol].min(initial=np.inf), p_a[qty_a - ask_fill > tol].min(initial=np.inf))
    if lo > hi:
        lo, hi = p_a[ask_fill > tol].max(), p_b[bid_fill > tol].min()
    return float(lo), float(hi)


def _reference_pair(bids, bid_fill, asks, ask_fill, price: Callable[[Order, Order], float]) -> list[Trade]:
    trades = []
    i = j = 0
    b_left, a_left = bid_fill.tolist(), ask_fill.tolist()
    while i < len(bids) and j < len(asks):
        q = min(b_left[i], a_left[j])
        if q > 0:
            trades.append(Trade(bids[i].household, asks[j].household, q, price(bids[i], asks[j])))
            b_left[i] -= q
            a_left[j] -= q
        if b_left[i] <= 1e-12:
            i += 1
        if a_left[j] <= 1e-12:
            j += 1
    return trades


def _reference_pay_as_clear(orders: Sequence[Order], cap: float | None = None, k: float = 0.5):
    matched = _reference_auction(orders, cap)
    if matched is None:
        return [], None
    lo, hi = _reference_interval(*matched)
    price = lo + k * (hi - lo)
    return _reference_pair(*matched, lambda b, a: price), price


def _reference_pay_as_bid(orders: Sequence[Order]) -> list[Trade]:
    matched = _reference_auction(orders)
    if matched is None:
        return []
    return _reference_pair(*matched, lambda b, a: (b.price_eur_per_kwh + a.price_eur_per_kwh) / 2)


def _reference_zonal(orders: Sequence[Order], zone: np.ndarray, capacity: float | None):
    trades: list[Trade] = []
    prices: dict[int, float | None] = {}
    residual: list[Order] = []
    for z in np.unique(zone):
        inside = [o for o in orders if zone[o.household] == z]
        zone_trades, prices[int(z)] = _reference_pay_as_clear(inside)
        trades.extend(zone_trades)
        filled: dict[tuple[str, int], float] = {}
        for t in zone_trades:
            filled[("buy", t.buyer)] = filled.get(("buy", t.buyer), 0.0) + t.energy_kwh
            filled[("sell", t.seller)] = filled.get(("sell", t.seller), 0.0) + t.energy_kwh
        bids, asks = _reference_books(inside)
        for o in bids + asks:
            key = (o.side, o.household)
            used = min(o.energy_kwh, filled.get(key, 0.0))
            filled[key] = filled.get(key, 0.0) - used
            if o.energy_kwh - used > 1e-9:
                residual.append(replace(o, energy_kwh=o.energy_kwh - used))
    if capacity is None or capacity > 0:
        trades.extend(_reference_pay_as_clear(residual, capacity)[0])
    return trades, prices


# Books with ties: few price levels and few quantities (equal prices, equal sizes), households that
# place several orders, empty sides and single orders (sizes 0 and 1 are drawn often).
order = st.tuples(
    st.integers(0, 5),
    st.sampled_from(["buy", "sell"]),
    st.one_of(st.sampled_from([0.5, 1.0, 2.0]), st.floats(1e-10, 10.0)),
    st.one_of(st.sampled_from([0.08, 0.1, 0.2, 0.3, math.inf, -math.inf]), st.floats(0.0, 0.4)),
)
books = st.lists(order, min_size=0, max_size=14)


def _orders(raw: list[tuple[int, str, float, float]]) -> list[Order]:
    return [Order(h, side, q, p, p if h % 2 else None) for h, side, q, p in raw]  # type: ignore[arg-type]


def _finite(orders: list[Order]) -> list[Order]:
    """Books a price can be formed on: no inelastic quote (a pay-as-bid midpoint of +-inf is no price)."""
    return [o for o in orders if math.isfinite(o.price_eur_per_kwh)]


@settings(max_examples=600, deadline=None)
@given(books, st.sampled_from([None, 0.7, 3.0]), st.sampled_from([0.0, 0.5, 1.0]))
def test_pay_as_clear_on_columns_equals_the_object_rules(raw, cap, k) -> None:
    orders = _finite(_orders(raw))
    result = PayAsClear(cap, k).clear(orders)
    trades, price = _reference_pay_as_clear(orders, cap, k)
    assert result.trades == trades  # the same pairs, in the same order, to the last bit
    assert result.price_eur_per_kwh == price
    assert PayAsClear(cap, k).clear(OrderBook.of(orders)).trades == trades  # a book clears as its orders
    # the columns the trades keep are the trades' own fields
    kept, taken_apart = trade_columns(result.trades), trade_columns(list(result.trades))
    assert [c.tolist() for c in kept] == [c.tolist() for c in taken_apart]


@settings(max_examples=600, deadline=None)
@given(books)
def test_pay_as_bid_on_columns_equals_the_object_rules(raw) -> None:
    orders = _finite(_orders(raw))
    assert PayAsBid().clear(orders).trades == _reference_pay_as_bid(orders)


@settings(max_examples=300, deadline=None)
@given(books, st.lists(st.integers(0, 2), min_size=6, max_size=6), st.sampled_from([None, 0.0, 1.5]))
def test_zonal_on_columns_equals_the_object_rules(raw, zones, capacity) -> None:
    orders = _finite(_orders(raw))
    zone = np.array(zones)
    result = ZonalClearing(zone, capacity).clear(orders)
    trades, prices = _reference_zonal(orders, zone, capacity)
    assert result.trades == trades
    assert result.zone_prices == prices


def test_a_single_order_or_one_empty_side_trades_nothing() -> None:
    for orders in ([Order(0, "buy", 1.0, 0.3)], [Order(0, "sell", 1.0, 0.1)], []):
        assert PayAsClear().clear(orders).trades == []
        assert PayAsBid().clear(orders).trades == []


def test_equal_quotes_keep_the_placing_order_of_one_household() -> None:
    # household 1 places two equal bids: the first placed is served first (a stable sort), 2 kWh
    # before 1 kWh; the ask of 2.5 kWh at 0.1 fills the 2 kWh bid and 0.5 of the 1 kWh bid.
    orders = [Order(1, "buy", 2.0, 0.3), Order(1, "buy", 1.0, 0.3), Order(0, "sell", 2.5, 0.1)]
    # both bids are at the margin (0.3) and share the 2.5 kWh pro rata: 5/3 and 5/6 kWh
    trades = PayAsBid().clear(orders).trades
    assert [t.energy_kwh for t in trades] == pytest.approx([2.5 * 2 / 3, 2.5 / 3])
    assert [t.price_eur_per_kwh for t in trades] == [0.2, 0.2]


def test_the_book_holds_the_orders_it_was_made_of() -> None:
    orders = [Order(3, "sell", 1.5, 0.1, 0.08), Order(1, "buy", 0.5, 0.3)]
    book = OrderBook.of(orders)
    assert list(book) == orders and len(book) == 2 and book[1] == orders[1]
    fresh = OrderBook(book.household, book.buys, book.kwh, book.price, book.limit)
    assert fresh.orders == orders  # built from the columns: None where the quote is the limit


def test_settlement_of_columns_pays_what_each_trade_is_worth() -> None:
    # h0 buys 1 kWh from h1 at 0.2 and sells 0.5 kWh to h2 at 0.1: it pays 0.2 - 0.05 = 0.15
    trades = [Trade(0, 1, 1.0, 0.2), Trade(2, 0, 0.5, 0.1)]
    s = settle(np.array([-0.5, 1.0, -0.5]), trades, 0.30, 0.08)
    assert s.local_payment_eur.tolist() == [0.2 - 0.05, -0.2, 0.05]
    assert s.bought_local_kwh.tolist() == [1.0, 0.0, 0.5] and s.sold_local_kwh.tolist() == [0.5, 1.0, 0.0]
    buyer, seller, kwh, price = trade_columns(trades)
    assert buyer.tolist() == [0, 2] and seller.tolist() == [1, 0] and price.tolist() == [0.2, 0.1]


def test_truthful_households_decide_in_one_batch_as_each_would_alone() -> None:
    from lemgrid.agents.strategies import Observation, truthful_orders

    net = np.array([-1.5, 0.0, 2.0, -0.0, 1e-12])
    placing, buys, kwh, price = truthful_orders(net, 0.30, 0.08)
    alone = [
        o
        for i, x in enumerate(net.tolist())
        for o in Truthful().decide(Observation(i, 0, x, 0.30, 0.08, None)).orders
    ]
    batch = zip(placing.tolist(), buys.tolist(), kwh.tolist(), price.tolist(), strict=True)
    assert [Order(h, "buy" if b else "sell", q, p) for h, b, q, p in batch] == alone


def test_trades_changed_after_clearing_are_taken_apart_again() -> None:
    orders = [Order(0, "buy", 2.0, 0.3), Order(1, "sell", 1.0, 0.1), Order(2, "sell", 1.0, 0.2)]
    trades = PayAsClear().clear(orders).trades
    assert [c.tolist() for c in trade_columns(trades)] == [[0, 0], [1, 2], [1.0, 1.0], [0.25, 0.25]]
    trades[1] = Trade(0, 2, 0.5, 0.25)
    trades.append(Trade(3, 1, 0.25, 0.3))
    assert [c.tolist() for c in trade_columns(trades)] == [
        [0, 0, 3],
        [1, 2, 1],
        [1.0, 0.5, 0.25],
        [0.25] * 2 + [0.3],
    ]


def test_own_trades_dropped_leave_the_other_trades_and_their_columns() -> None:
    from lemgrid.model.bidding import without_own_trades
    from lemgrid.model.market import ClearingResult

    # household 1 bids and asks at 0.2 and meets itself; 0 and 2 trade with others
    orders = [Order(0, "buy", 2.0, 0.3), Order(1, "buy", 1.0, 0.2), Order(1, "sell", 1.0, 0.2)]
    orders.append(Order(2, "sell", 2.0, 0.1))
    cleared = PayAsClear().clear(orders)
    assert any(t.buyer == t.seller for t in cleared.trades)
    kept = without_own_trades(cleared)
    assert list(kept.trades) == [t for t in cleared.trades if t.buyer != t.seller]
    assert kept.price_eur_per_kwh == cleared.price_eur_per_kwh
    # the kept columns are the kept trades' own fields, and are the ones every later stage reads
    assert kept.trades.columns is not None
    assert [c.tolist() for c in trade_columns(kept.trades)] == [
        c.tolist() for c in trade_columns(list(kept.trades))
    ]
    assert kept.volume_kwh == sum(t.energy_kwh for t in kept.trades)
    unchanged = ClearingResult([Trade(0, 2, 1.0, 0.2)], 0.2)
    assert without_own_trades(unchanged) is unchanged
    # a plain list (the CDA's, P2P's) with only own trades: nothing left, the zone prices kept
    alone = without_own_trades(ClearingResult([Trade(1, 1, 1.0, 0.2)], None, {0: 0.2}))
    assert list(alone.trades) == [] and alone.volume_kwh == 0 and alone.zone_prices == {0: 0.2}
