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
  the households' limit prices) before the market clears. The sensitivities are
  reused in later rounds and intervals while they predict the power flow within
  a share of the margins (:data:`RELINEARISE_SHARE_OF_MARGIN`, the re-linearisation trigger).
- ``opf``: the same linear program over the LinDist3Flow model
  (:mod:`grid.lindist`): voltages and per-phase branch flows, linear in the cuts,
  around an operating point with a first loss correction; thermal limits as
  per-phase power limits at the operating point's voltage. No power flow is run.

Constraints the linear programs cannot meet with the available flexibility are
met as far as possible (penalised slack); the residual shows in the grid metrics.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from lemgrid.agents import linear_program
from lemgrid.agents.linear_program import LinearProgram
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.sensitivity import Sensitivities, sensitivities
from lemgrid.grid.state import GridState, PowerFlowSolver

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
        export_direction, import_direction: (n, 3) how one kW of each household's cut
            splits over the phases (PV on its own phase; a three-phase EV charger on all three).
    """

    p_kw: np.ndarray
    q_kvar: np.ndarray
    export_flex_kw: np.ndarray
    import_flex_kw: np.ndarray
    export_cost: np.ndarray
    import_cost: np.ndarray
    export_direction: np.ndarray
    import_direction: np.ndarray

    def with_cuts(self, export_kw: np.ndarray, import_kw: np.ndarray) -> np.ndarray:
        """The (n, 3) injections after cutting exports and imports."""
        return (
            self.p_kw
            - export_kw[:, None] * self.export_direction
            + import_kw[:, None] * self.import_direction
        )


@dataclass(frozen=True)
class Curtailment:
    """What a method decided: cuts per household (kW) and why."""

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

    @property
    def customer_bus_pos(self) -> np.ndarray:
        """Positions of the buses households connect to."""
        return np.unique(self.lindist.tree.household_bus)


class NoConstraint:
    """The market ignores the grid; the power flow only measures."""

    mode = "none"

    def __init__(self, grid: "Grid | None", limits: "Limits") -> None:
        del grid, limits  # nothing to enforce

    def curtail(self, request: Request) -> Curtailment:
        """Never cut."""
        return Curtailment.nothing(len(request.p_kw))


class PostCheck:
    """Clear, then reject the largest contributor's flexibility until the power flow is within limits."""

    mode = "post_check"

    def __init__(self, grid: Grid, limits: Limits) -> None:
        self.grid = grid
        self.limits = limits
        tree = grid.lindist.tree
        feeder = tree.feeder
        from_bus, bus_ids = feeder.line_from_bus_ids, feeder.bus_ids
        # +1 where a positive from-side (HV-side) flow runs away from the source (an import)
        self._import_sign = {
            k: (1.0 if b.kind == "trafo" or from_bus[b.position] == bus_ids[b.upstream] else -1.0)
            for k, b in enumerate(tree.branches)
        }
        self._branch_of = {(b.kind, b.position): k for k, b in enumerate(tree.branches)}
        self._relief: dict[tuple[str, int, int], np.ndarray] = {}  # each violated element's, kept

    def curtail(self, request: Request) -> Curtailment:
        """Cut, re-check, repeat (at most once per household and direction)."""
        g = self.grid
        cut = {"export": np.zeros(g.n), "import": np.zeros(g.n)}
        reason = [""] * g.n
        runs = 0
        for _ in range(2 * g.n + 1):
            p_kw = request.with_cuts(cut["export"], cut["import"])
            state = g.solver.solve(p_kw, request.q_kvar)
            runs += 1
            choice = self._choose(state, request, cut)
            if choice is None:
                break  # within limits, or nothing left that helps (or the power flow failed)
            direction, label, contribution = choice
            h = int(np.argmax(contribution))
            cut[direction][h] = getattr(request, f"{direction}_flex_kw")[h]
            reason[h] = label
        return Curtailment(cut["export"], cut["import"], reason, runs)

    def _choose(
        self, state: GridState, request: Request, cut: dict[str, np.ndarray]
    ) -> tuple[str, str, np.ndarray] | None:
        """The direction, reason and each household's contribution of the next cut (None: none helps).

        The first violation, largest first, that some household's remaining flexibility relieves.
        """
        if not state.converged:
            return None
        for direction, element in self._violations(state):
            flex = getattr(request, f"{direction}_flex_kw") - cut[direction]
            split = getattr(request, f"{direction}_direction")
            contribution = np.clip(flex, 0, None) * (split * self._relief_of(element)).sum(axis=1)
            if contribution.max() > 1e-9:
                return direction, self._label(element), contribution
        return None

    def _violations(self, state: GridState) -> Iterator[tuple[str, tuple[str, int, int]]]:
        """Every violated limit, largest first: the direction to cut and the element (kind, position, phase).

        Sizes compare on one scale: 0.01 p.u. of voltage as 10 % of loading. The caller
        usually stops at the first, so the directions are worked out only when reached.
        """
        g, lim = self.grid, self.limits
        vm = state.vm_pu[g.lv_bus_pos]
        over, under = vm - lim.v_max_pu, -(vm - lim.v_min_pu)
        lines = np.flatnonzero(state.line_loading_percent > lim.loading_percent)
        trafos = np.nonzero(state.trafo_loading_percent > lim.loading_percent)
        voltages = [np.nonzero(over > 0), np.nonzero(under > 0)]
        sizes = np.concatenate(
            [
                over[voltages[0]] * 1000,
                under[voltages[1]] * 1000,
                state.line_loading_percent[lines] - lim.loading_percent,
                state.trafo_loading_percent[trafos] - lim.loading_percent,
            ]
        )
        elements: list[tuple[str, int, int]] = [
            (what, int(g.lv_bus_pos[bus]), int(phase))
            for what, (buses, phases) in zip(("overvoltage", "undervoltage"), voltages, strict=True)
            for bus, phase in zip(buses, phases, strict=True)
        ]
        line_phases = np.argmax(state.line_phase_loading_percent[lines], axis=1)  # its most loaded phase's
        elements += [("line", int(line), int(ph)) for line, ph in zip(lines, line_phases, strict=True)]
        elements += [("trafo", int(t), int(ph)) for t, ph in zip(*trafos, strict=True)]
        for i in np.argsort(-sizes, kind="stable"):  # largest first, ties in the order above
            kind, position, _ = elements[i]
            if kind in ("overvoltage", "undervoltage"):
                yield ("export" if kind == "overvoltage" else "import"), elements[i]
                continue
            p_from = state.line_p_from_kw[position] if kind == "line" else state.trafo_p_hv_kw[position]
            k = self._branch_of[(kind, position)]
            yield ("import" if p_from * self._import_sign[k] > 0 else "export"), elements[i]

    def _relief_of(self, element: tuple[str, int, int]) -> np.ndarray:
        """(n, 3) how much one kW cut on each household's phases relieves ``element`` (LinDist3Flow)."""
        if element not in self._relief:
            kind, position, phase = element
            lindist = self.grid.lindist
            if kind in ("overvoltage", "undervoltage"):
                self._relief[element] = lindist.row(position, phase)
            else:
                weight = np.zeros((self.grid.n, 3))
                weight[:, phase] = lindist.flow[self._branch_of[(kind, position)]].toarray().ravel()
                self._relief[element] = weight
        return self._relief[element]

    def _label(self, element: tuple[str, int, int]) -> str:
        """Why a household was cut: the violated element."""
        kind, position, phase = element
        if kind in ("overvoltage", "undervoltage"):
            return f"{kind} at bus {self.grid.bus_ids[position]} phase {'abc'[phase]}"
        feeder = self.grid.lindist.tree.feeder
        name = (
            f"line {feeder.line_ids[position]}"
            if kind == "line"
            else f"transformer {feeder.trafo_ids[position]}"
        )
        return f"{name} phase {'abc'[phase]} overloaded"


@dataclass(frozen=True)
class _Rows:
    """Linear limits ``value0 + g_import @ i - g_export @ e <= bound`` for cuts e, i (kW)."""

    value0: np.ndarray
    g_export: np.ndarray  # (m, n): change of the limited quantity per kW more injected the export-cut way
    g_import: np.ndarray  # (m, n): the same the import-cut way
    bound: np.ndarray
    penalty: np.ndarray
    labels: list[str]

    def __neg__(self) -> "_Rows":
        """The opposite limit (``-value0 - ... <= bound``), for lower bounds; set ``bound`` after."""
        return replace(self, value0=-self.value0, g_export=-self.g_export, g_import=-self.g_import)


def _solve_lp(request: Request, rows: _Rows) -> Curtailment:
    """Cheapest export/import cuts meeting the rows (with penalised slack)."""
    n = len(request.export_flex_kw)
    e_max, i_max = request.export_flex_kw, request.import_flex_kw
    # keep only rows the available flexibility could push past their bound
    reach = np.abs(rows.g_export) @ e_max + np.abs(rows.g_import) @ i_max
    keep = (rows.value0 + reach > rows.bound) & (rows.value0 > rows.bound - reach)
    violated_all = rows.value0 > rows.bound
    if not violated_all.any():
        return Curtailment.nothing(n)
    keep |= violated_all
    g_e, g_i = rows.g_export[keep], rows.g_import[keep]
    v0, b = rows.value0[keep], rows.bound[keep]
    labels = [label for label, k in zip(rows.labels, keep, strict=True) if k]
    m = len(v0)
    cost = np.concatenate([request.export_cost, request.import_cost, rows.penalty[keep]])
    a_ub = np.hstack([-g_e, g_i, -np.identity(m)])
    upper = np.concatenate([e_max, i_max, np.full(m, np.inf)]).astype(float)
    x = linear_program.solve(LinearProgram.inequalities(cost, a_ub, b - v0, np.zeros(len(cost)), upper))
    e, i = x[:n], x[n : 2 * n]
    e[e < 1e-7] = 0.0
    i[i < 1e-7] = 0.0
    after = v0 + g_i @ i - g_e @ e
    active = (v0 > b) | (after >= b - 1e-6)
    reason = []
    for h in range(n):
        if e[h] == 0 and i[h] == 0:
            reason.append("")
            continue
        effect = np.where(active, np.abs(g_e[:, h]) * e[h] + np.abs(g_i[:, h]) * i[h], 0.0)
        reason.append(labels[int(np.argmax(effect))])
    return Curtailment(e, i, reason)


def _voltage_rows(
    v0: np.ndarray, g_export: np.ndarray, g_import: np.ndarray, grid: Grid, limits: Limits
) -> _Rows:
    """Upper and lower voltage limits at the customers' buses, every phase; sensitivities are (n_bus * 3, n).

    With injections only at customer buses, a radial feeder's voltage extremes lie at those buses
    (along a branch without customers the voltage changes monotonically), so the other buses add
    rows to the linear program but no limit.
    """
    rows = (grid.customer_bus_pos[:, None] * 3 + np.arange(3)).ravel()
    names = [f"bus {grid.bus_ids[r // 3]} phase {'abc'[r % 3]}" for r in rows]
    upper = _Rows(
        value0=v0.ravel()[rows],
        g_export=g_export[rows],
        g_import=g_import[rows],
        bound=np.full(len(rows), limits.v_max_pu - limits.margin_pu),
        penalty=np.full(len(rows), _PENALTY_PER_PU),
        labels=[f"overvoltage at {x}" for x in names],
    )
    lower = replace(
        -upper,
        bound=np.full(len(rows), -(limits.v_min_pu + limits.margin_pu)),
        labels=[f"undervoltage at {x}" for x in names],
    )
    return _stack(upper, lower)


def _stack(*parts: _Rows) -> _Rows:
    return _Rows(
        value0=np.concatenate([p.value0 for p in parts]),
        g_export=np.vstack([p.g_export for p in parts]),
        g_import=np.vstack([p.g_import for p in parts]),
        bound=np.concatenate([p.bound for p in parts]),
        penalty=np.concatenate([p.penalty for p in parts]),
        labels=[x for p in parts for x in p.labels],
    )


# Re-linearisation trigger of ``sensitivity``: stored sensitivities are used again (in the next round
# or interval) while the linear rows they give predict the power flow just solved to within this
# share of the margins the LP keeps (``constraint_margin_pu`` for voltages, ``constraint_margin_percent``
# for loadings), on every limit within ``_RELEVANT_MARGINS`` margins of its bound (a line far from its
# limit, or near zero flow where its loading has a kink, cannot bind). A quarter of the margin leaves
# the rest of it for the error of the cut itself, which the next round's power flow checks.
RELINEARISE_SHARE_OF_MARGIN = 0.25
_RELEVANT_MARGINS = 10.0


@dataclass(frozen=True)
class _LimitRows:
    """The limits the sensitivity LP keeps, with each row's margin.

    Row order: customer-bus voltages (upper, then lower), line phases, transformer sides and phases.
    Each phase of a line and each side and phase of a transformer has its own row: a line's loading
    (its highest phase) and a transformer phase's (its larger side: a Dyn transformer's HV phase
    current joins two LV phases) change slope where another phase or side takes over, which the
    rows of the single phases and sides do not.
    ``rows`` holds their bounds, penalties and labels; values and gradients come per linearisation.
    """

    rows: _Rows
    voltage_rows: np.ndarray  # rows of (n_bus * 3) flattened voltages: customer buses, every phase
    margin: np.ndarray

    @classmethod
    def of(cls, grid: Grid, limits: Limits) -> "_LimitRows":
        """The rows of ``grid``'s limits (value and gradients left empty)."""
        feeder = grid.lindist.tree.feeder
        n_bus = len(grid.bus_ids)
        none = np.zeros((n_bus * 3, 0))  # the gradients come with each linearisation
        voltages = _voltage_rows(np.ones((n_bus, 3)), none, none, grid, limits)
        n_loading = 3 * (len(feeder.line_ids) + 2 * len(feeder.trafo_ids))
        loadings = _Rows(
            value0=np.zeros(n_loading),
            g_export=np.zeros((n_loading, 0)),
            g_import=np.zeros((n_loading, 0)),
            bound=np.full(n_loading, limits.loading_percent - limits.margin_percent),
            penalty=np.full(n_loading, _PENALTY_PER_PERCENT),
            labels=[f"line {i} phase {p} overloaded" for i in feeder.line_ids for p in "abc"]
            + [
                f"transformer {i} phase {p} overloaded ({side} side)"
                for i in feeder.trafo_ids
                for side in ("HV", "LV")
                for p in "abc"
            ],
        )
        rows = _stack(voltages, loadings)
        margin = np.repeat([limits.margin_pu, limits.margin_percent], [len(voltages.bound), n_loading])
        return cls(rows, (grid.customer_bus_pos[:, None] * 3 + np.arange(3)).ravel(), margin)

    def values(self, state: GridState) -> np.ndarray:
        """Each row's limited quantity in ``state`` (lower voltage limits negated)."""
        v = state.vm_pu.ravel()[self.voltage_rows]
        return np.concatenate(
            [v, -v, state.line_phase_loading_percent.ravel(), state.trafo_side_loading_percent.ravel()]
        )

    def gradients(self, by: Sensitivities | None, households: np.ndarray, n: int) -> np.ndarray:
        """(rows, n) change of each row's quantity per kW each household injects (0 if not perturbed).

        ``by`` holds the sensitivities of ``households`` (None: none perturbed).
        """
        out = np.zeros((len(self.rows.bound), n))
        if by is None:
            return out
        k = len(households)
        v = by.vsc_pu_per_kw.reshape(k, -1).T[self.voltage_rows]
        lines, trafos = by.line_loading.reshape(k, -1).T, by.trafo_loading.reshape(k, -1).T
        out[:, households] = np.vstack([v, -v, lines, trafos])
        return out


@dataclass(frozen=True)
class _Linearisation:
    """The limits' linear rows taken at one operating point (``rows.value0``: its power flow's values)."""

    p_kw: np.ndarray
    export_direction: np.ndarray
    import_direction: np.ndarray
    rows: _Rows
    exporters: np.ndarray  # (n,) bool: perturbed in the export direction (had export flexibility)
    importers: np.ndarray  # (n,) bool: the same for imports

    def covers(self, request: Request) -> bool:
        """Whether every household with flexibility in ``request`` has its sensitivities here."""
        return bool(
            np.all(self.exporters[request.export_flex_kw > 0])
            and np.all(self.importers[request.import_flex_kw > 0])
            and np.array_equal(request.export_direction, self.export_direction)
            and np.array_equal(request.import_direction, self.import_direction)
        )

    def prediction_error(self, request: Request, values: np.ndarray, margin: np.ndarray) -> float:
        """Largest error, in margins, of the rows' linear prediction of ``values`` at ``request``'s point.

        A household's change of injection is taken along the direction it was perturbed in
        (export first: its own phase), exact for single-phase households; the change of a
        household not perturbed (no flexibility), of a three-phase charger's phases and of
        reactive power is left out of the prediction, so it shows in the error and counts
        against reuse. Rows more than ``_RELEVANT_MARGINS`` margins below their bound (at both
        the predicted and the solved point) are left out.
        """
        g = np.where(self.exporters, self.rows.g_export, self.rows.g_import)
        predicted = self.rows.value0 + g @ (request.p_kw - self.p_kw).sum(axis=1)
        relevant = np.maximum(values, predicted) > self.rows.bound - _RELEVANT_MARGINS * margin
        if not relevant.any():
            return 0.0
        return float(np.max(np.abs(values - predicted)[relevant] / margin[relevant]))


class SensitivityConstrained:
    """Cheapest curtailment under the full power flow's sensitivities, re-linearised when they go stale.

    A cut that large moves the operating point far from where the
    sensitivities were taken (an evening overload of 170 %), so the power flow
    is checked again at the cut point and, while a limit is still within its
    margin, the rest of the flexibility is cut by a new LP: at most ``rounds``
    times. Each LP starts from the power flow at its point; its sensitivities
    are the ones stored from an earlier round or interval while they predict
    that power flow within ``reuse_share`` of the margins (see
    :data:`RELINEARISE_SHARE_OF_MARGIN`), else taken afresh (``reuse_share=0``: always).
    """

    mode = "sensitivity"

    def __init__(
        self, grid: Grid, limits: Limits, rounds: int = 3, reuse_share: float = RELINEARISE_SHARE_OF_MARGIN
    ) -> None:
        self.grid = grid
        self.limits = limits
        self.rounds = rounds
        self._limits = _LimitRows.of(grid, limits)
        self.reuse_share = reuse_share if (self._limits.margin > 0).all() else 0.0
        self.linearisations = 0  # how many times sensitivities were taken
        self._stored: list[_Linearisation] = []  # the latest ``rounds`` linearisations, newest first

    def curtail(self, request: Request) -> Curtailment:
        """Successive linearisation: cut, check at the cut point, cut again while a limit is tight."""
        n = self.grid.n
        export_cut, import_cut = np.zeros(n), np.zeros(n)
        reason, runs = [""] * n, 0
        for _ in range(self.rounds):
            rest = replace(
                request,
                p_kw=request.with_cuts(export_cut, import_cut),
                export_flex_kw=request.export_flex_kw - export_cut,
                import_flex_kw=request.import_flex_kw - import_cut,
            )
            cut = self._linearised_cut(rest)
            runs += cut.power_flows
            if not (cut.export_kw.any() or cut.import_kw.any()):
                break
            export_cut, import_cut = export_cut + cut.export_kw, import_cut + cut.import_kw
            reason = [old or new for old, new in zip(reason, cut.reason, strict=True)]
        return Curtailment(export_cut, import_cut, reason, runs)

    def _linearised_cut(self, request: Request) -> Curtailment:
        """One power flow; if anything is within the margins of a limit, an LP on (re)used sensitivities."""
        g, lim = self.grid, self.limits
        state = g.solver.solve(request.p_kw, request.q_kvar)
        if not state.converged:
            return Curtailment.nothing(g.n, 1)
        vm = state.vm_pu[g.lv_bus_pos]
        loading_bound = lim.loading_percent - lim.margin_percent
        tight = (
            (vm > lim.v_max_pu - lim.margin_pu).any()
            or (vm < lim.v_min_pu + lim.margin_pu).any()
            or (state.line_loading_percent > loading_bound).any()
            or (state.trafo_loading_percent > loading_bound).any()
        )
        if not tight:
            return Curtailment.nothing(g.n, 1)
        values, runs = self._limits.values(state), 1
        stored = next((x for x in self._stored if self.stays_linear(x, request, values)), None)
        if stored is None:
            stored, perturbed = self.linearise(request, values)
            runs += perturbed
            if stored is None:  # a perturbed power flow failed: no linearisation, no cut this interval
                return Curtailment.nothing(g.n, runs)
        cut = _solve_lp(request, replace(stored.rows, value0=values))
        return replace(cut, power_flows=runs)

    def stays_linear(self, stored: _Linearisation, request: Request, values: np.ndarray) -> bool:
        """The re-linearisation trigger: True while ``stored``'s rows predict ``values`` within tolerance.

        They must also hold every household that can be cut (else the LP could not cut it).
        """
        if self.reuse_share <= 0 or not stored.covers(request):
            return False
        return stored.prediction_error(request, values, self._limits.margin) <= self.reuse_share

    def linearise(self, request: Request, values: np.ndarray) -> tuple[_Linearisation | None, int]:
        """Sensitivities at ``request``'s point, stored; and how many perturbed power flows they took.

        Only households with flexibility in a direction are perturbed in it: the LP cannot cut
        the others, so their columns would not change its result.
        """
        n = self.grid.n
        exporters, importers = request.export_flex_kw > 0, request.import_flex_kw > 0
        same = np.array_equal(request.import_direction, request.export_direction)
        if same:  # one set of perturbations serves both directions
            exporters = importers = exporters | importers
        which_e, which_i = np.flatnonzero(exporters), np.flatnonzero(importers)
        perturbed = 2 * (len(which_e) if same else len(which_e) + len(which_i))
        try:
            by_export = self._perturb(request, request.export_direction, which_e)
            by_import = by_export if same else self._perturb(request, request.import_direction, which_i)
        except RuntimeError:
            return None, perturbed
        self.linearisations += 1
        g_export = self._limits.gradients(by_export, which_e, n)
        g_import = g_export if same else self._limits.gradients(by_import, which_i, n)  # kept: share
        rows = replace(self._limits.rows, value0=values, g_export=g_export, g_import=g_import)
        taken = _Linearisation(
            request.p_kw, request.export_direction, request.import_direction, rows, exporters, importers
        )
        self._stored = [taken, *self._stored][: self.rounds]
        return taken, perturbed

    def _perturb(self, request: Request, direction: np.ndarray, which: np.ndarray) -> Sensitivities | None:
        """Sensitivities of households ``which`` (None if there are none)."""
        if not len(which):
            return None
        return sensitivities(self.grid.solver, request.p_kw, request.q_kvar, direction, households=which)


class LinDistOPF:
    """Cheapest curtailment under the LinDist3Flow model: linear voltages and per-phase flows.

    The rows' gradients depend only on how the cuts split over the phases, so they are built
    once and kept until households switch phases; the bounds follow the operating point.
    """

    mode = "opf"

    def __init__(self, grid: Grid, limits: Limits) -> None:
        self.grid = grid
        self.limits = limits
        tree = grid.lindist.tree
        feeder = tree.feeder
        self._flow = grid.lindist.flow.toarray()  # (n_branches, n)
        names = [
            f"line {feeder.line_ids[b.position]}"
            if b.kind == "line"
            else f"transformer {feeder.trafo_ids[b.position]}"
            for b in tree.branches
        ]
        thermal_labels = [f"{name} phase {p} overloaded" for name in names for p in "abc"]
        n_bus = len(grid.bus_ids)
        none = np.zeros((n_bus * 3, 0))
        self._voltages = _voltage_rows(np.ones((n_bus, 3)), none, none, grid, limits)  # bounds, labels
        self._voltage_at = (grid.customer_bus_pos[:, None] * 3 + np.arange(3)).ravel()
        thermal_penalty = 100 * _PENALTY_PER_PERCENT / np.repeat(grid.lindist.s_max_kva, 3)  # per kW
        self._penalty = np.concatenate([self._voltages.penalty, thermal_penalty, thermal_penalty])
        self._labels = self._voltages.labels + thermal_labels + thermal_labels
        self._gradients: tuple[bytes, np.ndarray, np.ndarray] | None = None  # directions, export, import

    def _flow_rows(self, direction: np.ndarray) -> np.ndarray:
        """(n_branches * 3, n) change of each branch's downstream flow per phase per kW more injected."""
        return (-self._flow[:, None, :] * direction.T[None, :, :]).reshape(-1, self.grid.n)

    def curtail(self, request: Request) -> Curtailment:
        """The linear model's voltages and flows; an LP if any is within the margins of a limit."""
        g, lim = self.grid, self.limits
        lindist = g.lindist
        v, flows = lindist.with_losses(request.p_kw, request.q_kvar)  # flows: (n_branches, 3)
        q_flows = -(lindist.flow @ request.q_kvar)
        # a current limit is a power limit at the branch's voltage: taken at the operating point
        # (conservative while cuts raise voltages)
        v_branch = np.clip(v[lindist.downstream_bus], 0.5, None)
        s_limit = lindist.s_max_kva[:, None] * v_branch * (lim.loading_percent - lim.margin_percent) / 100
        p_limit = np.sqrt(np.clip(s_limit**2 - q_flows**2, 0, None)).ravel()
        v0 = v.ravel()[self._voltage_at]
        # rows: upper and lower voltage limits, then each branch phase's flow both ways
        value0 = np.concatenate([v0, -v0, flows.ravel(), -flows.ravel()])
        bound = np.concatenate([self._voltages.bound, p_limit, p_limit])
        if not (value0 > bound).any():  # nothing within the margins of its limit: no LP
            return Curtailment.nothing(g.n)
        g_export, g_import = self._rows_gradients(request)
        return _solve_lp(request, _Rows(value0, g_export, g_import, bound, self._penalty, self._labels))

    def _rows_gradients(self, request: Request) -> tuple[np.ndarray, np.ndarray]:
        """The rows' gradients for the request's phase splits (built again only when they change)."""
        key = request.export_direction.tobytes() + request.import_direction.tobytes()
        if self._gradients is None or self._gradients[0] != key:
            lindist = self.grid.lindist
            parts = []
            for direction in (request.export_direction, request.import_direction):
                voltage = _columns(lindist, direction)[self._voltage_at]
                flow = self._flow_rows(direction)
                parts.append(np.vstack([voltage, -voltage, flow, -flow]))
            self._gradients = key, parts[0], parts[1]
        return self._gradients[1], self._gradients[2]


def _columns(lindist: LinDist3Flow, directions: np.ndarray) -> np.ndarray:
    """LinDist3Flow voltage columns for cuts split as ``directions``: own-phase ones are precomputed."""
    own = np.eye(3)[lindist.household_phase]
    differs = np.flatnonzero(~np.isclose(directions, own).all(axis=1))
    if not len(differs):
        return lindist.vp
    out = lindist.vp.copy()
    out[:, differs] = lindist.columns(directions[differs], differs)
    return out


# name -> method, every constraint mode registered by name
CONSTRAINT_MODES: dict[str, Callable[..., ConstraintMethod]] = {
    "none": NoConstraint,
    "post_check": PostCheck,
    "sensitivity": SensitivityConstrained,
    "opf": LinDistOPF,
}


def make_constraint_method(mode: str, grid: Grid | None, limits: Limits) -> ConstraintMethod:
    """Build the constraint method ``mode`` names (``grid`` may be None for ``none``)."""
    if mode not in CONSTRAINT_MODES:
        raise ValueError(f"constraint mode {mode!r} does not exist; available: {', '.join(CONSTRAINT_MODES)}")
    return CONSTRAINT_MODES[mode](grid, limits)
