"""DSO controls in the grid step."""

from typing import Self

from pydantic import Field, model_validator

from lemgrid.model.scenario._base import _Section


class DroopCurve(_Section):
    """A piecewise-linear curve over voltage: ``v_pu`` ascending, one ``y`` per point."""

    enabled: bool = False
    v_pu: list[float] = Field(default_factory=list)
    y: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _matching_points(self) -> Self:
        if len(self.v_pu) != len(self.y) or len(self.v_pu) < 2:
            raise ValueError("v_pu and y need the same number of points, at least two")
        if any(b <= a for a, b in zip(self.v_pu, self.v_pu[1:], strict=False)):
            raise ValueError(f"v_pu must be strictly ascending, got {self.v_pu}")
        return self


class VoltVar(DroopCurve):
    """Q / S_inverter over voltage (positive injects reactive power); EN 50549-1 shape."""

    v_pu: list[float] = Field(default_factory=lambda: [0.92, 0.96, 1.04, 1.08])
    y: list[float] = Field(default_factory=lambda: [0.44, 0.0, 0.0, -0.44])


class VoltWatt(DroopCurve):
    """P_max / S_inverter over voltage."""

    v_pu: list[float] = Field(default_factory=lambda: [1.06, 1.10])
    y: list[float] = Field(default_factory=lambda: [1.0, 0.0])


class PhaseSwitching(_Section):
    """The DSO moves households with a phase switch to another phase between intervals."""

    enabled: bool = False
    share_switchable: float = Field(0.2, ge=0, le=1)
    vuf_trigger_percent: float = Field(0.5, ge=0)
    max_switches_per_interval: int = Field(2, ge=1, le=100)


class Flexibility(_Section):
    """The DSO's local flexibility market, run every interval before delivery (:mod:`model.flexibility`).

    ``elements``: the lines and transformers the DSO watches, by name (as in ``congestion.parquet``)
    or as ``line <index>`` / ``trafo <index>``; empty: every line and transformer. The DSO buys
    until the forecast loading of a watched element is at most ``loading_limit_percent`` minus
    ``margin_percent``. A household asks its lost value (the value of the energy it gives up less
    the retail price it then does not pay) plus ``offer_premium_eur_per_kwh``; the DSO takes no
    offer above ``max_price_eur_per_kwh``. Needs ``bidding.mode: curves``.
    """

    enabled: bool = False
    elements: list[str] = Field(default_factory=list)
    loading_limit_percent: float = Field(100.0, gt=0, le=1000)
    margin_percent: float = Field(2.0, ge=0, le=50)
    offer_premium_eur_per_kwh: float = Field(0.05, ge=0, le=10)
    max_price_eur_per_kwh: float = Field(1.0, ge=0, le=100)
    max_rounds: int = Field(4, ge=1, le=20)

    @model_validator(mode="after")
    def _positive_target(self) -> Self:
        if self.margin_percent >= self.loading_limit_percent:
            raise ValueError(
                f"margin_percent ({self.margin_percent:g}) must be below loading_limit_percent "
                f"({self.loading_limit_percent:g}): the DSO buys down to the limit less the margin, "
                "which must stay above 0 %"
            )
        return self


class DSO(_Section):
    """DSO controls in the grid step (off by default).

    Defaults follow EN 50549-1's characteristic shapes: volt-var (y = Q / S_inverter,
    positive injects) from +0.44 at 0.92 p.u. to 0 over 0.96-1.04 p.u. to -0.44 at 1.08 p.u.
    (cos phi 0.9 at full output); volt-watt (y = P_max / S_inverter) from 1 at 1.06 p.u. to 0
    at 1.10 p.u.
    """

    volt_var: VoltVar = Field(default_factory=VoltVar)
    volt_watt: VoltWatt = Field(default_factory=VoltWatt)
    inverter_max_iterations: int = Field(30, ge=1, le=500)
    inverter_tolerance_kw: float = Field(1e-3, gt=0, le=1)
    phase_switching: PhaseSwitching = Field(default_factory=PhaseSwitching)
    flexibility: Flexibility = Field(default_factory=Flexibility)
