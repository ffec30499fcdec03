"""Bid curves: what each device would do at each local price, and how a cleared quantity is split back.

A device states, for the coming interval, a short list of :class:`Step` s
(price-quantity points in the manner of TESP's device agents): a *buy* step
``Step(kw > 0, price)`` consumes ``kw`` if the local price is at most
``price`` (its marginal value); a *sell* step ``Step(kw < 0, price)`` produces
if the price is at least ``price``. An inelastic step has ``price = inf``
(buy) or ``-inf`` (sell). The household's curve is the sum of its devices'
steps, so its net consumption ``q(p)`` falls as the price rises (monotone by
construction).

The household can always buy from the retailer at ``retail`` and sell to it
at ``feed_in``, so only prices in ``[feed_in, retail]`` matter:
:meth:`BidCurve.orders` turns the curve into limit orders in that band (a
household never both buys and sells), marking the orders the retailer serves
if the market does not (what the household wants even at ``retail`` or sells
even at ``feed_in``). After clearing, :meth:`BidCurve.dispatch` splits the
realised net quantity back onto the devices in merit order: the steps that
value energy most are served first, and a step whose price is not met does
not run (a battery whose offer did not clear does not discharge).

Quantities are average kW over the interval; consumption (buying) is
positive here, the opposite of lemgrid's injection-positive convention, which
:meth:`BidCurve.dispatch` restores for the devices (``Allocation``).
"""

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

EPS_KW = 1e-9


class CurveError(ValueError):
    """A bid curve that is not a valid price-quantity curve (e.g. not monotone, or NaN)."""


class Step(NamedTuple):
    """One price-quantity point of a device's bid (a named tuple: thousands are made per interval).

    Attributes:
        device: which device ('base', 'pv', 'battery', 'ev', 'appliance:<i>').
        kw: > 0 consume (buy) if the price is at most ``price``; < 0 produce (sell) if at least.
        price_eur_per_kwh: the marginal value; ``inf`` (buy) / ``-inf`` (sell) for an inelastic step.
        discrete: all or nothing (an appliance cycle either starts or waits).
    """

    device: str
    kw: float
    price_eur_per_kwh: float
    discrete: bool = False

    @property
    def buys(self) -> bool:
        """Whether this step consumes."""
        return self.kw > 0


class CurveOrder(NamedTuple):
    """A limit order from a curve: ``kwh`` > 0, bought at a price up to ``price`` (sold: at least it).

    ``retail_fallback``: the retailer takes what the market does not (the household
    wants it even at the retail price, or sells it even at the feed-in tariff).
    """

    side: str
    kwh: float
    price_eur_per_kwh: float
    retail_fallback: bool


class BidCurve:
    """A household's aggregate bid for one interval: the sum of its devices' steps.

    Args:
        steps: the devices' steps (zero-quantity steps are dropped).
        retail_eur_per_kwh, feed_in_eur_per_kwh: the retailer's prices this interval (the band).
    """

    def __init__(self, steps: Iterable[Step], retail_eur_per_kwh: float, feed_in_eur_per_kwh: float) -> None:
        self.steps: list[Step] = []
        for s in steps:
            if not math.isfinite(s.kw) or math.isnan(s.price_eur_per_kwh):
                raise CurveError(f"device {s.device!r}: step {s.kw} kW at {s.price_eur_per_kwh} EUR/kWh")
            if abs(s.kw) > EPS_KW:
                self.steps.append(s)
        if not retail_eur_per_kwh >= feed_in_eur_per_kwh:
            raise CurveError(
                f"the retail price {retail_eur_per_kwh} is below the feed-in tariff {feed_in_eur_per_kwh}: "
                "a household could buy and sell back at a profit"
            )
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


def check_monotone(prices_eur_per_kwh: Sequence[float], kw: Sequence[float], what: str) -> None:
    """A user's curve (prices ascending) must not rise with the price; the error names the first break."""
    p = np.asarray(prices_eur_per_kwh, dtype=float)
    q = np.asarray(kw, dtype=float)
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise CurveError(f"{what}: prices and quantities must be finite numbers")
    if (np.diff(p) <= 0).any():
        raise CurveError(f"{what}: prices must rise strictly from point to point, got {list(p)}")
    rises = np.flatnonzero(np.diff(q) > EPS_KW)
    if len(rises):
        i = int(rises[0])
        raise CurveError(
            f"{what}: not monotone: {q[i + 1]} kW at {p[i + 1]} EUR/kWh is more than {q[i]} kW at {p[i]}; "
            "net consumption must not rise with the price"
        )
