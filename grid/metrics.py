"""Grid-impact metrics, each defined once here with its source.

Inputs are per-bus, per-phase phase-to-neutral voltages in p.u. (phases a, b, c
in columns) as a solver returns them.
"""

from dataclasses import dataclass

import numpy as np

from grid.state import GridState

_A = np.exp(2j * np.pi / 3)  # the 120-degree rotation operator


def phasors(vm_pu: np.ndarray, va_degree: np.ndarray) -> np.ndarray:
    """Complex phase voltages from magnitude and angle (any leading shape, last axis a, b, c)."""
    return vm_pu * np.exp(1j * np.deg2rad(va_degree))


def sequence_components(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero, positive and negative sequence of phasors ``v[..., (a, b, c)]`` (Fortescue, 1918)."""
    va, vb, vc = v[..., 0], v[..., 1], v[..., 2]
    v0 = (va + vb + vc) / 3
    v1 = (va + _A * vb + _A**2 * vc) / 3
    v2 = (va + _A**2 * vb + _A * vc) / 3
    return v0, v1, v2


def vuf_percent(vm_pu: np.ndarray, va_degree: np.ndarray) -> np.ndarray:
    """Voltage unbalance factor |V2| / |V1| * 100 (IEC 61000-4-30, sec. 5.7.1).

    The same definition as pandapower's ``res_bus_3ph.unbalance_percent``.
    """
    _, v1, v2 = sequence_components(phasors(vm_pu, va_degree))
    return np.abs(v2) / np.abs(v1) * 100.0


def pvur_percent(vm_pu: np.ndarray) -> np.ndarray:
    """Phase voltage unbalance rate: max |V_phase - V_avg| / V_avg * 100 (IEEE Std 936-1987).

    Uses phase-to-neutral magnitudes only, so it ignores angle unbalance.
    """
    mean = vm_pu.mean(axis=-1, keepdims=True)
    return (np.abs(vm_pu - mean).max(axis=-1) / mean[..., 0]) * 100.0


@dataclass(frozen=True)
class IntervalMetrics:
    """Headline grid metrics of one interval, over the feeder's LV buses.

    Values are NaN (and counts None) when the power flow did not converge.
    """

    vm_min_pu: tuple[float, float, float]
    vm_max_pu: tuple[float, float, float]
    vuf_max_percent: float
    pvur_max_percent: float
    n_buses_outside_limits: int | None
    trafo_loading_percent: tuple[float, float, float]
    line_loading_max_percent: float
    n_lines_overloaded: int | None
    losses_kw: float
    ext_grid_import_kw: float


def interval_metrics(
    state: GridState,
    lv_buses: np.ndarray,
    v_min_pu: float,
    v_max_pu: float,
    line_loading_limit_percent: float = 100.0,
) -> IntervalMetrics:
    """Reduce a solved :class:`GridState` to the interval's headline metrics.

    Args:
        state: solver output.
        lv_buses: positions of the LV buses in ``state.vm_pu`` (limits apply there).
        v_min_pu: lower voltage limit (EN 50160: 0.9 p.u.).
        v_max_pu: upper voltage limit (EN 50160: 1.1 p.u.).
        line_loading_limit_percent: a line above this is overloaded.

    """
    if not state.converged:
        nan = float("nan")
        return IntervalMetrics(
            (nan, nan, nan), (nan, nan, nan), nan, nan, None, (nan, nan, nan), nan, None, nan, nan
        )
    vm = state.vm_pu[lv_buses]
    va = state.va_degree[lv_buses]
    outside = ((vm < v_min_pu) | (vm > v_max_pu)).any(axis=1)
    trafo = state.trafo_loading_percent.max(axis=0)
    return IntervalMetrics(
        vm_min_pu=tuple(float(x) for x in vm.min(axis=0)),  # type: ignore[arg-type]
        vm_max_pu=tuple(float(x) for x in vm.max(axis=0)),  # type: ignore[arg-type]
        vuf_max_percent=float(vuf_percent(vm, va).max()),
        pvur_max_percent=float(pvur_percent(vm).max()),
        n_buses_outside_limits=int(outside.sum()),
        trafo_loading_percent=tuple(float(x) for x in trafo),  # type: ignore[arg-type]
        line_loading_max_percent=float(state.line_loading_percent.max()),
        n_lines_overloaded=int((state.line_loading_percent > line_loading_limit_percent).sum()),
        losses_kw=state.losses_kw,
        ext_grid_import_kw=state.ext_grid_import_kw,
    )
