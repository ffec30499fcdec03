"""VUF and PVUR against hand-worked phasor examples and against pandapower."""

import copy

import numpy as np
import pandapower as pp
import pytest

from lemgrid.grid import load_feeder, pvur_percent, vuf_percent
from lemgrid.grid.metrics import sequence_components

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


def test_lvur_by_hand_with_the_law_of_cosines() -> None:
    from lemgrid.grid.metrics import lvur_percent

    # Va = 1/0, Vb = 1/-120, Vc = 0.9/120: |Vab|^2 = 1 + 1 + 1 = 3,
    # |Vbc|^2 = |Vca|^2 = 1 + 0.81 + 0.9 = 2.71 (angle between each pair 120 degrees)
    vab, vbc, vca = np.sqrt(3.0), np.sqrt(2.71), np.sqrt(2.71)
    mean = (vab + vbc + vca) / 3
    expected = max(abs(vab - mean), abs(vbc - mean), abs(vca - mean)) / mean * 100
    vm = np.array([[1.0, 1.0, 0.9]])
    va = np.array([[0.0, -120.0, 120.0]])
    assert lvur_percent(vm, va)[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(3.4171, abs=1e-4)


def test_en50160_ten_minute_means_and_customer_minutes_by_hand() -> None:
    from lemgrid.grid.metrics import VoltageQuality

    vq = VoltageQuality(2, v_min_pu=0.9, v_max_pu=1.1)
    # customer 0 over four 15-minute intervals: 1.0, 1.15, 1.0, 0.82; customer 1 stays at 1.0.
    # 10-minute means: [0,10) 1.0; [10,20) (5 x 1.0 + 5 x 1.15) / 10 = 1.075; [20,30) 1.15;
    # [30,40) 1.0; [40,50) (5 x 1.0 + 5 x 0.82) / 10 = 0.91; [50,60) 0.82
    for k, v in enumerate([1.0, 1.15, 1.0, 0.82]):
        vq.add(k * 900.0, (k + 1) * 900.0, np.array([v, 1.0]))
    (week,) = vq.weekly()
    np.testing.assert_array_equal(week["windows"], [6, 6])
    np.testing.assert_allclose(week["share_within_10_percent"], [4 / 6, 1.0])
    np.testing.assert_allclose(week["min_pu"], [0.82, 1.0])
    np.testing.assert_allclose(week["max_pu"], [1.15, 1.0])
    np.testing.assert_array_equal(week["compliant"], [False, True])
    assert not week["complete"]
    np.testing.assert_allclose(vq.customer_minutes_outside, [30.0, 0.0])  # 1.15 and 0.82, 15 min each


def test_headroom_is_the_distance_to_the_nearest_limit() -> None:
    from lemgrid.grid.metrics import interval_metrics
    from lemgrid.grid.state import GridState

    state = GridState(
        converged=True,
        error="",
        vm_pu=np.array([[1.0, 1.0, 1.0], [1.07, 0.93, 1.0]]),
        va_degree=np.array([[0.0, -120.0, 120.0], [0.0, -120.0, 120.0]]),
        line_loading_percent=np.array([40.0, 85.0]),
        line_phase_loading_percent=np.array([[40.0, 10.0, 5.0], [85.0, 85.0, 0.0]]),
        trafo_loading_percent=np.array([[60.0, 90.0, 30.0]]),
        trafo_side_loading_percent=np.array([[[60.0, 90.0, 30.0], [50.0, 80.0, 30.0]]]),
        losses_kw=1.0,
        ext_grid_import_kw=10.0,
        line_p_from_kw=np.array([5.0, 6.0]),
        trafo_p_hv_kw=np.array([11.0]),
        line_losses_kw=np.array([0.4, 0.5]),
        trafo_losses_kw=np.array([0.1]),
    )
    m = interval_metrics(state, np.array([0, 1]), 0.9, 1.1)
    assert m.overvoltage_headroom_pu == pytest.approx(0.03)
    assert m.undervoltage_headroom_pu == pytest.approx(0.03)
    assert m.thermal_headroom_percent == pytest.approx(10.0)  # the transformer's phase b at 90 %
    # transformer loading 60 / 90 / 30 %: mean 60, largest deviation 30 -> 50 % unbalance
    assert m.trafo_unbalance_percent == pytest.approx(50.0)
    assert m.n_buses_outside_limits == 0 and m.n_lines_overloaded == 0


def test_interval_metrics_are_the_same_for_lv_buses_as_positions_or_slice() -> None:
    """The grid stage passes consecutive LV buses as a slice (a view); every metric keeps its bits."""
    import dataclasses

    from lemgrid.grid.metrics import interval_metrics
    from lemgrid.grid.state import GridState

    rng = np.random.default_rng(4)
    n = 40
    state = GridState(
        converged=True,
        error="",
        vm_pu=rng.uniform(0.88, 1.12, (n, 3)),
        va_degree=np.array([0.0, -120.0, 120.0]) + rng.normal(0, 2, (n, 3)),
        line_loading_percent=rng.uniform(0, 120, n - 1),
        line_phase_loading_percent=rng.uniform(0, 120, (n - 1, 3)),
        trafo_loading_percent=rng.uniform(20, 110, (2, 3)),
        trafo_side_loading_percent=rng.uniform(20, 110, (2, 2, 3)),
        losses_kw=1.0,
        ext_grid_import_kw=10.0,
        line_p_from_kw=np.zeros(n - 1),
        trafo_p_hv_kw=np.zeros(2),
        line_losses_kw=np.zeros(n - 1),
        trafo_losses_kw=np.zeros(2),
    )
    by_positions = interval_metrics(state, np.arange(1, n), 0.9, 1.1)
    by_slice = interval_metrics(state, slice(1, n), 0.9, 1.1)
    assert dataclasses.astuple(by_positions) == dataclasses.astuple(by_slice)
    assert by_positions.n_buses_outside_limits > 0 and by_positions.n_lines_overloaded > 0
    # the highest VUF is the definition's value at the worst bus
    assert by_slice.vuf_max_percent == vuf_percent(state.vm_pu[1:], state.va_degree[1:]).max()
