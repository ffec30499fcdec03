"""The network tariff: one kind, chosen by ``kind``, with its parameters.

Every kind is a class of the discriminated union :data:`AnyTariff`; they share
one flat set of fields, so a scenario file may set any tariff parameter and
``scenario.json`` lists them all whatever the kind (files and results from
before the split read unchanged). :attr:`Tariff.parameters` names the ones a
kind uses. ``model/tariffs.py`` registers one builder per kind in
:data:`TARIFF_KINDS`.
"""

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BeforeValidator, Field

from lemgrid.model.scenario._base import _Section
from lemgrid.model.scenario.prices import TimeOfUseWindowSection

TariffKind = Literal[
    "none", "volumetric", "capacity", "distance", "zonal", "congestion", "loss", "time_of_use", "dynamic"
]
TARIFF_KINDS: tuple[str, ...] = get_args(TariffKind)


class Tariff(_Section):
    """The network tariff households pay the DSO (review section 5.1), and the network's cost.

    ``kind`` picks one; only its own parameters are used:

    - ``none``;
    - ``volumetric``: ``import_eur_per_kwh`` on energy bought from the retailer and
      ``local_trade_eur_per_kwh`` on energy bought locally (paid by the buyer);
    - ``capacity``: ``capacity_eur_per_kw`` per billing period of ``billing_days`` on the
      mean of the days' peak imports (each day bills ``1 / billing_days`` of the rate on its
      own peak, so a run pays for the days it simulates), of each household
      (``capacity_level: household``) or of the whole community (``community``: the
      feeder's summed household import, shared by the households that raise it);
    - ``distance``: ``distance_eur_per_kwh_per_ohm`` times the electrical distance between
      the two parties of a local trade (Baroche et al.);
    - ``zonal``: ``zonal_eur_per_kwh`` on local trades between zones;
    - ``congestion``: ``congestion_eur_per_kwh`` per kWh of flow a local trade adds, by its
      PTDFs, in the direction of the flow on lines and transformers loaded above
      ``congestion_threshold_percent`` (Guerrero et al., Paudel et al.);
    - ``loss``: ``loss_price_eur_per_kwh`` on the losses a local trade causes by the loss
      sensitivity factors (negative, a credit, when it reduces them);
    - ``time_of_use``: a network import charge per kWh bought from the retailer, by local
      clock time: the first of ``network_time_of_use`` windows that holds it, else
      ``import_eur_per_kwh`` (published a year ahead, like Germany's section 14a EnWG
      module 3 grid fee);
    - ``dynamic``: a network import charge per kWh bought from the retailer, published by
      the DSO each day at noon for the next day: ``import_eur_per_kwh`` plus
      ``dynamic_surcharge_eur_per_kwh`` in the intervals whose forecast loading (the highest
      line or transformer-phase loading measured at that time of day in the last
      ``dynamic_memory_days`` days) is at least ``dynamic_threshold_percent``.

    The two import-charge kinds are known before the households bid: they enter the
    price their curves and forecasts put on an imported kWh, and are paid to the DSO.

    Per-trade fees are split equally between buyer and seller. The DSO's revenue is
    compared with ``network_cost_eur_per_household_year`` over the run's length.
    """

    kind: TariffKind = "none"
    import_eur_per_kwh: float = Field(0.08, ge=0, le=10)
    local_trade_eur_per_kwh: float = Field(0.02, ge=0, le=10)
    capacity_eur_per_kw: float = Field(5.0, ge=0, le=1000)
    capacity_level: Literal["household", "community"] = "household"
    billing_days: int = Field(30, ge=1, le=366)
    distance_eur_per_kwh_per_ohm: float = Field(0.2, ge=0, le=100)
    zonal_eur_per_kwh: float = Field(0.02, ge=0, le=10)
    congestion_eur_per_kwh: float = Field(0.05, ge=0, le=10)
    congestion_threshold_percent: float = Field(80.0, ge=0, le=500)
    loss_price_eur_per_kwh: float = Field(0.10, ge=0, le=10)
    network_time_of_use: list[TimeOfUseWindowSection] = Field(
        default_factory=lambda: [TimeOfUseWindowSection(start_hour=17, end_hour=21, price_eur_per_kwh=0.20)]
    )
    dynamic_surcharge_eur_per_kwh: float = Field(0.20, ge=0, le=10)
    dynamic_threshold_percent: float = Field(90.0, gt=0, le=500)
    dynamic_memory_days: int = Field(7, ge=1, le=366)
    network_cost_eur_per_household_year: float = Field(200.0, ge=0, le=1e5)

    parameters: ClassVar[tuple[str, ...]] = ()

    def own_parameters(self) -> dict[str, Any]:
        """The parameters this kind uses, with their values."""
        return {name: getattr(self, name) for name in self.parameters}


class NoNetworkTariff(Tariff):
    """No network tariff."""

    kind: Literal["none"] = "none"


class VolumetricTariff(Tariff):
    """A fee per kWh bought from the retailer and per kWh bought locally."""

    kind: Literal["volumetric"] = "volumetric"
    parameters = ("import_eur_per_kwh", "local_trade_eur_per_kwh")


class CapacityTariff(Tariff):
    """A fee per kW of peak import per billing period, per household or for the community."""

    kind: Literal["capacity"] = "capacity"
    parameters = ("capacity_eur_per_kw", "capacity_level", "billing_days")


class DistanceTariff(Tariff):
    """A fee per kWh and ohm of electrical distance between the parties of a local trade."""

    kind: Literal["distance"] = "distance"
    parameters = ("distance_eur_per_kwh_per_ohm",)


class ZonalTariff(Tariff):
    """A fee per kWh on local trades between zones."""

    kind: Literal["zonal"] = "zonal"
    parameters = ("zonal_eur_per_kwh",)


class CongestionTariff(Tariff):
    """A fee per kWh of flow a trade adds on elements loaded above a threshold."""

    kind: Literal["congestion"] = "congestion"
    parameters = ("congestion_eur_per_kwh", "congestion_threshold_percent")


class LossTariff(Tariff):
    """A price per kWh of losses a trade causes (a credit when it reduces them)."""

    kind: Literal["loss"] = "loss"
    parameters = ("loss_price_eur_per_kwh",)


class TimeOfUseNetworkTariff(Tariff):
    """A network import charge by local clock time, known in advance."""

    kind: Literal["time_of_use"] = "time_of_use"
    parameters = ("import_eur_per_kwh", "network_time_of_use")


class DynamicNetworkTariff(Tariff):
    """A network import charge the DSO publishes a day ahead, higher where it forecasts congestion."""

    kind: Literal["dynamic"] = "dynamic"
    parameters = (
        "import_eur_per_kwh",
        "dynamic_surcharge_eur_per_kwh",
        "dynamic_threshold_percent",
        "dynamic_memory_days",
    )


def _kind_none_by_default(value: Any) -> Any:
    """A section without ``kind`` is of kind ``none``, as before kinds were classes."""
    return {"kind": "none", **value} if isinstance(value, dict) and "kind" not in value else value


AnyTariff = Annotated[
    NoNetworkTariff
    | VolumetricTariff
    | CapacityTariff
    | DistanceTariff
    | ZonalTariff
    | CongestionTariff
    | LossTariff
    | TimeOfUseNetworkTariff
    | DynamicNetworkTariff,
    Field(discriminator="kind"),
    BeforeValidator(_kind_none_by_default),
]
