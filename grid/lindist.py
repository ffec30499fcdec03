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

Losses are left out of the linear map. :meth:`LinDist3Flow.with_losses`
adds a first correction at an operating point: each branch's per-phase loss
``R |I|^2`` from the lossless currents, carried by every branch above it, and
the voltage drop those extra flows cause. On the IEEE feeder at 300 kW of
evening load (9 % voltage drop) the lossless head-line flow is 11 % low.

It needs no power flow per interval: the ``opf`` constraint mode clears the
market against it, while ``sensitivity`` linearises the full power flow at the
interval's operating point instead.
"""

import numpy as np

from lemgrid.grid.congestion import PhaseRatings
from lemgrid.grid.topology import Tree, phase_impedance

__all__ = ["GAMMA", "LinDist3Flow", "phase_impedance"]

ALPHA = np.exp(-2j * np.pi / 3)
GAMMA = np.array([[ALPHA ** ((p - q) % 3) for q in range(3)] for p in range(3)])


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
        s_max_kva: (n_branches,) per-phase apparent power limit at 100 % loading
            (:class:`~grid.congestion.PhaseRatings` in branch order).
        downstream_bus: (n_branches,) the bus each branch feeds.
    """

    def __init__(self, tree: Tree, household_phase: np.ndarray, v_noload_pu: np.ndarray) -> None:
        self.tree = tree
        self.household_phase = np.asarray(household_phase)
        self.v_noload_pu = v_noload_pu
        z = tree.phase_impedance_ohm
        # per branch: Re/Im of gamma o conj(Z) over the squared base voltage (kV^2 -> p.u. per kVA)
        m = GAMMA * np.conj(z) / (tree.branch_vb_kv**2 * 1000)[:, None, None]
        kp, kq = m.real, -m.imag
        self._vb_kv = tree.branch_vb_kv
        self.s_max_kva = PhaseRatings.of(tree.feeder).per_branch(tree.branch_is_line, tree.branch_position)
        self._kp, self._kq = kp, kq
        self._r_phase = z[:, 0, 0].real  # self resistance of a phase conductor, ohm
        self._below = tree.below  # (n_branches, n_bus)
        self.downstream_bus = tree.downstream_bus
        self._carries = tree.carries  # [k, j]: branch j lies below (or is) branch k
        self.flow = tree.households_below  # (n_branches, n_households)
        self._v0 = np.where(v_noload_pu > 0, v_noload_pu, 1.0)
        own_phase = np.eye(3)[self.household_phase]
        self.vp = self._columns(own_phase, kp)
        self.vq = self._columns(own_phase, kq)

    def columns(self, directions: np.ndarray, households: np.ndarray | None = None) -> np.ndarray:
        """(n_bus * 3, n) voltage change per kW households inject split over the phases as ``directions``.

        ``households`` (optional) selects which households ``directions``' rows belong to.
        """
        return self._columns(directions, self._kp, households)

    def _columns(
        self, directions: np.ndarray, k: np.ndarray, households: np.ndarray | None = None
    ) -> np.ndarray:
        """dV[j, phi] per unit at h: over branches above both j and h, sum_psi k[., phi, psi] d[h, psi]."""
        n_bus = self._below.shape[1]
        flow = self.flow if households is None else self.flow[:, households]
        out = np.zeros((n_bus, 3, len(directions)))
        for psi in range(3):
            w = flow.multiply(directions[:, psi][None, :]).tocsr()  # (n_branches, n)
            if not w.nnz:
                continue
            for phi in range(3):
                out[:, phi] += (self._below.T @ w.multiply(k[:, phi, psi][:, None])).toarray()
        return (out / self._v0[:, :, None]).reshape(n_bus * 3, -1)

    def row(self, bus: int, phase: int) -> np.ndarray:
        """(n_households, 3) voltage change at one bus and phase per kW injected on each phase."""
        above = self._below[:, bus].toarray().ravel() > 0  # the branches on the bus's path
        return (self.flow[above].T @ self._kp[above, phase, :]) / self._v0[bus, phase]

    def voltages(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> np.ndarray:
        """(n_bus, 3) linearised voltage magnitudes for injections of shape (n_households, 3)."""
        return self._voltages(self.flow @ p_kw, self.flow @ q_kvar)

    def _voltages(self, p_below: np.ndarray, q_below: np.ndarray) -> np.ndarray:
        """Voltages from the net injection below each branch and phase, shape (n_branches, 3)."""
        drop = np.einsum("kpq,kq->kp", self._kp, p_below) + np.einsum("kpq,kq->kp", self._kq, q_below)
        return self.v_noload_pu + (self._below.T @ drop) / self._v0

    def with_losses(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Voltages (n_bus, 3) and downstream active flows (n_branches, 3) with a first loss correction.

        Each branch's loss per phase, ``R_phase * |S / V|^2`` at the lossless
        operating point, is added to the flow of that branch and of every branch
        above it, and lowers the voltages below those branches accordingly.
        """
        p_below, q_below = self.flow @ p_kw, self.flow @ q_kvar
        v = self._voltages(p_below, q_below)
        v_branch = np.clip(v[self.downstream_bus], 0.5, None)
        current_a = np.hypot(p_below, q_below) / (v_branch * self._vb_kv[:, None])  # kVA / kV
        loss_kw = self._r_phase[:, None] * current_a**2 / 1000
        carried = self._carries @ loss_kw  # losses at and below each branch, per phase
        return self._voltages(p_below - carried, q_below), -(p_below - carried)
