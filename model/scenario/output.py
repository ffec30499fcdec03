"""What a run writes besides its main tables."""

from typing import Literal

from lemgrid.model.scenario._base import _Section


class Output(_Section):
    """What the run writes besides the interval, household and trade tables."""

    bus_voltages: Literal["all", "households", "none"] = "all"
