"""The scenario: every section together, and its validation into one readable error."""

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from lemgrid.model.scenario._base import ScenarioError, _Section
from lemgrid.model.scenario.attack import ATTACK_KINDS, AnyAttack, Attack, NoAttack
from lemgrid.model.scenario.bidding import Bidding
from lemgrid.model.scenario.community import CommunityManagerSection
from lemgrid.model.scenario.devices import PV, BatterySection, EVSection, FlexibleLoad, Penetration
from lemgrid.model.scenario.distributions import DISTRIBUTION_KINDS
from lemgrid.model.scenario.dso import DSO
from lemgrid.model.scenario.feeder import FeederSection
from lemgrid.model.scenario.grid import GridSection
from lemgrid.model.scenario.heat_pump import HeatPumpSection
from lemgrid.model.scenario.households import Households
from lemgrid.model.scenario.market import Market
from lemgrid.model.scenario.output import Output
from lemgrid.model.scenario.overrides import apply_override
from lemgrid.model.scenario.prices import Prices
from lemgrid.model.scenario.site import Site, Weather
from lemgrid.model.scenario.strategies import Strategies
from lemgrid.model.scenario.strict_yaml import read_yaml_mapping
from lemgrid.model.scenario.tariff import TARIFF_KINDS, AnyTariff, NoNetworkTariff, Tariff

# the dates the weather, sun and profile models are used for (and datetime can hold with a year's run)
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2199, 12, 31)

# union fields whose tag pydantic puts into an error's location: field -> (tags, the shared class)
_UNIONS: dict[str, tuple[tuple[str, ...], type[BaseModel]]] = {
    "tariff": (TARIFF_KINDS, Tariff),
    "attack": (ATTACK_KINDS, Attack),
}


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
    heat_pump: HeatPumpSection = Field(default_factory=HeatPumpSection)
    weather: Weather = Field(default_factory=Weather)
    market: Market = Field(default_factory=Market)
    bidding: Bidding = Field(default_factory=Bidding)
    prices: Prices = Field(default_factory=Prices)
    tariff: AnyTariff = Field(default_factory=NoNetworkTariff)
    attack: AnyAttack = Field(default_factory=NoAttack)
    grid: GridSection = Field(default_factory=GridSection)
    dso: DSO = Field(default_factory=DSO)
    community: CommunityManagerSection = Field(default_factory=CommunityManagerSection)
    output: Output = Field(default_factory=Output)

    @field_validator("interval_minutes")
    @classmethod
    def _divides_day(cls, v: int) -> int:
        if 1440 % v:
            raise ValueError("must divide a day (1440 minutes) evenly, e.g. 5, 15, 30 or 60")
        return v

    @field_validator("start")
    @classmethod
    def _supported_date(cls, v: dt.date) -> dt.date:
        if not FIRST_DATE <= v <= LAST_DATE:
            raise ValueError(f"must lie between {FIRST_DATE} and {LAST_DATE}")
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
        data = read_yaml_mapping(path, "scenario file") if path is not None else {}
        for item in overrides or []:
            apply_override(data, item)
        return build_scenario(data)


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
        if field is None:
            return []
        if part in _UNIONS and model is Scenario:
            model = _UNIONS[part][1]
            continue
        if not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The field's path without the union tags pydantic inserts (``tariff.capacity.x`` -> ``tariff.x``)."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in DISTRIBUTION_KINDS and i > 0:
            continue
        if i == 1 and loc[0] in _UNIONS and part in _UNIONS[loc[0]][0]:
            continue
        out.append(part)
    return tuple(out)


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``scenario field 'x.y' = value: what is allowed``."""
    lines = []
    for err in exc.errors():
        loc = _without_tags(err["loc"])
        value = err.get("input")
        if err["type"] == "union_tag_invalid":  # an unknown kind: name the kind, not the section
            loc = (*loc, err["ctx"]["discriminator"].strip("'"))
            value = err["ctx"]["tag"]
        field = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "union_tag_invalid":
            tags = [t.strip() for t in err["ctx"]["expected_tags"].split(",")]
            rule = f"Input should be {', '.join(tags[:-1])} or {tags[-1]}"
        elif err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            rule = "unknown field" + (f"; allowed fields here: {', '.join(allowed)}" if allowed else "")
        else:
            rule = err["msg"].removeprefix("Value error, ")
        lines.append(f"scenario field {field!r} = {value!r}: {rule}")
    return "invalid scenario:\n  " + "\n  ".join(lines)
