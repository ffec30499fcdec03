"""Allocating an interval's measured losses to the households (review section 5.2).

Three rules, each returning one share per household that sums exactly to the
losses the power flow measured:

- ``pro_rata``: in proportion to each household's net exchange |P|;
- ``marginal``: in proportion to the losses each household's injection causes at
  the margin, ``PLSF_h * P_h`` (loss sensitivity factors from one power flow,
  :func:`grid.sensitivity.loss_sensitivity_factors`; its shares are within 0.8 % of
  the interval's losses of those from central differences of 2n power flows),
  scaled to the measured total (marginal losses count the losses about twice, so
  they are normalised); a household that reduces losses gets a negative share;
- ``proportional_sharing``: flow tracing with the proportional-sharing principle
  (Bialek 1996; the PSR index of Di Silvestre et al.): on the radial feeder each
  branch carries the net injection of everything below it; at every bus the
  outflows are a proportional mix of the inflows. Each branch's measured loss goes
  to the households whose power flows through it, as sources (traced upstream) and
  as sinks (traced downstream), in proportion to their share of its flow; the upstream
  grid's own share is not allocated (the rest is renormalised). Losses of branches
  that carry no household power (a no-load case) are shared pro rata.
"""

from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree


def pro_rata(net_kw: np.ndarray, total_kw: float) -> np.ndarray:
    """Shares in proportion to |net exchange| (equal shares if nobody exchanges anything)."""
    weight = np.abs(net_kw)
    if weight.sum() <= 0:
        weight = np.ones_like(net_kw)
    return total_kw * weight / weight.sum()


def marginal(net_kw: np.ndarray, plsf: np.ndarray, total_kw: float) -> np.ndarray:
    """Shares in proportion to ``PLSF * P``, scaled to the measured losses (pro rata if that sums to ~0)."""
    weight = plsf * net_kw
    if abs(weight.sum()) < 1e-9:
        return pro_rata(net_kw, total_kw)
    return total_kw * weight / weight.sum()


def proportional_sharing(tree: Tree, net_kw: np.ndarray, state: GridState) -> np.ndarray:
    """Flow-tracing shares of each branch's measured loss (see the module docstring)."""
    n_bus, n_h = len(tree.parent), len(net_kw)
    bus = tree.household_bus
    # lossless flow into each bus from its parent (downstream positive) = what the subtree consumes:
    # the households' consumption below the branch feeding the bus
    below = tree.order[1:]
    flow = np.zeros(n_bus)
    flow[below] = (tree.households_below @ -net_kw)[tree.branch_into[below]]
    flow[tree.root] = -net_kw.sum()
    # sources and sinks: households (columns 0..n_h-1) and the upstream grid (column n_h)
    root_import = flow[tree.root]  # what the feeder draws from upstream (negative: exports)
    rows, columns = np.append(bus, tree.root), np.arange(n_h + 1)
    gen = sparse.csr_matrix(
        (np.append(np.clip(net_kw, 0, None), max(root_import, 0.0)), (rows, columns)), shape=(n_bus, n_h + 1)
    )
    load = sparse.csr_matrix(
        (np.append(np.clip(-net_kw, 0, None), max(-root_import, 0.0)), (rows, columns)),
        shape=(n_bus, n_h + 1),
    )
    # the flow graph: each branch points the way its power flows (from bus a to bus z, |flow| f)
    up = tree.parent[below]
    f = flow[below]
    down, back = f > 1e-12, f < -1e-12
    a = np.concatenate([up[down], below[back]])
    z = np.concatenate([below[down], up[back]])
    f = np.concatenate([f[down], -f[back]])
    k = np.concatenate([tree.branch_into[below[down]], tree.branch_into[below[back]]])
    # Each flowing branch's loss goes to its users in proportion to source_mix[a, h] + sink_mix[z, h]
    # (the mixes of its ends over the households h); only sums of the mixes are needed, so a few
    # single-vector solves replace the (n_bus, n_households) mixes: O(n_bus) work and memory.
    sources, sinks = _Trace(z, a, f, gen), _Trace(a, z, f, load)
    total = sources.households_share()[a] + sinks.households_share()[z]  # per flowing branch
    branch_loss = _branch_losses(tree, state)
    shared = total > 1e-12
    per_user = np.zeros(len(f))
    per_user[shared] = branch_loss[k[shared]] / total[shared]
    shares = sources.weighted(np.bincount(a, weights=per_user, minlength=n_bus))[:n_h]
    shares = shares + sinks.weighted(np.bincount(z, weights=per_user, minlength=n_bus))[:n_h]
    unused = np.ones(len(branch_loss), dtype=bool)
    unused[k[shared]] = False
    unallocated = branch_loss[unused].sum()  # branches without users, or without flow
    return shares + pro_rata(net_kw, unallocated)


class _Trace:
    """Mix of each bus's gross flow by origin (Bialek 1996), as one sparse system for all buses.

    A bus's gross flow is its own ``local`` entries plus the flows ``f`` reaching it
    from the buses ``frm`` (edges ``frm -> to``), each mixed as its own bus:
    ``gross_b * mix_b - sum f * mix_frm = local_b``, i.e. ``A mix = local``. A bus with no
    flow keeps ``local``. Only products of the mix with vectors are formed, never the mix.
    """

    def __init__(self, to: np.ndarray, frm: np.ndarray, f: np.ndarray, local: sparse.csr_matrix) -> None:
        n = local.shape[0]
        gross = np.asarray(local.sum(axis=1)).ravel() + np.bincount(to, weights=f, minlength=n)
        gross = np.where(gross > 1e-12, gross, 1.0)
        system = sparse.diags(gross) - sparse.csr_matrix((f, (to, frm)), shape=(n, n))
        self._lu = sparse_linalg.splu(system.tocsc())
        self._local = local

    def households_share(self) -> np.ndarray:
        """Per bus, the share of its mix from the households (every column but the last, the grid)."""
        return self._lu.solve(np.asarray(self._local[:, :-1].sum(axis=1)).ravel())

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """``w @ mix``: per origin, its share of the buses' mixes weighted by ``w`` (the adjoint solve)."""
        return self._local.T @ self._lu.solve(w, trans="T")


def _branch_losses(tree: Tree, state: GridState) -> np.ndarray:
    """Measured loss of every branch, in the tree's branch order."""
    is_line, position = tree.branch_is_line, tree.branch_position
    out = np.empty(len(is_line))
    out[is_line] = np.asarray(state.line_losses_kw)[position[is_line]]
    out[~is_line] = np.asarray(state.trafo_losses_kw)[position[~is_line]]
    return out


def allocate_losses(
    method: str,
    net_kw: np.ndarray,
    state: GridState,
    tree: Callable[[], Tree],
    plsf: Callable[[], np.ndarray],
) -> np.ndarray:
    """Each household's share (kW) of the interval's measured losses by ``method``.

    Args:
        method: one of :data:`LOSS_ALLOCATIONS`.
        net_kw: each household's metered net injection.
        state: the interval's power flow result.
        tree: gives the feeder's radial structure (only called by ``proportional_sharing``).
        plsf: gives the loss sensitivity factors (only called by ``marginal``).
    """
    if method not in LOSS_ALLOCATIONS:
        raise ValueError(
            f"loss allocation {method!r} does not exist; available: {', '.join(LOSS_ALLOCATIONS)}"
        )
    return LOSS_ALLOCATIONS[method](net_kw, state, tree, plsf)


# name -> rule(net_kw, state, tree, plsf)
LOSS_ALLOCATIONS: dict[
    str, Callable[[np.ndarray, GridState, Callable[[], Tree], Callable[[], np.ndarray]], np.ndarray]
] = {
    "pro_rata": lambda net, state, tree, plsf: pro_rata(net, state.losses_kw),
    "marginal": lambda net, state, tree, plsf: marginal(net, plsf(), state.losses_kw),
    "proportional_sharing": lambda net, state, tree, plsf: proportional_sharing(tree(), net, state),
}
