"""Pricing designs: which clearing mechanisms give one price, a price per agent or pair, or a price per zone.

The design is the axis users sweep (review section 3.3, Le Cadre et al.):

- ``uniform``: one price for every local trade in an interval
  (``pay_as_clear``, or ``community`` sharing at its internal price);
- ``heterogeneous``: prices differ by pair (``pay_as_bid``,
  ``continuous_double_auction``, ``p2p`` with per-pair preferences);
- ``zonal``: the feeder is split into zones by :meth:`grid.topology.Tree.zones`,
  each zone clears with its own uniform price and inter-zone trade is capped
  (``pay_as_clear`` per zone, see :class:`model.market.ZonalClearing`);
- ``retail_only``: no local market (mechanism ``none``): every household
  trades with the retailer; the reference that isolates what trading does.

A scenario names the design and, optionally, a mechanism; left out, the
mechanism is the design's first one. A mechanism the design does not allow is
an error that lists the allowed ones.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lemgrid.model.market import (
    BilateralP2P,
    CommunitySharing,
    ContinuousDoubleAuction,
    Mechanism,
    NoTrading,
    PayAsBid,
    PayAsClear,
    Trader,
    ZonalClearing,
)

PRICING_DESIGNS: dict[str, tuple[str, ...]] = {
    "uniform": ("pay_as_clear", "community"),
    "heterogeneous": ("pay_as_bid", "continuous_double_auction", "p2p"),
    "zonal": ("pay_as_clear",),
    "retail_only": ("none",),
}


def mechanism_for(design: str, mechanism: str | None) -> str:
    """The mechanism a design runs: the one named, if the design allows it, else the design's default."""
    allowed = PRICING_DESIGNS[design]
    if mechanism is None:
        return allowed[0]
    if mechanism not in allowed:
        raise ValueError(
            f"market.mechanism {mechanism!r} does not implement pricing design {design!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    return mechanism


@dataclass(frozen=True)
class MarketContext:
    """What a mechanism may know of the households besides their orders.

    Attributes:
        rng: the model's stream for the market (continuous double auction arrivals).
        zone: zone of each household (all zero unless the design is zonal).
        preference_eur_per_kwh: [buyer, seller] preference for bilateral P2P.
        retail_price_eur_per_kwh, feed_in_tariff_eur_per_kwh: the retailer's prices.
        traders: each household's strategy, by index (they re-quote in the continuous double auction).
    """

    rng: np.random.Generator
    zone: np.ndarray
    preference_eur_per_kwh: np.ndarray
    retail_price_eur_per_kwh: float
    feed_in_tariff_eur_per_kwh: float
    traders: Sequence[Trader] = ()


@dataclass(frozen=True)
class ClearingOptions:
    """Mechanism parameters from the scenario."""

    community_pricing: str = "sdr"
    inter_zone_capacity_kwh: float | None = None
    pay_as_clear_k: float = 0.5
    cda_rounds: int = 30


# name -> builder: every mechanism, registered by name
MECHANISM_BUILDERS: dict[str, Callable[[MarketContext, ClearingOptions], Mechanism]] = {
    "pay_as_clear": lambda ctx, opt: PayAsClear(k=opt.pay_as_clear_k),
    "pay_as_bid": lambda ctx, opt: PayAsBid(),
    "continuous_double_auction": lambda ctx, opt: ContinuousDoubleAuction(
        ctx.rng, opt.cda_rounds, ctx.traders or None
    ),
    "p2p": lambda ctx, opt: BilateralP2P(ctx.preference_eur_per_kwh),
    "none": lambda ctx, opt: NoTrading(),
    "community": lambda ctx, opt: CommunitySharing(
        ctx.retail_price_eur_per_kwh, ctx.feed_in_tariff_eur_per_kwh, opt.community_pricing
    ),
}


def make_clearing(
    design: str, mechanism: str | None, context: MarketContext, options: ClearingOptions
) -> Mechanism:
    """Build the clearing for a (design, mechanism) pair the design allows."""
    name = mechanism_for(design, mechanism)
    if design == "zonal":  # the design wraps its mechanism (pay-as-clear) zone by zone
        return ZonalClearing(context.zone, options.inter_zone_capacity_kwh, options.pay_as_clear_k)
    return MECHANISM_BUILDERS[name](context, options)
