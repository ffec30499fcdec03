"""The metric registry: every column of the intervals table, and every run metric, defined once.

An :class:`IntervalMetric` is one column of ``intervals.parquet``: its name,
unit, Arrow type, description and how it is computed from one interval's
:class:`~model.record.Outcome`. A :class:`RunMetric` is one entry of
``summary.json``: how it aggregates a run (:class:`~model.summary.Run`), and
the label the experiment reports give it (``report``; None: not a headline
metric). The recorder's intervals schema, the summary, the experiments'
metric list and the README's metric table are generated from or checked
against these lists (``tests/test_metrics_registry.py``).

Add a metric: append one entry here (and a test that computes it independently).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lemgrid.grid.feeders import PHASES
from lemgrid.model.interval_rows import rows_column
from lemgrid.model.weather import season

if TYPE_CHECKING:
    from lemgrid.model.record import Outcome

F64 = pa.float64()
I32 = pa.int32()
STR = pa.string()
BOOL = pa.bool_()
TIME = pa.timestamp("s", tz="UTC")


@dataclass(frozen=True)
class IntervalMetric:
    """One column of the intervals table."""

    name: str
    unit: str
    dtype: pa.DataType
    description: str
    compute: Callable[["Outcome"], Any]


def _price(value: float | None) -> float:
    return np.nan if value is None else value


def _n_customers_outside(o: "Outcome") -> int | None:
    if not o.state.converged:
        return None
    vm = o.columns["vm_pu"]
    if o.grid.customers is not None:
        vm = vm[o.grid.customers]  # the community manager's battery is no customer
    return int(((vm < o.v_min_pu) | (vm > o.v_max_pu)).sum())


def _price_spread(o: "Outcome") -> float:
    prices = [t.price_eur_per_kwh for t in o.cleared.clearing.trades if t.energy_kwh > 0]
    return float(max(prices) - min(prices)) if prices else np.nan


def _flexibility(o: "Outcome", value: Callable[[Any], float]) -> float:
    bought = o.cleared.flexibility
    return 0.0 if bought is None else value(bought)


def _total(column: str) -> Callable[["Outcome"], float]:
    def total(o: "Outcome") -> float:
        return float(o.columns[column].sum())

    return total


def _per_phase(field: str, i: int) -> Callable[["Outcome"], float]:
    def value(o: "Outcome") -> float:
        return getattr(o.grid.metrics, field)[i]

    return value


def _grid(field: str) -> Callable[["Outcome"], Any]:
    def value(o: "Outcome") -> Any:
        return getattr(o.grid.metrics, field)

    return value


_M = IntervalMetric
_DEVICES = (
    ("base_load_kw", "households' base load"),
    ("pv_kw", "PV output (after curtailment)"),
    ("pv_curtailed_kw", "PV curtailed by the DSO and the inverters"),
    ("battery_kw", "battery power (discharge positive)"),
    ("ev_kw", "EV charging (negative)"),
    ("appliance_kw", "appliance cycles (negative)"),
    ("heat_pump_kw", "heat pumps, space heating and hot water (negative)"),
)

INTERVAL_METRICS: list[IntervalMetric] = [
    _M("interval", "", I32, "interval number since the start", lambda o: o.k),
    _M("time", "UTC", TIME, "start of the interval", lambda o: o.time),
    _M(
        "clearing_price_eur_per_kwh",
        "EUR/kWh",
        F64,
        "the single local price (null without trade or without a single price)",
        lambda o: _price(o.cleared.clearing.price_eur_per_kwh),
    ),
    _M(
        "mean_local_price_eur_per_kwh",
        "EUR/kWh",
        F64,
        "volume-weighted mean price of the local trades",
        lambda o: _price(o.cleared.clearing.mean_price_eur_per_kwh),
    ),
    _M(
        "local_volume_kwh",
        "kWh",
        F64,
        "energy traded locally (in the interval market, with a day-ahead stage)",
        lambda o: o.cleared.clearing.volume_kwh,
    ),
    _M(
        "forecast_price_eur_per_kwh",
        "EUR/kWh",
        F64,
        "the local price the households forecast for the interval when they bid (null with fixed bids)",
        lambda o: _price(o.cleared.forecast_eur_per_kwh),
    ),
    _M(
        "day_ahead_price_eur_per_kwh",
        "EUR/kWh",
        F64,
        "volume-weighted mean price of the interval's day-ahead trades (null without them)",
        lambda o: _price(o.cleared.day_ahead.mean_price_eur_per_kwh if o.cleared.day_ahead else None),
    ),
    _M(
        "day_ahead_volume_kwh",
        "kWh",
        F64,
        "energy traded day-ahead for the interval (0 without a day-ahead stage)",
        lambda o: o.cleared.day_ahead.volume_kwh if o.cleared.day_ahead else 0.0,
    ),
    _M(
        "n_trades",
        "",
        I32,
        "local trades delivering energy",
        lambda o: o.cleared.clearing.n_trades,
    ),
    _M(
        "network_fees_eur",
        "EUR",
        F64,
        "network fees the DSO received",
        lambda o: o.settled.settlement.network_revenue_eur,
    ),
    _M(
        "curtailed_export_kwh",
        "kWh",
        F64,
        "export the constraint mode cut",
        lambda o: float(o.cleared.cut.export_kw.sum() * o.hours),
    ),
    _M(
        "curtailed_import_kwh",
        "kWh",
        F64,
        "import the constraint mode cut",
        lambda o: float(o.cleared.cut.import_kw.sum() * o.hours),
    ),
    _M(
        "curtailment_cost_eur",
        "EUR",
        F64,
        "cut energy valued at the limit prices of the households that gave it up",
        lambda o: o.cleared.cut.cost_eur,
    ),
    _M(
        "flexibility_kwh",
        "kWh",
        F64,
        "flexibility the DSO bought before delivery, both directions (model.flexibility)",
        lambda o: _flexibility(o, lambda b: float((b.down_kw.sum() + b.up_kw.sum()) * o.hours)),
    ),
    _M(
        "flexibility_cost_eur",
        "EUR",
        F64,
        "what the DSO paid the households for that flexibility (pay as bid)",
        lambda o: _flexibility(o, lambda b: b.cost_eur),
    ),
    _M(
        "flexibility_shortfall_kw",
        "kW",
        F64,
        "relief the watched elements still needed after the flexibility market (forecast; 0: met; "
        "NaN: its forecast power flow did not converge)",
        lambda o: _flexibility(o, lambda b: b.shortfall_kw),
    ),
    _M(
        "constraint_power_flows",
        "",
        I32,
        "power flows the constraint mode ran",
        lambda o: o.cleared.cut.power_flows,
    ),
    _M(
        "retail_import_kwh",
        "kWh",
        F64,
        "energy bought from the retailer",
        lambda o: float(o.settled.settlement.bought_retail_kwh.sum()),
    ),
    _M(
        "retail_export_kwh",
        "kWh",
        F64,
        "energy sold to the retailer",
        lambda o: float(o.settled.settlement.sold_retail_kwh.sum()),
    ),
    _M(
        "retailer_revenue_eur",
        "EUR",
        F64,
        "what the retailer received net of what it paid",
        lambda o: o.settled.settlement.retailer_revenue_eur,
    ),
    *[_M(name, "kW", F64, f"feeder total: {text}", _total(name)) for name, text in _DEVICES],
    _M(
        "comfort_violation_kh",
        "K h",
        F64,
        "kelvin-hours indoors below the heat pumps' comfort band, summed over households",
        _total("comfort_violation_kh"),
    ),
    _M(
        "tank_violation_kh",
        "K h",
        F64,
        "kelvin-hours of hot-water tanks below their band, summed over households",
        _total("tank_violation_kh"),
    ),
    _M(
        "household_injection_kw",
        "kW",
        F64,
        "households' summed net injection",
        _total("net_injection_kw"),
    ),
    _M("converged", "", BOOL, "whether the power flow converged", lambda o: o.state.converged),
    _M(
        "power_flow_error",
        "",
        STR,
        "why the power flow failed (null if it converged)",
        lambda o: o.state.error,
    ),
    _M(
        "inverter_iterations",
        "",
        I32,
        "power flows the inverter droops took",
        lambda o: o.grid.operated.iterations,
    ),
    _M(
        "n_phase_switches",
        "",
        I32,
        "households the DSO moved to another phase",
        lambda o: o.grid.phase_switches,
    ),
    *[
        _M(f"vm_min_{p}_pu", "p.u.", F64, f"lowest LV voltage on phase {p}", _per_phase("vm_min_pu", i))
        for i, p in enumerate(PHASES)
    ],
    *[
        _M(f"vm_max_{p}_pu", "p.u.", F64, f"highest LV voltage on phase {p}", _per_phase("vm_max_pu", i))
        for i, p in enumerate(PHASES)
    ],
    _M(
        "vuf_max_percent",
        "%",
        F64,
        "highest voltage unbalance factor (IEC 61000-4-30)",
        _grid("vuf_max_percent"),
    ),
    _M(
        "pvur_max_percent",
        "%",
        F64,
        "highest phase voltage unbalance rate (IEEE 936)",
        _grid("pvur_max_percent"),
    ),
    _M(
        "lvur_max_percent",
        "%",
        F64,
        "highest line voltage unbalance rate (NEMA MG1)",
        _grid("lvur_max_percent"),
    ),
    _M(
        "n_buses_outside_limits",
        "",
        I32,
        "LV buses with any phase outside the voltage limits",
        _grid("n_buses_outside_limits"),
    ),
    _M(
        "n_customers_outside_limits",
        "",
        I32,
        "households whose supply voltage is outside the limits (null if the power flow failed)",
        _n_customers_outside,
    ),
    *[
        _M(
            f"trafo_loading_{p}_percent",
            "%",
            F64,
            f"transformer loading on phase {p}",
            _per_phase("trafo_loading_percent", i),
        )
        for i, p in enumerate(PHASES)
    ],
    _M(
        "trafo_unbalance_percent",
        "%",
        F64,
        "unbalance of the transformer's per-phase loading",
        _grid("trafo_unbalance_percent"),
    ),
    _M("line_loading_max_percent", "%", F64, "highest line loading", _grid("line_loading_max_percent")),
    _M("n_lines_overloaded", "", I32, "lines above the loading limit", _grid("n_lines_overloaded")),
    _M(
        "overload_kva",
        "kVA",
        F64,
        "apparent power above the limits, summed over lines (on their highest phase) and transformer phases",
        lambda o: o.grid.overload_kva,
    ),
    _M("losses_kw", "kW", F64, "active losses of lines and transformer", _grid("losses_kw")),
    _M(
        "feeder_import_kw",
        "kW",
        F64,
        "active power drawn from the upstream grid",
        _grid("ext_grid_import_kw"),
    ),
    _M(
        "overvoltage_headroom_pu",
        "p.u.",
        F64,
        "v_max minus the highest voltage (negative: violated)",
        _grid("overvoltage_headroom_pu"),
    ),
    _M(
        "undervoltage_headroom_pu",
        "p.u.",
        F64,
        "lowest voltage minus v_min (negative: violated)",
        _grid("undervoltage_headroom_pu"),
    ),
    _M(
        "thermal_headroom_percent",
        "%",
        F64,
        "loading limit minus the highest line or transformer loading",
        _grid("thermal_headroom_percent"),
    ),
    # the example of README "Add a metric": one entry (and its test, tests/test_metrics_registry.py)
    _M(
        "local_price_spread_eur_per_kwh",
        "EUR/kWh",
        F64,
        "highest minus lowest price of the interval's delivered local trades (null without trade)",
        _price_spread,
    ),
]


def interval_row(outcome: "Outcome") -> dict[str, Any]:
    """One interval's row: every registered interval metric, computed from the outcome."""
    return {m.name: m.compute(outcome) for m in INTERVAL_METRICS}


def interval_schema() -> pa.Schema:
    """The intervals table's Arrow schema, in registry order."""
    return pa.schema([(m.name, m.dtype) for m in INTERVAL_METRICS])


# --- run metrics (summary.json) ------------------------------------------------------------


def _max(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.max()) if len(values) else None


def _min(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.min()) if len(values) else None


def _p95(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.percentile(values, 95)) if len(values) else None


def _share(part: float, whole: float) -> float | None:
    return 1.0 - part / whole if whole > 0 else None


@dataclass(frozen=True)
class Run:
    """What a run metric aggregates: the interval rows and the run's end-of-run state.

    Attributes:
        config: the scenario; rows: one dict per interval (``interval_row``).
        bills_eur: each household's bill over the run.
        retailer_revenue_eur: the retailer's net revenue.
        dso: the DSO agent (revenue, cost recovery).
        ev_sessions, voltage_quality: the end-of-run tables.
        congested_lines: lines above their limit in at least one interval.
        manager_bill_eur: the community manager's bill over the run (0 without one).
        manager_flexibility_eur: what the DSO paid the community manager for flexibility.
    """

    config: Any
    rows: Sequence[dict[str, Any]]
    bills_eur: np.ndarray
    retailer_revenue_eur: float
    dso: Any
    ev_sessions: Any
    voltage_quality: Any
    congested_lines: np.ndarray
    manager_bill_eur: float = 0.0
    manager_flexibility_eur: float = 0.0

    def col(self, name: str) -> np.ndarray:
        """One interval column over the run, as floats (None as NaN)."""
        return rows_column(self.rows, name)

    def energy_kwh(self, name: str, sign: float = 1.0, clip: bool = False) -> float:
        """A feeder-total power column summed over the run, in kWh (``+ 0.0`` turns -0.0 into 0.0).

        ``clip``: only the intervals in which ``sign`` times the column is positive count.
        """
        values = sign * self.col(name)
        return float((values.clip(0.0) if clip else values).sum() * self.config.interval_hours) + 0.0

    @property
    def consumption_kwh(self) -> float:
        """Base load plus EV charging, appliance cycles and heat pumps (battery charging is storage)."""
        base_kwh = float(self.col("base_load_kw").sum() * self.config.interval_hours)
        devices_kwh = self.energy_kwh("ev_kw", -1) + self.energy_kwh("appliance_kw", -1)
        return base_kwh + devices_kwh + self.energy_kwh("heat_pump_kw", -1)

    def phases(self, template: str) -> np.ndarray:
        """(3, n_intervals) of a per-phase column, ``template`` with ``{p}`` for the phase."""
        return np.stack([self.col(template.format(p=p)) for p in PHASES])

    @property
    def congested(self) -> np.ndarray:
        """Intervals in which any line or a transformer phase is above its loading limit."""
        trafo = np.nan_to_num(self.phases("trafo_loading_{p}_percent"), nan=0.0).max(axis=0)
        return (self.col("n_lines_overloaded") > 0) | (trafo > 100.0)


@dataclass(frozen=True)
class RunMetric:
    """One entry of summary.json: how it aggregates a run; ``report``: its label in experiment reports."""

    name: str
    unit: str
    description: str
    aggregate: Callable[[Run], Any]
    report: str | None = None


def _forecast_error(r: Run) -> float | None:
    error = np.abs(r.col("forecast_price_eur_per_kwh") - r.col("mean_local_price_eur_per_kwh"))
    known = np.isfinite(error) & (r.col("local_volume_kwh") > 0)
    return float(error[known].mean()) if known.any() else None


def _mean_price(r: Run) -> float | None:
    volume, price = r.col("local_volume_kwh"), r.col("mean_local_price_eur_per_kwh")
    traded = volume > 0
    return float((price[traded] * volume[traded]).sum() / volume[traded].sum()) if traded.any() else None


def _errors(r: Run) -> list[str]:
    failed = np.flatnonzero(r.col("converged") == 0)[:10]
    return [f"interval {x['interval']}: {x['power_flow_error']}" for x in (r.rows[int(i)] for i in failed)]


def _compliant_share(r: Run) -> float | None:
    vq = r.voltage_quality
    return float(vq.groupby("household").en50160_compliant.all().mean()) if len(vq) else None


def _mean_spread(r: Run) -> float | None:
    spread = r.col("local_price_spread_eur_per_kwh")
    return float(np.nanmean(spread)) if (~np.isnan(spread)).any() else None


def _per_phase_run(template: str, reduce: Callable[[np.ndarray], Any]) -> Callable[[Run], dict[str, Any]]:
    def value(r: Run) -> dict[str, Any]:
        stacked = r.phases(template)
        return {p: reduce(stacked[i]) for i, p in enumerate(PHASES)}

    return value


_R = RunMetric
RUN_METRICS: list[RunMetric] = [
    _R("run_id", "", "hash of the resolved scenario", lambda r: r.config.run_id()),
    _R("intervals", "", "intervals simulated", lambda r: len(r.rows)),
    _R("intervals_planned", "", "intervals the scenario asks for", lambda r: r.config.n_intervals),
    _R(
        "intervals_not_converged",
        "",
        "intervals whose power flow failed",
        lambda r: int((r.col("converged") == 0).sum()),
    ),
    _R("power_flow_errors", "", "the first ten power-flow failures", _errors),
    _R(
        "consumption_kwh",
        "kWh",
        "base load + EV charging + appliance cycles + heat pumps",
        lambda r: r.consumption_kwh,
    ),
    _R(
        "base_load_kwh",
        "kWh",
        "households' base load",
        lambda r: float(r.col("base_load_kw").sum() * r.config.interval_hours),
    ),
    _R("ev_kwh", "kWh", "EV charging", lambda r: r.energy_kwh("ev_kw", -1)),
    _R("appliance_kwh", "kWh", "appliance cycles", lambda r: r.energy_kwh("appliance_kw", -1)),
    _R(
        "heat_pump_kwh",
        "kWh",
        "heat pumps' electricity",
        lambda r: r.energy_kwh("heat_pump_kw", -1),
        "heat pumps' electricity (kWh)",
    ),
    _R(
        "comfort_violation_kh",
        "K h",
        "kelvin-hours indoors below the heat pumps' comfort band (summed over households)",
        lambda r: float(r.col("comfort_violation_kh").sum()),
        "kelvin-hours below the comfort band",
    ),
    _R(
        "tank_violation_kh",
        "K h",
        "kelvin-hours of hot-water tanks below their band (summed over households)",
        lambda r: float(r.col("tank_violation_kh").sum()),
        "kelvin-hours below the tank band",
    ),
    _R(
        "season",
        "",
        "the season the run covers (or year)",
        lambda r: season(r.config.start, r.config.days, r.config.site.latitude_deg),
    ),
    _R("pv_kwh", "kWh", "PV generation", lambda r: float(r.col("pv_kw").sum() * r.config.interval_hours)),
    _R(
        "pv_curtailed_kwh",
        "kWh",
        "PV curtailed",
        lambda r: float(r.col("pv_curtailed_kw").sum() * r.config.interval_hours),
    ),
    _R(
        "battery_charged_kwh",
        "kWh",
        "energy charged into batteries",
        lambda r: float(-np.clip(r.col("battery_kw"), None, 0).sum() * r.config.interval_hours) + 0.0,
    ),
    _R(
        "battery_discharged_kwh",
        "kWh",
        "energy discharged from batteries",
        lambda r: float(np.clip(r.col("battery_kw"), 0, None).sum() * r.config.interval_hours),
        "energy discharged from batteries (kWh)",
    ),
    _R("ev_sessions_ended", "", "EV stays that ended", lambda r: int(len(r.ev_sessions.unmet_kwh.dropna()))),
    _R(
        "ev_unmet_kwh",
        "kWh",
        "EV energy not delivered by departure",
        lambda r: float(r.ev_sessions.unmet_kwh.dropna().sum()),
    ),
    _R(
        "local_traded_kwh",
        "kWh",
        "energy traded locally",
        lambda r: float(r.col("local_volume_kwh").sum()),
        "energy traded locally (kWh)",
    ),
    _R(
        "price_forecast_mae_eur_per_kwh",
        "EUR/kWh",
        "mean absolute error of the local-price forecast over the intervals with local trade",
        _forecast_error,
    ),
    _R(
        "day_ahead_traded_kwh",
        "kWh",
        "energy traded in the day-ahead market",
        lambda r: float(r.col("day_ahead_volume_kwh").sum()),
    ),
    _R(
        "mean_clearing_price_eur_per_kwh",
        "EUR/kWh",
        "volume-weighted mean of the local trades' prices",
        _mean_price,
        "mean local price (EUR/kWh)",
    ),
    _R(
        "retail_import_kwh",
        "kWh",
        "energy bought from the retailer",
        lambda r: float(r.col("retail_import_kwh").sum()),
    ),
    _R(
        "retail_export_kwh",
        "kWh",
        "energy sold to the retailer",
        lambda r: float(r.col("retail_export_kwh").sum()),
    ),
    _R(
        "self_sufficiency",
        "",
        "`1 - retail import / consumption`",
        lambda r: _share(float(r.col("retail_import_kwh").sum()), r.consumption_kwh),
        "self-sufficiency",
    ),
    _R(
        "self_consumption",
        "",
        "`1 - retail export / PV generation`",
        lambda r: _share(
            float(r.col("retail_export_kwh").sum()), float(r.col("pv_kw").sum() * r.config.interval_hours)
        ),
        "self-consumption",
    ),
    _R(
        "community_self_sufficiency",
        "",
        "`1 - community net import / consumption`: the participants' (households' and a community "
        "battery's) net injection summed each interval before it is split into imports",
        lambda r: _share(r.energy_kwh("household_injection_kw", -1.0, clip=True), r.consumption_kwh),
        "community self-sufficiency",
    ),
    _R(
        "community_self_consumption",
        "",
        "`1 - community net export / PV generation`, the net export netted as for the self-sufficiency",
        lambda r: _share(r.energy_kwh("household_injection_kw", clip=True), r.energy_kwh("pv_kw")),
        "community self-consumption",
    ),
    _R(
        "feeder_import_kwh",
        "kWh",
        "energy drawn from the upstream grid",
        lambda r: float(np.nansum(np.clip(r.col("feeder_import_kw"), 0, None)) * r.config.interval_hours),
    ),
    _R(
        "feeder_export_kwh",
        "kWh",
        "energy sent to the upstream grid",
        lambda r: float(np.nansum(np.clip(-r.col("feeder_import_kw"), 0, None)) * r.config.interval_hours),
    ),
    _R(
        "losses_kwh",
        "kWh",
        "active losses",
        lambda r: float(np.nansum(r.col("losses_kw")) * r.config.interval_hours),
        "losses (kWh)",
    ),
    _R(
        "peak_feeder_import_kw",
        "kW",
        "highest feeder import",
        lambda r: _max(r.col("feeder_import_kw")),
        "peak feeder import (kW)",
    ),
    _R(
        "peak_feeder_export_kw",
        "kW",
        "highest feeder export",
        lambda r: _max(-r.col("feeder_import_kw")),
        "peak feeder export (kW)",
    ),
    _R(
        "vm_min_pu",
        "p.u.",
        "lowest voltage per phase",
        _per_phase_run("vm_min_{p}_pu", _min),
        "lowest voltage (p.u.)",
    ),
    _R(
        "vm_max_pu",
        "p.u.",
        "highest voltage per phase",
        _per_phase_run("vm_max_{p}_pu", _max),
        "highest voltage (p.u.)",
    ),
    _R(
        "intervals_with_voltage_violation",
        "",
        "intervals with an LV bus outside the voltage limits",
        lambda r: int(np.nansum(r.col("n_buses_outside_limits") > 0)),
        "intervals with a voltage violation",
    ),
    _R(
        "bus_intervals_outside_limits",
        "",
        "LV buses outside the limits, summed over intervals",
        lambda r: int(np.nansum(r.col("n_buses_outside_limits"))),
    ),
    _R("vuf_max_percent", "%", "highest VUF", lambda r: _max(r.col("vuf_max_percent")), "highest VUF (%)"),
    _R(
        "pvur_max_percent", "%", "highest PVUR", lambda r: _max(r.col("pvur_max_percent")), "highest PVUR (%)"
    ),
    _R(
        "vuf_p95_percent",
        "%",
        "95th percentile over the intervals of each interval's highest VUF",
        lambda r: _p95(r.col("vuf_max_percent")),
        "VUF, 95th percentile over intervals (%)",
    ),
    _R(
        "pvur_p95_percent",
        "%",
        "95th percentile over the intervals of each interval's highest PVUR",
        lambda r: _p95(r.col("pvur_max_percent")),
        "PVUR, 95th percentile over intervals (%)",
    ),
    _R("lvur_max_percent", "%", "highest LVUR", lambda r: _max(r.col("lvur_max_percent"))),
    _R(
        "customer_minutes_outside_limits",
        "min",
        "households whose supply voltage is outside the limits, times minutes",
        lambda r: float(np.nansum(r.col("n_customers_outside_limits"))) * r.config.interval_minutes,
        "customer-minutes outside limits",
    ),
    _R("en50160_compliant_share", "", "households compliant with EN 50160 in every week", _compliant_share),
    _R(
        "min_overvoltage_headroom_pu",
        "p.u.",
        "smallest overvoltage headroom (negative: violated)",
        lambda r: _min(r.col("overvoltage_headroom_pu")),
        "smallest overvoltage headroom (p.u.; negative: violated)",
    ),
    _R(
        "min_undervoltage_headroom_pu",
        "p.u.",
        "smallest undervoltage headroom (negative: violated)",
        lambda r: _min(r.col("undervoltage_headroom_pu")),
    ),
    _R(
        "min_thermal_headroom_percent",
        "%",
        "smallest thermal headroom (negative: violated)",
        lambda r: _min(r.col("thermal_headroom_percent")),
    ),
    _R(
        "trafo_loading_max_percent",
        "%",
        "highest transformer loading per phase",
        _per_phase_run("trafo_loading_{p}_percent", _max),
        "highest transformer phase loading (%)",
    ),
    _R(
        "trafo_unbalance_max_percent",
        "%",
        "highest transformer loading unbalance",
        lambda r: _max(r.col("trafo_unbalance_percent")),
    ),
    _R(
        "line_loading_max_percent",
        "%",
        "highest line loading",
        lambda r: _max(r.col("line_loading_max_percent")),
        "highest line loading (%)",
    ),
    _R(
        "intervals_with_line_overload",
        "",
        "intervals with a line above its limit",
        lambda r: int(np.nansum(r.col("n_lines_overloaded") > 0)),
    ),
    _R(
        "overloaded_line_hours",
        "h",
        "lines above their limit times hours",
        lambda r: float(np.nansum(r.col("n_lines_overloaded")) * r.config.interval_hours),
    ),
    _R(
        "congested_hours",
        "h",
        "hours in which any line or a transformer phase is above its limit",
        lambda r: float(r.congested.sum() * r.config.interval_hours),
        "hours with a line or transformer above its limit",
    ),
    _R(
        "congested_line_share",
        "",
        "lines above their limit in at least one interval, over all lines",
        lambda r: float(r.congested_lines.mean()) if len(r.congested_lines) else None,
        "share of lines above their limit at least once",
    ),
    _R(
        "household_bills_eur",
        "EUR",
        "all households' bills",
        lambda r: float(r.bills_eur.sum()),
        "household bills, all households (EUR)",
    ),
    _R(
        "mean_household_bill_eur",
        "EUR",
        "households' mean bill (the community manager is not a household)",
        lambda r: float(r.bills_eur.mean()) if len(r.bills_eur) else None,
        "mean household bill (EUR)",
    ),
    _R(
        "community_manager_bill_eur",
        "EUR",
        "the community manager's bill for its battery's energy and fees (negative: it earned)",
        lambda r: float(r.manager_bill_eur),
        "community manager's bill (EUR)",
    ),
    _R(
        "community_manager_flexibility_eur",
        "EUR",
        "what the DSO paid the community manager for its battery's flexibility (in its bill; 0 without one)",
        lambda r: float(r.manager_flexibility_eur),
        "community manager's flexibility revenue (EUR)",
    ),
    _R("retailer_revenue_eur", "EUR", "the retailer's net revenue", lambda r: float(r.retailer_revenue_eur)),
    _R(
        "dso_revenue_eur",
        "EUR",
        "network fees received",
        lambda r: float(r.dso.revenue_eur),
        "DSO network fees (EUR)",
    ),
    _R(
        "dso_cost_recovery",
        "",
        "network fees less the DSO's flexibility purchases, over the network's cost for the simulated "
        "hours (`tariff.network_cost_eur_per_household_year` x households, without the community manager)",
        lambda r: r.dso.cost_recovery(len(r.rows) * r.config.interval_hours),
    ),
    _R(
        "curtailed_export_kwh",
        "kWh",
        "export the constraint mode cut",
        lambda r: float(r.col("curtailed_export_kwh").sum()),
        "export curtailed by the DSO (kWh)",
    ),
    _R(
        "curtailed_import_kwh",
        "kWh",
        "import the constraint mode cut",
        lambda r: float(r.col("curtailed_import_kwh").sum()),
        "import curtailed by the DSO (kWh)",
    ),
    _R(
        "curtailment_cost_eur",
        "EUR",
        "cut energy valued at the limit prices of the households that gave it up",
        lambda r: float(r.col("curtailment_cost_eur").sum()),
        "welfare lost to curtailment (EUR)",
    ),
    _R(
        "overload_kwh",
        "kVAh",
        "energy above the limits: overload_kva over the run (an overload on several elements counts on each)",
        lambda r: float(np.nansum(r.col("overload_kva")) * r.config.interval_hours),
        "overload energy (kVAh)",
    ),
    _R(
        "flexibility_kwh",
        "kWh",
        "flexibility the DSO bought before delivery",
        lambda r: float(r.col("flexibility_kwh").sum()),
        "flexibility bought by the DSO (kWh)",
    ),
    _R(
        "flexibility_cost_eur",
        "EUR",
        "what the DSO paid for flexibility",
        lambda r: float(r.col("flexibility_cost_eur").sum()),
        "DSO flexibility cost (EUR)",
    ),
    _R(
        "flexibility_shortfall_kwh",
        "kWh",
        "relief the flexibility market could not buy, over the run",
        lambda r: float(np.nansum(r.col("flexibility_shortfall_kw")) * r.config.interval_hours),
    ),
    _R(
        "flexibility_unknown_intervals",
        "",
        "intervals whose flexibility forecast power flow did not converge (shortfall unknown)",
        lambda r: int(np.isnan(r.col("flexibility_shortfall_kw")).sum()),
    ),
    # the example of README "Add a metric"
    _R(
        "mean_local_price_spread_eur_per_kwh",
        "EUR/kWh",
        "mean over the intervals with trade of the local price spread",
        _mean_spread,
    ),
]


def summarise_run(run: Run) -> dict[str, Any]:
    """summary.json: every registered run metric."""
    return {m.name: m.aggregate(run) for m in RUN_METRICS}


# what the sweep runner adds to each run's record besides the summary
RUNNER_METRICS: dict[str, str] = {"duration_s": "run time (s)"}


def report_metrics() -> dict[str, str]:
    """The experiments' headline metrics and their labels: labelled run metrics, then the runner's."""
    return {**{m.name: m.report for m in RUN_METRICS if m.report is not None}, **RUNNER_METRICS}


def readme_table() -> str:
    """The README's table of every registered metric (``tests/test_metrics_registry.py`` keeps them equal)."""
    lines = ["| metric | table | unit | definition |", "|---|---|---|---|"]
    lines += [f"| `{m.name}` | intervals | {m.unit} | {m.description} |" for m in INTERVAL_METRICS]
    lines += [f"| `{m.name}` | summary | {m.unit} | {m.description} |" for m in RUN_METRICS]
    return "\n".join(lines)
