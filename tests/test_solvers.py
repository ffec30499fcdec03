"""Cross-validation of the power-grid-model backend against pandapower's runpp_3ph."""

import numpy as np
import pytest

from lemgrid.grid import FEEDERS, PandapowerSolver, PowerGridModelSolver, load_feeder, make_solver


def random_injections(feeder_name: str, cases: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Single-phase exports and imports on each household's phase, plus a few 3-phase loads."""
    feeder = load_feeder(feeder_name)
    n = len(feeder.households)
    phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
    rng = np.random.default_rng(seed)
    p = np.zeros((cases, n, 3))
    q = np.zeros((cases, n, 3))
    p[:, np.arange(n), phase] = rng.uniform(-6.0, 4.0, (cases, n))
    q[:, np.arange(n), phase] = -rng.uniform(0.0, 1.0, (cases, n))
    three_phase = rng.random(n) < 0.2
    p[:, three_phase, :] += rng.uniform(-11.0, 0.0, (cases, int(three_phase.sum()), 1)) / 3
    return p, q


@pytest.fixture(scope="module", params=sorted(FEEDERS))
def solved(request: pytest.FixtureRequest) -> tuple[str, np.ndarray, np.ndarray, list, list]:
    feeder = load_feeder(request.param)
    p, q = random_injections(request.param, cases=4, seed=7)
    ref = PandapowerSolver(feeder)
    fast = PowerGridModelSolver(feeder)
    return (
        request.param,
        p,
        q,
        [ref.solve(a, b) for a, b in zip(p, q, strict=True)],
        [fast.solve(a, b) for a, b in zip(p, q, strict=True)],
    )


def test_voltages_agree_within_1e_4_pu(solved) -> None:
    _, _, _, ref, fast = solved
    for r, f in zip(ref, fast, strict=True):
        assert r.converged and f.converged
        assert np.abs(r.vm_pu - f.vm_pu).max() < 1e-4
        # angles relative to the slack bus: power-grid-model's source impedance turns the whole
        # feeder by a uniform angle under load (0.013 degrees on kerber_substation at 4 MW)
        rel_r = r.va_degree - r.va_degree[0, 0]
        rel_f = f.va_degree - f.va_degree[0, 0]
        assert np.abs(rel_r - rel_f).max() < 5e-3
        assert r.vm_pu.std() > 1e-3  # the cases really load the feeder


def test_loading_losses_and_import_agree(solved) -> None:
    _, _, _, ref, fast = solved
    for r, f in zip(ref, fast, strict=True):
        np.testing.assert_allclose(f.line_loading_percent, r.line_loading_percent, rtol=0, atol=0.01)
        np.testing.assert_allclose(
            f.line_phase_loading_percent, r.line_phase_loading_percent, rtol=0, atol=0.01
        )
        np.testing.assert_array_equal(f.line_phase_loading_percent.max(axis=1), f.line_loading_percent)
        np.testing.assert_allclose(
            f.trafo_side_loading_percent, r.trafo_side_loading_percent, rtol=0, atol=0.01
        )
        np.testing.assert_array_equal(f.trafo_side_loading_percent.max(axis=1), f.trafo_loading_percent)
        np.testing.assert_allclose(
            r.trafo_side_loading_percent.max(axis=1), r.trafo_loading_percent, rtol=1e-12, atol=0
        )
        np.testing.assert_allclose(f.trafo_loading_percent, r.trafo_loading_percent, rtol=0, atol=0.01)
        assert f.losses_kw == pytest.approx(r.losses_kw, rel=1e-3)
        assert f.ext_grid_import_kw == pytest.approx(r.ext_grid_import_kw, abs=0.01)


def test_power_grid_model_closes_the_energy_balance(solved) -> None:
    _, p, _, _, fast = solved
    for case, f in zip(p, fast, strict=True):
        # measured: 7 mW at the solver's 1e-6 p.u. tolerance (pandapower's residual is ~1000x that)
        assert f.ext_grid_import_kw + case.sum() == pytest.approx(f.losses_kw, abs=1e-3)


def test_batch_equals_one_by_one() -> None:
    feeder = load_feeder("ieee_european_lv")
    p, q = random_injections("ieee_european_lv", cases=5, seed=3)
    solver = PowerGridModelSolver(feeder)
    batch = solver.solve_batch(p, q)
    for k in range(5):
        single = solver.solve(p[k], q[k])
        np.testing.assert_allclose(batch[k].vm_pu, single.vm_pu, rtol=0, atol=1e-12)
        assert batch[k].losses_kw == pytest.approx(single.losses_kw, rel=1e-12)


def test_one_interval_equals_power_grid_models_own_calculation(monkeypatch) -> None:
    """The prepared core call (buffers made once) gives the public API's result bit for bit.

    The public calls are also what a power-grid-model without the private core calls gets.
    """
    from lemgrid.grid import pgm_solver

    solver = PowerGridModelSolver(load_feeder("ieee_european_lv"))
    monkeypatch.setattr(pgm_solver, "_CORE", False)
    public_solver = PowerGridModelSolver(load_feeder("ieee_european_lv"))
    assert type(solver._single).__name__ == "_Prepared" and type(public_solver._single).__name__ == "_Public"
    p, q = random_injections("ieee_european_lv", cases=3, seed=5)
    for k in range(3):
        fast, public = solver.solve(p[k], q[k]), public_solver.solve(p[k], q[k])
        for name in (
            "vm_pu",
            "va_degree",
            "line_loading_percent",
            "line_phase_loading_percent",
            "trafo_loading_percent",
            "trafo_side_loading_percent",
            "line_losses_kw",
        ):
            assert np.array_equal(getattr(fast, name), getattr(public, name)), name
        assert (fast.losses_kw, fast.ext_grid_import_kw) == (public.losses_kw, public.ext_grid_import_kw)
    assert not np.array_equal(solver.solve(p[0], q[0]).vm_pu, fast.vm_pu)  # the cases differ
    failed = public_solver.solve(p[0] * 1e4, q[0])  # no method converges: reported, not raised
    assert not failed.converged and "did not converge" in failed.error


def test_power_grid_model_failure_is_reported_not_raised() -> None:
    feeder = load_feeder("ieee_european_lv")
    solver = make_solver("power_grid_model", feeder, max_iteration=2)
    p, q = random_injections("ieee_european_lv", cases=1, seed=1)
    state = solver.solve(p[0] * 30, q[0])
    assert not state.converged and "did not converge" in state.error
    assert np.isnan(state.vm_pu).all()
    again = solver.solve(p[0], q[0])  # a failed interval leaves the next one unharmed
    assert (
        again.converged
        and again.losses_kw == make_solver("power_grid_model", feeder, 2).solve(p[0], q[0]).losses_kw
    )


def test_a_day_on_either_backend_gives_the_same_metrics(tmp_path) -> None:
    import pandas as pd

    from tests.helpers import hourly, run_to_end

    devices = {"penetration.ev": 0.5, "penetration.battery": 0.3}
    run_to_end(hourly(**devices), tmp_path / "pp")
    run_to_end(hourly(**devices, **{"grid.solver": "power_grid_model"}), tmp_path / "pgm")
    a = pd.read_parquet(tmp_path / "pp" / "intervals.parquet")
    b = pd.read_parquet(tmp_path / "pgm" / "intervals.parquet")
    for col in [f"vm_{m}_{p}_pu" for m in ("min", "max") for p in "abc"]:
        np.testing.assert_allclose(b[col], a[col], rtol=0, atol=1e-4, err_msg=col)
    # unbalance in percent: 1e-4 p.u. of voltage is 1e-2 percentage points
    np.testing.assert_allclose(b.pvur_max_percent, a.pvur_max_percent, rtol=0, atol=1e-2)
    np.testing.assert_allclose(b.vuf_max_percent, a.vuf_max_percent, rtol=0, atol=1e-2)
    np.testing.assert_allclose(b.losses_kw, a.losses_kw, rtol=2e-3)
    hh_a = pd.read_parquet(tmp_path / "pp" / "households.parquet")
    hh_b = pd.read_parquet(tmp_path / "pgm" / "households.parquet")
    np.testing.assert_allclose(hh_b.pop("vm_pu"), hh_a.pop("vm_pu"), rtol=0, atol=1e-4)
    # losses are shared as measured, and the backends' losses agree to 0.2 %
    np.testing.assert_allclose(hh_b.pop("loss_allocation_kwh"), hh_a.pop("loss_allocation_kwh"), rtol=2e-3)
    pd.testing.assert_frame_equal(hh_a, hh_b)  # the market side does not depend on the backend


def test_sums_and_maxima_over_phases_are_numpys_bit_for_bit() -> None:
    """The power-grid-model reduction's elementwise phase sums and maxima equal numpy's reductions exactly."""
    from lemgrid.grid.pgm_solver import _phase_max, _phase_sum

    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 500, 3)) * 10.0 ** rng.integers(-6, 6, size=(2, 500, 3))
    x[0, :4] = -0.0  # numpy's sum of negative zeros is +0.0
    x[1, :4, 1] = np.nan
    assert np.array_equal(_phase_sum(x).view(np.int64), x.sum(axis=2).view(np.int64))
    assert np.array_equal(_phase_max(x), x.max(axis=2), equal_nan=True)
    assert (_phase_sum(x)[0, :4].view(np.int64) == 0).all()  # +0.0, not -0.0


def test_consecutive_positions_become_a_slice_of_the_same_elements() -> None:
    from lemgrid.grid.state import as_slice

    values = np.arange(20.0) * 3
    assert as_slice(np.array([4, 5, 6, 7])) == slice(4, 8)
    assert np.array_equal(values[as_slice(np.array([4, 5, 6, 7]))], values[[4, 5, 6, 7]])
    gapped = np.array([4, 5, 7])
    assert as_slice(gapped) is gapped
