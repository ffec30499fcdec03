"""The DSO agent: enforces the grid's limits, runs the DSO's controls and collects the network fees.

The model asks; the DSO acts:
- ``enforce``: the market's constraint mode (:mod:`model.constraints`) turns the
  households' reported positions into export and import cuts;
- ``switch_phases``: greedy phase switching of switchable households when the
  previous interval's unbalance exceeded the trigger (:func:`grid.controls.choose_phase_switches`);
- ``operate``: the interval's power flow, with PV inverters following volt-var and
  volt-watt droops if enabled (:func:`grid.controls.solve_with_inverters`);
- ``collect``: network fees and curtailed energy, for revenue and cost recovery;
- ``flexibility``: with ``dso.flexibility.enabled``, the local flexibility market it runs
  before delivery (:mod:`model.flexibility`); ``pay_flexibility`` books what it bought.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from lemgrid.grid.controls import Droop, choose_phase_switches, solve_with_inverters
from lemgrid.grid.feeders import PHASES
from lemgrid.grid.state import GridState, PowerFlowSolver
from lemgrid.model.constraints import ConstraintMethod, Curtailment, Request
from lemgrid.model.flexibility import FlexibilityMarket, Procurement, flexibility_market

if TYPE_CHECKING:
    from mesa import Model


@dataclass(frozen=True)
class Operated:
    """One interval's power flow as the DSO ran it.

    Attributes:
        state: the solved grid.
        p_kw, q_kvar: (n, 3) injections per household and phase, PV after its inverter.
        pv_kw: PV output after the inverters' volt-watt curtailment.
        inverter_q_kvar: reactive power of each PV inverter (volt-var).
        iterations: power flows the inverter controls took (1 without them).
        controlled: whether inverter droops were on (PV may then be curtailed).
    """

    state: GridState
    p_kw: np.ndarray
    q_kvar: np.ndarray
    pv_kw: np.ndarray
    inverter_q_kvar: np.ndarray
    iterations: int
    controlled: bool


@dataclass(frozen=True)
class Controls:
    """The DSO's control settings: inverter droops and phase switching (from the scenario's ``dso``)."""

    volt_var: Droop | None
    volt_watt: Droop | None
    inverter_max_iterations: int
    inverter_tolerance_kw: float
    switching_enabled: bool
    vuf_trigger_percent: float
    max_switches_per_interval: int

    @classmethod
    def from_scenario(cls, dso: Any) -> "Controls":
        """The controls a scenario's ``dso`` section sets."""
        return cls(
            Droop(tuple(dso.volt_var.v_pu), tuple(dso.volt_var.y)) if dso.volt_var.enabled else None,
            Droop(tuple(dso.volt_watt.v_pu), tuple(dso.volt_watt.y)) if dso.volt_watt.enabled else None,
            dso.inverter_max_iterations,
            dso.inverter_tolerance_kw,
            dso.phase_switching.enabled,
            dso.phase_switching.vuf_trigger_percent,
            dso.phase_switching.max_switches_per_interval,
        )


class DSO(mesa.Agent):
    """The distribution system operator of the feeder.

    It is paid the network tariff's fees and enforces limits through the
    market's constraint mode (:mod:`model.constraints`). Its revenue is
    compared with the network's cost over the simulated time.

    Attributes:
        revenue_eur: network fees received so far.
        network_cost_eur_per_year: what the feeder costs the DSO per year.
        curtailed_export_kwh, curtailed_import_kwh: energy the constraint mode has cut so far.
        last_vuf_percent: the highest VUF of the last interval (None before the first).
        flexibility: the DSO's flexibility market (None unless the scenario enables it).
        flexibility_cost_eur: flexibility paid for so far.
    """

    def __init__(
        self,
        model: "Model",
        network_cost_eur_per_year: float,
        controls: Controls | None = None,
        constraint_method: ConstraintMethod | None = None,
        solver: PowerFlowSolver | None = None,
    ) -> None:
        super().__init__(model)
        self.network_cost_eur_per_year = network_cost_eur_per_year
        self.revenue_eur = 0.0
        self.curtailed_export_kwh = 0.0
        self.curtailed_import_kwh = 0.0
        self.controls = controls
        self.constraint_method = constraint_method
        self.solver = solver
        self.last_vuf_percent: float | None = None
        self.flexibility_cost_eur = 0.0
        cfg = getattr(model, "config", None)
        self.flexibility: FlexibilityMarket | None = None
        if cfg is not None and cfg.dso.flexibility.enabled and solver is not None:
            self.flexibility = flexibility_market(cfg, model.feeder, model.tree, solver.solve)  # type: ignore[attr-defined]

    @property
    def constraint_mode(self) -> str:
        """The market's constraint mode (``none`` when the DSO does not enforce limits in the market)."""
        return "none" if self.constraint_method is None else self.constraint_method.mode

    def enforce(self, request: Request, hours: float) -> Curtailment:
        """Export and import cuts that keep the grid within limits, valued at the households' limit prices."""
        assert self.constraint_method is not None
        return self.constraint_method.curtail(request).valued(request, hours)

    def switch_phases(
        self,
        net_injection_kw: np.ndarray,
        ev_kw: np.ndarray,
        ev_three_phase: np.ndarray,
        phase_col: np.ndarray,
        switchable: np.ndarray,
        households: Iterable[Any],
    ) -> int:
        """Phase switching before delivery, on the interval's scheduled injections.

        It acts when the previous interval's VUF exceeded the trigger (and in the
        first interval, when nothing is known yet). Moves households by changing
        ``phase_col`` in place and their ``phase``; returns how many moved.
        """
        c = self.controls
        last = self.last_vuf_percent
        if c is None or not c.switching_enabled or (last is not None and not last > c.vuf_trigger_percent):
            return 0
        ev3 = np.where(ev_three_phase, ev_kw, 0.0)
        moves = choose_phase_switches(
            net_injection_kw - ev3, phase_col, switchable, c.max_switches_per_interval
        )
        for h, phase in moves:
            phase_col[h] = phase
        for household in households:
            household.phase = PHASES[phase_col[household.index]]
        return len(moves)

    def operate(
        self,
        p_other_kw: np.ndarray,
        q_other_kvar: np.ndarray,
        pv_kw: np.ndarray,
        inverter_kva: np.ndarray,
        bus_pos: np.ndarray,
        phase_col: np.ndarray,
    ) -> Operated:
        """Solve the interval's power flow; PV inverters follow the droops if any is enabled."""
        assert self.controls is not None and self.solver is not None
        c = self.controls
        rows = np.arange(len(phase_col))
        q_inverter = np.zeros_like(pv_kw)
        iterations = 1
        inverter_control = c.volt_var is not None or c.volt_watt is not None
        if inverter_control:
            result = solve_with_inverters(
                self.solver,
                p_other_kw,
                q_other_kvar,
                pv_kw,
                inverter_kva,
                bus_pos,
                phase_col,
                c.volt_var,
                c.volt_watt,
                c.inverter_max_iterations,
                c.inverter_tolerance_kw,
            )
            state, q_inverter, iterations, pv_kw = (
                result.state,
                result.q_kvar,
                result.iterations,
                result.pv_kw,
            )
        p_kw = p_other_kw.copy()
        q_kvar = q_other_kvar.copy()
        p_kw[rows, phase_col] += pv_kw
        q_kvar[rows, phase_col] += q_inverter
        if not inverter_control:
            state = self.solver.solve(p_kw, q_kvar)
        return Operated(state, p_kw, q_kvar, pv_kw, q_inverter, iterations, inverter_control)

    def observe(self, vuf_max_percent: float | None) -> None:
        """Remember the interval's highest VUF (the phase-switching trigger)."""
        self.last_vuf_percent = vuf_max_percent

    def collect(
        self, fees_eur: float, export_cut_kw: np.ndarray, import_cut_kw: np.ndarray, hours: float
    ) -> None:
        """Book one interval's network fees and the energy its cuts took off exports and imports."""
        self.revenue_eur += fees_eur
        self.curtailed_export_kwh += float(export_cut_kw.sum() * hours)
        self.curtailed_import_kwh += float(import_cut_kw.sum() * hours)

    def pay_flexibility(self, bought: Procurement) -> None:
        """Book one interval's flexibility purchase: its cost."""
        self.flexibility_cost_eur += bought.cost_eur

    def cost_recovery(self, hours: float) -> float | None:
        """Fees less flexibility bought, over the network's cost for ``hours`` (None if it costs nothing)."""
        cost = self.network_cost_eur_per_year * hours / 8760
        return (self.revenue_eur - self.flexibility_cost_eur) / cost if cost > 0 else None
