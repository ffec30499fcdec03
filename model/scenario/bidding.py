"""How households bid: one order from a plan, or a price-quantity curve per device."""

from typing import Literal

from pydantic import Field, model_validator

from lemgrid.model.scenario._base import _Section


class Bidding(_Section):
    """How households bid: ``curves`` (default) or ``fixed``.

    ``curves``: each device bids a price-quantity curve from its state and the
    local-price forecast, and clearing decides what the devices do (see
    :mod:`model.bidding`); ``fixed``: devices follow their policy's plan and the
    net position is offered as one order (the behaviour before price response).

    ``forecast`` is the local-price forecast (``yesterday``, ``ema``, ``retail_midpoint``,
    ``perfect``; see :mod:`model.forecasts`) over ``horizon_hours``; ``perfect`` is found by
    up to ``foresight_passes`` runs in all (:mod:`model.foresight`);
    ``pv_curtailment_price_eur_per_kwh`` is the price below which PV curtails (only a
    negative feed-in tariff reaches it).

    ``day_ahead``: before each day, a day-ahead market clears the households' curves
    on their forecasts and schedules batteries and EVs; the interval market then
    clears the deviations (see :mod:`model.day_ahead`). ``load_forecast_error`` and
    ``pv_forecast_error`` are the relative standard deviations of the households'
    load and PV forecasts (the day-ahead stage's and the LP optimiser's), 0 for perfect
    forecasts.
    """

    mode: Literal["fixed", "curves"] = "curves"
    forecast: Literal["yesterday", "ema", "retail_midpoint", "perfect"] = "yesterday"
    foresight_passes: int = Field(3, ge=1, le=20)
    ema_weight: float = Field(0.5, gt=0, le=1)
    horizon_hours: float = Field(24.0, gt=0, le=168)
    pv_curtailment_price_eur_per_kwh: float = Field(0.0, ge=-10, le=10)
    day_ahead: bool = False
    load_forecast_error: float = Field(0.0, ge=0, le=1)
    pv_forecast_error: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _day_ahead_needs_curves(self) -> "Bidding":
        if self.day_ahead and self.mode != "curves":
            raise ValueError(
                "day_ahead: true needs mode: curves (the day-ahead market clears the devices' curves)"
            )
        return self
