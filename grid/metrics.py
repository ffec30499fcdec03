"""Grid-impact metrics, each defined once here with its source.

Inputs are per-bus, per-phase phase-to-neutral voltages in p.u. (phases a, b, c
in columns) as a solver returns them.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from lemgrid.grid.state import GridState

_A = np.exp(2j * np.pi / 3)  # the 120-degree rotation operator
_NEXT = np.array([1, 2, 0])  # each phase's next phase: b, c, a


def phasors(vm_pu: np.ndarray, va_degree: np.ndarray) -> np.ndarray:
    """Complex phase voltages from magnitude and angle (any leading shape, last axis a, b, c)."""
    return vm_pu * np.exp(1j * np.deg2rad(va_degree))


def sequence_components(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero, positive and negative sequence of phasors ``v[..., (a, b, c)]`` (Fortescue, 1918)."""
    va, vb, vc = v[..., 0], v[..., 1], v[..., 2]
    return (va + vb + vc) / 3, *_positive_negative(va, vb, vc)


def _positive_negative(va: np.ndarray, vb: np.ndarray, vc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative sequence of the phase voltages a, b, c (Fortescue, 1918)."""
    return (va + _A * vb + _A**2 * vc) / 3, (va + _A**2 * vb + _A * vc) / 3


def vuf_percent(vm_pu: np.ndarray, va_degree: np.ndarray) -> np.ndarray:
    """Voltage unbalance factor |V2| / |V1| * 100 (IEC 61000-4-30, sec. 5.7.1).

    The same definition as pandapower's ``res_bus_3ph.unbalance_percent``.
    """
    return _vuf(np.moveaxis(phasors(vm_pu, va_degree), -1, 0))


def _vuf(v: np.ndarray) -> np.ndarray:
    """VUF of phasors with the phases on the first axis."""
    v1, v2 = _positive_negative(v[0], v[1], v[2])
    return np.abs(v2) / np.abs(v1) * 100.0


def pvur_percent(vm_pu: np.ndarray) -> np.ndarray:
    """Phase voltage unbalance rate: max |V_phase - V_avg| / V_avg * 100 (IEEE Std 936-1987).

    Uses phase-to-neutral magnitudes only, so it ignores angle unbalance.
    """
    return _pvur(np.moveaxis(vm_pu, -1, 0))


def _pvur(vm: np.ndarray) -> np.ndarray:
    """PVUR of magnitudes with the phases on the first axis."""
    mean = vm.sum(axis=0) / 3
    return np.abs(vm - mean).max(axis=0) / mean * 100.0


def lvur_percent(vm_pu: np.ndarray, va_degree: np.ndarray) -> np.ndarray:
    """Line voltage unbalance rate: max |V_ll - V_ll,avg| / V_ll,avg * 100 (NEMA MG1-2016, 14.35).

    Computed on the line-to-line magnitudes |Va - Vb|, |Vb - Vc|, |Vc - Va|.
    """
    return _lvur(np.moveaxis(phasors(vm_pu, va_degree), -1, 0))


def _lvur(v: np.ndarray) -> np.ndarray:
    """LVUR of phasors with the phases on the first axis."""
    return _pvur(np.abs(v - v[_NEXT]))  # the spread of |Va - Vb|, |Vb - Vc|, |Vc - Va|


@dataclass(frozen=True)
class IntervalMetrics:
    """Headline grid metrics of one interval, over the feeder's LV buses.

    Values are NaN (and counts None) when the power flow did not converge.
    """

    vm_min_pu: tuple[float, float, float]
    vm_max_pu: tuple[float, float, float]
    vuf_max_percent: float
    pvur_max_percent: float
    lvur_max_percent: float
    n_buses_outside_limits: int | None
    trafo_loading_percent: tuple[float, float, float]
    trafo_unbalance_percent: float
    line_loading_max_percent: float
    n_lines_overloaded: int | None
    losses_kw: float
    ext_grid_import_kw: float
    overvoltage_headroom_pu: float
    undervoltage_headroom_pu: float
    thermal_headroom_percent: float


def interval_metrics(
    state: GridState,
    lv_buses: np.ndarray | slice,
    v_min_pu: float,
    v_max_pu: float,
    line_loading_limit_percent: float = 100.0,
) -> IntervalMetrics:
    """Reduce a solved :class:`GridState` to the interval's headline metrics.

    Args:
        state: solver output.
        lv_buses: positions of the LV buses in ``state.vm_pu`` (limits apply there), or their slice.
        v_min_pu: lower voltage limit (EN 50160: 0.9 p.u.).
        v_max_pu: upper voltage limit (EN 50160: 1.1 p.u.).
        line_loading_limit_percent: a line above this is overloaded.

    """
    if not state.converged:
        nan = float("nan")
        return IntervalMetrics(
            vm_min_pu=(nan, nan, nan),
            vm_max_pu=(nan, nan, nan),
            vuf_max_percent=nan,
            pvur_max_percent=nan,
            lvur_max_percent=nan,
            n_buses_outside_limits=None,
            trafo_loading_percent=(nan, nan, nan),
            trafo_unbalance_percent=nan,
            line_loading_max_percent=nan,
            n_lines_overloaded=None,
            losses_kw=nan,
            ext_grid_import_kw=nan,
            overvoltage_headroom_pu=nan,
            undervoltage_headroom_pu=nan,
            thermal_headroom_percent=nan,
        )
    # the phases on the first axis, each contiguous: the reductions over phases are elementwise
    vm = np.ascontiguousarray(state.vm_pu[lv_buses].T)
    v = phasors(vm, state.va_degree[lv_buses].T)
    outside = ((vm < v_min_pu) | (vm > v_max_pu)).any(axis=0)
    trafo = state.trafo_loading_percent.max(axis=0)
    vm_min, vm_max = vm.min(axis=1), vm.max(axis=1)  # the extremes over phases are exact maxima too
    line_max = state.line_loading_percent.max()
    return IntervalMetrics(
        vm_min_pu=tuple(vm_min.tolist()),  # type: ignore[arg-type]
        vm_max_pu=tuple(vm_max.tolist()),  # type: ignore[arg-type]
        vuf_max_percent=float(_vuf(v).max()),
        pvur_max_percent=float(_pvur(vm).max()),
        lvur_max_percent=float(_lvur(v).max()),
        n_buses_outside_limits=int(outside.sum()),
        trafo_loading_percent=tuple(trafo.tolist()),  # type: ignore[arg-type]
        # the unbalance the transformer carries: PVUR's formula on its per-phase current loading
        trafo_unbalance_percent=float(_pvur(state.trafo_loading_percent.T).max()),
        line_loading_max_percent=float(line_max),
        n_lines_overloaded=int((state.line_loading_percent > line_loading_limit_percent).sum()),
        losses_kw=state.losses_kw,
        ext_grid_import_kw=state.ext_grid_import_kw,
        # hosting-capacity style margins: distance to the nearest limit (negative = violated)
        overvoltage_headroom_pu=float(v_max_pu - vm_max.max()),
        undervoltage_headroom_pu=float(vm_min.min() - v_min_pu),
        thermal_headroom_percent=float(line_loading_limit_percent - max(line_max, trafo.max())),
    )


class VoltageQuality:
    """EN 50160 supply-voltage check and customer-minutes outside limits, fed interval by interval.

    EN 50160 (sec. 4.2.2, LV supply voltage variations): in each week, 95 % of the
    10-minute mean r.m.s. values within +-10 % of nominal, and all within +10 % / -15 %.
    lemgrid's voltages are quasi-static (constant within an interval), so the
    10-minute means are exact averages of the piecewise-constant trace. A run
    shorter than a week is judged on the weeks it has (``complete`` says which are whole).

    Args:
        n_customers: number of supply points (households, each on its phase).
        v_min_pu, v_max_pu: limits for customer-minutes outside limits.
    """

    WINDOW_S = 600.0
    WEEK_S = 7 * 86400.0

    def __init__(self, n_customers: int, v_min_pu: float, v_max_pu: float) -> None:
        self.v_min_pu = v_min_pu
        self.v_max_pu = v_max_pu
        self.customer_minutes_outside = np.zeros(n_customers)
        self._acc = np.zeros(n_customers)
        self._weeks: dict[int, dict[str, np.ndarray]] = {}

    def add(self, t0_s: float, t1_s: float, vm_pu: np.ndarray) -> None:
        """Voltage at each customer, constant over [t0, t1). NaN (a failed power flow) is skipped."""
        outside = (vm_pu < self.v_min_pu) | (vm_pu > self.v_max_pu)
        self.customer_minutes_outside += outside * (t1_s - t0_s) / 60  # NaN is never outside
        t = t0_s
        while t < t1_s:
            window = int(t // self.WINDOW_S)
            end = min(t1_s, (window + 1) * self.WINDOW_S)
            self._acc += vm_pu * (end - t)
            t = end
            if end == (window + 1) * self.WINDOW_S:
                self._close(window, self._acc / self.WINDOW_S)
                self._acc = np.zeros_like(self._acc)

    def _close(self, window: int, mean: np.ndarray) -> None:
        week = int(window * self.WINDOW_S // self.WEEK_S)
        if week not in self._weeks:
            self._weeks[week] = {
                "windows": np.zeros(len(mean)),
                "within": np.zeros(len(mean)),
                "min": np.full(len(mean), np.inf),
                "max": np.full(len(mean), -np.inf),
            }
        w = self._weeks[week]
        valid = ~np.isnan(mean)
        w["windows"] += valid
        w["within"] += valid & (np.abs(mean - 1.0) <= 0.10)
        w["min"] = np.fmin(w["min"], mean)
        w["max"] = np.fmax(w["max"], mean)

    def weekly(self) -> list[dict[str, Any]]:
        """Per week: 10-minute windows, share within +-10 %, extremes and EN 50160 compliance."""
        out = []
        for week, w in sorted(self._weeks.items()):
            share = np.divide(
                w["within"], w["windows"], out=np.full_like(w["within"], np.nan), where=w["windows"] > 0
            )
            compliant = (share >= 0.95) & (w["min"] >= 0.85) & (w["max"] <= 1.10)
            out.append(
                {
                    "week": week,
                    "complete": bool(w["windows"].max() * self.WINDOW_S >= self.WEEK_S),
                    "windows": w["windows"],
                    "share_within_10_percent": share,
                    "min_pu": w["min"],
                    "max_pu": w["max"],
                    "compliant": compliant,
                }
            )
        return out
