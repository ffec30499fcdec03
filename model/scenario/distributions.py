"""Distributions of per-household parameters: a bare number means a fixed value."""

import math
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from lemgrid.model.scenario._base import _Section


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
    low: float = Field(-np.inf, allow_inf_nan=True)  # open bounds are infinite, never NaN
    high: float = Field(np.inf, allow_inf_nan=True)

    @field_validator("low", "high")
    @classmethod
    def _not_nan(cls, v: float) -> float:
        if math.isnan(v):
            raise ValueError("must be a number or an infinite bound (.inf, -.inf), not NaN")
        return v

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


DISTRIBUTION_KINDS = ("fixed", "uniform", "normal", "lognormal", "choice")

Distribution = Annotated[Fixed | Uniform | Normal | LogNormal | Choice, Field(discriminator="dist")]


def _as_distribution(value: Any) -> Any:
    """A bare number in a distribution field means a fixed value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": float(value)}
    return value


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
