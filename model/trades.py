"""Local trades: who sold how much energy to whom at which price, and their columns.

A mechanism (:mod:`model.market`) returns its trades as a list of :class:`Trade`;
settlement, losses, the realised positions and the trades table read them as
columns (:func:`trade_columns`), which a call auction's :class:`TradeList` keeps.
"""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, SupportsIndex

import numpy as np


class Trade(NamedTuple):
    """Energy one household sells to another in an interval, at a price.

    A named tuple: a call auction makes about one per household each interval, and a
    tuple is built in a fraction of a frozen dataclass's time.
    """

    buyer: int
    seller: int
    energy_kwh: float
    price_eur_per_kwh: float


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class TradeList(list[Trade]):
    """Trades made from columns, which the list keeps until it is changed (then it is a plain list).

    Settlement, losses and the realised positions read the columns (:func:`trade_columns`)
    instead of taking the trades apart again.
    """

    def __init__(self, buyers: list[int], sellers: list[int], kwh: list[float], prices: list[float]) -> None:
        super().__init__(map(Trade._make, zip(buyers, sellers, kwh, prices, strict=True)))
        self.columns: Columns | None = (
            np.array(buyers, dtype=np.int64).reshape(len(buyers)),
            np.array(sellers, dtype=np.int64).reshape(len(sellers)),
            np.array(kwh, dtype=float).reshape(len(kwh)),
            np.array(prices, dtype=float).reshape(len(prices)),
        )

    @classmethod
    def of(cls, buyer: np.ndarray, seller: np.ndarray, kwh: np.ndarray, price: np.ndarray) -> "TradeList":
        """The trades of columns (as :func:`trade_columns` gives them), which the list keeps."""
        trades = cls.__new__(cls)
        rows = zip(buyer.tolist(), seller.tolist(), kwh.tolist(), price.tolist(), strict=True)
        list.__init__(trades, map(Trade._make, rows))
        trades.columns = (buyer, seller, kwh, price)
        return trades

    def _changed(self) -> None:
        self.columns = None

    def __setitem__(self, index: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(index, value)

    def __delitem__(self, index: Any) -> None:
        self._changed()
        super().__delitem__(index)

    def __iadd__(self, other: Any) -> "TradeList":  # type: ignore[override, misc]
        self._changed()
        return super().__iadd__(other)

    def __imul__(self, times: Any) -> "TradeList":  # type: ignore[override, misc]
        self._changed()
        return super().__imul__(times)

    def append(self, value: Trade) -> None:
        """Append (the list no longer matches its columns)."""
        self._changed()
        super().append(value)

    def extend(self, values: Iterable[Trade]) -> None:
        """Extend (the list no longer matches its columns)."""
        self._changed()
        super().extend(values)

    def insert(self, index: SupportsIndex, value: Trade) -> None:
        """Insert (the list no longer matches its columns)."""
        self._changed()
        super().insert(index, value)

    def pop(self, index: SupportsIndex = -1) -> Trade:
        """Pop (the list no longer matches its columns)."""
        self._changed()
        return super().pop(index)

    def remove(self, value: Trade) -> None:
        """Remove (the list no longer matches its columns)."""
        self._changed()
        super().remove(value)

    def clear(self) -> None:
        """Empty the list (it no longer matches its columns)."""
        self._changed()
        super().clear()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        """Sort (the list no longer matches its columns)."""
        self._changed()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        """Reverse (the list no longer matches its columns)."""
        self._changed()
        super().reverse()


def trade_columns(trades: Sequence[Trade]) -> Columns:
    """The trades' buyers, sellers, energies (kWh) and prices (EUR/kWh) as arrays, in trade order."""
    if isinstance(trades, TradeList) and trades.columns is not None:
        return trades.columns
    if not len(trades):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    n = len(trades)
    buyer, seller, kwh, price = zip(*trades, strict=True)  # the four fields, transposed at C speed
    return (
        np.fromiter(buyer, np.int64, n),
        np.fromiter(seller, np.int64, n),
        np.fromiter(kwh, float, n),
        np.fromiter(price, float, n),
    )


def traded_kwh(trades: Sequence[Trade], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy each of ``n`` households bought and sold locally in ``trades`` (kWh, in trade order)."""
    buyer, seller, kwh, _ = trade_columns(trades)
    # bincount adds the weights in trade order, as a loop of += would (bit for bit)
    bought = np.bincount(buyer, weights=kwh, minlength=n).astype(float, copy=False)
    sold = np.bincount(seller, weights=kwh, minlength=n).astype(float, copy=False)
    return bought, sold
