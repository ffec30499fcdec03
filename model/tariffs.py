"""Network tariffs: the fees households pay the DSO each interval (review section 5.1).

One class per tariff kind, built from the scenario's ``tariff`` section by
:func:`make_tariff`, each overriding the hooks of :class:`NetworkTariff` it
charges for (fee per trade, per-interval charge, end-of-period charge, and what
the LP forecast needs), so the model never asks which kind it has. ``fees``
returns, per interval, every household's fee and every local trade's fee
(already included in the households' fees). Fees that depend on
the grid (congestion, loss) use sensitivities at the interval's measured
operating point, computed only when such a tariff is chosen.

Two kinds are import charges the households know before they bid
(``time_of_use``, ``dynamic``): ``import_charge_eur_per_kwh`` holds, per
interval of the run, the charge published so far. The households' curves,
their local-price forecast and the LP forecast add it to the retail price of
an imported kWh (:class:`model.interval.Interval`), and it is billed, on the
energy bought from the retailer, to the DSO, not the retailer.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lemgrid.grid.sensitivity import Sensitivities
from lemgrid.grid.state import GridState
from lemgrid.model.prices import TimeOfUseWindow, time_of_use
from lemgrid.model.scenario import Tariff
from lemgrid.model.trades import Trade


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


class NetworkTariff:
    """The hooks every network tariff has; a kind overrides the ones it charges for.

    - ``trade_fees``: the fee of each local trade (EUR), paid by its buyer
      (``trade_fee_payer = "buyer"``) or half by each party (``"both"``);
    - ``interval_charge``: what each household pays in the interval besides
      its trades' fees (EUR);
    - ``end_of_period_charge``: what each household pays when a billing period
      (or the run) ends (EUR);
    - what the LP forecast needs: ``forecast_import_eur_per_kwh`` (a fee per kWh
      imported), ``forecast_peak_eur_per_kw`` (the price of a higher household
      import peak) and ``forecast_peak_so_far_kw`` (the peak already billed);
    - ``pair_fee_eur_per_kwh``: a fixed [buyer, seller] fee per kWh traded, if the
      tariff has one (bilateral preferences count it);
    - ``import_charge_eur_per_kwh``: per interval of the run, the import charge
      published before the households bid (zero for the kinds billed only after delivery).
    """

    kind = "none"
    n = 0
    charges_trades = False  # whether trade_fees can be non-zero
    trade_fee_payer = "both"
    forecast_import_eur_per_kwh = 0.0
    forecast_peak_eur_per_kw = 0.0
    pair_fee_eur_per_kwh: np.ndarray | None = None
    import_charge_eur_per_kwh: np.ndarray = np.zeros(0)

    def trade_fees(self, x: TariffInputs) -> np.ndarray:
        """Each delivered trade's fee (EUR)."""
        return np.zeros(len(x.trades))

    def interval_charge(self, x: TariffInputs) -> np.ndarray:
        """Each household's charge for the interval besides its trades' fees (EUR)."""
        return np.zeros(self.n)

    def end_of_period_charge(self) -> np.ndarray:
        """Each household's charge when the billing period ends (EUR); no kind has one yet."""
        return np.zeros(self.n)

    def forecast_peak_so_far_kw(self, household: int) -> float:
        """The import peak household ``household`` has already been billed for in this period."""
        del household
        return 0.0

    def fees(self, x: TariffInputs) -> Fees:
        """The fees of one interval: each household's charge plus its share of its trades' fees."""
        per_trade = self.trade_fees(x)
        household = self.interval_charge(x)
        if self.charges_trades:
            for t, fee in zip(x.trades, per_trade, strict=True):
                if self.trade_fee_payer == "buyer":
                    household[t.buyer] += fee
                else:
                    household[t.buyer] += fee / 2
                    household[t.seller] += fee / 2
        return Fees(household, per_trade)


class NoTariff(NetworkTariff):
    """No network fees."""

    kind = "none"

    def __init__(self, n: int) -> None:
        self.n = n


class Volumetric(NetworkTariff):
    """EUR/kWh on energy bought from the retailer and on energy bought locally (paid by the buyer)."""

    kind = "volumetric"
    charges_trades = True
    trade_fee_payer = "buyer"

    def __init__(self, n: int, import_eur_per_kwh: float, local_trade_eur_per_kwh: float) -> None:
        self.n = n
        self.import_rate = import_eur_per_kwh
        self.local_rate = local_trade_eur_per_kwh
        self.forecast_import_eur_per_kwh = import_eur_per_kwh

    def trade_fees(self, x: TariffInputs) -> np.ndarray:
        """The buyer's local-trade fee."""
        return np.array([t.energy_kwh * self.local_rate for t in x.trades])

    def interval_charge(self, x: TariffInputs) -> np.ndarray:
        """The import fee on energy bought from the retailer."""
        return x.bought_retail_kwh * self.import_rate


def daily_capacity_eur(
    eur_per_kw: float, peak_kw: np.ndarray | float, billing_days: int
) -> np.ndarray | float:
    """A day's capacity charge: its share (one of ``billing_days``) of the rate, on the day's peak.

    A billing period of ``billing_days`` days so costs ``rate`` times the mean of
    its days' peaks, and a run is billed for the days it simulates.
    """
    return eur_per_kw * peak_kw / billing_days


class Capacity(NetworkTariff):
    """EUR/kW per billing period on the mean of the period's daily peak imports.

    Each day bills :func:`daily_capacity_eur` of that day's peak, growing
    through the day with the peak so far; a full period of ``billing_days`` days
    costs ``rate * mean daily peak``. Billing a period's single highest peak
    instead made a short run incomparable with a long one: a 1-day run can only
    see its own day's peak, while the highest of 30 days is far above a typical
    day's (on the default scenario, 1-day cost recovery 23.9 % against 40.1 %
    over 30 days; with daily peaks both are within the days' spread, see
    tests/test_tariffs.py). ``household`` level: each household's own peak;
    ``community`` level: the peak of the households' summed net import, each
    interval's growth of its charge shared by the households in proportion to
    their import in the interval that set the peak.
    """

    kind = "capacity"

    def __init__(
        self, n: int, eur_per_kw: float, level: str, billing_days: int, interval_hours: float
    ) -> None:
        self.n = n
        self.rate = eur_per_kw
        self.level = level
        self.billing_days = billing_days
        self.intervals_per_day = max(1, round(24 / interval_hours))
        self.interval_hours = interval_hours
        self.day = -1
        self.peak_kw = np.zeros(n)  # today's
        self.community_peak_kw = 0.0
        self.community_share = np.zeros(n)  # each household's part of the interval that set the peak
        self.billed_eur = np.zeros(n)  # fees of the day so far
        # a household's own peak is what its LP plan can avoid raising: a kW more today costs this
        self.forecast_peak_eur_per_kw = eur_per_kw / billing_days if level == "household" else 0.0

    def forecast_peak_so_far_kw(self, household: int) -> float:
        """The household's import peak billed so far today (household level only)."""
        return float(self.peak_kw[household]) if self.level == "household" else 0.0

    def interval_charge(self, x: TariffInputs) -> np.ndarray:
        """Charge what the day's capacity charge grew by in this interval."""
        day = x.interval // self.intervals_per_day
        if day != self.day:
            self.day = day
            self.peak_kw[:] = 0.0
            self.community_peak_kw = 0.0
            self.billed_eur[:] = 0.0
        import_kw = np.clip(-x.net_kwh, 0, None) / self.interval_hours
        if self.level == "household":
            self.peak_kw = np.maximum(self.peak_kw, import_kw)
            due = daily_capacity_eur(self.rate, self.peak_kw, self.billing_days)
            household = np.asarray(due) - self.billed_eur
        else:
            total = float(-x.net_kwh.sum() / self.interval_hours)
            if total > self.community_peak_kw and import_kw.sum() > 0:
                self.community_peak_kw = total
                self.community_share = import_kw / import_kw.sum()
            due = daily_capacity_eur(self.rate, self.community_peak_kw, self.billing_days)
            # what the community charge grew by goes to the households that set its peak
            household = self.community_share * (float(due) - self.billed_eur.sum())
        self.billed_eur = self.billed_eur + household
        return household


class PairFee(NetworkTariff):
    """A unit fee per kWh traded between two households, from a fixed [buyer, seller] matrix.

    Used for the distance-based fee (rate times electrical distance, Baroche et
    al.) and the zonal fee (rate between different zones, zero inside a zone).
    """

    charges_trades = True

    def __init__(self, kind: str, eur_per_kwh: np.ndarray) -> None:
        self.kind = kind
        self.n = len(eur_per_kwh)
        self.eur_per_kwh = eur_per_kwh
        self.pair_fee_eur_per_kwh = eur_per_kwh

    def trade_fees(self, x: TariffInputs) -> np.ndarray:
        """Each trade's energy times its pair's unit fee (split between the parties)."""
        return np.array([t.energy_kwh * self.eur_per_kwh[t.buyer, t.seller] for t in x.trades])


class Congestion(NetworkTariff):
    """PTDF-based congestion charge.

    A trade of E kWh from seller s to buyer b changes the flow on branch l by
    ``E * (PTDF[s, l] - PTDF[b, l])``. On every line and transformer loaded at
    least ``threshold_percent`` at the measured operating point, the part of that
    change in the direction of the present flow (adding to the congestion) is
    charged at ``eur_per_kwh``; trades that relieve a congested branch are not paid.
    """

    kind = "congestion"
    charges_trades = True

    def __init__(self, n: int, eur_per_kwh: float, threshold_percent: float) -> None:
        self.n = n
        self.rate = eur_per_kwh
        self.threshold = threshold_percent

    def trade_fees(self, x: TariffInputs) -> np.ndarray:
        """Each trade's charge for the flow it adds on congested branches (none if the flow failed)."""
        state = x.state
        if not state.converged:
            return np.zeros(len(x.trades))
        lines = np.flatnonzero(state.line_loading_percent >= self.threshold)
        trafos = np.flatnonzero(state.trafo_loading_percent.max(axis=1) >= self.threshold)
        if not x.trades or (not len(lines) and not len(trafos)):
            return np.zeros(len(x.trades))
        sens = x.sensitivities()
        ptdf = np.hstack([sens.ptdf_line[:, lines], sens.ptdf_trafo[:, trafos]])
        direction = np.sign(np.concatenate([state.line_p_from_kw[lines], state.trafo_p_hv_kw[trafos]]))
        return np.array(
            [
                self.rate
                * t.energy_kwh
                * np.clip((ptdf[t.seller] - ptdf[t.buyer]) * direction, 0, None).sum()
                for t in x.trades
            ]
        )


class LossCharge(NetworkTariff):
    """Loss charge from loss sensitivity factors.

    A trade of E kWh from seller s to buyer b changes the losses by
    ``E * (PLSF[s] - PLSF[b])``; it pays that times ``loss_price_eur_per_kwh``,
    or is credited when it reduces losses.
    """

    kind = "loss"
    charges_trades = True

    def __init__(self, n: int, loss_price_eur_per_kwh: float) -> None:
        self.n = n
        self.price = loss_price_eur_per_kwh

    def trade_fees(self, x: TariffInputs) -> np.ndarray:
        """Each trade's charge for the losses it causes at the margin (none if the flow failed)."""
        if not x.trades or not x.state.converged:
            return np.zeros(len(x.trades))
        plsf = x.sensitivities().plsf
        return np.array([self.price * t.energy_kwh * (plsf[t.seller] - plsf[t.buyer]) for t in x.trades])


class ImportCharge(NetworkTariff):
    """A network charge per kWh bought from the retailer, known per interval before the households bid.

    ``time_of_use``: by local clock time for the whole run (published in advance,
    like the time-variable grid fee of Germany's section 14a EnWG, module 3).
    """

    kind = "time_of_use"

    def __init__(self, n: int, import_charge_eur_per_kwh: np.ndarray) -> None:
        self.n = n
        self.import_charge_eur_per_kwh = np.asarray(import_charge_eur_per_kwh, dtype=float)

    def interval_charge(self, x: TariffInputs) -> np.ndarray:
        """The interval's published charge on the energy each household bought from the retailer."""
        return x.bought_retail_kwh * self.import_charge_eur_per_kwh[x.interval]


class DynamicImportCharge(ImportCharge):
    """An import charge the DSO publishes for each day at its start, from its forecast of congestion.

    The DSO's forecast of an interval's loading is persistence: the highest
    line or transformer-phase loading it measured at that time of day in the
    last ``memory_days`` days. Where that reaches ``threshold_percent`` the
    charge is ``base + surcharge``, elsewhere ``base``. The first day has no
    measurements and no surcharge. Until the next publication the days after
    repeat the published one, which is what the households' forecasts see.
    """

    kind = "dynamic"

    def __init__(
        self,
        n: int,
        n_intervals: int,
        intervals_per_day: int,
        base_eur_per_kwh: float,
        surcharge_eur_per_kwh: float,
        threshold_percent: float,
        memory_days: int,
    ) -> None:
        super().__init__(n, np.full(n_intervals, base_eur_per_kwh))
        self.per_day = intervals_per_day
        self.base, self.surcharge = base_eur_per_kwh, surcharge_eur_per_kwh
        self.threshold, self.memory_days = threshold_percent, memory_days
        self.loading_percent = np.full(n_intervals, np.nan)  # measured, highest element per interval

    def interval_charge(self, x: TariffInputs) -> np.ndarray:
        """Bill the interval, record its measured loading, and at the day's end publish the next day."""
        state = x.state
        if state.converged:
            self.loading_percent[x.interval] = max(
                np.nanmax(state.line_loading_percent, initial=0.0),
                np.nanmax(state.trafo_loading_percent, initial=0.0),
            )
        if (x.interval + 1) % self.per_day == 0:
            self.publish((x.interval + 1) // self.per_day)
        return super().interval_charge(x)

    def forecast_loading_percent(self, day: int) -> np.ndarray:
        """The DSO's forecast of each interval of ``day``: the highest loading measured then in the memory."""
        days = [d for d in range(day - self.memory_days, day) if d >= 0]
        if not days:
            return np.full(self.per_day, np.nan)
        past = np.array([self.loading_percent[d * self.per_day : (d + 1) * self.per_day] for d in days])
        return np.fmax.reduce(past, axis=0)  # NaN only where no day of the memory was measured

    def publish(self, day: int) -> None:
        """Set the charge of ``day`` (and of the days after, until the next publication) from the forecast."""
        start = day * self.per_day
        if start >= len(self.import_charge_eur_per_kwh):
            return
        congested = np.nan_to_num(self.forecast_loading_percent(day)) >= self.threshold
        one_day = self.base + self.surcharge * congested
        rest = len(self.import_charge_eur_per_kwh) - start
        self.import_charge_eur_per_kwh[start:] = np.resize(one_day, rest)


@dataclass(frozen=True)
class RunClock:
    """What a tariff may need of the run's time: local interval starts and interval length."""

    times: pd.DatetimeIndex
    interval_hours: float

    @property
    def intervals_per_day(self) -> int:
        """Intervals in a day."""
        return max(1, round(24 / self.interval_hours))


def _time_of_use(cfg: Tariff, n: int, clock: RunClock) -> ImportCharge:
    windows = [
        TimeOfUseWindow(w.start_hour, w.end_hour, w.price_eur_per_kwh) for w in cfg.network_time_of_use
    ]
    return ImportCharge(n, time_of_use(clock.times, cfg.import_eur_per_kwh, windows))


def _dynamic(cfg: Tariff, n: int, clock: RunClock) -> DynamicImportCharge:
    return DynamicImportCharge(
        n,
        len(clock.times),
        clock.intervals_per_day,
        cfg.import_eur_per_kwh,
        cfg.dynamic_surcharge_eur_per_kwh,
        cfg.dynamic_threshold_percent,
        cfg.dynamic_memory_days,
    )


TariffBuilder = Callable[[Tariff, int, RunClock, Callable[[], np.ndarray], np.ndarray], NetworkTariff]

# kind -> builder(config, n households, the run's clock, distance matrix (lazy), zones)
TARIFFS: dict[str, TariffBuilder] = {
    "none": lambda cfg, n, c, dist, zone: NoTariff(n),
    "volumetric": lambda cfg, n, c, dist, zone: Volumetric(
        n, cfg.import_eur_per_kwh, cfg.local_trade_eur_per_kwh
    ),
    "capacity": lambda cfg, n, c, dist, zone: Capacity(
        n, cfg.capacity_eur_per_kw, cfg.capacity_level, cfg.billing_days, c.interval_hours
    ),
    "distance": lambda cfg, n, c, dist, zone: PairFee("distance", cfg.distance_eur_per_kwh_per_ohm * dist()),
    "zonal": lambda cfg, n, c, dist, zone: PairFee(
        "zonal", cfg.zonal_eur_per_kwh * (zone[:, None] != zone[None, :])
    ),
    "congestion": lambda cfg, n, c, dist, zone: Congestion(
        n, cfg.congestion_eur_per_kwh, cfg.congestion_threshold_percent
    ),
    "loss": lambda cfg, n, c, dist, zone: LossCharge(n, cfg.loss_price_eur_per_kwh),
    "time_of_use": lambda cfg, n, c, dist, zone: _time_of_use(cfg, n, c),
    "dynamic": lambda cfg, n, c, dist, zone: _dynamic(cfg, n, c),
}


def make_tariff(
    cfg: Tariff, n: int, clock: RunClock, distance_ohm: Callable[[], np.ndarray], zone: np.ndarray
) -> NetworkTariff:
    """Build the tariff the scenario names, for ``n`` households over the run's ``clock``."""
    tariff = TARIFFS[cfg.kind](cfg, n, clock, distance_ohm, zone)
    if len(tariff.import_charge_eur_per_kwh) != len(clock.times):
        tariff.import_charge_eur_per_kwh = np.zeros(len(clock.times))  # billed after delivery only
    return tariff
