"""LinDist3Flow: voltages and branch flows of a radial three-phase feeder, linear in the injections.

The linearised unbalanced branch flow model of Gan and Low (2014) and
Sankur et al. (2016). For a branch ``i -> j`` carrying per-phase complex
power ``S`` downstream, with phase impedance matrix ``Z`` (ohm),

    v_j = v_i - 2 Re[(gamma o conj(Z)) S],   gamma[p, q] = alpha^(p - q),  alpha = exp(-j 2 pi / 3),

where ``v`` is the squared phase voltage magnitude and losses are neglected,
so that ``S`` is the sum of the injections below the branch. Summed along the
paths from the source, every bus voltage is an affine function of every
household's injection. lemgrid takes the constant term from one power flow
without any household injection (so the transformer's ratio and the source
voltage are exact) and converts squared to plain magnitudes around that
no-load voltage: ``dV = dv / (2 V0)``.

It needs no power flow per interval: the ``opf`` constraint mode clears the
market against it, while ``sensitivity`` linearises the full power flow at the
interval's operating point instead.
"""

import numpy as np
from scipy import sparse

from grid.topology import Tree

ALPHA = np.exp(-2j * np.pi / 3)
GAMMA = np.array([[ALPHA ** ((p - q) % 3) for q in range(3)] for p in range(3)])


def phase_impedance(z0: complex, z1: complex) -> np.ndarray:
    """3x3 phase impedance matrix of a transposed branch from its sequence impedances."""
    self_z, mutual_z = (z0 + 2 * z1) / 3, (z0 - z1) / 3
    return np.full((3, 3), mutual_z) + np.eye(3) * (self_z - mutual_z)


class LinDist3Flow:
    """Linear map from household injections to bus voltages and per-phase branch flows.

    Args:
        tree: the feeder's radial structure.
        household_phase: phase column (0, 1, 2) of each household.
        v_noload_pu: (n_bus, 3) voltage magnitudes with no household injection.

    Attributes:
        vp, vq: (n_bus * 3, n_households) p.u. voltage change per kW / kvar each
            household injects on its phase (rows bus-major: bus 0 a, b, c, bus 1 a, ...).
        flow: (n_branches, n_households) sparse, 1 where the household is below the branch:
            the branch's downstream flow on the household's phase is ``-flow @ p``.
        s_max_kva: (n_branches,) per-phase apparent power limit at 100 % loading.
    """

    def __init__(self, tree: Tree, household_phase: np.ndarray, v_noload_pu: np.ndarray) -> None:
        net = tree.feeder.net
        self.tree = tree
        self.household_phase = np.asarray(household_phase)
        self.v_noload_pu = v_noload_pu
        n_bus, n_h = len(tree.parent), len(household_phase)
        vb_kv = net.bus.vn_kv.to_numpy() / np.sqrt(3)  # phase-to-neutral base at each bus
        # per branch: Re/Im of gamma o conj(Z) over the squared base voltage (kV^2 -> p.u. per kVA)
        kp = np.empty((len(tree.branches), 3, 3))
        kq = np.empty_like(kp)
        s_max = np.empty(len(tree.branches))
        for k, branch in enumerate(tree.branches):
            z0, z1 = tree.branch_impedance_ohm(branch)
            m = GAMMA * np.conj(phase_impedance(z0, z1)) / (vb_kv[branch.downstream] ** 2 * 1000)
            kp[k], kq[k] = m.real, -m.imag
            if branch.kind == "line":
                row = net.line.iloc[branch.position]
                s_max[k] = row.max_i_ka * row.parallel * row.df * vb_kv[branch.downstream] * 1000
            else:
                s_max[k] = net.trafo.sn_mva.iloc[branch.position] * 1000 / 3
        self.s_max_kva = s_max
        self._kp, self._kq = kp, kq
        below = sparse.csr_matrix(tree.downstream.astype(float))  # (n_branches, n_bus)
        self._below = below
        self.flow = below[:, tree.household_bus]  # (n_branches, n_households)
        # dV[j, phi] per kW at household h = sum over branches above both j and h of kp[k, phi, psi_h]
        vp = np.zeros((n_bus, 3, n_h))
        vq = np.zeros_like(vp)
        for psi in range(3):
            on = np.flatnonzero(self.household_phase == psi)
            if not len(on):
                continue
            w = self.flow[:, on]  # (n_branches, n_on)
            for phi in range(3):
                vp[:, phi, on] = (below.T @ w.multiply(kp[:, phi, psi][:, None])).toarray()
                vq[:, phi, on] = (below.T @ w.multiply(kq[:, phi, psi][:, None])).toarray()
        self._v0 = np.where(v_noload_pu > 0, v_noload_pu, 1.0)
        self.vp = (vp / self._v0[:, :, None]).reshape(n_bus * 3, n_h)
        self.vq = (vq / self._v0[:, :, None]).reshape(n_bus * 3, n_h)

    def voltages(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
        """(n_bus, 3) linearised voltage magnitudes for injections of shape (n_households, 3)."""
        p_below = self.flow @ p_kw  # (n_branches, 3): injections below each branch, per phase
        q_below = self.flow @ q_kvar
        drop = np.einsum("kpq,kq->kp", self._kp, p_below) + np.einsum("kpq,kq->kp", self._kq, q_below)
        return self.v_noload_pu + (self._below.T @ drop) / self._v0

    def flows_kw(self, p_kw: np.ndarray) -> np.ndarray:
        """(n_branches, 3) lossless active power flowing downstream in each branch and phase."""
        return -(self.flow @ p_kw)
