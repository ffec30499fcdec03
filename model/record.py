"""Stage 7, record: one row per interval (and per household, trade, cut, zone and bus) to the recorder.

The interval row's columns are the entries of :data:`model.metrics.INTERVAL_METRICS`,
each computed from the interval's :class:`Outcome`; the other tables are
written here, column by column as :data:`model.recorder.SCHEMAS` names them.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from lemgrid.grid.feeders import PHASES
from lemgrid.grid.state import GridState
from lemgrid.model.clear import Cleared
from lemgrid.model.decide import Decided
from lemgrid.model.dispatch import Columns
from lemgrid.model.grid_step import GridResult
from lemgrid.model.interval import Interval
from lemgrid.model.recorder import Recorder
from lemgrid.model.settle import Settled
from lemgrid.model.trades import Trade, trade_columns


@dataclass(frozen=True)
class Outcome:
    """Everything one interval produced, as the record stage and the metric registry read it.

    Attributes:
        k: interval number; time: its start (UTC, naive).
        hours: interval length.
        cleared, grid, settled: the results of the clear, grid and settle stages.
        columns: the per-household columns (devices, voltages, money, strategy).
        v_min_pu, v_max_pu: the voltage limits.
    """

    k: int
    time: np.datetime64
    hours: float
    cleared: Cleared
    grid: GridResult
    settled: Settled
    columns: Columns
    v_min_pu: float
    v_max_pu: float

    @property
    def state(self) -> GridState:
        """The interval's solved grid."""
        return self.grid.operated.state


def outcome(
    iv: Interval,
    time: np.datetime64,
    decided: Decided,
    cleared: Cleared,
    grid: GridResult,
    settled: Settled,
    actions: np.ndarray,
    v_min_pu: float,
    v_max_pu: float,
) -> Outcome:
    """The interval's outcome, with the per-household columns the stages produced."""
    cut = cleared.cut
    columns = {
        **settled.columns,
        "action": actions,
        "reported_net_kwh": decided.reported_kwh,
        "curtailed_export_kwh": cut.export_kw * iv.hours,
        "curtailed_import_kwh": cut.import_kw * iv.hours,
        **flexibility_columns(cleared, iv.hours),
    }
    return Outcome(iv.k, time, iv.hours, cleared, grid, settled, columns, v_min_pu, v_max_pu)


def flexibility_columns(cleared: Cleared, hours: float) -> dict[str, np.ndarray]:
    """Per household: flexibility sold to the DSO (kWh, both directions) and what the DSO paid (EUR)."""
    bought = cleared.flexibility
    n = len(cleared.cut.export_kw)
    if bought is None:
        return {"flexibility_kwh": np.zeros(n), "flexibility_payment_eur": np.zeros(n)}
    return {
        "flexibility_kwh": (bought.down_kw + bought.up_kw) * hours,
        "flexibility_payment_eur": bought.payment_eur,
    }


@dataclass(frozen=True)
class Output:
    """What the recorder writes besides the interval rows: household names, buses whose voltages it keeps."""

    names: np.ndarray
    bus_ids: np.ndarray
    recorded_bus_pos: np.ndarray


def record(recorder: Recorder, out: Outcome, row: dict[str, Any], output: Output) -> None:
    """Queue the interval's rows in every table the recorder writes; end the interval."""
    recorder.add("intervals", row)  # scalars: a block of one row
    recorder.add("households", _households(out, output.names))
    trades = out.cleared.clearing.trades
    if trades:
        recorder.add("trades", _trades(out, output.names))
    day_ahead = out.cleared.day_ahead
    if day_ahead is not None and day_ahead.trades and "day_ahead_trades" in recorder.tables:
        recorder.add("day_ahead_trades", _day_ahead_trades(out, output.names, len(trades)))
    cut = out.cleared.cut
    cut_households = np.flatnonzero((cut.export_kw > 0) | (cut.import_kw > 0))
    if len(cut_households):
        recorder.add(
            "curtailments",
            {
                "interval": out.k,
                "household": output.names[cut_households],
                "export_kwh": cut.export_kw[cut_households] * out.hours,
                "import_kwh": cut.import_kw[cut_households] * out.hours,
                "reason": np.array([cut.reason[h] for h in cut_households], dtype=object),
            },
        )
    zone_prices = out.cleared.clearing.zone_prices
    if zone_prices and "zone_prices" in recorder.tables:
        zones = sorted(zone_prices)
        prices = [np.nan if zone_prices[z] is None else zone_prices[z] for z in zones]
        recorder.add(
            "zone_prices", {"interval": out.k, "zone": np.array(zones), "price_eur_per_kwh": np.array(prices)}
        )
    pos = output.recorded_bus_pos
    if len(pos):
        recorder.add(
            "bus_voltages",
            {
                "interval": out.k,
                "bus": np.repeat(output.bus_ids[pos], 3),
                "phase": np.tile(np.array(PHASES, dtype=object), len(pos)),
                "vm_pu": out.state.vm_pu[pos].ravel(),
                "va_degree": out.state.va_degree[pos].ravel(),
            },
        )
    recorder.end_interval()


def _households(out: Outcome, names: np.ndarray) -> dict[str, Any]:
    """The households table's block for the interval."""
    settlement = out.settled.settlement
    p_kw = out.grid.operated.p_kw
    return {
        "interval": out.k,
        "household": names,
        "phase": np.array(PHASES, dtype=object)[out.grid.phases_used],
        **out.columns,
        **{f"net_injection_{p}_kw": p_kw[:, i] for i, p in enumerate(PHASES)},
        "q_injection_kvar": out.grid.operated.q_kvar.sum(axis=1),
        "bought_local_kwh": settlement.bought_local_kwh,
        "sold_local_kwh": settlement.sold_local_kwh,
        "bought_retail_kwh": settlement.bought_retail_kwh,
        "sold_retail_kwh": settlement.sold_retail_kwh,
        "local_payment_eur": settlement.local_payment_eur,
        "retail_payment_eur": settlement.retail_payment_eur,
        "network_fee_eur": settlement.network_fee_eur,
        "bill_eur": settlement.bill_eur,
    }


def _trades(out: Outcome, names: np.ndarray) -> dict[str, Any]:
    """The trades table's block for the interval: the interval market's trades (settled first)."""
    trades = out.cleared.clearing.trades
    cuts = [out.cleared.trade_cuts.get(i, (0.0, "")) for i in range(len(trades))]
    return {
        **_trade_columns(out, names, trades, 0),
        "curtailed_kwh": np.array([c[0] for c in cuts]),
        "curtailment_reason": np.array([c[1] for c in cuts], dtype=object),
    }


def _day_ahead_trades(out: Outcome, names: np.ndarray, first: int) -> dict[str, Any]:
    """The day-ahead trades of the interval, settled after the interval market's ``first`` trades."""
    assert out.cleared.day_ahead is not None
    return _trade_columns(out, names, out.cleared.day_ahead.trades, first)


def _trade_columns(out: Outcome, names: np.ndarray, trades: list[Trade], first: int) -> dict[str, Any]:
    """Who traded what at which price, with each trade's fee and losses (settled from position ``first``)."""
    settled = slice(first, first + len(trades))
    buyer, seller, kwh, price = trade_columns(trades)
    return {
        "interval": out.k,
        "buyer": names[buyer],
        "seller": names[seller],
        "energy_kwh": kwh,
        "price_eur_per_kwh": price,
        "network_fee_eur": out.settled.trade_fees_eur[settled],
        "loss_allocation_kwh": out.settled.trade_losses_kwh[settled],
    }
