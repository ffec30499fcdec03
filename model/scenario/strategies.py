"""Parameters of the trading strategies."""

from typing import Any

from pydantic import Field, field_validator

from lemgrid.model.scenario._base import _Section


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
    roth_erev_initial_propensity: float = Field(1.0, gt=0, le=1000)
    roth_erev_reference_weight: float = Field(0.05, ge=0, le=1)
    q_price_levels: int = Field(11, ge=1, le=101)
    q_day_bands: int = Field(6, ge=1, le=96)
    q_alpha: float = Field(0.2, gt=0, le=1)
    q_gamma: float = Field(0.0, ge=0, lt=1)
    q_epsilon: float = Field(0.3, ge=0, le=1)
    q_epsilon_decay: float = Field(0.9, gt=0, le=1)
    q_epsilon_min: float = Field(0.0, ge=0, le=1)
    q_initial_value: float = Field(1.0, ge=0, le=100)  # optimistic: >= 1 / (1 - q_gamma)
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
