"""How households bid: one order from a plan, or a price-quantity curve per device."""

from typing import Literal

from pydantic import Field

from lemgrid.model.scenario._base import _Section


class Bidding(_Section):
    """How households bid: ``curves`` (default) or ``fixed``.

    ``curves``: each device bids a price-quantity curve from its state and the
    local-price forecast, and clearing decides what the devices do (see
    :mod:`model.bidding`); ``fixed``: devices follow their policy's plan and the
    net position is offered as one order (the behaviour before price response).

    ``forecast`` is the local-price forecast (``yesterday``, ``ema``, ``retail_midpoint``; see
    :mod:`model.forecasts`) over ``horizon_hours``; ``pv_curtailment_price_eur_per_kwh`` is the
    price below which PV curtails (only a negative feed-in tariff reaches it).
    """

    mode: Literal["fixed", "curves"] = "curves"
    forecast: Literal["yesterday", "ema", "retail_midpoint"] = "yesterday"
    ema_weight: float = Field(0.5, gt=0, le=1)
    horizon_hours: float = Field(24.0, gt=0, le=168)
    pv_curtailment_price_eur_per_kwh: float = Field(0.0, ge=-10, le=10)
