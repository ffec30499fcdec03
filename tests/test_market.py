"""Pay-as-clear on hand-worked order books, and its invariants on random ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.strategies import Observation, Order, Truthful
from model.market import PayAsClear, make_mechanism
from model.settlement import settle


def test_textbook_book() -> None:
    # Bids 3 kWh @ 0.30 (h0), 2 kWh @ 0.25 (h1); asks 4 kWh @ 0.10 (h2), 2 kWh @ 0.28 (h3).
    # h0 takes 3 from h2; h1 takes h2's last 1; h1's next ask (0.28) is above its 0.25: stop.
    # Volume 4 kWh; marginal pair (0.25, 0.10) -> price 0.175.
    orders = [
        Order(0, "buy", 3.0, 0.30),
        Order(1, "buy", 2.0, 0.25),
        Order(2, "sell", 4.0, 0.10),
        Order(3, "sell", 2.0, 0.28),
    ]
    result = PayAsClear().clear(orders)
    assert result.price_eur_per_kwh == pytest.approx(0.175)
    assert result.volume_kwh == pytest.approx(4.0)
    assert [(t.buyer, t.seller, t.energy_kwh) for t in result.trades] == [(0, 2, 3.0), (1, 2, 1.0)]


def test_ties_at_the_margin_share_pro_rata() -> None:
    orders = [Order(0, "buy", 2.0, 0.3), Order(1, "buy", 6.0, 0.3), Order(2, "sell", 4.0, 0.1)]
    result = PayAsClear().clear(orders)
    bought = {b: sum(t.energy_kwh for t in result.trades if t.buyer == b) for b in (0, 1)}
    assert bought[0] == pytest.approx(1.0)
    assert bought[1] == pytest.approx(3.0)
    assert result.price_eur_per_kwh == pytest.approx(0.2)


def test_no_cross_no_trade() -> None:
    result = PayAsClear().clear([Order(0, "buy", 1.0, 0.1), Order(1, "sell", 1.0, 0.2)])
    assert result.trades == [] and result.price_eur_per_kwh is None
    assert PayAsClear().clear([]).trades == []


def test_unknown_mechanism_is_named() -> None:
    with pytest.raises(ValueError, match="'nope'.*pay_as_clear"):
        make_mechanism("nope")


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


@settings(max_examples=200, deadline=None)
@given(book)
def test_random_books_respect_limits_quantities_and_volume(
    raw: list[tuple[str, float, float]],
) -> None:
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
    assert result.volume_kwh == pytest.approx(_max_crossing_volume(orders), rel=1e-9, abs=1e-9)


def test_truthful_bids_its_marginal_value() -> None:
    s = Truthful()
    buy = s.decide(Observation(4, 0, -1.5, 0.30, 0.08, None))
    sell = s.decide(Observation(5, 0, 2.0, 0.30, 0.08, None))
    assert buy == [Order(4, "buy", 1.5, 0.30)]
    assert sell == [Order(5, "sell", 2.0, 0.08)]
    assert s.decide(Observation(6, 0, 0.0, 0.30, 0.08, None)) == []


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
    # household 0 bought 3 kWh locally at (0.30 + 0.08) / 2
    assert s.bill_eur[0] == pytest.approx(3 * 0.19)
    assert s.retailer_revenue_eur == pytest.approx(-2.0 * 0.08)  # 5 kWh offered, 3 sold locally
