"""DSO flexibility procurement (model/flexibility.py): the merit order by hand, and on a congested feeder."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.bids import BidCurve, Step
from lemgrid.agents.policies import DevicePlan
from lemgrid.grid.state import GridState
from lemgrid.model import Scenario
from lemgrid.model.flexibility import Elements, FlexibilityMarket, Offer, buy, offers_of
from tests.helpers import assert_money_balances, run_to_end

PRESET = Path(__file__).parents[1] / "experiments" / "presets" / "congested_suburb_ev_winter.yaml"
RETAIL = 0.30
HOURS = 0.25
RATING_KVA = 10.0  # one line, 10 kVA per phase


def one_line_grid(p_kw: np.ndarray, q_kvar: np.ndarray) -> GridState:
    """A lossless line feeding every household on phase a: loading = |sum of imports| / rating."""
    failed = GridState.failed("", 1, 1, 0)
    s_kva = float(np.hypot(p_kw[:, 0].sum(), q_kvar[:, 0].sum()))
    return replace(failed, converged=True, line_loading_percent=np.array([s_kva / RATING_KVA * 100]))


def market(margin_percent: float = 0.0) -> FlexibilityMarket:
    elements = Elements(["line 0"], ["line"], np.array([0]), np.ones((1, 2), dtype=bool))
    return FlexibilityMarket(elements, one_line_grid, 100.0, margin_percent, 0.02, 1.0, 4)


def household(
    base_kw: float, ev_kw: float, ev_value: float, must_kw: float = 0.0
) -> tuple[BidCurve, DevicePlan]:
    """Base load and an EV charging ``ev_kw`` of which ``must_kw`` the deadline needs (valued inf)."""
    steps = [
        Step("base", base_kw, math.inf),
        Step("ev", must_kw, math.inf),
        Step("ev", ev_kw - must_kw, ev_value),
    ]
    return BidCurve(steps, RETAIL, 0.08), DevicePlan(ev_kw=-ev_kw)


def procure(curves: list[BidCurve], plans: list[DevicePlan], base_kw: list[float], m: FlexibilityMarket):
    def flows(plans: list[DevicePlan]) -> tuple[np.ndarray, np.ndarray]:
        net = np.array([p.net_kw(b) for p, b in zip(plans, base_kw, strict=True)])
        return np.c_[net, np.zeros((len(net), 2))], np.zeros((len(net), 3))

    return m.procure(plans, curves, flows, lambda o: np.array([1.0, 0.0, 0.0]), HOURS, RETAIL)


def test_the_dso_buys_the_cheaper_household_first_and_exactly_the_kw_needed() -> None:
    # 4 + 7.4 + 2 + 3 = 16.4 kW on a 10 kVA phase: 164 %, 6.4 kW must go
    a_curve, a_plan = household(4.0, 7.4, ev_value=0.40)  # asks 0.40 - 0.30 + 0.02 = 0.12 EUR/kWh
    b_curve, b_plan = household(2.0, 3.0, ev_value=0.33)  # asks 0.33 - 0.30 + 0.02 = 0.05 EUR/kWh
    plans, bought = procure([a_curve, b_curve], [a_plan, b_plan], [4.0, 2.0], market())
    np.testing.assert_allclose(bought.down_kw, [3.4, 3.0])  # all of the cheaper, the rest of the dearer
    np.testing.assert_allclose(bought.payment_eur, [3.4 * 0.25 * 0.12, 3.0 * 0.25 * 0.05])
    assert bought.cost_eur == pytest.approx(0.102 + 0.0375)
    assert [p.ev_kw for p in plans] == pytest.approx([-4.0, 0.0])  # the EVs follow
    assert bought.shortfall_kw == pytest.approx(0.0, abs=1e-9)
    assert bought.reason == ["line 0", "line 0"]
    loading_after = (4 + 4.0 + 2 + 0.0) / RATING_KVA * 100
    assert loading_after == pytest.approx(100.0)


def test_a_margin_buys_that_much_more() -> None:
    a_curve, a_plan = household(4.0, 7.4, ev_value=0.40)
    b_curve, b_plan = household(2.0, 3.0, ev_value=0.33)
    _, bought = procure([a_curve, b_curve], [a_plan, b_plan], [4.0, 2.0], market(margin_percent=10.0))
    np.testing.assert_allclose(bought.down_kw.sum(), 7.4)  # down to 90 % of 10 kVA: 9 kW


def test_what_the_deadline_needs_is_not_offered_and_the_overload_left_is_reported() -> None:
    # household a's EV must charge 6 of its 7.4 kW now: 1.4 kW offered; b offers 3 kW: 4.4 < 6.4 needed
    a_curve, a_plan = household(4.0, 7.4, ev_value=0.40, must_kw=6.0)
    b_curve, b_plan = household(2.0, 3.0, ev_value=0.33)
    plans, bought = procure([a_curve, b_curve], [a_plan, b_plan], [4.0, 2.0], market())
    np.testing.assert_allclose(bought.down_kw, [1.4, 3.0])
    assert bought.shortfall_kw == pytest.approx(2.0)  # 12 kW left on a 10 kVA line
    assert [p.ev_kw for p in plans] == pytest.approx([-6.0, 0.0])


def test_a_forecast_power_flow_that_fails_leaves_the_shortfall_unknown_not_met() -> None:
    a_curve, a_plan = household(4.0, 7.4, ev_value=0.40)
    b_curve, b_plan = household(2.0, 3.0, ev_value=0.33)
    failing = replace(market(), solve=lambda p, q: GridState.failed("did not converge", 1, 1, 0))
    plans, bought = procure([a_curve, b_curve], [a_plan, b_plan], [4.0, 2.0], failing)
    assert math.isnan(bought.shortfall_kw)  # 13.4 kW on a 10 kVA line: not "met"
    assert bought.cost_eur == 0 and plans == [a_plan, b_plan] and bought.power_flows == 1


def test_offers_ask_the_value_given_up_less_the_retail_price_saved() -> None:
    curve = BidCurve(
        [
            Step("base", 1.0, math.inf),
            Step("battery", 2.0, 0.25),
            Step("ev", 1.0, math.inf),
            Step("ev", 3.0, 0.45),
        ],
        RETAIL,
        0.08,
    )
    plan = DevicePlan(battery_kw=-2.0, ev_kw=-4.0, pv_kw=1.5)
    offers = offers_of(7, curve, plan, RETAIL, 0.02, 0.0)
    assert offers == [
        Offer(7, "ev", 3.0, pytest.approx(0.17)),
        Offer(7, "battery", 2.0, 0.02),  # valued below retail: giving it up costs nothing but the premium
        Offer(7, "pv", 1.5, pytest.approx(0.10), upward=True),  # the feed-in tariff lost
    ]


def test_an_indivisible_offer_is_taken_whole_and_relief_weights_the_price() -> None:
    offers = [Offer(0, "appliance:0", 2.0, 0.10, indivisible=True), Offer(1, "ev", 11.0, 0.05)]
    # the three-phase charger relieves a third of a kW on this phase: 0.15 EUR per kW of relief
    np.testing.assert_allclose(buy(1.0, offers, np.array([1.0, 1 / 3])), [2.0, 0.0])
    np.testing.assert_allclose(buy(3.0, offers, np.array([1.0, 1 / 3])), [2.0, 3.0])
    np.testing.assert_allclose(buy(3.0, offers, np.array([0.0, 1 / 3])), [0.0, 9.0])


@pytest.fixture(scope="module")
def flex_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The congestion preset's first two days at 2-hour intervals, a local market, the flexibility market."""
    out = tmp_path_factory.mktemp("flex")
    sets = [
        "days=2",
        "interval_minutes=120",
        "market.pricing=uniform",
        "market.mechanism=pay_as_clear",
        "dso.flexibility.enabled=true",
    ]
    run_to_end(Scenario.load(PRESET, sets), out)
    return out


def test_money_balances_with_the_dso_paying_for_flexibility(flex_run: Path) -> None:
    households = pd.read_parquet(flex_run / "households.parquet")
    trades = pd.read_parquet(flex_run / "trades.parquet")
    intervals = pd.read_parquet(flex_run / "intervals.parquet").set_index("interval")
    assert intervals.flexibility_cost_eur.sum() > 0 and len(trades) > 0  # the DSO did buy; households traded
    assert_money_balances(households, trades, intervals)
    per = households.groupby("interval")
    np.testing.assert_allclose(per.flexibility_payment_eur.sum(), intervals.flexibility_cost_eur, atol=1e-12)
    bill = households.local_payment_eur + households.retail_payment_eur + households.network_fee_eur
    np.testing.assert_allclose(households.bill_eur, bill - households.flexibility_payment_eur, atol=1e-12)
    summary = pd.read_json(flex_run / "summary.json", typ="series")
    assert summary.flexibility_cost_eur == pytest.approx(intervals.flexibility_cost_eur.sum())
    # the DSO's cost recovery: the fees it billed less what it paid for flexibility, over its cost
    assert summary.dso_revenue_eur == pytest.approx(households.network_fee_eur.sum())
    per_year = Scenario.load(PRESET, []).tariff.network_cost_eur_per_household_year
    cost = per_year * households.household.nunique() * len(intervals) * 2.0 / 8760
    net = households.network_fee_eur.sum() - households.flexibility_payment_eur.sum()
    assert summary.dso_cost_recovery == pytest.approx(net / cost)


def test_energy_balances_with_flexibility(flex_run: Path) -> None:
    households = pd.read_parquet(flex_run / "households.parquet")
    intervals = pd.read_parquet(flex_run / "intervals.parquet").set_index("interval")
    injected = households.groupby("interval").net_injection_kw.sum()
    mismatch = injected + intervals.feeder_import_kw - intervals.losses_kw
    # the solver's tolerance, as tests/test_run_outputs.py: 0.1 % of the households' gross power
    gross_kw = households.assign(p=households.net_injection_kw.abs()).groupby("interval").p.sum()
    assert (mismatch.abs() <= 1e-3 * gross_kw).all(), (mismatch.abs() / gross_kw).max()
    # every household's metered energy is settled, with the flexibility it delivered
    metered = households.net_injection_kw * 2.0  # 2-hour intervals
    settled = households.sold_local_kwh + households.sold_retail_kwh
    settled -= households.bought_local_kwh + households.bought_retail_kwh
    np.testing.assert_allclose(metered, settled, atol=1e-9)


def test_loading_is_within_the_limit_wherever_enough_flexibility_was_offered(flex_run: Path) -> None:
    rows = pd.read_parquet(flex_run / "intervals.parquet")
    trafo = rows[[f"trafo_loading_{p}_percent" for p in "abc"]].max(axis=1)
    loading = np.maximum(rows.line_loading_max_percent, trafo)
    met = rows.flexibility_shortfall_kw == 0
    assert (rows.flexibility_kwh > 0).any()
    assert (loading[met] <= 100.0 + 1e-6).all(), rows.loc[met & (loading > 100), ["interval", "time"]]
    # where it was not, the overload is in the grid metrics and in the shortfall, not hidden
    short = ~met
    assert ((rows.overload_kva[short] > 0) == (rows.flexibility_shortfall_kw[short] > 0)).all()


def test_no_ev_misses_energy_because_the_dso_bought_its_flexibility(flex_run: Path) -> None:
    sessions = pd.read_parquet(flex_run / "ev_sessions.parquet")
    households = pd.read_parquet(flex_run / "households.parquet")
    assert households.flexibility_kwh.sum() > 0
    done = sessions.dropna(subset=["unmet_kwh"])
    assert len(done) > 100 and (done.unmet_kwh[done.feasible] <= 1e-9).all()
