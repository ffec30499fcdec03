"""The curve table gives every household's orders and dispatch bit for bit as the per-household rules did.

``ReferenceCurve`` is ``BidCurve`` as it was before the table (one household,
Python loops over its steps); the table must reproduce its floats exactly, for
many households at once, including ties between levels and discrete steps.
"""

import bisect
import itertools
import math
from collections.abc import Iterable

import numpy as np
import pytest

from lemgrid.agents import curve_table
from lemgrid.agents.bids import BidCurve, CurveError, CurveOrder, Step
from lemgrid.agents.device_curves import Outlook, battery_steps, device_name
from lemgrid.agents.devices import Battery
from lemgrid.agents.policies import Devices
from lemgrid.model.bidding import Band, Scheduled, step_table

EPS_KW = 1e-9


class ReferenceCurve:
    """The per-household implementation the table replaced (lemgrid 85063d9's ``BidCurve``), step by step.

    Args:
        steps: the devices' steps (zero-quantity steps are dropped).
        retail_eur_per_kwh, feed_in_eur_per_kwh: the retailer's prices this interval (the band).
    """

    def __init__(self, steps: Iterable[Step], retail_eur_per_kwh: float, feed_in_eur_per_kwh: float) -> None:
        self.steps: list[Step] = [s for s in steps if abs(s.kw) > EPS_KW]
        self.retail = retail_eur_per_kwh
        self.feed_in = feed_in_eur_per_kwh
        self._table = self._tabulate()  # every curve is turned into orders: tabulated once, here

    def net_kw(self, price: float) -> float:
        """Net consumption at ``price``: buy steps valued at least it, sell steps asking at most it."""
        return sum(
            s.kw
            for s in self.steps
            if (s.price_eur_per_kwh >= price if s.buys else s.price_eur_per_kwh <= price)
        )

    def _levels(self) -> list[float]:
        """The prices in the band where the curve can change, ascending (band ends included)."""
        return self._table[0]

    def _tabulate(self) -> tuple[list[float], list[float], list[float], list[float]]:
        """Per band level: the level, q there (both kinds of step at it on), buys valued it, sells asking it.

        One pass over the steps with a difference array (a step is on over a
        contiguous run of levels), instead of evaluating :meth:`net_kw` per level.
        """
        feed_in, retail = self.feed_in, self.retail
        inside = {s.price_eur_per_kwh for s in self.steps if feed_in < s.price_eur_per_kwh < retail}
        levels = sorted(inside | {feed_in, retail})
        n = len(levels)
        delta = [0.0] * (n + 1)
        buys_at = [0.0] * n
        sells_at = [0.0] * n
        for st in self.steps:
            price, kw = st.price_eur_per_kwh, st.kw
            if kw > 0:  # a buy step: on at every level <= price
                end = bisect.bisect_right(levels, price)
                delta[0] += kw
                delta[end] -= kw
                if end and levels[end - 1] == price:
                    buys_at[end - 1] += kw
            else:  # a sell step: on at every level >= price
                start = bisect.bisect_left(levels, price)
                delta[start] += kw
                if start < n and levels[start] == price:
                    sells_at[start] -= kw
        at = list(itertools.accumulate(delta[:n]))
        return levels, at, buys_at, sells_at

    def orders(self, hours: float) -> list[CurveOrder]:
        """Limit orders (kWh) that reproduce the curve inside the band, never buying and selling at once.

        At a price where a step switches, the household is indifferent, and the
        order carries that price. What it buys even at the retail price, or sells
        even at the feed-in tariff, is marked for the retailer's fallback.
        """
        levels, at, buys_at, _ = self._table  # at: buys valued p_j and sells asking p_j both on
        top = len(levels) - 1
        between = [at[j] - buys_at[j] for j in range(top)]  # q between p_j and p_(j+1)
        # kWh bought (sold) at each net consumption: at p_top, at p_0, between the levels
        demand_top, supply_top = max(at[top], 0.0) * hours, max(-at[top], 0.0) * hours
        demand_0, supply_0 = max(at[0], 0.0) * hours, max(-at[0], 0.0) * hours
        demand = [max(q, 0.0) * hours for q in between]
        supply = [max(-q, 0.0) * hours for q in between]
        # (side, kWh, price, fallback), in the order the orders are placed; only those above dust kept
        raw = [("buy", demand_top, levels[top], True), ("sell", supply_0, levels[0], True)]
        if top > 0:
            raw.append(("buy", demand[top - 1] - demand_top, levels[top], False))
            raw.append(("sell", supply[0] - supply_0, levels[0], False))
            raw.append(("buy", demand_0 - demand[0], levels[0], False))
            raw.append(("sell", supply_top - supply[top - 1], levels[top], False))
        for j in range(1, top):
            raw.append(("buy", demand[j - 1] - demand[j], levels[j], False))
            raw.append(("sell", supply[j] - supply[j - 1], levels[j], False))
        dust = EPS_KW * hours
        return [CurveOrder._make(r) for r in raw if r[1] > dust]

    def range_kw(self) -> tuple[float, float]:
        """The least and the most net consumption the curve allows inside the band."""
        _, at, _, _ = self._table
        return at[-1], at[0]

    def dispatch(self, net_kw: float) -> dict[str, float]:
        """Each device's consumption (kW, buy positive) at the household's net ``net_kw``, in merit order.

        ``net_kw`` is clamped to :meth:`range_kw`. It fixes the household's price
        ``p*`` on its own curve: buy steps valued above ``p*`` and sell steps asking
        below it run; the marginal steps (those at ``p*``) share the remainder pro
        rata, and a discrete marginal step runs only if filled at least halfway
        (the meter settles the difference).
        """
        low, high = self.range_kw()
        q = min(max(net_kw, low), high)
        levels, at, buys_at, sells_at = self._table
        p_star, fraction_buy, fraction_sell = levels[-1], 1.0, 1.0
        for j, p in enumerate(levels):
            on, buys, sells = at[j], buys_at[j], sells_at[j]  # at p: sells asking p on, buys valued p on
            if j > 0 and q >= on - EPS_KW:  # the sells asking p switch on part way
                p_star, fraction_sell = p, (on + sells - q) / sells if sells > EPS_KW else 1.0
                break
            if j < len(levels) - 1 and q >= on - buys - EPS_KW:  # the buys valued p switch off part way
                p_star, fraction_buy = p, (q - on + buys) / buys if buys > EPS_KW else 0.0
                break
        out: dict[str, float] = {}
        for s in self.steps:
            p = s.price_eur_per_kwh
            if s.kw > 0:  # a buy step
                share = 1.0 if p > p_star else (fraction_buy if p == p_star else 0.0)
            else:
                share = 1.0 if p < p_star else (fraction_sell if p == p_star else 0.0)
            share = min(max(share, 0.0), 1.0)
            if s.discrete and 0.0 < share < 1.0:
                share = 1.0 if share >= 0.5 else 0.0
            out[s.device] = out.get(s.device, 0.0) + s.kw * share
        return out


PRICES = [-math.inf, math.inf, 0.0, 0.08, 0.08, 0.12, 0.15, 0.15, 0.2, 0.3, 0.3, 0.45]
DEVICES = ["base", "pv", "battery", "ev", "appliance:0", "appliance:1"]


def random_steps(rng: np.random.Generator) -> list[Step]:
    """A household's steps: prices often tied with each other and with the band's ends, some discrete."""
    out = []
    for _ in range(int(rng.integers(0, 8))):
        price = PRICES[int(rng.integers(len(PRICES)))] if rng.random() < 0.7 else float(rng.uniform(0, 0.4))
        kw = float(rng.choice([rng.uniform(-4, 4), rng.integers(-3, 4) * 0.5, 1e-12]))
        out.append(Step(DEVICES[int(rng.integers(len(DEVICES)))], kw, price, bool(rng.random() < 0.3)))
    return out


def table_of(curves: list[list[Step]]) -> curve_table.StepTable:
    rows = [
        (h, DEVICES.index(s.device), s.kw, s.price_eur_per_kwh, s.discrete)
        for h, c in enumerate(curves)
        for s in c
    ]
    h, d, kw, p, disc = (np.array(col) for col in zip(*rows, strict=True)) if rows else [np.zeros(0)] * 5
    return curve_table.StepTable.of(
        h.astype(np.int64),
        d.astype(np.int64),
        kw.astype(float),
        p.astype(float),
        disc.astype(bool),
        len(curves),
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("band", [(0.30, 0.08), (0.15, 0.15), (0.2, -0.05)])
def test_many_households_orders_and_dispatch_equal_the_reference_bit_for_bit(seed, band):
    rng = np.random.default_rng(seed)
    retail, feed_in = band
    hours = 0.25
    households = [random_steps(rng) for _ in range(60)]
    reference = [ReferenceCurve(steps, retail, feed_in) for steps in households]
    table = table_of(households)
    levels = curve_table.tabulate(table, retail, feed_in)
    got = curve_table.orders(levels, hours)
    expected = [(h, o) for h, c in enumerate(reference) for o in c.orders(hours)]
    assert list(
        zip(
            got.household.tolist(),
            got.buys.tolist(),
            got.kwh.tolist(),
            got.price.tolist(),
            got.fallback.tolist(),
            strict=True,
        )
    ) == [(h, o.side == "buy", o.kwh, o.price_eur_per_kwh, o.retail_fallback) for h, o in expected]
    for h, c in enumerate(reference):
        low, high = c.range_kw()
        assert (levels.at[h, levels.count[h] - 1], levels.at[h, 0]) == (low, high)
        fallback = [o.kwh for o in c.orders(hours) if o.retail_fallback]
        assert [got.fallback_buy_kwh[h], got.fallback_sell_kwh[h]] == [
            sum(o.kwh for o in c.orders(hours) if o.retail_fallback and o.side == s) for s in ("buy", "sell")
        ]
        assert len(fallback) <= 2
    # the net at the range's ends, beyond them, inside, and exactly at every level (ties switch there)
    for trial in range(24):
        net = np.array([_net(c, rng, trial) for c in reference])
        kw = curve_table.per_device(table, curve_table.dispatch(table, levels, net), len(DEVICES))
        for h, c in enumerate(reference):
            want = c.dispatch(float(net[h]))
            assert {d: kw[h, DEVICES.index(d)] for d in want} == want
            assert all(kw[h, DEVICES.index(d)] == 0.0 for d in DEVICES if d not in want)


def _net(c: ReferenceCurve, rng: np.random.Generator, trial: int) -> float:
    low, high = c.range_kw()
    _, at, buys_at, sells_at = c._table
    # at a level, where its buys switch off, half way through its buys (sells): discrete steps round there
    ties = [*at, *(a - b for a, b in zip(at, buys_at, strict=True))]
    ties += [
        *(a - b / 2 for a, b in zip(at, buys_at, strict=True)),
        *(a + s / 2 for a, s in zip(at, sells_at, strict=True)),
    ]
    choices = [low, high, low - 1.0, high + 1.0, float(rng.uniform(low, high)) if high > low else low]
    return float((choices + ties)[trial % (len(choices) + len(ties))])


def test_bidcurve_is_a_view_of_the_table_and_agrees_with_the_reference():
    rng = np.random.default_rng(11)
    for _ in range(100):
        steps = random_steps(rng)
        ref, view = ReferenceCurve(steps, 0.3, 0.08), BidCurve(steps, 0.3, 0.08)
        assert view.orders(0.25) == ref.orders(0.25)
        assert view.range_kw() == ref.range_kw()
        for trial in range(6):
            net = _net(ref, rng, trial)
            assert view.dispatch(net) == ref.dispatch(net)


def test_the_step_table_lists_each_households_steps_in_the_order_its_devices_state_them():
    def battery() -> Battery:
        return Battery(10.0, 4.0, 0.81, 0.0, 1.0, 0.3, degradation_cost_eur_per_kwh=0.01)

    future = Outlook(np.array([0.10, 0.35, 0.20, 0.30, 0.12]))
    band = Band(0.0, 900.0, future, 0.30, 0.08, 0.0)
    devices = [Devices(), Devices(battery=battery()), Devices(battery=battery())]
    scheduled = [Scheduled(day_ahead_bought_kw=1.5), None, Scheduled(battery_kw=-2.0)]
    table = step_table(devices, np.array([2.0, 1.0, 0.0]), np.array([0.0, 3.0, 0.0]), band, scheduled)
    rows = [
        (h, device_name(d), kw, p)
        for h, d, kw, p in zip(
            table.household.tolist(),
            table.device.tolist(),
            table.kw.tolist(),
            table.price.tolist(),
            strict=True,
        )
    ]
    sell, buy = battery_steps(battery(), 0.25, future)  # the hand-worked battery of test_bids
    assert rows == [
        (0, "base", 2.0, math.inf),
        (0, "day_ahead", -1.5, -math.inf),  # bought day-ahead: an inelastic sale of that position
        (1, "base", 1.0, math.inf),
        (1, "pv", -3.0, 0.0),
        (1, "battery", sell.kw, sell.price_eur_per_kwh),
        (1, "battery", buy.kw, buy.price_eur_per_kwh),
        (2, "battery", 2.0, math.inf),  # its scheduled charging, inelastic
    ]
    with pytest.raises(CurveError, match="'base'"):
        step_table(devices, np.array([np.nan, 1.0, 0.0]), np.zeros(3), band, [None] * 3)
