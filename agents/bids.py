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

import math
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np

from lemgrid.agents import curve_table
from lemgrid.agents.curve_table import EPS_KW


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

    The rules run on a one-household :class:`lemgrid.agents.curve_table.StepTable`
    (the same code that runs every household's curve at once).

    Args:
        steps: the devices' steps (zero-quantity steps are dropped).
        retail_eur_per_kwh, feed_in_eur_per_kwh: the retailer's prices this interval (the band).
    """

    def __init__(self, steps: Iterable[Step], retail_eur_per_kwh: float, feed_in_eur_per_kwh: float) -> None:
        self.steps: list[Step] = []
        for s in steps:
            check_step(s.device, s.kw, s.price_eur_per_kwh)
            if abs(s.kw) > EPS_KW:
                self.steps.append(s)
        check_band(retail_eur_per_kwh, feed_in_eur_per_kwh)
        self.retail = retail_eur_per_kwh
        self.feed_in = feed_in_eur_per_kwh

    def net_kw(self, price: float) -> float:
        """Net consumption at ``price``: buy steps valued at least it, sell steps asking at most it."""
        return sum(
            s.kw
            for s in self.steps
            if (s.price_eur_per_kwh >= price if s.buys else s.price_eur_per_kwh <= price)
        )

    @cached_property
    def _table(self) -> tuple[curve_table.StepTable, curve_table.Levels, list[str]]:
        """The steps as a one-household table, its levels, and the device names of its codes."""
        names = list(dict.fromkeys(s.device for s in self.steps))
        code = {name: i for i, name in enumerate(names)}
        table = curve_table.StepTable(
            np.zeros(len(self.steps), dtype=np.int64),
            np.array([code[s.device] for s in self.steps], dtype=np.int64),
            np.array([s.kw for s in self.steps], dtype=float),
            np.array([s.price_eur_per_kwh for s in self.steps], dtype=float),
            np.array([s.discrete for s in self.steps], dtype=bool),
            1,
        )
        return table, curve_table.tabulate(table, self.retail, self.feed_in), names

    def orders(self, hours: float) -> list[CurveOrder]:
        """Limit orders (kWh) that reproduce the curve inside the band, never buying and selling at once.

        At a price where a step switches, the household is indifferent, and the
        order carries that price. What it buys even at the retail price, or sells
        even at the feed-in tariff, is marked for the retailer's fallback.
        """
        out = curve_table.orders(self._table[1], hours)
        return [
            CurveOrder("buy" if b else "sell", kwh, p, f)
            for b, kwh, p, f in zip(
                out.buys.tolist(), out.kwh.tolist(), out.price.tolist(), out.fallback.tolist(), strict=True
            )
        ]

    def range_kw(self) -> tuple[float, float]:
        """The least and the most net consumption the curve allows inside the band."""
        lv = self._table[1]
        return float(lv.at[0, lv.count[0] - 1]), float(lv.at[0, 0])

    def dispatch(self, net_kw: float) -> dict[str, float]:
        """Each device's consumption (kW, buy positive) at the household's net ``net_kw``, in merit order.

        ``net_kw`` is clamped to :meth:`range_kw`. It fixes the household's price
        ``p*`` on its own curve: buy steps valued above ``p*`` and sells asking
        below it run; the marginal steps (those at ``p*``) share the remainder pro
        rata, and a discrete marginal step runs only if filled at least halfway
        (the meter settles the difference).
        """
        table, lv, names = self._table
        kw = curve_table.per_device(table, curve_table.dispatch(table, lv, np.array([net_kw])), len(names))
        return dict(zip(names, kw[0].tolist(), strict=True))


def check_step(device: str, kw: float, price_eur_per_kwh: float) -> None:
    """A step's quantity must be finite and its price a number (+-inf allowed)."""
    if not math.isfinite(kw) or math.isnan(price_eur_per_kwh):
        raise CurveError(f"device {device!r}: step {kw} kW at {price_eur_per_kwh} EUR/kWh")


def check_band(retail_eur_per_kwh: float, feed_in_eur_per_kwh: float) -> None:
    """The retailer's band: buying must not cost less than selling earns."""
    if not retail_eur_per_kwh >= feed_in_eur_per_kwh:
        raise CurveError(
            f"the retail price {retail_eur_per_kwh} is below the feed-in tariff {feed_in_eur_per_kwh}: "
            "a household could buy and sell back at a profit"
        )


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
