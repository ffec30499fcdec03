"""Fast backend: power-grid-model's asymmetric power flow, built once, updated per interval.

The feeder is converted once (power-grid-model-io's pandapower converter);
each interval only the households' loads are updated. ``solve_batch`` hands
many independent injection sets to power-grid-model's batch calculation.
Cross-validated against ``runpp_3ph`` in ``tests/test_solvers.py``.
"""

import copy
import logging
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
from power_grid_model import (
    CalculationMethod,
    CalculationType,
    ComponentType,
    DatasetType,
    PowerGridModel,
    initialize_array,
)
from power_grid_model.errors import PowerGridError
from power_grid_model_io.converters import PandaPowerConverter

from lemgrid.grid.feeders import Feeder
from lemgrid.grid.state import GridState, as_slice

# power-grid-model's core, called directly (:class:`_Prepared`); these calls are private, so where the
# installed version lacks them an interval is solved through the public ones (:class:`_Public`)
try:
    from power_grid_model._core.data_handling import prepare_output_view, prepare_update_view
    from power_grid_model._core.error_handling import assert_no_error
    from power_grid_model._core.power_grid_core import ConstDatasetPtr
    from power_grid_model._core.power_grid_core import get_power_grid_core as get_pgc

    _CORE = hasattr(PowerGridModel, "_construct_output") and hasattr(PowerGridModel, "_options")
except ImportError:
    _CORE = False

# only what GridState needs: less to allocate and copy per case
_OUTPUTS: dict[ComponentType, Any] = {
    ComponentType.node: ["u_pu", "u_angle"],
    ComponentType.line: ["i_from", "i_to", "p_from", "p_to"],
    ComponentType.transformer: ["i_from", "i_to", "p_from", "p_to"],
    ComponentType.source: ["p"],
}
# iterative current first (fast for radial LV feeders), Newton-Raphson when it does not converge
_METHODS = (CalculationMethod.iterative_current, CalculationMethod.newton_raphson)


def _write_loads(update: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray) -> None:
    """The households' injections (kW, kvar) as power-grid-model loads: consumption positive, in W."""
    update["p_specified"] = -p_kw * 1000.0
    update["q_specified"] = -q_kvar * 1000.0


class _Prepared:
    """One interval's power flow through power-grid-model's core, every buffer and option set up once.

    ``PowerGridModel.update`` and ``calculate_power_flow`` build the options, the
    output arrays and their views on every call (0.6 of 1.9 ms per solve on the
    IEEE feeder); here the update array, the columnar outputs and one options
    object per method are made once and the core is called directly. The same
    core calculation on the same inputs: results are identical (``tests/test_solvers.py``).
    """

    def __init__(self, model: PowerGridModel, n_loads: int, load_ids: np.ndarray, options: list[Any]) -> None:
        self.model = model
        self.update = initialize_array(DatasetType.update, ComponentType.asym_load, n_loads)
        self.update["id"] = load_ids
        self._update_view = prepare_update_view({ComponentType.asym_load: self.update})
        self.output = model._construct_output(  # columnar: only the attributes GridState needs are written
            output_component_types=_OUTPUTS,
            calculation_type=CalculationType.power_flow,
            symmetric=False,
            is_batch=False,
            batch_size=1,
        )
        self._output_view = prepare_output_view(self.output, DatasetType.asym_output)
        self._options = options  # one per calculation method, tried in order

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> dict:
        """Update the loads (injections in kW, kvar) and solve; the next call overwrites the outputs."""
        _write_loads(self.update, p_kw, q_kvar)
        core, model = get_pgc(), self.model._model
        core.update_model(model, self._update_view.get_dataset_ptr())
        assert_no_error()
        last: PowerGridError | None = None
        for options in self._options:
            core.calculate(model, options.opt, self._output_view.get_dataset_ptr(), ConstDatasetPtr())
            try:
                assert_no_error()
                return self.output
            except PowerGridError as exc:
                last = exc
        raise last  # type: ignore[misc]


class _Public:
    """One interval's power flow through power-grid-model's public ``update`` and ``calculate_power_flow``.

    Where the installed power-grid-model lacks the private core calls :class:`_Prepared` uses;
    the same core calculation, so the same results (``tests/test_solvers.py``).
    """

    def __init__(self, solver: "PowerGridModelSolver") -> None:
        self.solver = solver

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> dict:
        """Update the loads (injections in kW, kvar) and solve."""
        solver = self.solver
        solver.model.update(update_data={ComponentType.asym_load: solver._update(p_kw, q_kvar)})
        return solver._calculate(None, threading=-1)


class PowerGridModelSolver:
    """power-grid-model backend.

    It tries the iterative-current method first (fast for radial LV feeders)
    and falls back to Newton-Raphson when that does not converge.
    """

    name = "power_grid_model"
    # Largest voltage update at convergence. Measured on the IEEE European LV feeder (96
    # random intervals) against a 1e-11 Newton-Raphson reference: 1e-5 leaves at most
    # 6.1e-7 p.u. error (0.14 mV), 1e-6 5.8e-8 p.u. at 13 % more time, 1e-8 5.2e-10 p.u.
    # at 40 % more; all far inside the 1e-4 p.u. cross-validation against runpp_3ph.
    tolerance_pu = 1e-5

    def __init__(self, feeder: Feeder, max_iteration: int = 30) -> None:
        self.feeder = feeder
        self.max_iteration = max_iteration
        net = copy.deepcopy(feeder.net)
        for bus, name in zip(feeder.households.bus, feeder.households.household, strict=True):
            pp.create_asymmetric_load(net, bus=int(bus), name=str(name))
        # power-grid-model derives a transformer's zero-sequence data from its vector group;
        # pandapower's split of the zero-sequence leakage has no counterpart (and no effect
        # with the open magnetising branch lemgrid's feeders use), so it is left out.
        net.trafo["si0_hv_partial"] = np.nan
        converter = PandaPowerConverter(system_frequency=50.0, log_level=logging.ERROR)
        data, _ = converter.load_input_data(net)
        self.model = PowerGridModel(data, system_frequency=50.0)

        def ids(table: str, index: pd.Index) -> np.ndarray:
            return np.array([converter.get_id(table, int(i)) for i in index])  # type: ignore[call-overload]

        def order(component: ComponentType, table: str) -> np.ndarray | slice:
            """Where each of the feeder's elements is in power-grid-model's outputs (a slice if in order)."""
            pos = {int(pgm): k for k, pgm in enumerate(data[component]["id"])}
            return as_slice(np.array([pos[i] for i in ids(table, net[table].index)], dtype=int))

        self._node_order = order(ComponentType.node, "bus")
        self._line_order = order(ComponentType.line, "line")
        self._trafo_order = order(ComponentType.transformer, "trafo")
        self._load_ids = ids("asymmetric_load", net.asymmetric_load.index)
        line = net.line
        self._line_i_max_a = (line.max_i_ka * line.df * line.parallel).to_numpy() * 1000.0
        trafo = data[ComponentType.transformer][self._trafo_order]
        self._trafo_u = np.stack([trafo["u1"], trafo["u2"]], axis=1)  # V, per transformer
        self._trafo_sn_va = (trafo["sn"] * net.trafo.parallel.to_numpy() * net.trafo.df.to_numpy()).astype(
            float
        )
        self._shape = (len(net.bus), len(net.line), len(net.trafo))
        self._single: _Prepared | _Public
        try:
            self._single = self._prepared() if _CORE else _Public(self)
        except (AttributeError, TypeError):  # the private calls are not what they were
            self._single = _Public(self)

    def _prepared(self) -> _Prepared:
        """The direct core call for one interval, one options object per calculation method."""
        options = [
            self.model._options(
                calculation_type=CalculationType.power_flow,
                symmetric=False,
                error_tolerance=self.tolerance_pu,
                max_iterations=self.max_iteration,
                calculation_method=method,
                threading=-1,
            )
            for method in _METHODS
        ]
        return _Prepared(self.model, len(self._load_ids), self._load_ids, options)

    def _update(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
        batch = p_kw.shape[:-2]
        upd = initialize_array(DatasetType.update, ComponentType.asym_load, (*batch, len(self._load_ids)))
        upd["id"] = self._load_ids
        _write_loads(upd, p_kw, q_kvar)
        return upd

    def _calculate(self, update: np.ndarray | None, threading: int = 0) -> dict:
        """A batch calculation (one case per leading index of ``update``; None: the model as it is), columnar.

        A batch runs on every core (threading=0; -1: sequential). Columnar output is faster
        for a batch (157 ms against 198 ms for 110 cases): only the attributes GridState needs are written.
        """
        kwargs: dict[str, Any] = {"threading": threading, "output_component_types": _OUTPUTS}
        if update is not None:
            kwargs["update_data"] = {ComponentType.asym_load: update}
        last: Exception | None = None
        for method in _METHODS:
            try:
                return self.model.calculate_power_flow(  # type: ignore[call-overload]
                    symmetric=False,
                    calculation_method=method,
                    error_tolerance=self.tolerance_pu,
                    max_iterations=self.max_iteration,
                    **kwargs,
                )
            except PowerGridError as exc:
                last = exc
        raise last  # type: ignore[misc]

    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
        """Update the households' loads and solve one interval."""
        try:
            result = self._single.solve(p_kw, q_kvar)
        except PowerGridError as exc:
            return GridState.failed(f"power-grid-model did not converge: {exc}".strip(), *self._shape)
        return self._states(result)[0]

    def solve_batch(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> list[GridState]:
        """Solve ``n_cases`` independent injection sets in one batch calculation."""
        try:
            result = self._calculate(self._update(p_kw, q_kvar))
        except PowerGridError:
            return [self.solve(p, q) for p, q in zip(p_kw, q_kvar, strict=True)]  # find which case failed
        return self._states(result)

    def _states(self, result: dict) -> list[GridState]:
        """Results of one calculation (single or batch), reduced for all cases at once."""

        def field(component: ComponentType, name: str) -> np.ndarray:
            values = result[component][name]
            return values.reshape((-1, *values.shape[-2:]))  # (n_cases, n_elements, 3)

        line, trafo = ComponentType.line, ComponentType.transformer
        line_i = np.maximum(field(line, "i_from"), field(line, "i_to"))[:, self._line_order]
        line_phase_loading = line_i / self._line_i_max_a[:, None] * 100.0
        line_loading = _phase_max(line_phase_loading)
        # current-based transformer loading per side and phase; per phase the larger side's (as pandapower)
        sides = np.stack([field(trafo, "i_from"), field(trafo, "i_to")], axis=2)[:, self._trafo_order]
        sides_va = sides * self._trafo_u[None, :, :, None]  # (cases, n_trafo, side, phase)
        trafo_side_loading = sides_va * np.sqrt(3) / self._trafo_sn_va[None, :, None, None] * 100.0
        trafo_loading = np.maximum(trafo_side_loading[:, :, 0], trafo_side_loading[:, :, 1])
        # sums over the phases before the elements are put in the feeder's order (the same sums, fewer moves)
        line_p_from, trafo_p_from = field(line, "p_from"), field(trafo, "p_from")
        line_losses_kw = (_phase_sum(line_p_from + field(line, "p_to")) / 1000.0)[:, self._line_order]
        trafo_losses_kw = (_phase_sum(trafo_p_from + field(trafo, "p_to")) / 1000.0)[:, self._trafo_order]
        import_kw = field(ComponentType.source, "p").sum(axis=(1, 2)) / 1000.0
        line_p = (_phase_sum(line_p_from) / 1000.0)[:, self._line_order]
        trafo_p = (_phase_sum(trafo_p_from) / 1000.0)[:, self._trafo_order]
        vm = np.array(field(ComponentType.node, "u_pu")[:, self._node_order])  # a copy: solves overwrite
        va = np.rad2deg(field(ComponentType.node, "u_angle"))[:, self._node_order]
        return [
            GridState(
                converged=True,
                error="",
                vm_pu=vm[k],
                va_degree=va[k],
                line_loading_percent=line_loading[k],
                line_phase_loading_percent=line_phase_loading[k],
                trafo_loading_percent=trafo_loading[k],
                trafo_side_loading_percent=trafo_side_loading[k],
                losses_kw=float(line_losses_kw[k].sum() + trafo_losses_kw[k].sum()),
                ext_grid_import_kw=float(import_kw[k]),
                line_p_from_kw=line_p[k],
                trafo_p_hv_kw=trafo_p[k],
                line_losses_kw=line_losses_kw[k],
                trafo_losses_kw=trafo_losses_kw[k],
            )
            for k in range(len(vm))
        ]


# Reductions over the three phases (last axis) as elementwise operations on the phase columns: the same
# values as numpy's ``max(axis=-1)`` and ``sum(axis=-1)`` (which adds to 0.0 in phase order), many times
# faster than numpy's reduction over an axis of three.
def _phase_max(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(x[..., 0], x[..., 1]), x[..., 2])


def _phase_sum(x: np.ndarray) -> np.ndarray:
    return ((0.0 + x[..., 0]) + x[..., 1]) + x[..., 2]
