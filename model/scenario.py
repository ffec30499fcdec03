"""The scenario: every input of a run, typed, validated and with defaults.

``Scenario()`` is the default run. A YAML file and ``--set key=value``
overrides are validated the same way, and every bad value is rejected before
anything runs with one message naming the field, the value and what is allowed.
"""

import datetime as dt
import hashlib
import json
import zoneinfo
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lemgrid.agents.policies import DEVICE_POLICIES
from lemgrid.agents.strategies import STRATEGIES
from lemgrid.grid.feeders import FEEDERS
from lemgrid.grid.solver import SOLVERS

Phase = Literal["a", "b", "c"]


class ScenarioError(ValueError):
    """A scenario input that is not allowed; the message names field, value and rule."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


# --- distributions of per-household parameters -------------------------------------------


class Fixed(_Section):
    """Every household gets ``value``."""

    dist: Literal["fixed"] = "fixed"
    value: float

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return self.value, self.value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values."""
        return np.full(n, self.value)


class Uniform(_Section):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return self.low, self.high

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values."""
        return rng.uniform(self.low, self.high, n)


class Normal(_Section):
    """Normal with ``mean`` and ``std``, clipped to [low, high]."""

    dist: Literal["normal"]
    mean: float
    std: float = Field(ge=0)
    low: float = -np.inf
    high: float = np.inf

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return self.low, self.high

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values."""
        return np.clip(rng.normal(self.mean, self.std, n), self.low, self.high)


class LogNormal(_Section):
    """Log-normal with arithmetic ``mean`` and log-space standard deviation ``sigma``."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return 0.0, np.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values."""
        mu = np.log(self.mean) - self.sigma**2 / 2  # so that E[X] = mean
        return rng.lognormal(mu, self.sigma, n)


class Choice(_Section):
    """One of ``values``, with optional ``weights`` (normalised)."""

    dist: Literal["choice"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> Self:
        if self.weights is not None:
            if len(self.weights) != len(self.values) or min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative, one per value, and not all zero")
        return self

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take."""
        return min(self.values), max(self.values)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values."""
        p = None if self.weights is None else np.asarray(self.weights) / sum(self.weights)
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=p)


Distribution = Annotated[Fixed | Uniform | Normal | LogNormal | Choice, Field(discriminator="dist")]


def _as_distribution(value: Any) -> Any:
    """A bare number in a distribution field means a fixed value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": float(value)}
    return value


def one_of(names: Callable[[], Iterable[str]]) -> Any:
    """A name that must be in a registry (read when validating, so registries can grow)."""

    def check(v: str) -> str:
        allowed = sorted(names())
        if v not in allowed:
            raise ValueError(f"must be one of {allowed}")
        return v

    return Annotated[str, AfterValidator(check)]


# registries are imported late: their modules import this one
def _mechanisms() -> Iterable[str]:
    from lemgrid.model.market import MECHANISMS

    return MECHANISMS


def _pricing_designs() -> Iterable[str]:
    from lemgrid.model.pricing import PRICING_DESIGNS

    return PRICING_DESIGNS


def _constraint_modes() -> Iterable[str]:
    from lemgrid.model.constraints import CONSTRAINT_MODES

    return CONSTRAINT_MODES


def _loss_allocations() -> Iterable[str]:
    from lemgrid.grid.losses import LOSS_ALLOCATIONS

    return LOSS_ALLOCATIONS


def _tariffs() -> Iterable[str]:
    from lemgrid.model.tariffs import TARIFFS

    return TARIFFS


def bounded(low: float, high: float) -> Any:
    """A distribution field whose every draw must lie in [low, high]; a bare number means fixed."""

    def check(
        dist: Fixed | Uniform | Normal | LogNormal | Choice,
    ) -> Fixed | Uniform | Normal | LogNormal | Choice:
        lo, hi = dist.support()
        if lo < low or hi > high:
            raise ValueError(
                f"draws must lie within [{low}, {high}], but this distribution spans [{lo}, {hi}]"
            )
        return dist

    return Annotated[Distribution, BeforeValidator(_as_distribution), AfterValidator(check)]


# --- sections -----------------------------------------------------------------------------


class Site(_Section):
    """Where the feeder is: sets the sun path, the climate and the local clock."""

    latitude_deg: float = Field(53.48, ge=-90, le=90)
    longitude_deg: float = Field(-2.24, ge=-180, le=180)
    timezone: str = "Europe/London"
    annual_mean_temperature_c: float = Field(10.0, ge=-30, le=40)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        if v not in zoneinfo.available_timezones():
            raise ValueError("must be an IANA time zone name such as 'Europe/London'")
        return v


class FeederSection(_Section):
    """Which feeder, and how its single-phase households are put on phases.

    ``name`` is a ready-made feeder (``lemgrid feeders`` lists them) or ``custom``
    with ``file`` (a pandapower JSON net with three-phase data) and
    ``households_file`` (CSV with columns household, bus, phase).
    ``phase_assignment``: ``feeder`` keeps the feeder's own phases (the IEEE
    feeder's data; round robin for the others), or ``round_robin``, ``random``
    or ``unbalanced`` (60/30/10 % on a/b/c), drawn from the seed.
    ``phase_overrides`` then moves named households.
    """

    name: one_of(lambda: [*FEEDERS, "custom"]) = "ieee_european_lv"  # type: ignore[valid-type]
    file: str | None = None
    households_file: str | None = None
    phase_assignment: Literal["feeder", "round_robin", "random", "unbalanced"] = "feeder"
    phase_overrides: dict[str, Phase] = Field(default_factory=dict)

    @field_validator("file", "households_file")
    @classmethod
    def _file_exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError("no such file")
        return v

    @model_validator(mode="after")
    def _files_for_custom(self) -> Self:
        has_files = self.file is not None or self.households_file is not None
        if self.name == "custom" and (self.file is None or self.households_file is None):
            raise ValueError("name 'custom' needs both file (pandapower JSON) and households_file (CSV)")
        if self.name != "custom" and has_files:
            raise ValueError(f"file and households_file are only for name 'custom', not {self.name!r}")
        return self


def _as_mix(value: Any) -> Any:
    """A strategy name means every household uses it."""
    return {value: 1.0} if isinstance(value, str) else value


def _valid_mix(mix: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(mix) - set(STRATEGIES))
    if unknown:
        raise ValueError(
            f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {unknown}; available: {sorted(STRATEGIES)}"
        )
    if any(v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1.0) > 1e-9:
        raise ValueError(f"shares must be >= 0 and sum to 1, got {mix} (sum {sum(mix.values())})")
    return mix


class Households(_Section):
    """Base load of every household and how each one trades."""

    annual_consumption_kwh: bounded(0.0, np.inf) = Field(  # type: ignore[valid-type]
        default_factory=lambda: LogNormal(dist="lognormal", mean=3500.0, sigma=0.3)
    )
    power_factor: float = Field(0.95, gt=0, le=1)
    profile_shift_max_minutes: int = Field(30, ge=0, le=180)
    noise_sigma: float = Field(0.35, ge=0, le=2)
    noise_autocorrelation: float = Field(0.7, ge=0, lt=1)
    strategy: Annotated[dict[str, float], BeforeValidator(_as_mix), AfterValidator(_valid_mix)] = Field(
        default_factory=lambda: {"truthful": 1.0}
    )
    device_policy: one_of(lambda: DEVICE_POLICIES) = "self_consumption"  # type: ignore[valid-type]


class Strategies(_Section):
    """Parameters of the strategies (the mix is ``households.strategy``).

    ``learning_file`` names a JSON file written by ``Model.save_learning`` to
    start from; households are matched by name and strategy.
    """

    zip_beta: float = Field(0.3, gt=0, le=1)
    zip_momentum: float = Field(0.1, ge=0, lt=1)
    zip_initial_margin: list[float] = Field(default_factory=lambda: [0.05, 0.35])
    roth_erev_levels: int = Field(11, ge=2, le=101)
    roth_erev_recency: float = Field(0.05, ge=0, lt=1)
    roth_erev_experimentation: float = Field(0.2, ge=0, lt=1)
    roth_erev_initial_propensity: float = Field(1.0, gt=0)
    q_price_levels: int = Field(11, ge=1, le=101)
    q_day_bands: int = Field(6, ge=1, le=96)
    q_alpha: float = Field(0.2, gt=0, le=1)
    q_gamma: float = Field(0.5, ge=0, lt=1)
    q_epsilon: float = Field(0.3, ge=0, le=1)
    q_epsilon_decay: float = Field(0.9, gt=0, le=1)
    q_epsilon_min: float = Field(0.02, ge=0, le=1)
    tou_charge_hours: list[int] = Field(default_factory=lambda: [0, 6])
    tou_discharge_hours: list[int] = Field(default_factory=lambda: [17, 21])
    lp_horizon_hours: int = Field(24, ge=1, le=168)
    learning_file: str | None = None

    @field_validator("tou_charge_hours", "tou_discharge_hours", "zip_initial_margin")
    @classmethod
    def _ordered_pair(cls, v: list[Any]) -> list[Any]:
        if len(v) != 2 or not 0 <= v[0] <= v[1] or (isinstance(v[1], int) and v[1] > 24):
            raise ValueError(f"must be [start, end] with 0 <= start <= end (hours at most 24), got {v}")
        return v


class Penetration(_Section):
    """Share of households that own each device (0 to 1); owners are drawn from the model's rng."""

    pv: float = Field(0.6, ge=0, le=1)
    battery: float = Field(0.0, ge=0, le=1)
    ev: float = Field(0.0, ge=0, le=1)
    flexible_load: float = Field(0.0, ge=0, le=1)


class PV(_Section):
    """Rooftop PV systems: size, orientation and losses (drawn per household)."""

    kwp: bounded(0.0, 100.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=2.0, high=5.0)
    )
    tilt_deg: bounded(0.0, 90.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=20.0, high=45.0)
    )
    azimuth_deg: bounded(0.0, 360.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Normal(dist="normal", mean=180.0, std=45.0, low=90.0, high=270.0)
    )
    inverter_ac_dc_ratio: float = Field(0.9, gt=0, le=2)
    system_losses: float = Field(0.14, ge=0, lt=1)
    temperature_coefficient_per_k: float = Field(-0.004, ge=-0.02, le=0)
    export_limit_fraction_of_kwp: float | None = Field(None, ge=0, le=1)


class BatterySection(_Section):
    """Home batteries (drawn per owner). Owners are chosen among PV owners first."""

    capacity_kwh: bounded(0.0, 1000.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=5.0, high=13.5)
    )
    power_kw: bounded(0.0, 1000.0) = Field(default_factory=lambda: Fixed(value=3.68))  # type: ignore[valid-type]
    round_trip_efficiency: float = Field(0.90, gt=0, le=1)
    soc_min: float = Field(0.10, ge=0, le=1)
    soc_max: float = Field(0.95, ge=0, le=1)
    soc_initial: float = Field(0.50, ge=0, le=1)
    degradation_cost_eur_per_kwh: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _soc_order(self) -> Self:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(
                "state of charge must satisfy soc_min <= soc_initial <= soc_max, got "
                f"soc_min={self.soc_min}, soc_initial={self.soc_initial}, soc_max={self.soc_max}"
            )
        return self


class EVSection(_Section):
    """Electric vehicles charged at home, one stay per night (drawn per car and day).

    ``arrival_hour`` counts from the arrival day's midnight, ``departure_hour``
    from the same midnight, so 31.5 is 07:30 the next morning.
    """

    charger_kw: bounded(1.0, 22.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Choice(dist="choice", values=[3.7, 7.4, 11.0], weights=[0.2, 0.6, 0.2])
    )
    arrival_hour: bounded(0.0, 24.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Normal(dist="normal", mean=18.0, std=1.5, low=14.0, high=23.5)
    )
    departure_hour: bounded(0.0, 48.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Normal(dist="normal", mean=31.5, std=1.0, low=29.0, high=34.0)
    )
    energy_kwh: bounded(0.0, 200.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Normal(dist="normal", mean=9.0, std=4.0, low=1.0, high=40.0)
    )
    charging: Literal["immediate", "deadline"] = "immediate"

    @model_validator(mode="after")
    def _departs_after_arrival(self) -> Self:
        arrive_lo, arrive_hi = self.arrival_hour.support()
        leave_lo, leave_hi = self.departure_hour.support()
        if leave_lo <= arrive_hi:
            raise ValueError(
                f"departure_hour must be later than arrival_hour for every draw, but departures start at "
                f"{leave_lo} h and arrivals reach {arrive_hi} h (count departures from the arrival day's "
                f"midnight: 31.5 is 07:30 next morning)"
            )
        if leave_hi >= arrive_lo + 24:
            raise ValueError(
                f"departure_hour ({leave_hi} h at the latest) must come before the next day's earliest "
                f"arrival ({arrive_lo + 24} h)"
            )
        return self


class Appliance(_Section):
    """A shiftable appliance: one cycle of ``power_kw`` for ``duration_minutes`` per window.

    The window opens ``earliest_start_hour`` after each day's midnight and closes at
    ``latest_finish_hour`` (may exceed 24: the next morning).
    """

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    power_kw: float = Field(gt=0, le=20)
    duration_minutes: int = Field(gt=0, le=1440)
    earliest_start_hour: float = Field(ge=0, lt=24)
    latest_finish_hour: float = Field(gt=0, le=48)
    probability_per_day: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _window_fits(self) -> Self:
        window_h = self.latest_finish_hour - self.earliest_start_hour
        if window_h * 60 < self.duration_minutes:
            raise ValueError(
                f"the window {self.earliest_start_hour}-{self.latest_finish_hour} h is shorter than "
                f"the cycle ({self.duration_minutes} min)"
            )
        if window_h > 24:
            raise ValueError(f"the window must not exceed 24 h, got {window_h} h")
        return self


class FlexibleLoad(_Section):
    """Shiftable appliances; a household with flexible load owns every appliance listed."""

    appliances: list[Appliance] = Field(
        default_factory=lambda: [
            Appliance(
                name="washing_machine",
                power_kw=1.0,
                duration_minutes=90,
                earliest_start_hour=8.0,
                latest_finish_hour=22.0,
                probability_per_day=0.6,
            ),
            Appliance(
                name="dishwasher",
                power_kw=0.75,
                duration_minutes=120,
                earliest_start_hour=19.0,
                latest_finish_hour=31.0,
                probability_per_day=0.8,
            ),
        ]
    )

    @field_validator("appliances")
    @classmethod
    def _unique_names(cls, v: list[Appliance]) -> list[Appliance]:
        names = [a.name for a in v]
        if len(set(names)) != len(names):
            raise ValueError(f"appliance names must be unique, got {names}")
        return v


class Weather(_Section):
    """Stochastic clear-sky index: clear or cloudy days, with intra-day fluctuation."""

    clear_day_probability: float = Field(0.4, ge=0, le=1)
    cloudy_day_mean_clearness: float = Field(0.45, gt=0, lt=1)
    cloudy_variability: float = Field(0.25, ge=0, le=1)
    autocorrelation: float = Field(0.8, ge=0, lt=1)


class P2PSection(_Section):
    """Buyers' per-pair preferences in bilateral P2P matching (EUR/kWh added to a pair's surplus)."""

    green_premium_eur_per_kwh: float = Field(0.02, ge=0, le=1)  # seller has PV
    distance_penalty_eur_per_kwh_per_ohm: float = Field(0.1, ge=0, le=100)  # electrical distance


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
    :mod:`model.pricing`). ``constraint_mode`` is how network limits enter:
    ``none``, ``post_check``, ``sensitivity`` or ``opf`` (see
    :mod:`model.constraints`); ``constraint_margin_pu`` and
    ``constraint_margin_percent`` tighten the limits the linear methods
    use, to absorb their linearisation error. ``loss_allocation`` is how the
    measured losses are shared (see :mod:`grid.losses`).
    """

    pricing: one_of(_pricing_designs) = "uniform"  # type: ignore[valid-type]
    mechanism: one_of(_mechanisms) | None = None  # type: ignore[valid-type]
    retail_price_eur_per_kwh: float = Field(0.30, ge=0, le=10)
    feed_in_tariff_eur_per_kwh: float = Field(0.08, ge=0, le=10)
    p2p: P2PSection = Field(default_factory=P2PSection)
    community: CommunitySection = Field(default_factory=CommunitySection)
    zonal: ZonalSection = Field(default_factory=ZonalSection)
    constraint_mode: one_of(_constraint_modes) = "none"  # type: ignore[valid-type]
    constraint_margin_pu: float = Field(0.005, ge=0, le=0.05)
    constraint_margin_percent: float = Field(2.0, ge=0, le=50)
    loss_allocation: one_of(_loss_allocations) = "pro_rata"  # type: ignore[valid-type]

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
        from lemgrid.model.pricing import mechanism_for  # imported late: model.pricing imports model.market

        mechanism_for(self.pricing, self.mechanism)
        return self

    @property
    def clearing_mechanism(self) -> str:
        """The mechanism that runs: the one named, or the pricing design's default."""
        from lemgrid.model.pricing import mechanism_for

        return mechanism_for(self.pricing, self.mechanism)


class Tariff(_Section):
    """The network tariff households pay the DSO (review section 5.1), and the network's cost.

    ``kind`` picks one; only its own parameters are used:

    - ``none``;
    - ``volumetric``: ``import_eur_per_kwh`` on energy bought from the retailer and
      ``local_trade_eur_per_kwh`` on energy bought locally (paid by the buyer);
    - ``capacity``: ``capacity_eur_per_kw`` per billing period of ``billing_days`` on the
      peak import, of each household (``capacity_level: household``) or of the whole
      community (``community``: the feeder's summed household import, shared by the
      households that raise it);
    - ``distance``: ``distance_eur_per_kwh_per_ohm`` times the electrical distance between
      the two parties of a local trade (Baroche et al.);
    - ``zonal``: ``zonal_eur_per_kwh`` on local trades between zones;
    - ``congestion``: ``congestion_eur_per_kwh`` per kWh of flow a local trade adds, by its
      PTDFs, in the direction of the flow on lines and transformers loaded above
      ``congestion_threshold_percent`` (Guerrero et al., Paudel et al.);
    - ``loss``: ``loss_price_eur_per_kwh`` on the losses a local trade causes by the loss
      sensitivity factors (negative, a credit, when it reduces them).

    Per-trade fees are split equally between buyer and seller. The DSO's revenue is
    compared with ``network_cost_eur_per_household_year`` over the run's length.
    """

    kind: one_of(_tariffs) = "none"  # type: ignore[valid-type]
    import_eur_per_kwh: float = Field(0.08, ge=0, le=10)
    local_trade_eur_per_kwh: float = Field(0.02, ge=0, le=10)
    capacity_eur_per_kw: float = Field(5.0, ge=0, le=1000)
    capacity_level: Literal["household", "community"] = "household"
    billing_days: int = Field(30, ge=1, le=366)
    distance_eur_per_kwh_per_ohm: float = Field(0.2, ge=0, le=100)
    zonal_eur_per_kwh: float = Field(0.02, ge=0, le=10)
    congestion_eur_per_kwh: float = Field(0.05, ge=0, le=10)
    congestion_threshold_percent: float = Field(80.0, ge=0, le=500)
    loss_price_eur_per_kwh: float = Field(0.10, ge=0, le=10)
    network_cost_eur_per_household_year: float = Field(200.0, ge=0, le=1e5)


class Attack(_Section):
    """False data injection on market data (review section 3.4, Jhala et al.), from ``start_interval`` on.

    - ``price``: every household sees retail price, feed-in tariff and last local
      price multiplied by ``factor`` (a manipulated price signal);
    - ``demand``: the chosen households report their expected net energy multiplied
      by ``factor``: their orders, and the DSO's view of them, use the false value
      while their meters see the true one.

    The demand attack targets ``households`` (names) or, if that is empty, a share
    ``share`` of them drawn from the run's ``attack`` stream.
    """

    kind: Literal["none", "price", "demand"] = "none"
    start_interval: int = Field(0, ge=0)
    factor: float = Field(0.5, ge=0, le=100)
    households: list[str] = Field(default_factory=list)
    share: float = Field(0.2, ge=0, le=1)


class GridSection(_Section):
    """Power-flow backend, limits and what to do when a power flow fails."""

    solver: one_of(lambda: SOLVERS) = "pandapower"  # type: ignore[valid-type]
    v_min_pu: float = Field(0.90, gt=0.5, lt=1.0)
    v_max_pu: float = Field(1.10, gt=1.0, lt=1.5)
    line_loading_limit_percent: float = Field(100.0, gt=0)
    max_iterations: int = Field(30, ge=1, le=1000)
    on_nonconvergence: Literal["continue", "abort"] = "continue"


class DroopCurve(_Section):
    """A piecewise-linear curve over voltage: ``v_pu`` ascending, one ``y`` per point."""

    enabled: bool = False
    v_pu: list[float] = Field(default_factory=list)
    y: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _matching_points(self) -> Self:
        if len(self.v_pu) != len(self.y) or len(self.v_pu) < 2:
            raise ValueError("v_pu and y need the same number of points, at least two")
        if any(b <= a for a, b in zip(self.v_pu, self.v_pu[1:], strict=False)):
            raise ValueError(f"v_pu must be strictly ascending, got {self.v_pu}")
        return self


class VoltVar(DroopCurve):
    """Q / S_inverter over voltage (positive injects reactive power); EN 50549-1 shape."""

    v_pu: list[float] = Field(default_factory=lambda: [0.92, 0.96, 1.04, 1.08])
    y: list[float] = Field(default_factory=lambda: [0.44, 0.0, 0.0, -0.44])


class VoltWatt(DroopCurve):
    """P_max / S_inverter over voltage."""

    v_pu: list[float] = Field(default_factory=lambda: [1.06, 1.10])
    y: list[float] = Field(default_factory=lambda: [1.0, 0.0])


class PhaseSwitching(_Section):
    """The DSO moves households with a phase switch to another phase between intervals."""

    enabled: bool = False
    share_switchable: float = Field(0.2, ge=0, le=1)
    vuf_trigger_percent: float = Field(0.5, ge=0)
    max_switches_per_interval: int = Field(2, ge=1, le=100)


class DSO(_Section):
    """DSO controls in the grid step (off by default).

    Defaults follow EN 50549-1's characteristic shapes: volt-var (y = Q / S_inverter,
    positive injects) from +0.44 at 0.92 p.u. to 0 over 0.96-1.04 p.u. to -0.44 at 1.08 p.u.
    (cos phi 0.9 at full output); volt-watt (y = P_max / S_inverter) from 1 at 1.06 p.u. to 0
    at 1.10 p.u.
    """

    volt_var: VoltVar = Field(default_factory=VoltVar)
    volt_watt: VoltWatt = Field(default_factory=VoltWatt)
    inverter_max_iterations: int = Field(30, ge=1, le=500)
    inverter_tolerance_kw: float = Field(1e-3, gt=0, le=1)
    phase_switching: PhaseSwitching = Field(default_factory=PhaseSwitching)


class Output(_Section):
    """What the run writes besides the interval, household and trade tables."""

    bus_voltages: Literal["all", "households", "none"] = "all"


class Bidding(_Section):
    """How households bid: ``fixed`` or ``curves``.

    ``fixed``: devices follow their policy's plan, the net position is offered
    as one order; ``curves`` (each device bids a price-quantity curve from its state and the
    local-price forecast; clearing decides what the devices do; see :mod:`model.bidding`).

    ``forecast`` is the local-price forecast (``yesterday``, ``ema``, ``retail_midpoint``; see
    :mod:`model.forecasts`) over ``horizon_hours``; ``pv_curtailment_price_eur_per_kwh`` is the
    price below which PV curtails (only a negative feed-in tariff reaches it).
    """

    mode: Literal["fixed", "curves"] = "fixed"
    forecast: Literal["yesterday", "ema", "retail_midpoint"] = "yesterday"
    ema_weight: float = Field(0.5, gt=0, le=1)
    horizon_hours: float = Field(24.0, gt=0, le=168)
    pv_curtailment_price_eur_per_kwh: float = Field(0.0, ge=-10, le=10)


class Scenario(_Section):
    """Every input of a run. ``Scenario()`` is the default day on the IEEE European LV feeder."""

    name: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$", max_length=80)
    seed: int = Field(42, ge=0)
    start: dt.date = Field(dt.date(2026, 6, 1), strict=False)  # also accepts 'YYYY-MM-DD'
    days: int = Field(1, ge=1, le=366)
    interval_minutes: int = Field(15, ge=1, le=1440)
    site: Site = Field(default_factory=Site)
    feeder: FeederSection = Field(default_factory=FeederSection)
    households: Households = Field(default_factory=Households)
    strategies: Strategies = Field(default_factory=Strategies)
    penetration: Penetration = Field(default_factory=Penetration)
    pv: PV = Field(default_factory=PV)
    battery: BatterySection = Field(default_factory=BatterySection)
    ev: EVSection = Field(default_factory=EVSection)
    flexible_load: FlexibleLoad = Field(default_factory=FlexibleLoad)
    weather: Weather = Field(default_factory=Weather)
    market: Market = Field(default_factory=Market)
    bidding: Bidding = Field(default_factory=Bidding)
    tariff: Tariff = Field(default_factory=Tariff)
    attack: Attack = Field(default_factory=Attack)
    grid: GridSection = Field(default_factory=GridSection)
    dso: DSO = Field(default_factory=DSO)
    output: Output = Field(default_factory=Output)

    @field_validator("interval_minutes")
    @classmethod
    def _divides_day(cls, v: int) -> int:
        if 1440 % v:
            raise ValueError("must divide a day (1440 minutes) evenly, e.g. 5, 15, 30 or 60")
        return v

    @property
    def interval_hours(self) -> float:
        """Length of one market interval in hours."""
        return self.interval_minutes / 60.0

    @property
    def n_intervals(self) -> int:
        """Number of market intervals in the run."""
        return self.days * 1440 // self.interval_minutes

    def run_id(self) -> str:
        """Stable identifier: the scenario name and a hash of the resolved scenario."""
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return f"{self.name}-{digest[:10]}"

    def to_json(self) -> str:
        """The fully resolved scenario as indented JSON (``Scenario.from_json`` reads it back)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Scenario":
        """Read a scenario written by :meth:`to_json`."""
        return build_scenario(json.loads(text), _json=True)

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> "Scenario":
        """Load a YAML scenario (or the defaults) and apply ``key.path=value`` overrides.

        Raises:
            ScenarioError: on unknown keys, wrong types or values outside what is allowed.

        """
        data: dict[str, Any] = {}
        if path is not None:
            text = Path(path).read_text()
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ScenarioError(f"scenario file {path}: not valid YAML: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ScenarioError(
                    f"scenario file {path}: must hold a mapping of keys, got {type(loaded).__name__}"
                )
            data = loaded or {}
        for item in overrides or []:
            apply_override(data, item)
        return build_scenario(data)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``a.b.c=value`` in nested ``data``; the value is parsed as YAML (``7`` is an int)."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ScenarioError(
            f"override {item!r}: must look like key.path=value, e.g. market.mechanism=pay_as_clear"
        )
    set_key(data, key.strip(), yaml.safe_load(raw) if raw.strip() else "", f"override {item!r}")


def set_key(data: dict[str, Any], key: str, value: Any, source: str) -> None:
    """Set the dotted ``key`` (``a.b.c``) in nested ``data``; ``source`` names the input in errors."""
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{source}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def build_scenario(data: dict[str, Any], _json: bool = False) -> Scenario:
    """Validate ``data`` into a :class:`Scenario`, or raise one readable :class:`ScenarioError`."""
    try:
        if _json:
            return Scenario.model_validate_json(json.dumps(data))
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc)) from None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Scenario
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if (
            field is None
            or not isinstance(field.annotation, type)
            or not issubclass(field.annotation, BaseModel)
        ):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``scenario field 'x.y' = value: what is allowed``."""
    lines = []
    for err in exc.errors():
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and p in {"fixed", "uniform", "normal", "lognormal", "choice"})
        )
        field = ".".join(str(p) for p in loc) or "(top level)"
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            rule = "unknown field" + (f"; allowed fields here: {', '.join(allowed)}" if allowed else "")
        else:
            rule = err["msg"].removeprefix("Value error, ")
        lines.append(f"scenario field {field!r} = {value!r}: {rule}")
    return "invalid scenario:\n  " + "\n  ".join(lines)
