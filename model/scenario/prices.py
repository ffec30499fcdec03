"""The retailer's prices over time: flat, time-of-use or dynamic (indexed on a wholesale series)."""

from typing import Literal, Self

from pydantic import Field, model_validator

from lemgrid.model.scenario._base import _Section


class TimeOfUseWindowSection(_Section):
    """A local clock window [start_hour, end_hour) with its retail price; end < start wraps midnight."""

    start_hour: float = Field(ge=0, le=24)
    end_hour: float = Field(ge=0, le=24)
    price_eur_per_kwh: float = Field(ge=0, le=10)


class Prices(_Section):
    """How the retail price and the feed-in tariff move over the day and the year (see :mod:`model.prices`).

    ``retail``: ``flat`` (``market.retail_price_eur_per_kwh`` always), ``time_of_use``
    (the first of ``time_of_use`` windows that holds the local clock time, else the flat
    price) or ``dynamic`` (wholesale / 1000 + ``retail_adder_eur_per_kwh``). ``feed_in``:
    ``fixed`` (``market.feed_in_tariff_eur_per_kwh``) or ``dynamic`` (wholesale / 1000 +
    ``feed_in_adder_eur_per_kwh``, negative when the wholesale price is). The wholesale
    series is ``wholesale_file`` (CSV ``timestamp,price_eur_per_mwh``, hourly, with UTC
    offsets) or, if null, the documented model of :func:`model.prices.model_wholesale_eur_per_mwh`.
    """

    retail: Literal["flat", "time_of_use", "dynamic"] = "flat"
    feed_in: Literal["fixed", "dynamic"] = "fixed"
    time_of_use: list[TimeOfUseWindowSection] = Field(
        default_factory=lambda: [
            TimeOfUseWindowSection(start_hour=17, end_hour=21, price_eur_per_kwh=0.40),
            TimeOfUseWindowSection(start_hour=0, end_hour=6, price_eur_per_kwh=0.22),
        ]
    )
    retail_adder_eur_per_kwh: float = Field(0.20, ge=-1, le=10)
    feed_in_adder_eur_per_kwh: float = Field(-0.01, ge=-1, le=10)
    wholesale_file: str | None = None

    @model_validator(mode="after")
    def _adders_keep_retail_above_feed_in(self) -> Self:
        if self.retail == "dynamic" and self.feed_in == "dynamic":
            if self.feed_in_adder_eur_per_kwh > self.retail_adder_eur_per_kwh:
                raise ValueError(
                    f"feed_in_adder_eur_per_kwh ({self.feed_in_adder_eur_per_kwh}) must not exceed "
                    f"retail_adder_eur_per_kwh ({self.retail_adder_eur_per_kwh}): the feed-in tariff "
                    "would exceed the retail price"
                )
        return self
