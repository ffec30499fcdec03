"""Network-constraint methods: how the DSO's limits enter the market (review section 4).

Every method looks at the households' reported positions for the interval
(as the per-phase injections they imply) and returns how much each household's
export and import must be reduced so that voltage, line and transformer
limits hold. A household can only give up what it can physically shed: its PV
output (export) and its battery and EV charging (import), never more than
its net position. The model then curtails the matching trades and the devices.

- ``none``: power flow after clearing only.
- ``post_check``: the market clears; the DSO runs the full power flow and, while a
  limit is violated, rejects all remaining flexibility of the household that
  contributes most to the worst violation, then runs the power flow again.
  Contribution: flexible kW times the household's voltage sensitivity at the
  violating bus and phase (LinDist3Flow), or, for an overloaded line or
  transformer phase, flexible kW below it feeding the overload.
- ``sensitivity``: voltage sensitivities and loading sensitivities from the full
  power flow at the reported operating point (:mod:`grid.sensitivity`) enter a
  linear program as constraints; it finds the cheapest curtailment (valued at
  the households' limit prices) before the market clears.
- ``opf``: the same linear program over the LinDist3Flow model
  (:mod:`grid.lindist`): voltages and lossless per-phase branch flows, with
  thermal limits as per-phase apparent-power limits. No power flow is run.

Constraints the linear programs cannot meet with the available flexibility are
met as far as possible (penalised slack); the residual shows in the grid metrics.
"""

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from scipy.optimize import linprog

from grid.lindist import LinDist3Flow
from grid.sensitivity import sensitivities
from grid.state import GridState, PowerFlowSolver

CONSTRAINT_MODES = ("none", "post_check", "sensitivity", "opf")
_PENALTY_PER_PU = 1e4  # EUR per p.u. of voltage limit violation left
_PENALTY_PER_PERCENT = 1e2  # EUR per percent of loading limit violation left


@dataclass(frozen=True)
class Limits:
    """The limits the DSO enforces and the margins the linear methods keep from them."""

    v_min_pu: float
    v_max_pu: float
    loading_percent: float
    margin_pu: float
    margin_percent: float


@dataclass(frozen=True)
class Request:
    """One interval's reported positions and flexibility.

    Attributes:
        p_kw, q_kvar: (n, 3) injections the reports imply, per household and phase.
        export_flex_kw: how much each household can cut its export (PV it can curtail).
        import_flex_kw: how much each household can cut its import (battery and EV charging).
        export_cost: EUR/kWh each household loses per kWh of export cut (its ask).
        import_cost: EUR/kWh each household loses per kWh of import cut (its bid).
    """

    p_kw: np.ndarray
    q_kvar: np.ndarray
    export_flex_kw: np.ndarray
    import_flex_kw: np.ndarray
    export_cost: np.ndarray
    import_cost: np.ndarray


@dataclass(frozen=True)
class Curtailment:
    """What a method decided: cuts per household (kW, on its phase) and why."""

    export_kw: np.ndarray
    import_kw: np.ndarray
    reason: list[str]
    power_flows: int = 0
    cost_eur: float = 0.0

    @classmethod
    def nothing(cls, n: int, power_flows: int = 0) -> "Curtailment":
        """No cut."""
        return cls(np.zeros(n), np.zeros(n), [""] * n, power_flows)

    def valued(self, request: Request, hours: float) -> "Curtailment":
        """The same cuts with their cost: the energy given up, valued at the households' limit prices."""
        cost = float(self.export_kw @ request.export_cost + self.import_kw @ request.import_cost) * hours
        return replace(self, cost_eur=cost)


class ConstraintMethod(Protocol):
    """The interface every constraint method implements."""

    mode: str

    def curtail(self, request: Request) -> Curtailment:
        """Cuts that keep the grid within limits."""
        ...


@dataclass(frozen=True)
class Grid:
    """What the methods know of the feeder."""

    solver: PowerFlowSolver
    lindist: LinDist3Flow
    lv_bus_pos: np.ndarray
    bus_ids: np.ndarray
    phase_col: np.ndarray

    @property
    def n(self) -> int:
        """Number of households."""
        return len(self.phase_col)


def _with_cuts(
    request: Request, phase_col: np.ndarray, export_kw: np.ndarray, import_kw: np.ndarray
) -> np.ndarray:
    p = request.p_kw.copy()
    p[np.arange(len(phase_col)), phase_col] += import_kw - export_kw
    return p


class NoConstraint:
    """The market ignores the grid; the power flow only measures."""

    mode = "none"

    def __init__(self, grid: Grid) -> None:
        self.grid = grid

    def curtail(self, request: Request) -> Curtailment:
        """Never cut."""
        return Curtailment.nothing(self.grid.n)


class PostCheck:
    """Clear, then reject the largest contributor's flexibility until the power flow is within limits."""

    mode = "post_check"

    def __init__(self, grid: Grid, limits: Limits) -> None:
        self.grid = grid
        self.limits = limits
        tree = grid.lindist.tree
        net = tree.feeder.net
        # +1 where a positive from-side (HV-side) flow runs away from the source (an import)
        self._import_sign = {
            k: (
                1.0
                if b.kind == "trafo" or net.line.from_bus.iloc[b.position] == net.bus.index[b.upstream]
                else -1.0
            )
            for k, b in enumerate(tree.branches)
        }
        self._branch_of = {(b.kind, b.position): k for k, b in enumerate(tree.branches)}

    def curtail(self, request: Request) -> Curtailment:
        """Cut, re-check, repeat (at most once per household and direction)."""
        g = self.grid
        export_cut, import_cut = np.zeros(g.n), np.zeros(g.n)
        reason = [""] * g.n
        runs = 0
        for _ in range(2 * g.n + 1):
            state = g.solver.solve(_with_cuts(request, g.phase_col, export_cut, import_cut), request.q_kvar)
            runs += 1
            if not state.converged:
                break
            worst = self._worst_violation(state)
            if worst is None:
                break
            direction, weight, label = worst
            flex = (
                (request.export_flex_kw - export_cut)
                if direction == "export"
                else (request.import_flex_kw - import_cut)
            )
            contribution = np.clip(flex, 0, None) * weight
            if contribution.max() <= 1e-9:
                break  # nothing left that helps
            h = int(np.argmax(contribution))
            if direction == "export":
                export_cut[h] = request.export_flex_kw[h]
            else:
                import_cut[h] = request.import_flex_kw[h]
            reason[h] = label
        return Curtailment(export_cut, import_cut, reason, runs)

    def _worst_violation(self, state: GridState) -> tuple[str, np.ndarray, str] | None:
        """The largest relative violation: which direction to cut, who helps how much, and its label."""
        g, lim = self.grid, self.limits
        vm = state.vm_pu[g.lv_bus_pos]
        over = vm - lim.v_max_pu
        under = lim.v_min_pu - vm
        line_over = state.line_loading_percent - lim.loading_percent
        trafo_over = state.trafo_loading_percent - lim.loading_percent
        # compare voltage excess (p.u.) with loading excess (%) on one scale: 0.01 p.u. ~ 10 %
        candidates = [
            (float(over.max(initial=-np.inf)) * 1000, "over"),
            (float(under.max(initial=-np.inf)) * 1000, "under"),
            (float(line_over.max(initial=-np.inf)), "line"),
            (float(trafo_over.max(initial=-np.inf)), "trafo"),
        ]
        size, kind = max(candidates)
        if size <= 0:
            return None
        vp = g.lindist.vp.reshape(-1, 3, g.n)
        if kind in ("over", "under"):
            bus, phase = np.unravel_index(np.argmax(over if kind == "over" else under), over.shape)
            row = g.lv_bus_pos[bus]
            weight = np.abs(vp[row, phase])
            what = "overvoltage" if kind == "over" else "undervoltage"
            label = f"{what} at bus {g.bus_ids[row]} phase {'abc'[phase]}"
            return ("export" if kind == "over" else "import"), weight, label
        flow = g.lindist.flow
        if kind == "line":
            line = int(np.argmax(line_over))
            k = self._branch_of[("line", line)]
            importing = state.line_p_from_kw[line] * self._import_sign[k] > 0
            weight = flow[k].toarray().ravel()
            label = f"line {g.lindist.tree.feeder.net.line.index[line]} overloaded"
        else:
            trafo, phase = np.unravel_index(np.argmax(trafo_over), trafo_over.shape)
            k = self._branch_of[("trafo", int(trafo))]
            importing = state.trafo_p_hv_kw[trafo] > 0
            weight = flow[k].toarray().ravel() * (g.phase_col == phase)
            label = (
                f"transformer {g.lindist.tree.feeder.net.trafo.index[trafo]} phase {'abc'[phase]} overloaded"
            )
        return ("import" if importing else "export"), weight, label


@dataclass(frozen=True)
class _Rows:
    """Linear limits ``value0 + G @ dp <= bound`` (dp: kW change of each household on its phase)."""

    value0: np.ndarray
    g: np.ndarray  # (m, n)
    bound: np.ndarray
    penalty: np.ndarray
    labels: list[str]


def _solve_lp(request: Request, phase_col: np.ndarray, rows: _Rows) -> Curtailment:
    """Cheapest export/import cuts meeting the rows (with penalised slack)."""
    n = len(phase_col)
    e_max, i_max = request.export_flex_kw, request.import_flex_kw
    # keep only rows the available flexibility could push past their bound
    reach = np.abs(rows.g) @ np.maximum(e_max, i_max)
    keep = rows.value0 + reach > rows.bound
    if not keep.any():
        return Curtailment.nothing(n)
    g, v0, b = rows.g[keep], rows.value0[keep], rows.bound[keep]
    labels = [label for label, k in zip(rows.labels, keep, strict=True) if k]
    violated = v0 > b
    if not violated.any():
        return Curtailment.nothing(n)
    m = len(v0)
    cost = np.concatenate([request.export_cost, request.import_cost, rows.penalty[keep]])
    # value0 + G (i - e) - s <= bound
    a_ub = np.hstack([-g, g, -np.eye(m)])
    bounds = [(0, x) for x in e_max] + [(0, x) for x in i_max] + [(0, None)] * m
    result = linprog(cost, A_ub=a_ub, b_ub=b - v0, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"constraint LP failed: {result.message}")
    e, i = result.x[:n], result.x[n : 2 * n]
    e[e < 1e-7] = 0.0
    i[i < 1e-7] = 0.0
    after = v0 + g @ (i - e)
    active = violated | (after >= b - 1e-6)
    reason = []
    for h in range(n):
        if e[h] == 0 and i[h] == 0:
            reason.append("")
            continue
        effect = np.where(active, np.abs(g[:, h]), 0.0)
        reason.append(labels[int(np.argmax(effect))])
    return Curtailment(e, i, reason)


def _voltage_rows(v0: np.ndarray, sens: np.ndarray, grid: Grid, limits: Limits) -> _Rows:
    """Upper and lower voltage limits at every LV bus and phase; ``sens`` is (n_bus * 3, n)."""
    rows = (grid.lv_bus_pos[:, None] * 3 + np.arange(3)).ravel()
    value = v0.ravel()[rows]
    g = sens[rows]
    labels = [f"bus {grid.bus_ids[r // 3]} phase {'abc'[r % 3]}" for r in rows]
    return _Rows(
        value0=np.concatenate([value, -value]),
        g=np.vstack([g, -g]),
        bound=np.concatenate(
            [
                np.full(len(rows), limits.v_max_pu - limits.margin_pu),
                np.full(len(rows), -(limits.v_min_pu + limits.margin_pu)),
            ]
        ),
        penalty=np.full(2 * len(rows), _PENALTY_PER_PU),
        labels=[f"overvoltage at {x}" for x in labels] + [f"undervoltage at {x}" for x in labels],
    )


def _stack(*parts: _Rows) -> _Rows:
    return _Rows(
        value0=np.concatenate([p.value0 for p in parts]),
        g=np.vstack([p.g for p in parts]),
        bound=np.concatenate([p.bound for p in parts]),
        penalty=np.concatenate([p.penalty for p in parts]),
        labels=[x for p in parts for x in p.labels],
    )


class SensitivityConstrained:
    """Cheapest curtailment under the full power flow's sensitivities at the reported operating point."""

    mode = "sensitivity"

    def __init__(self, grid: Grid, limits: Limits) -> None:
        self.grid = grid
        self.limits = limits

    def curtail(self, request: Request) -> Curtailment:
        """One power flow; if anything is within the margins of a limit, sensitivities and an LP."""
        g, lim = self.grid, self.limits
        state = g.solver.solve(request.p_kw, request.q_kvar)
        if not state.converged:
            return Curtailment.nothing(g.n, 1)
        vm = state.vm_pu[g.lv_bus_pos]
        tight = (
            (vm > lim.v_max_pu - lim.margin_pu).any()
            or (vm < lim.v_min_pu + lim.margin_pu).any()
            or (state.line_loading_percent > lim.loading_percent - lim.margin_percent).any()
            or (state.trafo_loading_percent > lim.loading_percent - lim.margin_percent).any()
        )
        if not tight:
            return Curtailment.nothing(g.n, 1)
        sens = sensitivities(g.solver, request.p_kw, request.q_kvar, g.phase_col)
        n_bus = state.vm_pu.shape[0]
        vsc = sens.vsc_pu_per_kw.reshape(g.n, n_bus * 3).T
        net = g.lindist.tree.feeder.net
        loading_bound = lim.loading_percent - lim.margin_percent
        lines = _Rows(
            value0=state.line_loading_percent,
            g=sens.line_loading.T,
            bound=np.full(len(state.line_loading_percent), loading_bound),
            penalty=np.full(len(state.line_loading_percent), _PENALTY_PER_PERCENT),
            labels=[f"line {i} overloaded" for i in net.line.index],
        )
        trafos = _Rows(
            value0=state.trafo_loading_percent.ravel(),
            g=sens.trafo_loading.reshape(g.n, -1).T,
            bound=np.full(state.trafo_loading_percent.size, loading_bound),
            penalty=np.full(state.trafo_loading_percent.size, _PENALTY_PER_PERCENT),
            labels=[f"transformer {i} phase {p} overloaded" for i in net.trafo.index for p in "abc"],
        )
        cut = _solve_lp(request, g.phase_col, _stack(_voltage_rows(state.vm_pu, vsc, g, lim), lines, trafos))
        return Curtailment(cut.export_kw, cut.import_kw, cut.reason, 1 + 2 * g.n)


class LinDistOPF:
    """Cheapest curtailment under the LinDist3Flow model: linear voltages and lossless per-phase flows."""

    mode = "opf"

    def __init__(self, grid: Grid, limits: Limits) -> None:
        self.grid = grid
        self.limits = limits
        lindist = grid.lindist
        tree = lindist.tree
        flow = lindist.flow.toarray()  # (n_branches, n)
        # per branch and phase: d(downstream flow) per kW of each household on its phase
        self._flow_g = np.stack([-flow * (grid.phase_col == phase) for phase in range(3)], axis=1)
        net = tree.feeder.net
        self._labels = [
            f"line {net.line.index[b.position]}"
            if b.kind == "line"
            else f"transformer {net.trafo.index[b.position]}"
            for b in tree.branches
        ]

    def curtail(self, request: Request) -> Curtailment:
        """The linear model's voltages and flows; an LP if any is within the margins of a limit."""
        g, lim = self.grid, self.limits
        lindist = g.lindist
        v = lindist.voltages(request.p_kw, request.q_kvar)
        flows = lindist.flows_kw(request.p_kw)  # (n_branches, 3)
        q_flows = -(lindist.flow @ request.q_kvar)
        s_limit = lindist.s_max_kva[:, None] * (lim.loading_percent - lim.margin_percent) / 100
        p_limit = np.sqrt(np.clip(s_limit**2 - q_flows**2, 0, None))
        n_branch = len(flows)
        g_flow = self._flow_g.reshape(n_branch * 3, g.n)
        labels = [f"{self._labels[k]} phase {'abc'[p]} overloaded" for k in range(n_branch) for p in range(3)]
        thermal = _Rows(
            value0=np.concatenate([flows.ravel(), -flows.ravel()]),
            g=np.vstack([g_flow, -g_flow]),
            bound=np.concatenate([p_limit.ravel(), p_limit.ravel()]),
            penalty=np.tile(100 * _PENALTY_PER_PERCENT / np.repeat(lindist.s_max_kva, 3), 2),  # per kW
            labels=labels + labels,
        )
        return _solve_lp(request, g.phase_col, _stack(_voltage_rows(v, lindist.vp, g, lim), thermal))


def make_constraint_method(mode: str, grid: Grid, limits: Limits) -> ConstraintMethod:
    """Build the constraint method ``mode`` names."""
    methods: dict[str, type] = {
        "none": NoConstraint,
        "post_check": PostCheck,
        "sensitivity": SensitivityConstrained,
        "opf": LinDistOPF,
    }
    if mode not in methods:
        raise ValueError(f"constraint mode {mode!r} does not exist; available: {', '.join(CONSTRAINT_MODES)}")
    if mode == "none":
        return NoConstraint(grid)
    return methods[mode](grid, limits)
