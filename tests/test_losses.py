"""Loss allocation: a hand-traced example, and every rule sums to the measured losses in real runs."""

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from lemgrid.grid.feeders import Feeder
from lemgrid.grid.losses import marginal, pro_rata, proportional_sharing
from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree
from tests.helpers import hourly, run_to_end


def _chain() -> Tree:
    """Source - transformer - bus 1 - line 0 - bus 2 - line 1 - bus 3; households at buses 2 and 3."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn) for vn in (11.0, 0.4, 0.4, 0.4)]
    pp.create_ext_grid(net, b[0])
    pp.create_transformer(net, b[0], b[1], "0.25 MVA 10/0.4 kV")
    pp.create_line(net, b[1], b[2], 0.1, "NAYY 4x150 SE")
    pp.create_line(net, b[3], b[2], 0.1, "NAYY 4x150 SE")  # drawn against the tree's direction
    households = pd.DataFrame({"household": ["h2", "h3"], "bus": [b[2], b[3]], "phase": ["a", "a"]})
    return Tree(Feeder("chain", net, households))


def _state(line_losses: list[float], trafo_losses: list[float]) -> GridState:
    nan = np.full((4, 3), np.nan)
    return GridState(
        True, "", nan, nan, np.zeros(2), np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((1, 2, 3)),
        float(sum(line_losses) + sum(trafo_losses)),
        0.0, np.zeros(2), np.zeros(1), np.array(line_losses), np.array(trafo_losses),
    )  # fmt: skip


def test_proportional_sharing_traces_each_branch_to_its_users() -> None:
    tree = _chain()
    state = _state([0.03, 0.01], [0.05])
    # h2 consumes 2 kW, h3 exports 1 kW: the grid sends 1 kW down the transformer and line 0, to h2;
    # line 1 carries h3's 1 kW up to h2. Transformer and line 0 serve only h2 (the grid's share as a
    # source is not allocated); line 1 joins source h3 and sink h2: half each.
    shares = proportional_sharing(tree, np.array([-2.0, 1.0]), state)
    np.testing.assert_allclose(shares, [0.05 + 0.03 + 0.005, 0.005])
    # both export: everything flows up, each branch to the exporters whose power it carries
    # (line 1: h3 only; line 0 and transformer: h2 1 kW, h3 2 kW -> 1/3 and 2/3)
    shares = proportional_sharing(tree, np.array([1.0, 2.0]), state)
    np.testing.assert_allclose(shares, [(0.05 + 0.03) / 3, 0.01 + (0.05 + 0.03) * 2 / 3])


def test_pro_rata_and_marginal_by_hand() -> None:
    np.testing.assert_allclose(pro_rata(np.array([-3.0, 1.0]), 0.4), [0.3, 0.1])
    # marginal: PLSF * P = [0.06, 0.02] -> shares 3:1 of 0.4; a loss-reducing injection gets a credit
    np.testing.assert_allclose(marginal(np.array([-3.0, 1.0]), np.array([-0.02, 0.02]), 0.4), [0.3, 0.1])
    np.testing.assert_allclose(marginal(np.array([-3.0, 1.0]), np.array([-0.02, -0.01]), 0.5), [0.6, -0.1])


@pytest.mark.parametrize("method", ["pro_rata", "marginal", "proportional_sharing"])
def test_allocations_sum_to_the_measured_losses(method: str, tmp_path) -> None:
    scenario = hourly(
        **{"grid.solver": "power_grid_model", "penetration.pv": 0.6, "market.loss_allocation": method}
    )
    run_to_end(scenario, tmp_path)
    households = pd.read_parquet(tmp_path / "households.parquet")
    intervals = pd.read_parquet(tmp_path / "intervals.parquet")
    trades = pd.read_parquet(tmp_path / "trades.parquet")
    allocated = households.groupby("interval").loss_allocation_kwh.sum()
    np.testing.assert_allclose(allocated.to_numpy(), intervals.losses_kw.to_numpy() * 1.0, rtol=1e-9)
    # a trade carries its parties' shares per kWh exchanged: never more than they were allocated
    per_household = households.groupby("household").loss_allocation_kwh.sum()
    assert trades.loss_allocation_kwh.abs().sum() <= per_household.abs().sum() + 1e-9
    assert (trades.loss_allocation_kwh.abs() > 0).any()


def _traced_bus_by_bus(tree: Tree, net_kw: np.ndarray, state: GridState) -> np.ndarray:
    """Proportional sharing as Bialek describes it: bus after bus in flow order (as lemgrid did before)."""
    from graphlib import TopologicalSorter

    n_h, bus = len(net_kw), tree.household_bus
    flow = np.zeros(len(tree.parent))
    np.add.at(flow, bus, -net_kw)
    for b in tree.order[::-1][:-1]:
        flow[tree.parent[b]] += flow[b]
    gen, load = np.zeros((len(flow), n_h + 1)), np.zeros((len(flow), n_h + 1))
    gen[bus, np.arange(n_h)], load[bus, np.arange(n_h)] = np.clip(net_kw, 0, None), np.clip(-net_kw, 0, None)
    gen[tree.root, n_h], load[tree.root, n_h] = max(flow[tree.root], 0.0), max(-flow[tree.root], 0.0)
    edges = [
        (int(tree.parent[b]), int(b), flow[b], int(tree.branch_into[b]))
        if flow[b] > 0
        else (int(b), int(tree.parent[b]), -flow[b], int(tree.branch_into[b]))
        for b in tree.order[1:]
        if abs(flow[b]) > 1e-12
    ]

    def trace(order: list[int], neighbours: dict, local: np.ndarray) -> dict:
        mix: dict[int, np.ndarray] = {}
        for b in order:
            total = local[b] + sum((f * mix[o] for o, f in neighbours.get(b, [])), np.zeros(n_h + 1))
            mix[b] = total / total.sum() if total.sum() > 1e-12 else total
        return mix

    into: dict[int, list] = {}
    out_of: dict[int, list] = {}
    for a, z, f, _ in edges:
        into.setdefault(z, []).append((a, f))
        out_of.setdefault(a, []).append((z, f))
    order = list(TopologicalSorter({z: [a for a, _ in ins] for z, ins in into.items()}).static_order())
    sources, sinks = trace(order, into, gen), trace(order[::-1], out_of, load)
    loss = np.array(
        [
            state.line_losses_kw[b.position] if b.kind == "line" else state.trafo_losses_kw[b.position]
            for b in tree.branches
        ]
    )
    shares, unallocated = np.zeros(n_h), loss.sum()
    for a, z, _, k in edges:
        weight = sources[a][:n_h] + sinks[z][:n_h]
        if weight.sum() > 1e-12:
            shares += loss[k] * weight / weight.sum()
            unallocated -= loss[k]
    return shares + pro_rata(net_kw, unallocated)


def test_proportional_sharing_solved_at_once_equals_tracing_bus_by_bus() -> None:
    """The sparse solve for all buses gives the bus-by-bus trace's shares to rounding (1e-12 of losses)."""
    from lemgrid.grid import load_feeder, make_solver

    feeder = load_feeder("ieee_european_lv")
    tree = Tree(feeder)
    n = len(feeder.households)
    phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    rng = np.random.default_rng(7)
    for low, high in ((-4.0, 3.0), (-1.0, 6.0), (-5.0, 0.5)):  # mixed, exporting, importing feeders
        p = np.zeros((n, 3))
        p[np.arange(n), phase] = rng.uniform(low, high, n)
        state = make_solver("power_grid_model", feeder).solve(p, np.zeros((n, 3)))
        shares = proportional_sharing(tree, p.sum(axis=1), state)
        np.testing.assert_allclose(
            shares, _traced_bus_by_bus(tree, p.sum(axis=1), state), atol=1e-12 * state.losses_kw
        )
        assert shares.sum() == pytest.approx(state.losses_kw, rel=1e-12)
