"""VUF and PVUR against hand-worked phasor examples and against pandapower."""

import copy

import numpy as np
import pandapower as pp
import pytest

from grid import load_feeder, pvur_percent, vuf_percent
from grid.metrics import sequence_components

A = np.exp(2j * np.pi / 3)


def polar(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.abs(v), np.rad2deg(np.angle(v))


def test_balanced_voltages_have_no_unbalance() -> None:
    vm = np.array([[1.02, 1.02, 1.02]])
    va = np.array([[10.0, -110.0, 130.0]])
    assert vuf_percent(vm, va)[0] == pytest.approx(0.0, abs=1e-12)
    assert pvur_percent(vm)[0] == pytest.approx(0.0, abs=1e-12)


def test_one_phase_sagging_by_hand() -> None:
    # Va = 0.9/0, Vb = 1/-120, Vc = 1/120:
    # V1 = (0.9 + 1 + 1) / 3 = 0.96667, V2 = (0.9 - 1) / 3 = -0.03333 -> VUF = 3.4483 %
    # mean |V| = 0.96667, largest deviation 0.06667 -> PVUR = 6.8966 %
    vm = np.array([[0.9, 1.0, 1.0]])
    va = np.array([[0.0, -120.0, 120.0]])
    assert vuf_percent(vm, va)[0] == pytest.approx(0.1 / 2.9 * 100, rel=1e-12)
    assert pvur_percent(vm)[0] == pytest.approx((0.2 / 3) / (2.9 / 3) * 100, rel=1e-12)


def test_added_negative_sequence_sets_vuf_and_leaves_magnitudes_rule_to_pvur() -> None:
    v1, v2 = 1.0, 0.05 * np.exp(1j * 0.7)
    v = v1 * np.array([1, A**2, A]) + v2 * np.array([1, A, A**2])
    vm, va = polar(v[None, :])
    assert vuf_percent(vm, va)[0] == pytest.approx(5.0, rel=1e-12)
    zero, pos, neg = sequence_components(v)
    assert abs(zero) == pytest.approx(0.0, abs=1e-12)
    assert pos == pytest.approx(v1)
    assert neg == pytest.approx(v2)
    # PVUR sees only magnitudes: recompute it from its definition by hand
    mean = vm.mean()
    assert pvur_percent(vm)[0] == pytest.approx(np.abs(vm - mean).max() / mean * 100, rel=1e-12)


def test_vuf_equals_pandapower_unbalance_percent() -> None:
    feeder = load_feeder("ieee_european_lv")
    net = copy.deepcopy(feeder.net)
    rng = np.random.default_rng(3)
    for bus, phase in zip(feeder.households.bus, feeder.households.phase, strict=True):
        p = {f"p_{ph}_mw": 0.0 for ph in "abc"}
        p[f"p_{phase}_mw"] = float(rng.uniform(-0.004, 0.006))
        pp.create_asymmetric_load(net, bus=int(bus), **p)
    pp.runpp_3ph(net)
    res = net.res_bus_3ph
    vm = res[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy()
    va = res[["va_a_degree", "va_b_degree", "va_c_degree"]].to_numpy()
    np.testing.assert_allclose(vuf_percent(vm, va), res.unbalance_percent.to_numpy(), rtol=1e-9, atol=1e-12)
    assert res.unbalance_percent.max() > 0.1  # the case really is unbalanced
