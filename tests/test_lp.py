"""Linear programs solved by HiGHS directly: linprog's vertex, tied optima included.

The lp_optimiser's programmes and the DSO's curtailment programmes.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linprog

from lemgrid.agents import linear_program, lp
from lemgrid.agents.devices import EV, Battery, ChargingSession
from lemgrid.agents.policies import Forecast
from tests.helpers import hourly, run_to_end


@pytest.mark.parametrize("peak_eur_per_kw", [0.0, 2.0])
def test_direct_highs_returns_linprogs_vertex_over_two_days_of_tied_prices(peak_eur_per_kw: float) -> None:
    """A receding horizon over 2 days of half-hour intervals at flat prices: many plans cost the same."""
    n, hours, days = 48, 0.5, 2
    t = np.arange(n * (days + 1)) * hours
    pv = np.clip(5 * np.sin(np.pi * (t % 24 - 6) / 12), 0, None)
    load = 0.5 + 0.3 * (t % 24 >= 17)
    battery = Battery(10.0, 4.0, 0.9, 0.1, 0.95, 0.5, degradation_cost_eur_per_kwh=0.0)
    stays = [ChargingSession((d * 24 + 18) * 3600, (d * 24 + 31) * 3600, 15.0) for d in range(days + 1)]
    ev = EV(7.4, stays, charging="deadline")
    moved = 0.0
    for k in range(n * days):
        t0_s = k * hours * 3600
        forecast = Forecast(
            load[k : k + n], pv[k : k + n], np.full(n, 0.30), np.full(n, 0.08), hours, peak_eur_per_kw, 3.0
        )
        program = lp.program(battery, forecast, 0.0, ev, t0_s)
        x = linear_program.solve(program)
        # the same vertex, bit for bit, not only the same cost
        np.testing.assert_array_equal(x, linear_program.solve_with_linprog(program), err_msg=f"interval {k}")
        battery_kw, ev_kw = program.powers_kw(x)
        moved += abs(battery.dispatch(battery_kw[0], hours)) + abs(
            ev.dispatch(ev_kw[0], t0_s, t0_s + hours * 3600)
        )
    assert moved > 10.0  # the devices were planned and moved, not idle


@pytest.mark.slow  # about 30 s on the shared 2-core machine
def test_lp_households_in_a_two_day_run_dispatch_as_with_linprog(monkeypatch, tmp_path) -> None:
    """Every table of a 2-day lp_optimiser run is the same, bit for bit, through the linprog fallback."""
    scenario = {
        "grid.solver": "power_grid_model",
        "days": 2,
        "penetration.battery": 0.3,
        "penetration.ev": 0.3,
        "households.strategy": "lp_optimiser",
    }
    run_to_end(hourly(**scenario), tmp_path / "direct")
    monkeypatch.setattr(linear_program, "_highs", None)  # as without scipy's private HiGHS module: linprog
    calls, fallback = [], linear_program.solve_with_linprog
    monkeypatch.setattr(linear_program, "solve_with_linprog", lambda p: calls.append(1) or fallback(p))
    run_to_end(hourly(**scenario), tmp_path / "linprog")
    assert len(calls) > 10  # the run solved through the fallback
    households = {w: pd.read_parquet(tmp_path / w / "households.parquet") for w in ("direct", "linprog")}
    assert households["direct"].battery_kw.abs().sum() > 10.0  # the LP households did plan
    for table in sorted(p.name for p in (tmp_path / "direct").glob("*.parquet")):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "direct" / table), pd.read_parquet(tmp_path / "linprog" / table)
        )


def test_curtailment_programmes_get_linprogs_vertex() -> None:
    """The constraint modes' LP (cuts against dense sensitivity rows, penalised slack) as linprog solved it.

    Bit for bit: another path through HiGHS (without presolve, say) gives the same optimum
    with other last bits in 36 of these 40 programmes. Zeros in the rows (households
    without flexibility) are left out, as scipy's sparse matrices leave them out.
    """
    rng = np.random.default_rng(7)
    cut = 0
    for _ in range(40):
        n, m = int(rng.integers(5, 60)), int(rng.integers(1, 40))
        g_e = rng.normal(0, 1e-3, (m, n)) * (rng.random((m, n)) < 0.7)
        g_i = np.where(rng.random((m, n)) < 0.5, g_e, rng.normal(0, 1e-3, (m, n)))
        flex = np.where(rng.random((2, n)) < 0.3, 0.0, rng.uniform(0, 7.4, (2, n)))
        cost = np.concatenate([rng.choice([0.05, 0.1, 0.3], 2 * n), np.full(m, 1e4)])
        b = rng.normal(0, 2e-3, m)
        a_ub = sparse.hstack(
            [sparse.csr_matrix(-g_e), sparse.csr_matrix(g_i), -sparse.identity(m)], format="csr"
        )
        bounds = [(0, x) for x in flex.ravel()] + [(0, None)] * m
        expected = linprog(cost, A_ub=a_ub, b_ub=b, bounds=bounds, method="highs").x
        upper = np.concatenate([flex.ravel(), np.full(m, np.inf)])
        program = linear_program.LinearProgram.inequalities(
            cost, np.hstack([-g_e, g_i, -np.identity(m)]), b, np.zeros(len(cost)), upper
        )
        np.testing.assert_array_equal(linear_program.solve(program), expected)
        np.testing.assert_array_equal(linear_program.solve_with_linprog(program), expected)
        cut += bool(expected[: 2 * n].any())
    assert cut > 10  # most programmes cut something
