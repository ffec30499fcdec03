"""Sensitivities (VSC, PTDF, PLSF) against finite differences of the reference power flow."""

import networkx as nx
import numpy as np
import pandapower.topology as top
import pytest

from lemgrid.grid import PandapowerSolver, load_feeder, make_solver
from lemgrid.grid.losses import marginal
from lemgrid.grid.sensitivity import loss_sensitivity_factors, one_hot, sensitivities
from lemgrid.grid.topology import Tree


@pytest.fixture(scope="module")
def operating_point():
    feeder = load_feeder("ieee_european_lv")
    n = len(feeder.households)
    phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    rng = np.random.default_rng(4)
    p = np.zeros((n, 3))
    q = np.zeros((n, 3))
    p[np.arange(n), phase] = rng.uniform(-4.0, 3.0, n)
    q[np.arange(n), phase] = -rng.uniform(0.0, 0.8, n)
    sens = sensitivities(make_solver("power_grid_model", feeder), p, q, one_hot(phase))
    return feeder, p, q, phase, sens


@pytest.mark.parametrize("household", [0, 17, 42])
def test_against_forward_differences_of_runpp_3ph(operating_point, household: int) -> None:
    feeder, p, q, phase, sens = operating_point
    reference = PandapowerSolver(feeder)
    base = reference.solve(p, q)
    step = 0.2
    bumped = p.copy()
    bumped[household, phase[household]] += step
    after = reference.solve(bumped, q)
    vsc = (after.vm_pu - base.vm_pu) / step
    np.testing.assert_allclose(sens.vsc_pu_per_kw[household], vsc, rtol=0, atol=2e-5)
    own = feeder.net.bus.index.get_loc(feeder.households.bus[household])
    assert sens.vsc_pu_per_kw[household, own, phase[household]] > 1e-4  # injecting raises its voltage
    assert sens.vsc_pu_per_kw[household, own, phase[household]] == pytest.approx(
        vsc[own, phase[household]], rel=0.02
    )
    ptdf = (after.line_p_from_kw - base.line_p_from_kw) / step
    np.testing.assert_allclose(sens.ptdf_line[household], ptdf, rtol=0, atol=5e-3)
    assert sens.plsf[household] == pytest.approx((after.losses_kw - base.losses_kw) / step, abs=5e-3)
    np.testing.assert_allclose(
        sens.ptdf_trafo[household], (after.trafo_p_hv_kw - base.trafo_p_hv_kw) / step, rtol=0, atol=5e-3
    )
    # Loading sensitivities, percent per kW, per line phase and transformer side and phase (the
    # sensitivity constraint mode's thermal rows).
    # A phase's loading has a kink at zero current; at a kink a forward difference differs from the
    # central one, so these are checked against central differences of runpp_3ph with the same step.
    step = 0.5  # sensitivities()' default
    upper, lower = p.copy(), p.copy()
    upper[household, phase[household]] += step
    lower[household, phase[household]] -= step
    after, below = reference.solve(upper, q), reference.solve(lower, q)
    np.testing.assert_allclose(
        sens.line_loading[household],
        (after.line_phase_loading_percent - below.line_phase_loading_percent) / (2 * step),
        rtol=0,
        atol=2e-3,
    )
    np.testing.assert_allclose(
        sens.trafo_loading[household],
        (after.trafo_side_loading_percent - below.trafo_side_loading_percent) / (2 * step),
        rtol=0,
        atol=2e-3,
    )


def test_transformer_ptdf_is_minus_one_plus_loss_factor(operating_point) -> None:
    """One more kW injected = one kW less from the grid, plus the change in losses."""
    *_, sens = operating_point
    # holds to the solver's convergence: measured up to 4e-6 at power-grid-model's 1e-5 p.u.
    np.testing.assert_allclose(sens.ptdf_trafo[:, 0], -1.0 + sens.plsf, atol=2e-5)


def test_line_ptdfs_follow_the_radial_path(operating_point) -> None:
    feeder, *_, sens = operating_point
    graph = top.create_nxgraph(feeder.net, multi=True, include_trafos=False)
    lv = int(feeder.net.trafo.lv_bus.iloc[0])
    household = 30
    path = nx.shortest_path(graph, lv, int(feeder.households.bus[household]))
    on_path = set()
    for a, b in zip(path, path[1:], strict=False):
        on_path |= {key[1] for key in graph[a][b] if key[0] == "line"}
    ptdf = np.abs(sens.ptdf_line[household])
    mask = np.isin(feeder.net.line.index, list(on_path))
    assert (ptdf[mask] > 0.97).all() and (ptdf[mask] < 1.03).all()
    assert (ptdf[~mask] < 2e-3).all()


def test_analytic_loss_sensitivities_match_the_central_differences(operating_point) -> None:
    """PLSF from one power flow (derivative of each branch's I^H R I) against 2n perturbed power flows.

    The stated tolerance (grid.sensitivity.loss_sensitivity_factors): within 6 % of the largest
    |PLSF|, and the marginal allocation's shares within 0.5 % of the measured losses.
    """
    feeder, p, q, phase, sens = operating_point
    state = make_solver("power_grid_model", feeder).solve(p, q)
    analytic = loss_sensitivity_factors(Tree(feeder), p, q, one_hot(phase), state)
    scale = np.abs(sens.plsf).max()
    assert scale > 1e-3  # the operating point has losses worth allocating
    np.testing.assert_allclose(analytic, sens.plsf, rtol=0, atol=0.06 * scale)
    net = p.sum(axis=1)
    shares = marginal(net, analytic, state.losses_kw)
    reference = marginal(net, sens.plsf, state.losses_kw)
    np.testing.assert_allclose(shares, reference, atol=0.005 * state.losses_kw)
