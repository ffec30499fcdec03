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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lemgrid.grid.feeders import PHASES

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
    return int(((vm < o.v_min_pu) | (vm > o.v_max_pu)).sum())


def _price_spread(o: "Outcome") -> float:
    prices = [t.price_eur_per_kwh for t in o.cleared.clearing.trades if t.energy_kwh > 0]
    return float(max(prices) - min(prices)) if prices else np.nan


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
    _M("local_volume_kwh", "kWh", F64, "energy traded locally", lambda o: o.cleared.clearing.volume_kwh),
    _M(
        "n_trades",
        "",
        I32,
        "local trades delivering energy",
        lambda o: sum(t.energy_kwh > 0 for t in o.cleared.clearing.trades),
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
