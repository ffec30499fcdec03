"""Device penetration and the parameters of PV, batteries, EVs and shiftable appliances."""

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from lemgrid.model.scenario._base import _Section
from lemgrid.model.scenario.distributions import Choice, Fixed, Normal, Uniform, bounded


class Penetration(_Section):
    """Share of households that own each device (0 to 1); owners are drawn from the model's rng."""

    pv: float = Field(0.6, ge=0, le=1)
    battery: float = Field(0.0, ge=0, le=1)
    ev: float = Field(0.0, ge=0, le=1)
    flexible_load: float = Field(0.0, ge=0, le=1)
    heat_pump: float = Field(0.0, ge=0, le=1)


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


class BatteryLimits(_Section):
    """What every battery states besides its size: efficiency, state-of-charge band and wear cost."""

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


class BatterySection(BatteryLimits):
    """Home batteries (drawn per owner). Owners are chosen among PV owners first."""

    capacity_kwh: bounded(0.0, 1000.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=5.0, high=13.5)
    )
    power_kw: bounded(0.0, 1000.0) = Field(default_factory=lambda: Fixed(value=3.68))  # type: ignore[valid-type]


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
