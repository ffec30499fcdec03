"""The lp_optimiser's programme solved by HiGHS directly: linprog's vertex, tied optima included."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents import lp
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
        x = lp.solve(program)
        # the same vertex, bit for bit, not only the same cost
        np.testing.assert_array_equal(x, lp.solve_with_linprog(program), err_msg=f"interval {k}")
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
    monkeypatch.setattr(lp, "_highs", None)  # as without scipy's private HiGHS module: linprog
    calls, fallback = [], lp.solve_with_linprog
    monkeypatch.setattr(lp, "solve_with_linprog", lambda p: calls.append(1) or fallback(p))
    run_to_end(hourly(**scenario), tmp_path / "linprog")
    assert len(calls) > 10  # the run solved through the fallback
    households = {w: pd.read_parquet(tmp_path / w / "households.parquet") for w in ("direct", "linprog")}
    assert households["direct"].battery_kw.abs().sum() > 10.0  # the LP households did plan
    for table in sorted(p.name for p in (tmp_path / "direct").glob("*.parquet")):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "direct" / table), pd.read_parquet(tmp_path / "linprog" / table)
        )
