"""Heat pumps: the building, the hot-water tank, the comfort bands and the COP (drawn per household)."""

from typing import Self

import numpy as np
from pydantic import Field, field_validator, model_validator

from lemgrid.model.scenario._base import _Section
from lemgrid.model.scenario.distributions import Fixed, Normal, Uniform, bounded

# lifts (sink minus outdoor, K) over which the COP must stay at least 1: outdoor down to -30 deg C
_LIFT_MARGIN_K = 30.0


class HeatPumpSection(_Section):
    """Air-source heat pumps for space heating (1R1C building) and hot water (a tank).

    ``power_kw`` is the electrical rating; ``ua_kw_per_k`` the building's heat-loss
    coefficient and ``heat_capacity_kwh_per_k`` its thermal capacitance (time
    constant C / UA); ``comfort_*`` the indoor band and ``tank_*`` the tank's band
    (their width is the flexibility); ``hot_water_kwh_per_day`` the heat drawn as
    hot water; the COP is ``a + b dT + c dT^2`` of the lift ``dT = sink - outdoor``
    (``cop_coefficients``, default Ruhnau et al. 2019, air-source).
    """

    power_kw: bounded(0.5, 30.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=2.5, high=4.0)
    )
    ua_kw_per_k: bounded(0.0, 5.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=0.15, high=0.35)
    )
    heat_capacity_kwh_per_k: bounded(0.0, 500.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Uniform(dist="uniform", low=8.0, high=20.0)
    )
    comfort_min_c: float = Field(20.0, ge=5, le=30)
    comfort_max_c: float = Field(22.0, ge=5, le=35)
    tank_litres: bounded(0.0, 2000.0) = Field(default_factory=lambda: Fixed(value=200.0))  # type: ignore[valid-type]
    tank_min_c: float = Field(45.0, ge=10, le=90)
    tank_max_c: float = Field(60.0, ge=10, le=95)
    hot_water_kwh_per_day: bounded(0.0, 50.0) = Field(  # type: ignore[valid-type]
        default_factory=lambda: Normal(dist="normal", mean=5.0, std=1.5, low=1.0, high=15.0)
    )
    space_sink_c: float = Field(40.0, ge=20, le=80)
    water_sink_c: float = Field(60.0, ge=20, le=95)
    cop_coefficients: list[float] = Field(
        default_factory=lambda: [6.08, -0.09, 0.0005], min_length=3, max_length=3
    )
    three_phase_share: float = Field(0.0, ge=0, le=1)

    @field_validator("ua_kw_per_k", "heat_capacity_kwh_per_k", "tank_litres")
    @classmethod
    def _positive(cls, v: Fixed | Uniform | Normal) -> Fixed | Uniform | Normal:
        low = v.support()[0]
        if not low > 0:
            raise ValueError(f"must be positive for every draw, but this distribution reaches {low}")
        return v

    @model_validator(mode="after")
    def _bands_and_cop(self) -> Self:
        for name, low, high in (
            ("comfort", self.comfort_min_c, self.comfort_max_c),
            ("tank", self.tank_min_c, self.tank_max_c),
        ):
            if not low < high:
                raise ValueError(f"{name}_min_c ({low}) must be below {name}_max_c ({high})")
        if self.water_sink_c < self.tank_max_c:
            raise ValueError(
                f"water_sink_c ({self.water_sink_c}) must be at least tank_max_c ({self.tank_max_c}): "
                "the heat pump cannot heat the tank above the temperature it delivers"
            )
        a, b, c = self.cop_coefficients
        lift = np.linspace(0.0, max(self.space_sink_c, self.water_sink_c) + _LIFT_MARGIN_K, 401)
        value = a + b * lift + c * lift**2
        if value.min() < 1:
            worst = float(lift[int(value.argmin())])
            raise ValueError(
                f"cop_coefficients {self.cop_coefficients} give a COP of {value.min():.3f} at a lift of "
                f"{worst:.1f} K; the COP must be at least 1 for every lift from 0 to "
                f"{lift[-1]:.0f} K (sink temperatures down to an outdoor -30 deg C)"
            )
        return self
