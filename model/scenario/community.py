"""The ``community`` section: a community manager that owns a battery on the feeder and runs it for all."""

from typing import Literal, Self

from pydantic import Field, model_validator

from lemgrid.model.scenario._base import _Section


class CommunityBatterySection(_Section):
    """The community battery: one unit on a feeder bus, on all three phases (``abc``) or one.

    ``bus``: the pandapower index of its bus (None: the transformer's low-voltage bus).
    """

    capacity_kwh: float = Field(200.0, gt=0, le=100_000)
    power_kw: float = Field(50.0, gt=0, le=10_000)
    round_trip_efficiency: float = Field(0.90, gt=0, le=1)
    soc_min: float = Field(0.10, ge=0, le=1)
    soc_max: float = Field(0.95, ge=0, le=1)
    soc_initial: float = Field(0.50, ge=0, le=1)
    degradation_cost_eur_per_kwh: float = Field(0.0, ge=0, le=1)
    bus: int | None = Field(None, ge=0)
    phase: Literal["abc", "a", "b", "c"] = "abc"

    @model_validator(mode="after")
    def _soc_order(self) -> Self:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(
                "state of charge must satisfy soc_min <= soc_initial <= soc_max, got "
                f"soc_min={self.soc_min}, soc_initial={self.soc_initial}, soc_max={self.soc_max}"
            )
        return self


class CommunityManagerSection(_Section):
    """A community manager (off unless ``enabled``) and what it runs its battery for.

    ``objective``: ``self_consumption`` charges from the community's net export and
    discharges into its net import; ``peak_shaving`` keeps the community's import
    below a threshold set from a 24 h forecast (the households' own base-load and PV
    forecasts plus yesterday's device demand; there is no perfect-foresight option).
    """

    enabled: bool = False
    objective: Literal["self_consumption", "peak_shaving"] = "self_consumption"
    battery: CommunityBatterySection = Field(default_factory=CommunityBatterySection)
