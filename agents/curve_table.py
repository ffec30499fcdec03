"""Every household's bid curve as one table of steps: tabulated, turned into orders and dispatched at once.

The rules are :class:`lemgrid.agents.bids.BidCurve`'s (its docstrings say what
they are and why); here they run as array operations over a flat table of every
household's steps. A household's sums run over its steps in the order its devices
stated them (``np.bincount`` and ``np.cumsum`` add sequentially), so its levels,
orders and dispatch are the same, to the last bit, whether its curve is
tabulated alone or with every other household's.

Python's ``max(a, b)`` returns ``a`` unless ``b > a`` (``min``: unless ``b < a``):
:func:`_pymax` and :func:`_pymin` keep that choice, so signed zeros come out as before.
"""

from dataclasses import dataclass

import numpy as np

EPS_KW = 1e-9


def _pymax(a: np.ndarray, b: "np.ndarray | float") -> np.ndarray:
    return np.where(b > a, b, a)


def _pymin(a: np.ndarray, b: "np.ndarray | float") -> np.ndarray:
    return np.where(b < a, b, a)


@dataclass(frozen=True)
class StepTable:
    """Every household's steps, grouped by household (ascending), each household's in its stated order.

    Attributes:
        household: the household of each step (row of the level arrays).
        device: an integer code of the step's device (the caller's names).
        kw: > 0 consume if the price is at most ``price``; < 0 produce if at least.
        price: the step's marginal value (EUR/kWh); +-inf inelastic.
        discrete: all or nothing.
        n_households: households in the table (some may have no step).
    """

    household: np.ndarray
    device: np.ndarray
    kw: np.ndarray
    price: np.ndarray
    discrete: np.ndarray
    n_households: int

    @classmethod
    def of(
        cls,
        household: np.ndarray,
        device: np.ndarray,
        kw: np.ndarray,
        price: np.ndarray,
        discrete: np.ndarray,
        n_households: int,
        rank: np.ndarray | None = None,
    ) -> "StepTable":
        """The steps above dust, by household and then ``rank`` (stable: equal ranks keep their order)."""
        keep = np.abs(kw) > EPS_KW
        if rank is not None:
            order = np.lexsort((rank[keep], household[keep]))
            keep = np.flatnonzero(keep)[order]
        return cls(
            household[keep], device[keep], kw[keep], price[keep], discrete[keep].astype(bool), n_households
        )


@dataclass(frozen=True)
class Levels:
    """Per household (a row), the band's price levels ascending and the curve at each (NaN past ``count``).

    Attributes:
        price: the levels: the step prices inside the band and the band's ends.
        count: levels per household.
        at: net consumption at the level, both the buys valued it and the sells asking it on.
        buys_at: kW of the buys valued exactly the level.
        sells_at: kW of the sells asking exactly the level.
    """

    price: np.ndarray
    count: np.ndarray
    at: np.ndarray
    buys_at: np.ndarray
    sells_at: np.ndarray

    @property
    def top(self) -> np.ndarray:
        """Each household's highest level's column."""
        return self.count - 1

    def column(self, values: np.ndarray, j: np.ndarray) -> np.ndarray:
        """``values[h, j[h]]`` for every household ``h``."""
        return values[np.arange(len(j)), j]


def tabulate(table: StepTable, retail: float, feed_in: float) -> Levels:
    """Each household's levels in ``[feed_in, retail]`` and the curve there (:meth:`BidCurve._tabulate`)."""
    n = table.n_households
    h, price, kw = table.household, table.price, table.kw
    inside = (feed_in < price) & (price < retail)
    every = np.arange(n)
    lh = np.concatenate([h[inside], every, every])
    lp = np.concatenate([price[inside], np.full(n, feed_in), np.full(n, retail)])
    order = np.lexsort((lp, lh))
    lh, lp = lh[order], lp[order]
    new = np.ones(len(lh), dtype=bool)
    new[1:] = (lh[1:] != lh[:-1]) | (lp[1:] != lp[:-1])
    lh, lp = lh[new], lp[new]
    count = np.bincount(lh, minlength=n)
    width = int(count.max()) if n else 1
    first = np.cumsum(count) - count
    levels = np.full((n, width), np.nan)
    levels[lh, np.arange(len(lh)) - first[lh]] = lp
    mine = levels[h]  # each step's household's levels
    buys = kw > 0
    end = (mine <= price[:, None]).sum(axis=1)  # bisect_right: a buy is on at the levels <= its price
    start = (mine < price[:, None]).sum(axis=1)  # bisect_left: a sell is on at the levels >= its price
    # the difference array, in each household's step order: a buy adds at 0 and takes at end
    row = h * (width + 1)
    sink = n * (width + 1)
    first_at = np.where(buys, row, row + start)
    then_at = np.where(buys, row + end, sink)
    delta = np.bincount(
        np.column_stack([first_at, then_at]).ravel(),
        weights=np.column_stack([kw, np.where(buys, -kw, 0.0)]).ravel(),
        minlength=sink + 1,
    )[:sink].reshape(n, width + 1)
    at = np.cumsum(delta[:, :width], axis=1)
    cells = n * width
    at_end = buys & (end > 0) & (mine[np.arange(len(h)), np.maximum(end - 1, 0)] == price)
    buys_at = np.bincount(h[at_end] * width + end[at_end] - 1, weights=kw[at_end], minlength=cells)
    at_start = ~buys & (start < count[h]) & (mine[np.arange(len(h)), np.minimum(start, width - 1)] == price)
    sells_at = np.bincount(h[at_start] * width + start[at_start], weights=-kw[at_start], minlength=cells)
    return Levels(levels, count, at, buys_at.reshape(n, width), sells_at.reshape(n, width))


@dataclass(frozen=True)
class OrderColumns:
    """Limit orders of many households, in the order they are placed (:meth:`BidCurve.orders`).

    Attributes:
        household, buys (False: a sale), kwh (> 0), price.
        fallback: the retailer takes what the market does not.
        fallback_buy_kwh, fallback_sell_kwh: per household, the fallback orders' kWh.
    """

    household: np.ndarray
    buys: np.ndarray
    kwh: np.ndarray
    price: np.ndarray
    fallback: np.ndarray
    fallback_buy_kwh: np.ndarray
    fallback_sell_kwh: np.ndarray


def orders(lv: Levels, hours: float) -> OrderColumns:
    """Every household's limit orders (kWh) reproducing its curve in the band (:meth:`BidCurve.orders`).

    Per household the candidates are laid out in the order :meth:`BidCurve.orders`
    places them (buys in even columns, sells in odd ones); the dust is dropped.
    """
    n, width = lv.price.shape
    top = lv.top
    between = lv.at - lv.buys_at  # q between level j and j + 1 (j < top)
    demand = _pymax(between, 0.0) * hours
    supply = _pymax(-between, 0.0) * hours
    at_top = lv.column(lv.at, top)
    demand_top, supply_top = _pymax(at_top, 0.0) * hours, _pymax(-at_top, 0.0) * hours
    demand_0, supply_0 = _pymax(lv.at[:, 0], 0.0) * hours, _pymax(-lv.at[:, 0], 0.0) * hours
    below = np.maximum(top - 1, 0)
    p_top, p_0 = lv.column(lv.price, top), lv.price[:, 0]
    kwh = [
        demand_top,
        supply_0,
        lv.column(demand, below) - demand_top,
        supply[:, 0] - supply_0,
        demand_0 - demand[:, 0],
        supply_top - lv.column(supply, below),
    ]
    price = [p_top, p_0, p_top, p_0, p_0, p_top]
    valid = [np.ones(n, dtype=bool)] * 2 + [top > 0] * 4
    for j in range(1, width - 1):
        kwh += [demand[:, j - 1] - demand[:, j], supply[:, j] - supply[:, j - 1]]
        price += [lv.price[:, j]] * 2
        valid += [j < top] * 2
    kwh_m, price_m = np.column_stack(kwh), np.column_stack(price)
    keep = np.column_stack(valid) & (kwh_m > EPS_KW * hours)
    households, cols = np.nonzero(keep)
    return OrderColumns(
        households,
        cols % 2 == 0,
        kwh_m[keep],
        price_m[keep],
        cols < 2,
        np.where(keep[:, 0], demand_top, 0.0),
        np.where(keep[:, 1], supply_0, 0.0),
    )


def dispatch(table: StepTable, lv: Levels, net_kw: np.ndarray) -> np.ndarray:
    """Each step's consumption (kW) at its household's net ``net_kw`` (:meth:`BidCurve.dispatch`)."""
    n, width = lv.price.shape
    top = lv.top
    q = _pymin(_pymax(net_kw, lv.column(lv.at, top)), lv.at[:, 0])[:, None]
    j = np.arange(width)
    sell_on = (
        (j > 0) & (j < lv.count[:, None]) & (q >= lv.at - EPS_KW)
    )  # the sells asking p switch on part way
    buy_off = (j < top[:, None]) & (q >= lv.at - lv.buys_at - EPS_KW)  # the buys valued p switch off part way
    hit = np.column_stack([sell_on, buy_off]).reshape(n, 2, width).transpose(0, 2, 1).reshape(n, 2 * width)
    found = hit.any(axis=1)
    first = hit.argmax(axis=1)
    at_j = first // 2
    is_sell = found & (first % 2 == 0)
    is_buy = found & (first % 2 == 1)
    p_star = np.where(found, lv.column(lv.price, at_j), lv.column(lv.price, top))
    on, buys, sells = lv.column(lv.at, at_j), lv.column(lv.buys_at, at_j), lv.column(lv.sells_at, at_j)
    q = q[:, 0]
    fraction_sell = np.ones(n)
    np.divide(on + sells - q, sells, out=fraction_sell, where=is_sell & (sells > EPS_KW))
    fraction_buy = np.where(is_buy, 0.0, 1.0)
    np.divide(q - on + buys, buys, out=fraction_buy, where=is_buy & (buys > EPS_KW))
    h, price = table.household, table.price
    ps = p_star[h]
    share = np.where(
        table.kw > 0,
        np.where(price > ps, 1.0, np.where(price == ps, fraction_buy[h], 0.0)),
        np.where(price < ps, 1.0, np.where(price == ps, fraction_sell[h], 0.0)),
    )
    share = _pymin(_pymax(share, 0.0), 1.0)
    part = table.discrete & (share > 0.0) & (share < 1.0)
    share = np.where(part, np.where(share >= 0.5, 1.0, 0.0), share)
    return table.kw * share


def per_device(table: StepTable, kw: np.ndarray, n_devices: int) -> np.ndarray:
    """``kw`` per step summed per household and device code (households x devices), in step order."""
    cell = table.household * n_devices + table.device
    return np.bincount(cell, weights=kw, minlength=table.n_households * n_devices).reshape(
        table.n_households, n_devices
    )
