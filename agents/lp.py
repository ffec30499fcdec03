"""The lp_optimiser's linear program: a household's battery and EV over its forecast horizon.

:class:`lemgrid.agents.policies.LPOptimiser` calls :func:`schedule` every interval
and dispatches the first step of the plan.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lemgrid.agents.devices import EV, Battery
from lemgrid.agents.linear_program import LinearProgram, solve

if TYPE_CHECKING:
    from lemgrid.agents.policies import Forecast


@dataclass(frozen=True)
class Program(LinearProgram):
    """The LP of :func:`schedule` over ``n`` intervals and ``m`` EV stays (see :func:`program`)."""

    n: int
    m: int

    def powers_kw(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The battery's and the EV's power per interval (injection positive) of a solution ``v``."""
        n, m = self.n, self.m
        battery_kw = v[n : 2 * n] - v[:n]
        ev_kw = -v[5 * n + 1 : 5 * n + 1 + m * n].reshape(m, n).sum(axis=0) if m else np.zeros(n)
        return battery_kw, ev_kw


def _columnwise(size: int, *blocks: tuple[Any, Any, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column starts, row indices and values (by column, then row) from (values, rows, columns) blocks."""
    values = np.concatenate([np.full(np.shape(rows), value, dtype=float) for value, rows, _ in blocks])
    rows = np.concatenate([b[1] for b in blocks])
    cols = np.concatenate([b[2] for b in blocks])
    order = np.lexsort((rows, cols))
    start = np.zeros(size + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols, minlength=size), out=start[1:])
    return start, rows[order].astype(np.int32), values[order]


def program(
    battery: Battery | None,
    forecast: "Forecast",
    other_now_kw: float = 0.0,
    ev: EV | None = None,
    t0_s: float = 0.0,
) -> Program:
    """The LP that :func:`schedule` solves."""
    n, h = len(forecast.load_kw), forecast.hours
    residual = (forecast.pv_kw - forecast.load_kw).astype(float)
    residual[0] += other_now_kw
    stays = [] if ev is None else ev.stays(t0_s, t0_s + n * h * 3600)
    m = len(stays)
    # variables: charge c, discharge d, import i, export x (kW, n each), energy e (kWh, n + 1),
    # EV charging (kW, n per stay)
    nc, nd, ni, nx, ne, nv = 0, n, 2 * n, 3 * n, 4 * n, 5 * n + 1
    npk = nv + m * n  # the import peak (kW), priced by a capacity tariff
    size = npk + 1
    wear = 0.0 if battery is None else battery.degradation_cost_eur_per_kwh
    cost = np.zeros(size)
    cost[nc:nd] = cost[nd:ni] = wear * h
    cost[ni:nx] = forecast.buy_eur_per_kwh * h
    cost[nx:ne] = -forecast.sell_eur_per_kwh * h
    cost[npk] = forecast.peak_eur_per_kw
    rows = np.arange(n)
    # balance: x - i - d + c + sum(EV) = residual
    eq = [(1.0, rows, nx + rows), (-1.0, rows, ni + rows), (-1.0, rows, nd + rows), (1.0, rows, nc + rows)]
    eq += [(1.0, rows, nv + k * n + rows) for k in range(m)]
    lower, upper = np.zeros(size), np.full(size, np.inf)
    lower[npk] = forecast.peak_so_far_kw
    b_eq = [residual]
    if battery is not None:
        cost[ne + n] = (
            -forecast.sell_eur_per_kwh[-1] * battery.eta_discharge
        )  # what is left is worth selling later
        # energy: e[t+1] - e[t] - eta_c h c[t] + h / eta_d d[t] = 0, and e[0] = now
        eq += [
            (1.0, n + rows, ne + rows + 1),
            (-1.0, n + rows, ne + rows),
            (-battery.eta_charge * h, n + rows, nc + rows),
            (h / battery.eta_discharge, n + rows, nd + rows),
            (1.0, np.array([2 * n]), np.array([ne])),
        ]
        b_eq += [np.zeros(n), np.array([battery.energy_kwh])]
        e_min, e_max = battery.soc_min * battery.capacity_kwh, battery.soc_max * battery.capacity_kwh
        upper[nc:ni] = battery.power_kw
        lower[ne], upper[ne] = min(e_min, battery.energy_kwh), max(e_max, battery.energy_kwh)
        lower[ne + 1 : nv], upper[ne + 1 : nv] = e_min, e_max
    else:
        upper[nc:ni] = 0.0
        upper[ne:nv] = 0.0
    ub: list[tuple[Any, np.ndarray, np.ndarray]] = []
    b_ub: list[np.ndarray] = []
    if forecast.peak_eur_per_kw > 0:  # import <= peak in every interval
        ub += [(1.0, rows, ni + rows), (-1.0, rows, np.full(n, npk))]
        b_ub.append(np.zeros(n))
    starts = t0_s + rows * h * 3600
    for k, stay in enumerate(stays):
        assert ev is not None
        plugged_h = (
            np.maximum(
                0.0, np.minimum(stay.departure_s, starts + h * 3600) - np.maximum(stay.arrival_s, starts)
            )
            / 3600
        )
        upper[nv + k * n : nv + (k + 1) * n] = ev.charger_kw * plugged_h / h
        after_h = max(stay.departure_s - max(t0_s + n * h * 3600, stay.arrival_s), 0.0) / 3600
        need = max(stay.remaining_kwh - ev.charger_kw * after_h, 0.0)  # what must be charged in the horizon
        row = len(np.concatenate(b_ub)) if b_ub else 0
        ub += [(-h, np.full(n, row), nv + k * n + rows), (h, np.full(n, row + 1), nv + k * n + rows)]
        b_ub.append(np.array([-min(need, stay.remaining_kwh), stay.remaining_kwh]))
    if m > 1:  # one charger: the stays share its power
        assert ev is not None
        row = len(np.concatenate(b_ub))
        ub += [(1.0, row + rows, nv + k * n + rows) for k in range(m)]
        b_ub.append(np.full(n, ev.charger_kw))
    b_ub_all = np.concatenate(b_ub) if b_ub else np.zeros(0)
    n_ub, b_eq_all = len(b_ub_all), np.concatenate(b_eq)
    start, index, value = _columnwise(size, *ub, *((v, n_ub + r, c) for v, r, c in eq))
    row_lower = np.concatenate([np.full(n_ub, -np.inf), b_eq_all])
    row_upper = np.concatenate([b_ub_all, b_eq_all])
    return Program(cost, start, index, value, row_lower, row_upper, lower, upper, n_ub, n, m)


def schedule(
    battery: Battery | None,
    forecast: "Forecast",
    other_now_kw: float = 0.0,
    ev: EV | None = None,
    t0_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The LP's battery and EV power per forecast interval (injection positive); see :class:`LPOptimiser`.

    ``other_now_kw`` is the coming interval's injection of everything else the
    plan holds (appliances, curtailment). With an ``ev``, each of its stays that
    overlaps the horizon (starting at ``t0_s``) is charged within the charger's
    power while plugged, with at least what cannot be charged after the horizon.
    """
    lp = program(battery, forecast, other_now_kw, ev, t0_s)
    return lp.powers_kw(solve(lp))


def schedule_battery(battery: Battery, forecast: "Forecast", other_now_kw: float = 0.0) -> np.ndarray:
    """The LP's battery power per interval of the forecast, for a household without an EV."""
    return schedule(battery, forecast, other_now_kw)[0]
