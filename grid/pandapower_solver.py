"""Reference backend: pandapower's ``runpp_3ph`` (sequence-component Newton-Raphson)."""

import copy

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import LoadflowNotConverged

from lemgrid.grid.feeders import Feeder
from lemgrid.grid.state import GridState

_P_COLS = ["p_a_mw", "p_b_mw", "p_c_mw"]
_Q_COLS = ["q_a_mvar", "q_b_mvar", "q_c_mvar"]


class PandapowerSolver:
    """Reference backend: ``pandapower.runpp_3ph`` on a private copy of the net.

    Each household is one ``asymmetric_load`` at its bus; an injection is
    written as a negative load, so ``p_kw`` keeps lemgrid's sign convention.
    """

    name = "pandapower"
    # Tighter than pandapower's 1e-8 MVA default: at 1e-8 the active-power balance of
    # the IEEE European LV feeder left ~8 W (of ~70 W losses) unaccounted at load buses,
    # at 1e-10 about 2 W, for ~5 % more solve time.
    tolerance_mva = 1e-10

    def __init__(self, feeder: Feeder, max_iteration: int = 30) -> None:
        self.feeder = feeder
        self.max_iteration = max_iteration
        self.net = copy.deepcopy(feeder.net)
        for bus, name in zip(feeder.households.bus, feeder.households.household, strict=True):
            pp.create_asymmetric_load(self.net, bus=int(bus), name=str(name))
        self._n_bus = len(self.net.bus)
        self._n_line = len(self.net.line)
        self._n_trafo = len(self.net.trafo)

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
        """Run ``runpp_3ph`` for injections ``p_kw``/``q_kvar`` of shape (n_households, 3)."""
        loads = self.net.asymmetric_load
        for k in range(3):
            loads[_P_COLS[k]] = -p_kw[:, k] / 1000.0
            loads[_Q_COLS[k]] = -q_kvar[:, k] / 1000.0
        try:
            pp.runpp_3ph(self.net, max_iteration=self.max_iteration, tolerance_mva=self.tolerance_mva)
        except LoadflowNotConverged as exc:
            return GridState.failed(
                f"runpp_3ph did not converge in {self.max_iteration} iterations: {exc}",
                self._n_bus,
                self._n_line,
                self._n_trafo,
            )
        return self._state()

    def solve_batch(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[GridState]:
        """One ``runpp_3ph`` per case (pandapower has no batch mode for three-phase flows)."""
        return [self.solve(p, q) for p, q in zip(p_kw, q_kvar, strict=True)]

    def _trafo_side_loading(self, trafo: pd.DataFrame) -> np.ndarray:
        """(n_trafo, side, phase) loading of each side's phase current, as pandapower's per-phase loading."""
        t = self.net.trafo
        sides = []
        for side, vn in (("hv", t.vn_hv_kv.to_numpy()), ("lv", t.vn_lv_kv.to_numpy())):
            i_ka = trafo[[f"i_{p}_{side}_ka" for p in "abc"]].to_numpy()
            sides.append(i_ka * vn[:, None] * np.sqrt(3) / t.sn_mva.to_numpy()[:, None] * 100.0)
        rating = (t.parallel.to_numpy() * t.df.to_numpy())[:, None, None]
        return np.stack(sides, axis=1) / rating

    def _state(self) -> GridState:
        net = self.net
        bus = net.res_bus_3ph
        line = net.res_line_3ph
        trafo = net.res_trafo_3ph
        line_losses_kw = line[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum(axis=1) * 1000.0
        trafo_losses_kw = trafo[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum(axis=1) * 1000.0
        ext_mw = net.res_ext_grid_3ph[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy().sum()
        return GridState(
            converged=True,
            error="",
            vm_pu=bus[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(),
            va_degree=bus[["va_a_degree", "va_b_degree", "va_c_degree"]].to_numpy(),
            line_loading_percent=line["loading_percent"].to_numpy(),
            line_phase_loading_percent=line[
                ["loading_a_percent", "loading_b_percent", "loading_c_percent"]
            ].to_numpy(),
            trafo_loading_percent=trafo[
                ["loading_a_percent", "loading_b_percent", "loading_c_percent"]
            ].to_numpy(),
            trafo_side_loading_percent=self._trafo_side_loading(trafo),
            losses_kw=float(line_losses_kw.sum() + trafo_losses_kw.sum()),
            ext_grid_import_kw=float(ext_mw) * 1000.0,
            line_p_from_kw=line[["p_a_from_mw", "p_b_from_mw", "p_c_from_mw"]].to_numpy().sum(axis=1)
            * 1000.0,
            trafo_p_hv_kw=trafo[["p_a_hv_mw", "p_b_hv_mw", "p_c_hv_mw"]].to_numpy().sum(axis=1) * 1000.0,
            line_losses_kw=line_losses_kw,
            trafo_losses_kw=trafo_losses_kw,
        )
