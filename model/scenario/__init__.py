"""The scenario: every input of a run, typed, validated and with defaults, one module per section.

``Scenario()`` is the default run. A YAML file and ``--set key=value``
overrides are validated the same way, and every bad value is rejected before
anything runs with one message naming the field, the value and what is allowed.
"""

from lemgrid.model.scenario._base import Phase, ScenarioError, one_of
from lemgrid.model.scenario.attack import (
    ATTACK_KINDS,
    AnyAttack,
    Attack,
    DemandAttack,
    NoAttack,
    PriceAttack,
)
from lemgrid.model.scenario.bidding import Bidding
from lemgrid.model.scenario.devices import (
    PV,
    Appliance,
    BatterySection,
    EVSection,
    FlexibleLoad,
    Penetration,
)
from lemgrid.model.scenario.distributions import (
    Choice,
    Distribution,
    Fixed,
    LogNormal,
    Normal,
    Uniform,
    bounded,
)
from lemgrid.model.scenario.dso import DSO, DroopCurve, PhaseSwitching, VoltVar, VoltWatt
from lemgrid.model.scenario.feeder import FeederSection
from lemgrid.model.scenario.grid import GridSection
from lemgrid.model.scenario.households import Households
from lemgrid.model.scenario.market import CommunitySection, Market, P2PSection, ZonalSection
from lemgrid.model.scenario.output import Output
from lemgrid.model.scenario.overrides import apply_override, set_key
from lemgrid.model.scenario.prices import Prices, TimeOfUseWindowSection
from lemgrid.model.scenario.schema import (
    FIRST_DATE,
    LAST_DATE,
    Scenario,
    build_scenario,
    format_validation_error,
)
from lemgrid.model.scenario.site import Site, Weather
from lemgrid.model.scenario.strategies import Strategies
from lemgrid.model.scenario.strict_yaml import parse_yaml, read_yaml_file, read_yaml_mapping
from lemgrid.model.scenario.tariff import (
    TARIFF_KINDS,
    AnyTariff,
    CapacityTariff,
    CongestionTariff,
    DistanceTariff,
    LossTariff,
    NoNetworkTariff,
    Tariff,
    VolumetricTariff,
    ZonalTariff,
)

__all__ = [
    "ATTACK_KINDS",
    "DSO",
    "FIRST_DATE",
    "LAST_DATE",
    "PV",
    "TARIFF_KINDS",
    "AnyAttack",
    "AnyTariff",
    "Appliance",
    "Attack",
    "BatterySection",
    "Bidding",
    "Prices",
    "TimeOfUseWindowSection",
    "CapacityTariff",
    "Choice",
    "CommunitySection",
    "CongestionTariff",
    "DemandAttack",
    "DistanceTariff",
    "Distribution",
    "DroopCurve",
    "EVSection",
    "FeederSection",
    "Fixed",
    "FlexibleLoad",
    "GridSection",
    "Households",
    "LogNormal",
    "LossTariff",
    "Market",
    "NoAttack",
    "NoNetworkTariff",
    "Normal",
    "Output",
    "P2PSection",
    "Penetration",
    "Phase",
    "PhaseSwitching",
    "PriceAttack",
    "Scenario",
    "ScenarioError",
    "Site",
    "Strategies",
    "Tariff",
    "Uniform",
    "VoltVar",
    "VoltWatt",
    "VolumetricTariff",
    "Weather",
    "ZonalSection",
    "ZonalTariff",
    "apply_override",
    "bounded",
    "build_scenario",
    "format_validation_error",
    "one_of",
    "parse_yaml",
    "read_yaml_file",
    "read_yaml_mapping",
    "set_key",
]
