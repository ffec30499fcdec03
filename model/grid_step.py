"""Stage 5, grid: the DSO may switch phases, then runs the three-phase power flow (with its inverter droops).

Every household's injection goes on its bus and phase; PV is set last, by its
inverter. The solved grid is reduced to the interval's metrics, and the
customers' supply voltages feed the run's voltage-quality check.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lemgrid.agents.dso import DSO, Operated
from lemgrid.agents.household import Household
from lemgrid.grid.congestion import CongestionLog, PhaseRatings
from lemgrid.grid.metrics import IntervalMetrics, VoltageQuality, interval_metrics
from lemgrid.model.dispatch import Columns
from lemgrid.model.interval import Connections, Interval, injections, reactive


@dataclass(frozen=True)
class Network:
    """The feeder as the grid stage sees it: connections, inverter ratings, LV buses and limits."""

    where: Connections
    switchable: np.ndarray  # households whose phase the DSO may switch
    inverter_kva: np.ndarray
    lv_bus_pos: np.ndarray | slice  # a slice when the LV buses are consecutive (a view, not a copy)
    v_min_pu: float
    v_max_pu: float
    line_loading_limit_percent: float
    ratings: PhaseRatings | None = None  # per-phase ratings, for the overload energy


@dataclass
class RunMeasures:
    """What the grid stage accumulates over a run: EN 50160 check, lines ever above limit, congestion log.

    ``customers``: the rows whose supply voltage the EN 50160 check counts (the households, not the
    community manager's battery).
    """

    voltage_quality: VoltageQuality
    congested_lines: np.ndarray
    congestion: CongestionLog
    customers: np.ndarray


@dataclass(frozen=True)
class GridResult:
    """The interval's power flow and what was measured.

    Attributes:
        operated: the power flow as the DSO ran it.
        columns: the per-household columns, PV after the inverters, with
            ``inverter_q_kvar`` and ``vm_pu`` (supply voltage) added.
        phases_used: each household's phase column in this interval.
        phase_switches: how many households the DSO moved.
        metrics: the interval's grid metrics.
        overload_kva: apparent power above the limits over all lines and transformer phases.
        customers: the rows that are customers (households; not the community manager's battery).
    """

    operated: Operated
    columns: Columns
    phases_used: np.ndarray
    phase_switches: int
    metrics: IntervalMetrics
    overload_kva: float = 0.0
    customers: np.ndarray | None = None


def grid_step(
    columns: Columns,
    iv: Interval,
    dso: DSO,
    households: Sequence[Household],
    network: Network,
    measures: RunMeasures,
) -> GridResult:
    """Phase switching, power flow with inverter controls, metrics; updates the run's measures."""
    where = network.where
    switches = dso.switch_phases(
        columns["net_injection_kw"],
        columns["ev_kw"],
        where.ev_three_phase,
        where.phase_col,
        network.switchable,
        households,
    )
    phases_used = where.phase_col.copy()
    # everything but PV: PV's share is set (and maybe curtailed) by the inverters
    p_other = injections(
        columns["net_injection_kw"] - columns["pv_kw"], columns["ev_kw"], where, columns["heat_pump_kw"]
    )
    pv = columns["pv_kw"]
    q_other = reactive(iv.load_kvar, where)
    operated = dso.operate(p_other, q_other, pv, network.inverter_kva, where.bus_pos, where.phase_col)
    if operated.controlled:
        curtailed = pv - operated.pv_kw
        columns = {
            **columns,
            "pv_kw": operated.pv_kw,
            "pv_curtailed_kw": columns["pv_curtailed_kw"] + curtailed,
            "net_injection_kw": columns["net_injection_kw"] - curtailed,
        }
    columns = {**columns, "inverter_q_kvar": operated.inverter_q_kvar}
    state = operated.state
    metrics = interval_metrics(
        state, network.lv_bus_pos, network.v_min_pu, network.v_max_pu, network.line_loading_limit_percent
    )
    supply_vm = state.vm_pu[where.bus_pos, phases_used]
    measures.voltage_quality.add(iv.t0_s, iv.t1_s, supply_vm[measures.customers])
    measures.congested_lines |= state.line_loading_percent > network.line_loading_limit_percent
    measures.congestion.add(iv.t0_s, iv.t1_s, state.line_loading_percent, state.trafo_loading_percent)
    dso.observe(metrics.vuf_max_percent)
    overload = (
        network.ratings.overload_kva(
            state.line_loading_percent, state.trafo_loading_percent, network.line_loading_limit_percent
        )
        if network.ratings is not None
        else 0.0
    )
    columns = {**columns, "vm_pu": supply_vm}
    return GridResult(operated, columns, phases_used, switches, metrics, overload, measures.customers)
