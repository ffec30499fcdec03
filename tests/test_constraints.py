"""Network-constraint modes on stressed days: what ``none`` lets through, what the others remove."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.strategies import Order
from lemgrid.model import Model
from lemgrid.model.clear import cut_costs
from tests.helpers import hourly, run_to_end

# A sunny June day, every roof with 8 kWp: midday overvoltage on the IEEE feeder. The methods' own
# mechanics (cuts before or after clearing, valued at the orders' prices) are tested with fixed bidding,
# where each household has one order; with bid curves every mode checks the market's dispatch (below).
SUNNY = {
    "bidding.mode": "fixed",
    "grid.solver": "power_grid_model",
    "penetration.pv": 1.0,
    "pv.kwp": 8,
    "penetration.battery": 0.5,
    "penetration.ev": 0.3,
    "output.bus_voltages": "none",
}
# Every household with an 11 kW charger and a battery, no PV, every car home at 18:00: the head line
# overloads in the evening.
EVENING = {
    "bidding.mode": "fixed",
    "grid.solver": "power_grid_model",
    "penetration.pv": 0.0,
    "pv.kwp": 0,
    "penetration.ev": 1.0,
    "ev.charger_kw": 11,
    "ev.arrival_hour": 18,
    "penetration.battery": 1.0,
    "output.bus_voltages": "none",
}
MODES = ("none", "post_check", "sensitivity", "opf")


@pytest.fixture(scope="module")
def sunny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Model, dict[str, pd.DataFrame]]]:
    runs = {}
    for mode in MODES:
        out = tmp_path_factory.mktemp(f"sunny_{mode}")
        model = run_to_end(hourly(**SUNNY, **{"market.constraint_mode": mode}), out)
        tables = {
            t: pd.read_parquet(out / f"{t}.parquet")
            for t in ("intervals", "households", "trades", "curtailments")
        }
        runs[mode] = model, tables
    return runs


def test_without_constraints_the_sunny_day_violates_and_every_method_removes_it(sunny) -> None:
    none = sunny["none"][0].summary
    # measured: 9 hours with 5,329 bus-phase-hours above 1.10 p.u., up to 1.142 p.u.
    assert none["intervals_with_voltage_violation"] >= 5 and none["vm_max_pu"]["a"] > 1.12
    assert none["curtailed_export_kwh"] == 0
    for mode in ("post_check", "sensitivity", "opf"):
        s = sunny[mode][0].summary
        # every method removes every violation on this day (measured: 0 for all three)
        assert s["intervals_with_voltage_violation"] == 0, mode
        assert max(s["vm_max_pu"].values()) <= 1.10 + 1e-9, mode
        # and pays for it with curtailed PV, valued at the sellers' asks (feed-in tariff)
        assert 0 < s["curtailed_export_kwh"] < s["pv_kwh"], mode
        assert s["curtailment_cost_eur"] == pytest.approx(0.08 * s["curtailed_export_kwh"]), mode


def test_unbalance_percentiles_are_those_of_the_recorded_intervals(sunny) -> None:
    for mode in MODES:
        model, t = sunny[mode]
        iv = t["intervals"]
        assert model.summary["vuf_p95_percent"] == pytest.approx(np.percentile(iv.vuf_max_percent, 95))
        assert model.summary["pvur_p95_percent"] == pytest.approx(np.percentile(iv.pvur_max_percent, 95))
        assert model.summary["vuf_p95_percent"] <= model.summary["vuf_max_percent"]


def test_linear_methods_keep_their_margin_and_post_check_stops_at_the_limit(sunny) -> None:
    v_max = {mode: max(sunny[mode][0].summary["vm_max_pu"].values()) for mode in MODES}
    assert 1.099 < v_max["post_check"] <= 1.10  # greedy cuts until the power flow is within limits
    # the linear methods aim 0.005 p.u. below the limit; the power flow's own linearisation keeps most
    # of that margin (measured 1.0950 with reused sensitivities, 1.0953 fresh), LinDist3Flow's error eats
    # part of it (measured 1.0984)
    assert v_max["sensitivity"] < 1.10 - 0.003
    assert v_max["opf"] < 1.10


def test_cuts_are_physical_and_recorded_with_their_reason(sunny) -> None:
    for mode in ("post_check", "sensitivity", "opf"):
        _, t = sunny[mode]
        hh, cuts, iv = t["households"], t["curtailments"], t["intervals"]
        # the export cut is PV the households did not produce: recorded curtailment grows by it
        base_curtail = sunny["none"][1]["households"].pv_curtailed_kw.to_numpy()
        np.testing.assert_allclose(hh.pv_curtailed_kw - base_curtail, hh.curtailed_export_kwh, atol=1e-9)
        # and the metered net moves by exactly the cut
        np.testing.assert_allclose(
            hh.reported_net_kwh - hh.net_injection_kw, hh.curtailed_export_kwh, atol=1e-9
        )
        assert cuts.export_kwh.sum() == pytest.approx(iv.curtailed_export_kwh.sum())
        assert cuts.reason.str.startswith("overvoltage at bus").all(), mode
    # post-check clears first, then curtails trades: those carry the cut and its reason
    trades = sunny["post_check"][1]["trades"]
    cut = trades[trades.curtailed_kwh > 0]
    assert len(cut) and cut.curtailment_reason.str.startswith("overvoltage").all()


def test_methods_fix_an_evening_overload_by_charging_less() -> None:
    results = {}
    for mode in MODES:
        model = run_to_end(hourly(**EVENING, **{"market.constraint_mode": mode}))
        results[mode] = model.summary
    # measured: the head line at 171.5 % without constraints; 99.8 / 98.0 / 90.4 % with (sensitivity needs
    # its second linearisation: the first, taken at 171.5 %, left 104.6 %)
    assert results["none"]["line_loading_max_percent"] > 120
    for mode in ("post_check", "sensitivity", "opf"):
        s = results[mode]
        assert s["line_loading_max_percent"] <= 100.0, mode
        assert s["curtailed_import_kwh"] > 0 and s["curtailed_export_kwh"] == 0, mode
    # congestion metrics: the hours and the lines above 100 %, none left under any method
    model_lines = len(Model(hourly(**EVENING)).feeder.net.line)
    none = results["none"]
    assert none["congested_hours"] == none["intervals_with_line_overload"] > 0  # hourly intervals
    assert none["congested_line_share"] * model_lines == pytest.approx(
        round(none["congested_line_share"] * model_lines)
    )
    assert 1 <= none["congested_line_share"] * model_lines <= none["overloaded_line_hours"]
    for mode in ("post_check", "sensitivity", "opf"):
        assert results[mode]["congested_hours"] == 0 and results[mode]["congested_line_share"] == 0, mode
    # an EV's cut stops at what its deadline still needs: no session ends short
    for mode in MODES:
        assert results[mode]["ev_unmet_kwh"] == pytest.approx(results["none"]["ev_unmet_kwh"], abs=1e-6), mode


@pytest.mark.parametrize("mode", ["post_check", "sensitivity"])
def test_with_bid_curves_the_dso_checks_the_markets_dispatch(tmp_path, mode) -> None:
    base = {**SUNNY, "bidding.mode": "curves"}
    free = run_to_end(hourly(**base), tmp_path / "none")
    checked = run_to_end(hourly(**base, **{"market.constraint_mode": mode}), tmp_path / mode)
    over = [
        sum(
            row["vm_max_a_pu"] > 1.1 or row["vm_max_b_pu"] > 1.1 or row["vm_max_c_pu"] > 1.1
            for row in m.interval_rows
        )
        for m in (free, checked)
    ]
    assert over[0] > 0 and over[1] < over[0]
    assert checked.summary["curtailed_export_kwh"] > 0


def test_a_cut_is_valued_at_the_households_lowest_valued_cleared_energy() -> None:
    # household 0 bids a curve (EV at 0.28, battery at 0.12) and sells PV at 0.09; household 1 has no order
    orders = [Order(0, "buy", 1.0, 0.28), Order(0, "buy", 2.0, 0.12), Order(0, "sell", 1.0, 0.09)]
    export_cost, import_cost = cut_costs(orders, 2, 0.08, 0.30)
    np.testing.assert_array_equal(import_cost, [0.12, 0.30])
    np.testing.assert_array_equal(export_cost, [0.09, 0.08])
