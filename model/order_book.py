"""One interval's orders as columns: what the call auctions clear and the curves and strategies place.

The households' orders travel from the curve table (and the truthful strategies'
batch decision) to the mechanisms as one :class:`OrderBook`; :class:`Order`
objects are built only where a per-order mechanism (CDA, P2P, community), the
browser app or a test reads them.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

import numpy as np

from lemgrid.agents.strategies import Order


@dataclass(frozen=True, eq=False)
class OrderBook(Sequence[Order]):
    """One interval's orders as columns, in the order they were placed (a sequence of :class:`Order`).

    The call auctions clear these columns; the mechanisms that work order by
    order (CDA, P2P, community), the browser app and the tests read the orders,
    which are built on first use.

    Attributes:
        household: the household placing each order.
        buys: True for a bid, False for an ask.
        kwh: the quantity (> 0).
        price: the quote (EUR/kWh).
        limit: the household's limit price behind the quote (NaN: the quote is the limit).
    """

    household: np.ndarray
    buys: np.ndarray
    kwh: np.ndarray
    price: np.ndarray
    limit: np.ndarray

    @classmethod
    def of(cls, orders: "Sequence[Order] | OrderBook") -> "OrderBook":
        """The orders as a book (a book is returned as it is)."""
        if isinstance(orders, OrderBook):
            return orders
        limit = [np.nan if o.limit_eur_per_kwh is None else o.limit_eur_per_kwh for o in orders]
        book = cls(
            np.array([o.household for o in orders], dtype=np.int64),
            np.array([o.side == "buy" for o in orders], dtype=bool),
            np.array([o.energy_kwh for o in orders], dtype=float),
            np.array([o.price_eur_per_kwh for o in orders], dtype=float),
            np.array(limit, dtype=float),
        )
        book.__dict__["orders"] = list(orders)
        return book

    @cached_property
    def orders(self) -> list[Order]:
        """The orders as objects (built once)."""
        return [
            Order(h, "buy" if b else "sell", kwh, p, None if math.isnan(lim) else lim)
            for h, b, kwh, p, lim in zip(
                self.household.tolist(),
                self.buys.tolist(),
                self.kwh.tolist(),
                self.price.tolist(),
                self.limit.tolist(),
                strict=True,
            )
        ]

    def __len__(self) -> int:
        return len(self.kwh)

    @overload
    def __getitem__(self, i: int) -> Order: ...
    @overload
    def __getitem__(self, i: slice) -> list[Order]: ...
    def __getitem__(self, i: int | slice) -> Order | list[Order]:
        return self.orders[i]

    def __iter__(self) -> Iterator[Order]:
        return iter(self.orders)

    def sorted_sides(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the bids by descending price and of the asks by ascending price; ties by household.

        Stable, as :func:`_books` (``sorted``) is: equal keys keep their placing order.
        """
        bids, asks = np.flatnonzero(self.buys), np.flatnonzero(~self.buys)
        bids = bids[np.lexsort((self.household[bids], -self.price[bids]))]
        asks = asks[np.lexsort((self.household[asks], self.price[asks]))]
        return bids, asks

    def take(self, rows: np.ndarray, kwh: np.ndarray | None = None) -> "OrderBook":
        """The orders at ``rows`` (in that order), with quantities ``kwh`` if given."""
        return OrderBook(
            self.household[rows],
            self.buys[rows],
            self.kwh[rows] if kwh is None else kwh,
            self.price[rows],
            self.limit[rows],
        )
