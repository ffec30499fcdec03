"""The ``community`` section: a community manager that owns a battery on the feeder and runs it for all."""

from typing import Literal

from pydantic import Field

from lemgrid.model.scenario._base import _Section
from lemgrid.model.scenario.devices import BatteryLimits


class CommunityBatterySection(BatteryLimits):
    """The community battery: one unit on a feeder bus, on all three phases (``abc``) or one.

    ``bus``: the pandapower index of its bus (None: the transformer's low-voltage bus).
    """

    capacity_kwh: float = Field(200.0, gt=0, le=100_000)
    power_kw: float = Field(50.0, gt=0, le=10_000)
    bus: int | None = Field(None, ge=0)
    phase: Literal["abc", "a", "b", "c"] = "abc"


class CommunityManagerSection(_Section):
    """A community manager (off unless ``enabled``) and what it runs its battery for.

    ``objective``: ``self_consumption`` charges from the community's net export and
    discharges into its net import; ``peak_shaving`` keeps the community's import
    below a threshold set from a 24 h forecast (the households' own base-load and PV
    forecasts plus yesterday's device demand; there is no perfect-foresight option);
    ``sell_flexibility`` holds the battery for the DSO's flexibility market
    (``dso.flexibility``, required): it charges in the community's forecast valley,
    never discharges on its own, offers the DSO its power range at its marginal
    value (agents/community.py) and delivers what the DSO buys.
    """

    enabled: bool = False
    objective: Literal["self_consumption", "peak_shaving", "sell_flexibility"] = "self_consumption"
    battery: CommunityBatterySection = Field(default_factory=CommunityBatterySection)
