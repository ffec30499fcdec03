"""Network tariffs: the fees households pay the DSO each interval (review section 5.1).

One class per tariff kind, built from the scenario's ``tariff`` section by
:func:`make_tariff`. Each returns, per interval, every household's fee and
every local trade's fee (per-trade fees are split equally between buyer and
seller and are already included in the households' fees). Fees that depend on
the grid (congestion, loss) use sensitivities at the interval's measured
operating point, computed only when such a tariff is chosen.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lemgrid.grid.sensitivity import Sensitivities
from lemgrid.grid.state import GridState
from lemgrid.model.market import Trade
from lemgrid.model.scenario import Tariff


@dataclass(frozen=True)
class TariffInputs:
    """What a tariff may charge for in one interval.

    Attributes:
        interval: interval number since the start of the run.
        trades: the delivered local trades.
        bought_retail_kwh: energy each household bought from the retailer.
        net_kwh: each household's metered net export (import negative).
        state: the interval's power flow.
        sensitivities: computes PTDFs/PLSF at the measured operating point (on demand).
    """

    interval: int
    trades: list[Trade]
    bought_retail_kwh: np.ndarray
    net_kwh: np.ndarray
    state: GridState
    sensitivities: Callable[[], Sensitivities]


@dataclass(frozen=True)
class Fees:
    """One interval's network fees: per household (what it pays) and per local trade."""

    household_eur: np.ndarray
    trade_eur: np.ndarray


class NetworkTariff(Protocol):
    """The interface every network tariff implements."""

    kind: str

    def fees(self, x: TariffInputs) -> Fees:
        """The fees of one interval."""
        ...


def _split_trade_fees(n: int, trades: list[Trade], per_trade: np.ndarray) -> Fees:
    """Charge each trade's fee half to its buyer and half to its seller."""
    household = np.zeros(n)
    for t, fee in zip(trades, per_trade, strict=True):
        household[t.buyer] += fee / 2
        household[t.seller] += fee / 2
    return Fees(household, per_trade)


class NoTariff:
    """No network fees."""

    kind = "none"

    def __init__(self, n: int) -> None:
        self.n = n

    def fees(self, x: TariffInputs) -> Fees:
        """Nothing to pay."""
        return Fees(np.zeros(self.n), np.zeros(len(x.trades)))


class Volumetric:
    """EUR/kWh on energy bought from the retailer and on energy bought locally (paid by the buyer)."""

    kind = "volumetric"

    def __init__(self, n: int, import_eur_per_kwh: float, local_trade_eur_per_kwh: float) -> None:
        self.n = n
        self.import_rate = import_eur_per_kwh
        self.local_rate = local_trade_eur_per_kwh

    def fees(self, x: TariffInputs) -> Fees:
        """Import fee plus the buyer's local-trade fee."""
        household = x.bought_retail_kwh * self.import_rate
        per_trade = np.array([t.energy_kwh * self.local_rate for t in x.trades])
        for t, fee in zip(x.trades, per_trade, strict=True):
            household[t.buyer] += fee
        return Fees(household, per_trade)


class Capacity:
    """EUR/kW of the peak import in each billing period, billed as the peak rises.

    When an interval's import sets a new peak for the period, the increase
    times the rate is charged in that interval, so a period's fees add up to
    ``rate * peak``. ``household`` level: each household's own peak;
    ``community`` level: the peak of the households' summed net import, whose
    increase is charged to the importing households in proportion to their
    import in that interval.
    """

    kind = "capacity"

    def __init__(
        self, n: int, eur_per_kw: float, level: str, billing_days: int, interval_hours: float
    ) -> None:
        self.n = n
        self.rate = eur_per_kw
        self.level = level
        self.intervals_per_period = round(billing_days * 24 / interval_hours)
        self.interval_hours = interval_hours
        self.period = -1
        self.peak_kw = np.zeros(n)
        self.community_peak_kw = 0.0

    def fees(self, x: TariffInputs) -> Fees:
        """Charge the rise of the peak(s) in this interval."""
        period = x.interval // self.intervals_per_period
        if period != self.period:
            self.period = period
            self.peak_kw[:] = 0.0
            self.community_peak_kw = 0.0
        import_kw = np.clip(-x.net_kwh, 0, None) / self.interval_hours
        household = np.zeros(self.n)
        if self.level == "household":
            rise = np.clip(import_kw - self.peak_kw, 0, None)
            household = rise * self.rate
            self.peak_kw = np.maximum(self.peak_kw, import_kw)
        else:
            total = float(-x.net_kwh.sum() / self.interval_hours)
            if total > self.community_peak_kw and import_kw.sum() > 0:
                household = (total - self.community_peak_kw) * self.rate * import_kw / import_kw.sum()
                self.community_peak_kw = total
        return Fees(household, np.zeros(len(x.trades)))


class PairFee:
    """A unit fee per kWh traded between two households, from a fixed [buyer, seller] matrix.

    Used for the distance-based fee (rate times electrical distance, Baroche et
    al.) and the zonal fee (rate between different zones, zero inside a zone).
    """

    def __init__(self, kind: str, eur_per_kwh: np.ndarray) -> None:
        self.kind = kind
        self.eur_per_kwh = eur_per_kwh

    def fees(self, x: TariffInputs) -> Fees:
        """Each trade's energy times its pair's unit fee, split between the parties."""
        per_trade = np.array([t.energy_kwh * self.eur_per_kwh[t.buyer, t.seller] for t in x.trades])
        return _split_trade_fees(len(self.eur_per_kwh), x.trades, per_trade)


class Congestion:
    """PTDF-based congestion charge.

    A trade of E kWh from seller s to buyer b changes the flow on branch l by
    ``E * (PTDF[s, l] - PTDF[b, l])``. On every line and transformer loaded at
    least ``threshold_percent`` at the measured operating point, the part of that
    change in the direction of the present flow (adding to the congestion) is
    charged at ``eur_per_kwh``; trades that relieve a congested branch are not paid.
    """

    kind = "congestion"

    def __init__(self, n: int, eur_per_kwh: float, threshold_percent: float) -> None:
        self.n = n
        self.rate = eur_per_kwh
        self.threshold = threshold_percent

    def fees(self, x: TariffInputs) -> Fees:
        """Charge each trade for the flow it adds on congested branches (nothing if the power flow failed)."""
        state = x.state
        if not state.converged:
            return Fees(np.zeros(self.n), np.zeros(len(x.trades)))
        lines = np.flatnonzero(state.line_loading_percent >= self.threshold)
        trafos = np.flatnonzero(state.trafo_loading_percent.max(axis=1) >= self.threshold)
        if not x.trades or (not len(lines) and not len(trafos)):
            return Fees(np.zeros(self.n), np.zeros(len(x.trades)))
        sens = x.sensitivities()
        ptdf = np.hstack([sens.ptdf_line[:, lines], sens.ptdf_trafo[:, trafos]])
        direction = np.sign(np.concatenate([state.line_p_from_kw[lines], state.trafo_p_hv_kw[trafos]]))
        per_trade = np.array(
            [
                self.rate
                * t.energy_kwh
                * np.clip((ptdf[t.seller] - ptdf[t.buyer]) * direction, 0, None).sum()
                for t in x.trades
            ]
        )
        return _split_trade_fees(self.n, x.trades, per_trade)


class LossCharge:
    """Loss charge from loss sensitivity factors.

    A trade of E kWh from seller s to buyer b changes the losses by
    ``E * (PLSF[s] - PLSF[b])``; it pays that times ``loss_price_eur_per_kwh``,
    or is credited when it reduces losses.
    """

    kind = "loss"

    def __init__(self, n: int, loss_price_eur_per_kwh: float) -> None:
        self.n = n
        self.price = loss_price_eur_per_kwh

    def fees(self, x: TariffInputs) -> Fees:
        """Charge each trade the losses it causes at the margin (nothing if the power flow failed)."""
        if not x.trades or not x.state.converged:
            return Fees(np.zeros(self.n), np.zeros(0))
        plsf = x.sensitivities().plsf
        per_trade = np.array([self.price * t.energy_kwh * (plsf[t.seller] - plsf[t.buyer]) for t in x.trades])
        return _split_trade_fees(self.n, x.trades, per_trade)


TariffBuilder = Callable[[Tariff, int, float, Callable[[], np.ndarray], np.ndarray], NetworkTariff]

# kind -> builder(config, n households, interval hours, distance matrix (lazy), zones)
TARIFFS: dict[str, TariffBuilder] = {
    "none": lambda cfg, n, h, dist, zone: NoTariff(n),
    "volumetric": lambda cfg, n, h, dist, zone: Volumetric(
        n, cfg.import_eur_per_kwh, cfg.local_trade_eur_per_kwh
    ),
    "capacity": lambda cfg, n, h, dist, zone: Capacity(
        n, cfg.capacity_eur_per_kw, cfg.capacity_level, cfg.billing_days, h
    ),
    "distance": lambda cfg, n, h, dist, zone: PairFee("distance", cfg.distance_eur_per_kwh_per_ohm * dist()),
    "zonal": lambda cfg, n, h, dist, zone: PairFee(
        "zonal", cfg.zonal_eur_per_kwh * (zone[:, None] != zone[None, :])
    ),
    "congestion": lambda cfg, n, h, dist, zone: Congestion(
        n, cfg.congestion_eur_per_kwh, cfg.congestion_threshold_percent
    ),
    "loss": lambda cfg, n, h, dist, zone: LossCharge(n, cfg.loss_price_eur_per_kwh),
}


def make_tariff(
    cfg: Tariff, n: int, interval_hours: float, distance_ohm: Callable[[], np.ndarray], zone: np.ndarray
) -> NetworkTariff:
    """Build the tariff the scenario names, for ``n`` households."""
    return TARIFFS[cfg.kind](cfg, n, interval_hours, distance_ohm, zone)
