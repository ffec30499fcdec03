"""The feeder as a tree: electrical distances, zones, and the LinDist3Flow model against the power flow."""

import networkx as nx
import numpy as np
import pytest

from lemgrid.grid import load_feeder, make_solver
from lemgrid.grid.feeders import PHASES
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.topology import Tree


@pytest.fixture(scope="module")
def ieee() -> Tree:
    return Tree(load_feeder("ieee_european_lv"))


def test_distance_is_the_impedance_of_the_path_between_two_customers(ieee: Tree) -> None:
    net = ieee.feeder.net
    graph = nx.Graph()
    for _, line in net.line.iterrows():  # independent: networkx over |Z1| of every line
        z = abs(complex(line.r_ohm_per_km, line.x_ohm_per_km)) * line.length_km
        graph.add_edge(int(line.from_bus), int(line.to_bus), weight=z)
    buses = ieee.feeder.households.bus.to_numpy()
    pos = net.bus.index.get_indexer(buses)
    d = ieee.distance_ohm(pos, pos)
    for i, j in [(0, 1), (3, 40), (12, 54), (20, 21)]:
        expected = nx.shortest_path_length(graph, int(buses[i]), int(buses[j]), weight="weight")
        assert d[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)


def test_zones_are_connected_balanced_and_deterministic(ieee: Tree) -> None:
    zones = ieee.zones(3)
    assert np.array_equal(zones, Tree(ieee.feeder).zones(3))
    counts = np.bincount(zones)
    assert len(counts) == 3 and counts.sum() == 55 and counts.min() >= 55 // 3 - 5
    assert (ieee.zones(1) == 0).all()
    # zones 1 and 2 are each everything below one cut branch: every member's path passes through it
    for z in (1, 2):
        members = ieee.household_bus[zones == z]
        shared = set(ieee.path(int(members[0])))
        for bus in members[1:]:
            shared &= set(ieee.path(int(bus)))
        below = ieee.downstream[max(shared, key=lambda k: ieee.z_from_root_ohm[ieee.branches[k].downstream])]
        assert below[members].all()
    with pytest.raises(ValueError, match="n_zones must be between 1 and the 55 households, got 56"):
        ieee.zones(56)


@pytest.mark.parametrize("name", ["ieee_european_lv", "kerber_dorfnetz"])
def test_lindist3flow_tracks_the_three_phase_power_flow(name: str) -> None:
    feeder = load_feeder(name)
    tree = Tree(feeder)
    phase = np.array([PHASES.index(p) for p in feeder.households.phase])
    solver = make_solver("power_grid_model", feeder)
    n = len(phase)
    zero = np.zeros((n, 3))
    lindist = LinDist3Flow(tree, phase, solver.solve(zero, zero).vm_pu)
    rng = np.random.default_rng(1)
    for scale, atol in ((2.0, 3e-4), (5.0, 1e-3), (10.0, 4e-3)):
        p = np.zeros((n, 3))
        p[np.arange(n), phase] = rng.uniform(-scale, scale, n)
        q = -0.2 * np.abs(p)
        state = solver.solve(p, q)
        moved = np.abs(state.vm_pu - lindist.voltages(zero, zero)).max()
        error = np.abs(state.vm_pu - lindist.voltages(p, q)).max()
        assert error < atol and error < 0.1 * moved  # measured: 1.3e-4 / 4.2e-4 / 2.4e-3 on IEEE
        # the own-phase sensitivities give the same voltages as the full map
        own = (
            lindist.v_noload_pu.ravel()
            + lindist.vp @ p[np.arange(n), phase]
            + lindist.vq @ q[np.arange(n), phase]
        )
        np.testing.assert_allclose(own.reshape(-1, 3), lindist.voltages(p, q), atol=1e-12)
    # lossless flows: the transformer carries the sum of all injections per phase
    trafo = next(k for k, b in enumerate(tree.branches) if b.kind == "trafo")
    flows = -(lindist.flow @ p)  # lossless, downstream: what post_check's relief weights are rows of
    np.testing.assert_allclose(flows[trafo], -p.sum(axis=0) if len(feeder.net.trafo) == 1 else flows[trafo])


def test_the_loss_methods_keep_no_tree_alive_after_its_run(ieee: Tree) -> None:
    """Branch arrays live on the tree: once a run drops its tree, its feeder is freed (sweep workers)."""
    import copy
    import gc
    import weakref

    from lemgrid.grid.losses import proportional_sharing
    from lemgrid.grid.sensitivity import loss_sensitivity_factors, one_hot
    from lemgrid.grid.state import GridState

    tree = Tree(copy.deepcopy(ieee.feeder))
    n, n_bus = len(tree.household_bus), len(tree.parent)
    state = GridState(
        True,
        "",
        np.ones((n_bus, 3)),
        np.tile([0.0, -120.0, 120.0], (n_bus, 1)),
        np.zeros(tree.feeder.n_lines),
        np.zeros((tree.feeder.n_lines, 3)),
        np.zeros((1, 3)),
        np.zeros((1, 2, 3)),
        1.0,
        0.0,
        np.zeros(tree.feeder.n_lines),
        np.zeros(1),
        np.full(tree.feeder.n_lines, 1.0 / tree.feeder.n_lines),
        np.zeros(1),
    )
    p = np.zeros((n, 3))
    p[:, 0] = -1.0
    assert loss_sensitivity_factors(tree, p, np.zeros((n, 3)), one_hot(np.zeros(n, int)), state).shape == (n,)
    assert proportional_sharing(tree, p.sum(axis=1), state).sum() == pytest.approx(1.0)
    LinDist3Flow(tree, np.zeros(n, int), np.ones((n_bus, 3)))
    alive = weakref.ref(tree)
    del tree
    gc.collect()
    assert alive() is None


def test_lindist_ratings_are_the_congestion_ratings_in_branch_order(ieee: Tree) -> None:
    from lemgrid.grid.congestion import PhaseRatings

    lindist = LinDist3Flow(ieee, np.zeros(55, int), np.ones((len(ieee.parent), 3)))
    ratings = PhaseRatings.of(ieee.feeder)
    net = ieee.feeder.net
    for k, branch in enumerate(ieee.branches):  # independent: the feeder's own tables, branch by branch
        if branch.kind == "line":
            row = net.line.iloc[branch.position]
            assert lindist.s_max_kva[k] == ratings.line_kva[branch.position]
            vn_kv = net.bus.vn_kv.iloc[branch.downstream]
            expected = row.max_i_ka * row.parallel * row.df * vn_kv / np.sqrt(3) * 1000
            assert lindist.s_max_kva[k] == pytest.approx(expected)
        else:
            assert lindist.s_max_kva[k] == pytest.approx(net.trafo.sn_mva.iloc[branch.position] * 1000 / 3)
