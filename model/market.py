"""Clearing mechanisms: turn one interval's orders into trades.

Each mechanism is a small class registered by name in :data:`MECHANISMS`.
Energy that no local counterparty takes is settled with the retailer
(see :mod:`model.settlement`), so a mechanism only reports local trades.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agents.strategies import Order


@dataclass(frozen=True, slots=True)
class Trade:
    """Energy one household sells to another in an interval, at a price."""

    buyer: int
    seller: int
    energy_kwh: float
    price_eur_per_kwh: float


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one clearing: the trades and the uniform price if there is one."""

    trades: list[Trade]
    price_eur_per_kwh: float | None

    @property
    def volume_kwh(self) -> float:
        """Energy traded locally."""
        return sum(t.energy_kwh for t in self.trades)


class Mechanism(Protocol):
    """The interface every clearing mechanism implements."""

    name: str

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match one interval's orders."""
        ...


def _fill_by_level(
    orders: list[Order], total_kwh: float, marginal_price: float, better: np.ndarray
) -> np.ndarray:
    """Fill ``orders`` up to ``total_kwh``: strictly better prices in full, the marginal level pro rata."""
    qty = np.array([o.energy_kwh for o in orders])
    fill = np.where(better, qty, 0.0)
    at_margin = np.array([o.price_eur_per_kwh == marginal_price for o in orders], dtype=bool) & ~better
    rest = total_kwh - fill.sum()
    if at_margin.any():
        fill[at_margin] = qty[at_margin] * min(1.0, max(rest, 0.0) / qty[at_margin].sum())
    return fill


def _pair(
    bids: list[Order], bid_fill: np.ndarray, asks: list[Order], ask_fill: np.ndarray, price: float
) -> list[Trade]:
    """Split filled quantities into buyer-seller pairs, walking both books in priority order."""
    trades: list[Trade] = []
    i = j = 0
    b_left = bid_fill.copy()
    a_left = ask_fill.copy()
    while i < len(bids) and j < len(asks):
        q = min(b_left[i], a_left[j])
        if q > 0:
            trades.append(Trade(bids[i].household, asks[j].household, float(q), price))
            b_left[i] -= q
            a_left[j] -= q
        if b_left[i] <= 1e-12:
            i += 1
        if a_left[j] <= 1e-12:
            j += 1
    return trades


class PayAsClear:
    """Uniform-price call auction: everyone trades at one price.

    Bids are sorted by descending price, asks by ascending price; they are
    matched while the best remaining bid is at least the best remaining ask.
    The price is the midpoint of the marginal (last matched) bid and ask, so it
    lies within every filled order's limit. Orders priced strictly better than
    the marginal one fill completely; orders at exactly the marginal price
    share the remaining quantity in proportion to their size (no time
    priority in a call auction). Ties in sorting break by household index.
    """

    name = "pay_as_clear"

    def clear(self, orders: Sequence[Order]) -> ClearingResult:
        """Match ``orders`` at one price."""
        bids = sorted(
            (o for o in orders if o.side == "buy"),
            key=lambda o: (-o.price_eur_per_kwh, o.household),
        )
        asks = sorted(
            (o for o in orders if o.side == "sell"),
            key=lambda o: (o.price_eur_per_kwh, o.household),
        )
        volume = 0.0
        i = j = 0
        b_left = [o.energy_kwh for o in bids]
        a_left = [o.energy_kwh for o in asks]
        last_bid = last_ask = None
        while i < len(bids) and j < len(asks) and bids[i].price_eur_per_kwh >= asks[j].price_eur_per_kwh:
            q = min(b_left[i], a_left[j])
            volume += q
            b_left[i] -= q
            a_left[j] -= q
            last_bid, last_ask = bids[i].price_eur_per_kwh, asks[j].price_eur_per_kwh
            if b_left[i] <= 1e-12:
                i += 1
            if a_left[j] <= 1e-12:
                j += 1
        if last_bid is None or last_ask is None or volume <= 0:
            return ClearingResult(trades=[], price_eur_per_kwh=None)
        price = (last_bid + last_ask) / 2
        bid_fill = _fill_by_level(
            bids,
            volume,
            last_bid,
            np.array([o.price_eur_per_kwh > last_bid for o in bids], dtype=bool),
        )
        ask_fill = _fill_by_level(
            asks,
            volume,
            last_ask,
            np.array([o.price_eur_per_kwh < last_ask for o in asks], dtype=bool),
        )
        return ClearingResult(trades=_pair(bids, bid_fill, asks, ask_fill, price), price_eur_per_kwh=price)


MECHANISMS: dict[str, type[Mechanism]] = {
    "pay_as_clear": PayAsClear,
}


def make_mechanism(name: str) -> Mechanism:
    """Build the clearing mechanism registered under ``name``."""
    if name not in MECHANISMS:
        raise ValueError(f"market mechanism {name!r} does not exist; available: {sorted(MECHANISMS)}")
    return MECHANISMS[name]()
