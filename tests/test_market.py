"""Clearing mechanisms on hand-worked order books, and their invariants on random ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lemgrid.agents.strategies import Observation, Order, Truthful
from lemgrid.model.market import (
    BilateralP2P,
    CommunitySharing,
    ContinuousDoubleAuction,
    PayAsBid,
    PayAsClear,
    ZonalClearing,
)
from lemgrid.model.pricing import mechanism_for
from lemgrid.model.settlement import settle
from lemgrid.model.trades import Trade, traded_kwh


def test_textbook_book() -> None:
    # Bids 3 kWh @ 0.30 (h0), 2 kWh @ 0.25 (h1); asks 4 kWh @ 0.10 (h2), 2 kWh @ 0.28 (h3).
    # h0 takes 3 from h2; h1 takes h2's last 1; h1's next ask (0.28) is above its 0.25: stop.
    # Volume 4 kWh. h1 is left wanting 1 kWh at 0.25, so any price below 0.25 would leave a buyer
    # out who values it more; h2's ask (0.10) trades, h3's (0.28) does not: the equilibrium
    # interval is [0.25, 0.25] and the price 0.25 (the old midpoint rule gave 0.175).
    orders = [
        Order(0, "buy", 3.0, 0.30),
        Order(1, "buy", 2.0, 0.25),
        Order(2, "sell", 4.0, 0.10),
        Order(3, "sell", 2.0, 0.28),
    ]
    result = PayAsClear().clear(orders)
    assert result.price_eur_per_kwh == pytest.approx(0.25)
    assert result.volume_kwh == pytest.approx(4.0)
    assert [(t.buyer, t.seller, t.energy_kwh) for t in result.trades] == [(0, 2, 3.0), (1, 2, 1.0)]


def test_pay_as_clear_prices_inside_the_equilibrium_interval() -> None:
    # Issue 18's book: buy 1 @ 0.30; sell 1 @ 0.10 and 1 @ 0.15. One unit trades, from the 0.10 seller.
    # Equilibrium prices: at least 0.10 (that seller sells), at most 0.15 (the other would sell too).
    # The midpoint of the marginal pair, 0.20, lies outside; k = 1/2 over [0.10, 0.15] gives 0.125.
    orders = [Order(0, "buy", 1.0, 0.30), Order(1, "sell", 1.0, 0.10), Order(2, "sell", 1.0, 0.15)]
    assert PayAsClear().clear(orders).price_eur_per_kwh == pytest.approx(0.125)
    assert PayAsClear(k=0.0).clear(orders).price_eur_per_kwh == pytest.approx(0.10)
    assert PayAsClear(k=1.0).clear(orders).price_eur_per_kwh == pytest.approx(0.15)


def test_ties_at_the_margin_share_pro_rata() -> None:
    orders = [Order(0, "buy", 2.0, 0.3), Order(1, "buy", 6.0, 0.3), Order(2, "sell", 4.0, 0.1)]
    result = PayAsClear().clear(orders)
    bought = {b: sum(t.energy_kwh for t in result.trades if t.buyer == b) for b in (0, 1)}
    assert bought[0] == pytest.approx(1.0)
    assert bought[1] == pytest.approx(3.0)
    # both bids keep a residual at 0.30: only 0.30 clears (a lower price would leave them wanting)
    assert result.price_eur_per_kwh == pytest.approx(0.3)


def test_no_cross_no_trade() -> None:
    result = PayAsClear().clear([Order(0, "buy", 1.0, 0.1), Order(1, "sell", 1.0, 0.2)])
    assert result.trades == [] and result.price_eur_per_kwh is None
    assert PayAsClear().clear([]).trades == []


def test_a_design_rejects_a_mechanism_it_does_not_allow() -> None:
    with pytest.raises(ValueError, match="'p2p' does not implement pricing design 'uniform'.*pay_as_clear"):
        mechanism_for("uniform", "p2p")
    assert mechanism_for("heterogeneous", None) == "pay_as_bid"
    assert mechanism_for("zonal", None) == "pay_as_clear"


TEXTBOOK = [
    Order(0, "buy", 3.0, 0.30),
    Order(1, "buy", 2.0, 0.25),
    Order(2, "sell", 4.0, 0.10),
    Order(3, "sell", 2.0, 0.28),
]


def test_pay_as_bid_prices_each_pair_at_its_own_midpoint() -> None:
    # Same matching as the uniform auction: h0 3 kWh from h2, h1 1 kWh from h2.
    result = PayAsBid().clear(TEXTBOOK)
    assert [(t.buyer, t.seller, t.energy_kwh) for t in result.trades] == [(0, 2, 3.0), (1, 2, 1.0)]
    assert [t.price_eur_per_kwh for t in result.trades] == pytest.approx([0.20, 0.175])
    assert result.price_eur_per_kwh is None


class _Arrivals:
    """A stand-in generator whose permutation is a fixed arrival order."""

    def __init__(self, order: list[int]) -> None:
        self.order = order

    def permutation(self, n: int) -> np.ndarray:
        assert n == len(self.order)
        return np.array(self.order)


def test_continuous_double_auction_trades_at_the_resting_quote() -> None:
    # Arrivals h2 (ask 4@0.10), h0 (bid 3@0.30), h3 (ask 2@0.28), h1 (bid 2@0.25):
    # h0 lifts 3 of h2's ask at 0.10; h1 takes h2's last 1 at 0.10, h3's 0.28 is above its 0.25.
    cda = ContinuousDoubleAuction(_Arrivals([2, 0, 3, 1]))  # type: ignore[arg-type]
    trades = cda.clear(TEXTBOOK).trades
    assert [(t.buyer, t.seller, t.energy_kwh, t.price_eur_per_kwh) for t in trades] == [
        (0, 2, 3.0, 0.10),
        (1, 2, 1.0, 0.10),
    ]
    # Bids first: h3's ask at 0.28 hits h0's resting 0.30 bid (2 kWh), then h2's ask fills h0's
    # last 1 at 0.30 and h1's 2 at 0.25. Path dependence: 5 kWh, more than the call auction's 4.
    cda = ContinuousDoubleAuction(_Arrivals([0, 1, 3, 2]))  # type: ignore[arg-type]
    trades = cda.clear(TEXTBOOK).trades
    assert [(t.buyer, t.seller, t.energy_kwh, t.price_eur_per_kwh) for t in trades] == [
        (0, 3, 2.0, 0.30),
        (0, 2, 1.0, 0.30),
        (1, 2, 2.0, 0.25),
    ]


def test_p2p_buyers_pick_their_preferred_seller() -> None:
    orders = [Order(0, "buy", 1.0, 0.30), Order(1, "sell", 1.0, 0.08), Order(2, "sell", 1.0, 0.08)]
    preference = np.zeros((3, 3))
    preference[0, 1] = -0.01  # far away
    preference[0, 2] = 0.02  # green
    trades = BilateralP2P(preference).clear(orders).trades
    # the pair splits its preference-adjusted surplus: (0.30 + 0.08 + 0.02) / 2
    assert [(t.buyer, t.seller, t.energy_kwh) for t in trades] == [(0, 2, 1.0)]
    assert trades[0].price_eur_per_kwh == pytest.approx(0.20)
    # a pair whose preference eats the whole surplus (0.22) does not trade
    preference[0, 1] = preference[0, 2] = -0.25
    assert BilateralP2P(preference).clear(orders).trades == []


def test_community_shares_pro_rata_at_the_supply_demand_ratio_price() -> None:
    orders = [
        Order(0, "buy", 1.0, 0.30),
        Order(1, "buy", 3.0, 0.30),
        Order(2, "sell", 1.0, 0.08),
        Order(3, "sell", 1.0, 0.08),
    ]
    result = CommunitySharing(0.30, 0.08, "sdr").clear(orders)
    # S = 2, D = 4, SDR = 0.5: price = 0.08 * 0.30 / (0.22 * 0.5 + 0.08) = 0.024 / 0.19
    assert result.price_eur_per_kwh == pytest.approx(0.024 / 0.19)
    bought = {b: sum(t.energy_kwh for t in result.trades if t.buyer == b) for b in (0, 1)}
    assert bought == pytest.approx({0: 0.5, 1: 1.5})  # half of each buyer's demand
    assert [t.energy_kwh for t in result.trades if t.buyer == 1] == pytest.approx([0.75, 0.75])
    assert CommunitySharing(0.30, 0.08, "mid_market").clear(orders).price_eur_per_kwh == pytest.approx(0.19)
    surplus = orders[:1] + orders[2:]  # S = 2 >= D = 1: the feed-in tariff
    assert CommunitySharing(0.30, 0.08, "sdr").clear(surplus).price_eur_per_kwh == pytest.approx(0.08)


def test_zonal_clears_each_zone_then_the_capped_inter_zone_residual() -> None:
    orders = [
        Order(0, "buy", 2.0, 0.30),  # zone 0
        Order(1, "sell", 1.0, 0.10),  # zone 0
        Order(2, "buy", 1.0, 0.20),  # zone 1
        Order(3, "sell", 3.0, 0.12),  # zone 1
    ]
    zone = np.array([0, 0, 1, 1])
    result = ZonalClearing(zone, None).clear(orders)
    # zone 0: h0 keeps wanting 1 kWh at 0.30 -> 0.30; zone 1: h3 keeps 2 kWh unsold at 0.12 -> 0.12
    assert result.zone_prices == pytest.approx({0: 0.30, 1: 0.12})
    # residual: h0 still buys 1 @ 0.30, h3 still sells 2 @ 0.12 -> 1 kWh across at 0.12 (h3 keeps a residual)
    assert [(t.buyer, t.seller) for t in result.trades] == [(0, 1), (2, 3), (0, 3)]
    assert [t.energy_kwh for t in result.trades] == pytest.approx([1.0, 1.0, 1.0])
    assert [t.price_eur_per_kwh for t in result.trades] == pytest.approx([0.30, 0.12, 0.12])
    capped = ZonalClearing(zone, 0.5).clear(orders)
    assert capped.volume_kwh == pytest.approx(2.5)
    # a rationed border: only the filled orders bound the price, k = 1/2 over [0.12, 0.30]
    assert capped.trades[-1].price_eur_per_kwh == pytest.approx(0.21)
    assert ZonalClearing(zone, 0.0).clear(orders).volume_kwh == pytest.approx(2.0)


def _max_crossing_volume(orders: list[Order]) -> float:
    """Independent: the largest min(demand(p), supply(p)) over all order prices."""
    best = 0.0
    for p in {o.price_eur_per_kwh for o in orders}:
        demand = sum(o.energy_kwh for o in orders if o.side == "buy" and o.price_eur_per_kwh >= p)
        supply = sum(o.energy_kwh for o in orders if o.side == "sell" and o.price_eur_per_kwh <= p)
        best = max(best, min(demand, supply))
    return best


book = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.floats(0.01, 10.0),
        st.sampled_from([0.05, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3]),
    ),
    min_size=0,
    max_size=12,
)


@settings(max_examples=1000, deadline=None)
@given(book)
def test_random_books_respect_limits_quantities_and_volume(
    raw: list[tuple[str, float, float]],
) -> None:
    # 1,000 random books; prices from seven levels, so ties at the margin are common
    orders = [Order(i, side, q, p) for i, (side, q, p) in enumerate(raw)]  # type: ignore[arg-type]
    result = PayAsClear().clear(orders)
    by_id = {o.household: o for o in orders}
    filled = dict.fromkeys(by_id, 0.0)
    for t in result.trades:
        assert by_id[t.buyer].side == "buy" and by_id[t.seller].side == "sell"
        assert by_id[t.seller].price_eur_per_kwh <= t.price_eur_per_kwh <= by_id[t.buyer].price_eur_per_kwh
        assert t.price_eur_per_kwh == result.price_eur_per_kwh  # uniform price
        filled[t.buyer] += t.energy_kwh
        filled[t.seller] += t.energy_kwh
    for i, o in by_id.items():
        assert filled[i] <= o.energy_kwh * (1 + 1e-9)
    # budget balance: buyers pay what sellers receive
    net = np.array([o.energy_kwh if o.side == "sell" else -o.energy_kwh for o in orders])
    assert settle(net, result.trades, 0.30, 0.08).local_payment_eur.sum() == pytest.approx(0.0, abs=1e-9)
    # the call auction trades the equilibrium quantity
    assert result.volume_kwh == pytest.approx(_max_crossing_volume(orders), rel=1e-9, abs=1e-9)
    # and its price supports every fill (competitive equilibrium): an order priced better than the
    # price fills completely, one priced worse not at all
    p = result.price_eur_per_kwh
    if p is None:
        return
    for i, o in by_id.items():
        better = o.price_eur_per_kwh > p if o.side == "buy" else o.price_eur_per_kwh < p
        worse = o.price_eur_per_kwh < p if o.side == "buy" else o.price_eur_per_kwh > p
        if better:
            assert filled[i] == pytest.approx(o.energy_kwh, rel=1e-9), (o, p)
        if worse:
            assert filled[i] == 0.0, (o, p)


@settings(max_examples=150, deadline=None)
@given(book, st.integers(0, 2**32 - 1))
def test_every_mechanism_respects_limits_quantities_and_budget(
    raw: list[tuple[str, float, float]], seed: int
) -> None:
    orders = [Order(i, side, q, p) for i, (side, q, p) in enumerate(raw)]  # type: ignore[arg-type]
    n = len(orders)
    rng = np.random.default_rng(seed)
    preference = rng.uniform(-0.1, 0.1, (n, n))
    mechanisms = [
        PayAsBid(),
        ContinuousDoubleAuction(rng),
        BilateralP2P(preference),
        CommunitySharing(0.30, 0.08, "sdr"),
        ZonalClearing(rng.integers(0, 3, n) if n else np.zeros(0, int), None),
    ]
    by_id = {o.household: o for o in orders}
    for mechanism in mechanisms:
        result = mechanism.clear(orders)
        filled = dict.fromkeys(by_id, 0.0)
        for t in result.trades:
            assert by_id[t.buyer].side == "buy" and by_id[t.seller].side == "sell"
            if mechanism.name == "community":  # members take the manager's price, between FIT and retail
                assert 0.08 - 1e-12 <= t.price_eur_per_kwh <= 0.30 + 1e-12
            elif mechanism.name == "p2p":  # the buyer's limit for this seller includes its preference
                assert by_id[t.seller].price_eur_per_kwh - 1e-12 <= t.price_eur_per_kwh
                value = by_id[t.buyer].price_eur_per_kwh + preference[t.buyer, t.seller]
                assert t.price_eur_per_kwh <= value + 1e-12
            else:
                assert by_id[t.seller].price_eur_per_kwh - 1e-12 <= t.price_eur_per_kwh
                assert t.price_eur_per_kwh <= by_id[t.buyer].price_eur_per_kwh + 1e-12
            filled[t.buyer] += t.energy_kwh
            filled[t.seller] += t.energy_kwh
        for i, o in by_id.items():
            assert filled[i] <= o.energy_kwh * (1 + 1e-9) + 1e-12
        # budget balance: what buyers pay locally, sellers receive
        net = np.array([o.energy_kwh if o.side == "sell" else -o.energy_kwh for o in orders])
        assert settle(net, result.trades, 0.30, 0.08).local_payment_eur.sum() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(book)
def test_pay_as_bid_and_one_zone_clear_as_the_uniform_auction(raw: list[tuple[str, float, float]]) -> None:
    orders = [Order(i, side, q, p) for i, (side, q, p) in enumerate(raw)]  # type: ignore[arg-type]
    uniform = PayAsClear().clear(orders)
    assert PayAsBid().clear(orders).volume_kwh == pytest.approx(uniform.volume_kwh, abs=1e-12)
    one_zone = ZonalClearing(np.zeros(len(orders), int), None).clear(orders)
    assert one_zone.trades == uniform.trades
    assert one_zone.price_eur_per_kwh == uniform.price_eur_per_kwh


def test_truthful_bids_its_marginal_value() -> None:
    s = Truthful()
    buy = s.decide(Observation(4, 0, -1.5, 0.30, 0.08, None)).orders
    sell = s.decide(Observation(5, 0, 2.0, 0.30, 0.08, None)).orders
    assert buy == [Order(4, "buy", 1.5, 0.30)]
    assert sell == [Order(5, "sell", 2.0, 0.08)]
    assert s.decide(Observation(6, 0, 0.0, 0.30, 0.08, None)).orders == []


def test_settlement_conserves_money_and_energy() -> None:
    orders = [Order(0, "buy", 3.0, 0.30), Order(1, "sell", 1.0, 0.08), Order(2, "sell", 4.0, 0.08)]
    result = PayAsClear().clear(orders)
    net = np.array([-3.0, 1.0, 4.0])
    s = settle(net, result.trades, 0.30, 0.08)
    assert s.local_payment_eur.sum() == pytest.approx(0.0, abs=1e-12)
    # every household's metered energy is accounted for by local and retail trades
    np.testing.assert_allclose(
        s.sold_local_kwh + s.sold_retail_kwh - s.bought_local_kwh - s.bought_retail_kwh, net
    )
    # household 0 bought 3 kWh locally; sellers keep 2 kWh unsold at 0.08, so the price is 0.08
    assert s.bill_eur[0] == pytest.approx(3 * 0.08)
    assert s.retailer_revenue_eur == pytest.approx(-2.0 * 0.08)  # 5 kWh offered, 3 sold locally


@pytest.mark.parametrize("mechanism", [PayAsClear(), PayAsClear(max_volume_kwh=1.0)])
def test_a_book_crossing_only_numerical_dust_trades_nothing(mechanism) -> None:
    # found in a run: buy and sell orders of 2e-17 kWh crossed, no fill passed the tolerance, and the
    # equilibrium interval's top was +inf, so every dust trade was priced at inf and bills became NaN
    dust = [Order(0, "buy", 2.1e-17, 0.30), Order(1, "sell", 2.1e-17, 0.08), Order(2, "buy", 5e-18, 0.30)]
    result = mechanism.clear(dust)
    assert result.trades == [] and result.price_eur_per_kwh is None
    # beside a real trade the dust changes nothing and every price is finite
    result = mechanism.clear([*dust, Order(3, "buy", 1.0, 0.25), Order(4, "sell", 1.0, 0.10)])
    assert all(np.isfinite(t.price_eur_per_kwh) for t in result.trades)
    assert 0.10 <= result.price_eur_per_kwh <= 0.25


def test_settlement_refuses_a_trade_without_a_finite_price() -> None:
    with pytest.raises(ValueError, match="no finite value"):
        settle(np.zeros(2), [Trade(0, 1, 1.0, float("inf"))], 0.30, 0.08)


def test_traded_energy_per_household_adds_each_trade_in_trade_order():
    # bincount must add as a loop of += in trade order does, bit for bit (the settlement's sums rely on it)
    rng = np.random.default_rng(3)
    trades = [
        Trade(int(b), int(s), float(e), 0.1)
        for b, s, e in zip(
            rng.integers(0, 6, 40), rng.integers(0, 6, 40), rng.random(40) * 1e-3 + 0.1, strict=True
        )
    ]
    loop_bought, loop_sold = [0.0] * 7, [0.0] * 7
    for t in trades:
        loop_bought[t.buyer] += t.energy_kwh
        loop_sold[t.seller] += t.energy_kwh
    bought, sold = traded_kwh(trades, 7)
    assert bought.tolist() == loop_bought and sold.tolist() == loop_sold
    assert bought[6] == 0.0 and bought.sum() == pytest.approx(sum(t.energy_kwh for t in trades))
    assert traded_kwh([], 3)[0].tolist() == [0.0, 0.0, 0.0]
