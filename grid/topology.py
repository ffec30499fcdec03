"""The feeder as a radial tree: paths, electrical distances and zones.

Every lemgrid feeder is radial: one upstream source, transformers, then LV
lines branching out to the customers. :class:`Tree` orients every line and
transformer away from the source once, so that "downstream of", "the path
from the source" and "the electrical distance between two customers" are
array operations. Impedances are positive-sequence and referred to the
branch's own (LV) voltage level; the source is taken as stiff.
"""

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from lemgrid.grid.feeders import Feeder


def phase_impedance(z0: complex, z1: complex) -> np.ndarray:
    """3x3 phase impedance matrix of a transposed branch from its sequence impedances."""
    self_z, mutual_z = (z0 + 2 * z1) / 3, (z0 - z1) / 3
    return np.full((3, 3), mutual_z) + np.eye(3) * (self_z - mutual_z)


@dataclass(frozen=True)
class Branch:
    """One line or transformer, oriented away from the source (positions in the feeder's tables)."""

    kind: str  # "line" or "trafo"
    position: int  # row position in net.line or net.trafo
    upstream: int  # bus position
    downstream: int  # bus position


class Tree:
    """The radial structure of a feeder, in the feeder's bus order (``net.bus.index`` positions).

    Per-branch arrays that LinDist3Flow, the loss sensitivities and the loss
    allocation share are built on first use and kept here, so they live as long
    as the run's tree and no longer.
    """

    def __init__(self, feeder: Feeder) -> None:
        net = feeder.net
        self.feeder = feeder
        bus_pos = pd.Series(np.arange(len(net.bus)), index=net.bus.index)
        line = net.line[net.line.in_service]
        trafo = net.trafo[net.trafo.in_service]
        ends = [
            ("line", net.line.index.get_indexer(line.index), line.from_bus, line.to_bus),
            ("trafo", net.trafo.index.get_indexer(trafo.index), trafo.hv_bus, trafo.lv_bus),
        ]
        a = np.concatenate([bus_pos[e[2]].to_numpy() for e in ends])
        b = np.concatenate([bus_pos[e[3]].to_numpy() for e in ends])
        kinds = np.concatenate([np.full(len(e[1]), e[0]) for e in ends])
        positions = np.concatenate([e[1] for e in ends])
        n = len(net.bus)
        if len(a) != n - 1:
            raise ValueError(
                f"feeder {feeder.name!r} is not radial: {len(a)} branches for {n} buses (a tree has {n - 1})"
            )
        graph = coo_matrix((np.arange(1, len(a) + 1), (a, b)), shape=(n, n)).tocsr()
        graph = graph + graph.T
        self.root = int(bus_pos[net.ext_grid.bus.iloc[0]])
        order, predecessors = breadth_first_order(graph, self.root, directed=False)
        if len(order) != n:
            raise ValueError(f"feeder {feeder.name!r} is not connected: {n - len(order)} buses unreachable")
        self.order = order  # source first, every bus after its parent
        self.parent = predecessors  # -9999 at the root
        edge_of = {(int(x), int(y)): k for k, (x, y) in enumerate(zip(a, b, strict=True))}
        self.branches: list[Branch] = []
        self.branch_into = np.full(n, -1)  # the branch feeding each bus
        z_ohm = np.zeros(n)  # |Z| of the branch feeding each bus
        for bus in order[1:]:
            up = int(predecessors[bus])
            k = edge_of.get((up, int(bus)), edge_of.get((int(bus), up)))
            assert k is not None
            self.branch_into[bus] = len(self.branches)
            self.branches.append(Branch(str(kinds[k]), int(positions[k]), up, int(bus)))
            z_ohm[bus] = abs(self.branch_impedance_ohm(self.branches[-1])[1])
        self.branch_z_ohm = np.array([z_ohm[b.downstream] for b in self.branches])
        self.z_from_root_ohm = np.zeros(n)
        for bus in order[1:]:
            self.z_from_root_ohm[bus] = self.z_from_root_ohm[self.parent[bus]] + z_ohm[bus]
        self.household_bus = bus_pos[feeder.households.bus].to_numpy()

    def branch_impedance_ohm(self, branch: Branch) -> tuple[complex, complex]:
        """Zero- and positive-sequence series impedance of a branch, ohm at its downstream voltage."""
        net = self.feeder.net
        if branch.kind == "line":
            row = net.line.iloc[branch.position]
            scale = row.length_km / row.parallel
            z1 = complex(row.r_ohm_per_km, row.x_ohm_per_km) * scale
            z0 = (
                complex(row.get("r0_ohm_per_km", 4 * row.r_ohm_per_km), row.get("x0_ohm_per_km", 0.0)) * scale
            )
            return z0, z1
        row = net.trafo.iloc[branch.position]
        z_base = row.vn_lv_kv**2 / row.sn_mva
        vkx = np.sqrt(max(row.vk_percent**2 - row.vkr_percent**2, 0.0))
        z1 = complex(row.vkr_percent, vkx) / 100 * z_base / row.parallel
        vk0 = row.get("vk0_percent", row.vk_percent)
        vkr0 = row.get("vkr0_percent", row.vkr_percent)
        z0 = complex(vkr0, np.sqrt(max(vk0**2 - vkr0**2, 0.0))) / 100 * z_base / row.parallel
        return z0, z1

    def path(self, bus: int) -> list[int]:
        """Branch indices from the source down to ``bus``."""
        out = []
        while bus != self.root:
            out.append(int(self.branch_into[bus]))
            bus = int(self.parent[bus])
        return out[::-1]

    @cached_property
    def downstream(self) -> np.ndarray:
        """Boolean (n_branches, n_bus): which buses each branch feeds."""
        below = np.zeros((len(self.branches), len(self.parent)), dtype=bool)
        for bus in self.order[
            1:
        ]:  # parents first: a bus is below what its parent is below, and its own branch
            below[:, bus] = below[:, self.parent[bus]]
            below[self.branch_into[bus], bus] = True
        return below

    @cached_property
    def downstream_bus(self) -> np.ndarray:
        """(n_branches,) the bus each branch feeds."""
        return np.array([b.downstream for b in self.branches])

    @cached_property
    def branch_is_line(self) -> np.ndarray:
        """(n_branches,) whether each branch is a line (else a transformer)."""
        return np.array([b.kind == "line" for b in self.branches])

    @cached_property
    def branch_position(self) -> np.ndarray:
        """(n_branches,) each branch's row position in net.line or net.trafo."""
        return np.array([b.position for b in self.branches])

    @cached_property
    def phase_impedance_ohm(self) -> np.ndarray:
        """(n_branches, 3, 3) phase impedance matrix of each branch (ohm, transposed)."""
        return np.array([phase_impedance(*self.branch_impedance_ohm(b)) for b in self.branches])

    @cached_property
    def phase_resistance_ohm(self) -> np.ndarray:
        """(n_branches, 3, 3) real part of :attr:`phase_impedance_ohm`."""
        return self.phase_impedance_ohm.real

    @cached_property
    def branch_vb_kv(self) -> np.ndarray:
        """(n_branches,) phase-to-neutral base voltage at each branch's downstream bus."""
        return (self.feeder.net.bus.vn_kv.to_numpy() / np.sqrt(3))[self.downstream_bus]

    @cached_property
    def below(self) -> sparse.csr_matrix:
        """Sparse (n_branches, n_bus), 1.0 where the bus is fed through the branch (``downstream``)."""
        return sparse.csr_matrix(self.downstream.astype(float))

    @cached_property
    def carries(self) -> sparse.csr_matrix:
        """Sparse (n_branches, n_branches), [k, j] 1.0 where branch j lies below (or is) branch k."""
        return self.below[:, self.downstream_bus]

    @cached_property
    def households_below(self) -> sparse.csr_matrix:
        """Sparse (n_branches, n_households), 1.0 where the household is below the branch."""
        return self.below[:, self.household_bus]

    def distance_ohm(self, buses_a: np.ndarray, buses_b: np.ndarray) -> np.ndarray:
        """Electrical distance between every bus of ``buses_a`` and every bus of ``buses_b``.

        The sum of positive-sequence |Z| along the tree path joining them (ohm):
        zero for the same bus, and for two customers on one branch only the
        part of the feeder between them counts.
        """
        za = self.z_from_root_ohm[buses_a][:, None]
        zb = self.z_from_root_ohm[buses_b][None, :]
        return np.maximum(za + zb - 2 * self.shared_z_ohm(buses_a, buses_b), 0.0)

    def shared_z_ohm(self, buses_a: np.ndarray, buses_b: np.ndarray) -> np.ndarray:
        """|Z| of the path from the source that ``buses_a[i]`` and ``buses_b[j]`` share."""
        below = self.downstream
        return (below[:, buses_a].T * self.branch_z_ohm) @ below[:, buses_b].astype(float)

    def layout(self) -> np.ndarray:
        """(n_bus, 2) drawing coordinates of the buses.

        The feeder's own geodata where every bus has it, else a tree drawing
        (x: electrical distance from the source, y: leaves in depth-first order).
        """
        geo = self.feeder.net.bus.get("geo")
        if geo is not None and geo.notna().all():
            return np.array([json.loads(g)["coordinates"][:2] for g in geo], dtype=float)
        children: dict[int, list[int]] = {}
        for bus in self.order[1:]:
            children.setdefault(int(self.parent[bus]), []).append(int(bus))
        y = np.zeros(len(self.parent))
        next_leaf = 0.0
        stack: list[tuple[int, bool]] = [(self.root, False)]
        while stack:  # depth first; a parent sits at the mean height of its children
            bus, visited = stack.pop()
            kids = children.get(bus, [])
            if not kids:
                y[bus] = next_leaf
                next_leaf += 1
            elif visited:
                y[bus] = y[kids].mean()
            else:
                stack.append((bus, True))
                stack.extend((k, False) for k in reversed(kids))
        return np.column_stack([self.z_from_root_ohm, y])

    def zones(self, n_zones: int, counted: np.ndarray | None = None) -> np.ndarray:
        """Split the households into ``n_zones`` connected zones of the feeder; returns a zone per household.

        Rule (deterministic, topology only): ``n_zones - 1`` times, cut the
        branch whose downstream, not yet zoned households number closest to
        ``n_households / n_zones`` (ties: the branch nearest the source, then
        the lower position); those households form the next zone. What is
        left, around the transformer, is zone 0. Zones are numbered in the
        order they are cut. ``counted``: which connections count as households
        (default all); the others (a community battery) join the zone they sit in.
        """
        n_connections = len(self.household_bus)
        counted = np.ones(n_connections, dtype=bool) if counted is None else np.asarray(counted, dtype=bool)
        n_households = int(counted.sum())
        if not 1 <= n_zones <= n_households:
            raise ValueError(f"n_zones must be between 1 and the {n_households} households, got {n_zones}")
        zone = np.zeros(n_connections, dtype=int)
        free = np.ones(n_connections, dtype=bool)
        below = self.downstream[:, self.household_bus]  # (n_branches, n_connections)
        depth = np.array([self.z_from_root_ohm[b.upstream] for b in self.branches])
        target = n_households / n_zones
        for z in range(1, n_zones):
            counts = (below & free & counted).sum(axis=1)
            gap = np.where(counts > 0, np.abs(counts - target), np.inf)
            k = int(np.lexsort((np.arange(len(gap)), depth, gap))[0])
            members = below[k] & free
            zone[members] = z
            free &= ~members
        return zone
