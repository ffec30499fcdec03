"""Which feeder, and how its households are put on phases."""

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from lemgrid.grid.feeders import FEEDERS
from lemgrid.model.scenario._base import Phase, _Section, one_of


class FeederSection(_Section):
    """Which feeder, and how its single-phase households are put on phases.

    ``name`` is a ready-made feeder (``lemgrid feeders`` lists them) or ``custom``
    with ``file`` (a pandapower JSON net) and optionally ``households_file`` (CSV
    with columns household, bus, phase; without it, one household per load of the
    net). ``three_phase``: ``given`` (the net carries zero-sequence data) or
    ``derive`` (balanced data; the zero-sequence data is derived by the documented
    assumptions of ``grid.feeders.make_three_phase``).
    ``phase_assignment``: ``feeder`` keeps the feeder's own phases (the IEEE
    feeder's data; round robin for the others), or ``round_robin``, ``random``
    or ``unbalanced`` (60/30/10 % on a/b/c), drawn from the seed.
    ``phase_overrides`` then moves named households.
    """

    name: one_of(lambda: [*FEEDERS, "custom"]) = "ieee_european_lv"  # type: ignore[valid-type]
    file: str | None = None
    households_file: str | None = None
    three_phase: Literal["given", "derive"] = "given"
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
        if self.name == "custom" and self.file is None:
            raise ValueError(
                "name 'custom' needs file (a pandapower JSON net; households_file, a CSV, is optional)"
            )
        if self.name != "custom" and (has_files or self.three_phase != "given"):
            raise ValueError(
                f"file, households_file and three_phase are only for name 'custom', not {self.name!r}"
            )
        return self
