"""Base load of every household and its strategy mix."""

import math
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field

from lemgrid.agents.policies import DEVICE_POLICIES
from lemgrid.agents.strategies import STRATEGIES
from lemgrid.model.scenario._base import _Section, one_of
from lemgrid.model.scenario.distributions import LogNormal, bounded


def _as_mix(value: Any) -> Any:
    """A strategy name means every household uses it."""
    return {value: 1.0} if isinstance(value, str) else value


def _valid_mix(mix: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(mix) - set(STRATEGIES))
    if unknown:
        raise ValueError(
            f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {unknown}; available: {sorted(STRATEGIES)}"
        )
    if any(not math.isfinite(v) or v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1.0) > 1e-9:
        raise ValueError(f"shares must be finite, >= 0 and sum to 1, got {mix} (sum {sum(mix.values())})")
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
