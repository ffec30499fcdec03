"""Sensitivities of the grid state to each household's injection, at the current operating point.

Voltage sensitivity coefficients (VSC: dV per phase per kW at every bus),
power transfer distribution factors (PTDF: d line / transformer flow per kW)
and loss sensitivity factors (PLSF: d losses per kW), each for one more kW
injected by a household, on its own phase (or split over the phases as a
three-phase EV charger is). They are central differences of
the full three-phase power flow, all perturbed cases solved in one batch (a
few tens of milliseconds with the power-grid-model backend), so they carry
the non-linear model's physics without a separate linearisation.

:func:`loss_sensitivity_factors` gives the PLSF alone from one solved power
flow, without perturbed ones: the derivative of every branch's ``I^H R I``
(see its docstring for the error against the central differences).
"""

from dataclasses import dataclass

import numpy as np

from lemgrid.grid.state import GridState, PowerFlowSolver
from lemgrid.grid.topology import Tree


def one_hot(phase_col: np.ndarray) -> np.ndarray:
    """(n, 3) directions putting each household's kW on its own phase."""
    return np.eye(3)[np.asarray(phase_col)]


@dataclass(frozen=True)
class Sensitivities:
    """Per household (first axis), the change per kW it injects on its phase.

    Attributes:
        vsc_pu_per_kw: (n_households, n_bus, 3) voltage magnitude, p.u. per kW.
        ptdf_line: (n_households, n_line) active power entering each line at its from-bus, kW per kW.
        ptdf_trafo: (n_households, n_trafo) active power entering each transformer at its HV side, kW per kW.
        plsf: (n_households,) total active losses, kW per kW.
        line_loading: (n_households, n_line, 3) loading of each line per phase, percent per kW.
        trafo_loading: (n_households, n_trafo, 2, 3) loading of each transformer side (HV, LV) and
            phase, percent per kW.
    """

    vsc_pu_per_kw: np.ndarray
    ptdf_line: np.ndarray
    ptdf_trafo: np.ndarray
    plsf: np.ndarray
    line_loading: np.ndarray
    trafo_loading: np.ndarray


def sensitivities(
    solver: PowerFlowSolver,
    p_kw: np.ndarray,
    q_kvar: np.ndarray,
    directions: np.ndarray,
    step_kw: float = 0.5,
    households: np.ndarray | None = None,
) -> Sensitivities:
    """Central-difference sensitivities around injections ``p_kw``/``q_kvar`` of shape (n, 3).

    Args:
        solver: the feeder's solver backend.
        p_kw: active injections per household and phase at the operating point.
        q_kvar: reactive injections per household and phase.
        directions: (n, 3) how each household's extra kW splits over the phases (rows sum to 1;
            ``one_hot(phase_col)`` for its own phase).
        step_kw: perturbation; central differences are exact to second order in it.
        households: positions of the households to perturb (default all): the result's first
            axis follows it, at 2 power flows per household.

    Raises:
        RuntimeError: if a perturbed power flow does not converge.
    """
    which = np.arange(len(p_kw)) if households is None else np.asarray(households)
    n, rows = len(which), np.arange(len(which))
    cases = np.repeat(p_kw[None], 2 * n, axis=0)
    cases[rows, which] += step_kw * directions[which]  # one more
    cases[n + rows, which] -= step_kw * directions[which]  # one less
    states = solver.solve_batch(cases, np.repeat(q_kvar[None], 2 * n, axis=0))
    failed = [s.error for s in states if not s.converged]
    if failed:
        raise RuntimeError(f"sensitivities: {len(failed)} perturbed power flows failed, e.g. {failed[0]}")

    def diff(values: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack(values)
        return (stacked[:n] - stacked[n:]) / (2 * step_kw)

    return Sensitivities(
        vsc_pu_per_kw=diff([s.vm_pu for s in states]),
        ptdf_line=diff([s.line_p_from_kw for s in states]),
        ptdf_trafo=diff([s.trafo_p_hv_kw for s in states]),
        plsf=diff([np.array(s.losses_kw) for s in states]),
        line_loading=diff([s.line_phase_loading_percent for s in states]),
        trafo_loading=diff([s.trafo_side_loading_percent for s in states]),
    )


def loss_sensitivity_factors(
    tree: Tree, p_kw: np.ndarray, q_kvar: np.ndarray, directions: np.ndarray, state: GridState
) -> np.ndarray:
    """PLSF (kW of losses per kW each household injects) from one solved power flow, no perturbed ones.

    A branch loses ``I^H R I`` (R its 3x3 phase resistance, from the sequence
    impedances). One more kW injected on phase ``phi`` below it lowers its
    downstream phase current by ``1 / conj(V_phi)``, so its loss changes by
    ``-2 Re[(R I)_phi / V_phi]`` (the derivative of the quadratic form); the
    household's PLSF sums that over the branches on its path. The currents are
    the injections below each branch plus the losses below it (first order,
    as :meth:`LinDist3Flow.with_losses`), at the measured complex voltages.
    Left out: how the change of voltage changes the other loads' currents,
    and the transformer's winding connection (it is treated as a transposed branch).
    Measured on the IEEE EU LV feeder over a June day (48 half-hour intervals,
    half the households with batteries, EVs and appliances) against
    :func:`sensitivities`' central differences: within 4.3 % of the largest |PLSF|,
    and the marginal allocation's shares within 0.73 % of the interval's losses
    (``tests/test_sensitivity.py``, at a random operating point: 2.0 % and 0.28 %,
    held to 6 % and 0.5 %).

    Args:
        tree: the feeder's radial structure.
        p_kw: (n, 3) active injections per household and phase at the operating point.
        q_kvar: (n, 3) reactive injections per household and phase.
        directions: (n, 3) how each household's extra kW splits over the phases.
        state: the power flow at that operating point (its voltages are used).
    """
    down, below, r_ohm = tree.downstream_bus, tree.households_below, tree.phase_resistance_ohm
    s_kva = -(below @ (p_kw + 1j * q_kvar))  # flowing downstream, per branch and phase
    v_kv = state.vm_pu[down] * np.exp(1j * np.deg2rad(state.va_degree[down])) * tree.branch_vb_kv[:, None]
    i_a = np.conj(s_kva / v_kv)
    loss_kw = np.real(np.conj(i_a) * np.einsum("kpq,kq->kp", r_ohm, i_a)) / 1000
    i_a = np.conj((s_kva + tree.carries @ loss_kw) / v_kv)  # the losses below are carried too
    per_kw = -2 * np.real(np.einsum("kpq,kq->kp", r_ohm, i_a) / v_kv) / 1000  # (V / kV) / 1000
    return (below.T @ per_kw * directions).sum(axis=1)
