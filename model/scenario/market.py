"""The local market, its retailer and how network limits enter it."""

from typing import Literal, Self

from pydantic import Field, model_validator

from lemgrid.grid.losses import LOSS_ALLOCATIONS
from lemgrid.model.constraints import CONSTRAINT_MODES
from lemgrid.model.market import MECHANISMS
from lemgrid.model.pricing import PRICING_DESIGNS, mechanism_for
from lemgrid.model.scenario._base import _Section, one_of
from lemgrid.model.scenario.distributions import Uniform, bounded


class P2PSection(_Section):
    """Buyers' per-pair preferences in bilateral P2P matching (EUR/kWh added to a pair's surplus).

    Buyer b values energy from seller s at its bid plus
    ``green_weight[b] * green_premium * (s has PV) - distance_penalty * distance(b, s)``;
    ``green_weight`` is drawn per household (its own taste for green energy,
    mean 1 by default), so preferences differ by buyer as well as by pair.
    """

    green_premium_eur_per_kwh: float = Field(0.02, ge=0, le=1)  # seller has PV
    distance_penalty_eur_per_kwh_per_ohm: float = Field(0.1, ge=0, le=100)  # electrical distance
    green_weight: bounded(0.0, 100.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=0.0, high=2.0)
    )


class CDASection(_Section):
    """Continuous double auction: trading rounds per interval (households with a residual re-quote each).

    The default, 30, is the fewest of 1, 5, 10, 20, 30, 50, 100 rounds at which
    zero-intelligence-constrained traders reach 97.5 % allocative efficiency in
    a Gode and Sunder (1993) market (measured: 97.2 % with 20, 97.8 % with 30;
    ``tests/test_market_classics.py`` and the README's market designs).
    """

    rounds: int = Field(30, ge=1, le=10_000)


class CommunitySection(_Section):
    """Internal price of community sharing: supply-demand ratio or mid-market rate."""

    pricing: Literal["sdr", "mid_market"] = "sdr"


class ZonalSection(_Section):
    """Zonal pricing: how many zones, and how much may cross zone borders per interval (null: no cap)."""

    n_zones: int = Field(3, ge=1, le=1000)
    inter_zone_capacity_kwh: float | None = Field(None, ge=0)


class Market(_Section):
    """The local market, the retailer that backs it up and how the DSO's limits enter it.

    ``pricing`` is the design (uniform, heterogeneous, zonal); ``mechanism``
    the clearing that implements it (null: the design's default, see
    :mod:`model.pricing`); ``pay_as_clear_k`` places the uniform price in the
    competitive-equilibrium interval (k-double auction: 0 its bottom, 1 its
    top). ``constraint_mode`` is how network limits enter:
    ``none``, ``post_check``, ``sensitivity`` or ``opf`` (see
    :mod:`model.constraints`); ``constraint_margin_pu`` and
    ``constraint_margin_percent`` tighten the limits the linear methods
    use, to absorb their linearisation error. ``loss_allocation`` is how the
    measured losses are shared (see :mod:`grid.losses`).
    """

    pricing: one_of(lambda: PRICING_DESIGNS) = "uniform"  # type: ignore[valid-type]
    mechanism: one_of(lambda: MECHANISMS) | None = None  # type: ignore[valid-type]
    retail_price_eur_per_kwh: float = Field(0.30, ge=0, le=10)
    feed_in_tariff_eur_per_kwh: float = Field(0.08, ge=0, le=10)
    pay_as_clear_k: float = Field(0.5, ge=0, le=1)
    p2p: P2PSection = Field(default_factory=P2PSection)
    cda: CDASection = Field(default_factory=CDASection)
    community: CommunitySection = Field(default_factory=CommunitySection)
    zonal: ZonalSection = Field(default_factory=ZonalSection)
    constraint_mode: one_of(lambda: CONSTRAINT_MODES) = "none"  # type: ignore[valid-type]
    constraint_margin_pu: float = Field(0.005, ge=0, le=0.05)
    constraint_margin_percent: float = Field(2.0, ge=0, le=50)
    loss_allocation: one_of(lambda: LOSS_ALLOCATIONS) = "pro_rata"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _fit_below_retail(self) -> Self:
        if self.feed_in_tariff_eur_per_kwh > self.retail_price_eur_per_kwh:
            raise ValueError(
                f"feed_in_tariff_eur_per_kwh ({self.feed_in_tariff_eur_per_kwh}) must not exceed "
                f"retail_price_eur_per_kwh ({self.retail_price_eur_per_kwh})"
            )
        return self

    @model_validator(mode="after")
    def _mechanism_fits_design(self) -> Self:
        mechanism_for(self.pricing, self.mechanism)
        return self

    @property
    def clearing_mechanism(self) -> str:
        """The mechanism that runs: the one named, or the pricing design's default."""
        return mechanism_for(self.pricing, self.mechanism)
