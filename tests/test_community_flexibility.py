"""The community manager selling flexibility to the DSO, and its battery counted right (issue 22 item 4).

By hand: the DSO buys the cheaper of a household's and the manager's offer on a congested line; the
manager's asks from its forecast. On runs: balances with the DSO paying the manager; the manager is no
household in zones, customer-minutes and the attack's draw; its three-phase battery is a third per phase.
"""

import math
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.bids import BidCurve, Step
from lemgrid.agents.community import CommunityManager, flexibility_asks
from lemgrid.agents.devices import Battery
from lemgrid.agents.policies import DevicePlan, Forecast
from lemgrid.agents.strategies import make_strategy
from lemgrid.model import Model, Scenario, community
from lemgrid.model.clear import directions
from lemgrid.model.flexibility import Elements, FlexibilityMarket, Offer
from lemgrid.model.interval import Connections
from tests.helpers import assert_money_balances, hourly, run_to_end
from tests.test_flexibility import one_line_grid

RETAIL, FEED_IN, PREMIUM, HOURS = 0.30, 0.08, 0.02, 0.25
RATING_KVA = 10.0  # one line, 10 kVA per phase (as tests/test_flexibility.py)


def manager(buy_eur_per_kwh: list[float], wear: float = 0.0) -> CommunityManager:
    """A flexibility seller at row 1: a 100 kWh / 30 kW battery at 50 %, round trip 0.81; its forecast."""
    battery = Battery(100.0, 30.0, 0.81, 0.1, 0.95, 0.5, wear)
    strategy = make_strategy("truthful", Scenario().strategies, np.random.default_rng(0))
    m = CommunityManager(mesa.Model(), 1, 0, "a", strategy, battery, "sell_flexibility", np.zeros(4), 4)
    buy = np.array(buy_eur_per_kwh)
    m.policy.forecast = Forecast(
        np.zeros(len(buy)), np.zeros(len(buy)), buy, np.full(len(buy), FEED_IN), HOURS
    )  # type: ignore[attr-defined]
    return m


def test_the_managers_asks_are_its_opportunity_cost_wear_and_premium_by_hand() -> None:
    """Forecast buy price 0.30 now, then 0.45 and 0.25; sale now 0.08; round trip 0.81; wear 0.01."""
    asks = flexibility_asks(np.array([0.30, 0.45, 0.25]), 0.08, manager([0.3]).battery, PREMIUM)
    # charging 1 kWh less now saves 0.30, buying it at 0.25 later: nothing lost, the premium only
    assert asks.charge_less == pytest.approx(0.02)
    # 1 kWh discharged now is refilled with 1/0.81 kWh at 0.25 and earns 0.08 now: 0.3086 - 0.08
    assert asks.discharge == pytest.approx(0.25 / 0.81 - 0.08 + 0.02)
    # charging 1 kWh more now costs 0.30 instead of 0.25 later
    assert asks.charge_more == pytest.approx(0.05 + 0.02)
    worn = flexibility_asks(np.array([0.30, 0.25]), 0.08, manager([0.3], wear=0.01).battery, PREMIUM)
    # the discharge's extra throughput: 1 kWh out now and 1/0.81 back in later, 0.01 EUR/kWh each
    assert worn.discharge == pytest.approx(0.25 / 0.81 - 0.08 + (1 + 1 / 0.81) * 0.01 + 0.02)


def test_the_manager_offers_its_whole_power_range() -> None:
    """Charging 6 kW of its 30 kW: 6 kW less charging, 30 kW discharge (down), 24 kW more charging (up)."""
    m = manager([0.30, 0.30])
    offers = community.offers([m], [DevicePlan(), DevicePlan(battery_kw=-6.0)], HOURS, PREMIUM)
    assert offers == [
        Offer(1, "battery", 6.0, pytest.approx(0.02)),
        Offer(1, "battery", 30.0, pytest.approx(0.30 / 0.81 - 0.08 + 0.02)),
        Offer(1, "battery", 24.0, pytest.approx(0.02), upward=True),
    ]


def congested_line(buy_eur_per_kwh: list[float]):  # noqa: ANN201 - (plans, purchase) of the market
    """Household 0 (4 kW base, EV 7.4 kW valued 0.40) on phase a; the manager's 3-phase battery charging 6 kW.

    Phase a carries 4 + 7.4 + 6/3 = 13.4 kW on 10 kVA (134 %): the DSO needs 3.4 kW of relief.
    """
    curve = BidCurve([Step("base", 4.0, math.inf), Step("ev", 7.4, 0.40)], RETAIL, FEED_IN)
    m = manager(buy_eur_per_kwh)
    plans = [DevicePlan(ev_kw=-7.4), DevicePlan(battery_kw=-6.0)]
    base_kw = [4.0, 0.0]
    share = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])

    def flows(plans: list[DevicePlan]) -> tuple[np.ndarray, np.ndarray]:
        net = np.array([p.net_kw(b) for p, b in zip(plans, base_kw, strict=True)])
        return net[:, None] * share, np.zeros((2, 3))

    elements = Elements(["line 0"], ["line"], np.array([0]), np.ones((1, 2), dtype=bool))
    market = FlexibilityMarket(elements, one_line_grid, 100.0, 0.0, PREMIUM, 1.0, 4)
    idle = BidCurve([Step("battery", 6.0, math.inf)], RETAIL, FEED_IN)  # its scheduled charging: inelastic
    offered = community.offers([m], plans, HOURS, PREMIUM)
    plans, bought = market.procure(
        plans, [curve, idle], flows, lambda o: share[o.provider], HOURS, RETAIL, offered
    )
    loading = abs(sum(p.net_kw(b) * s[0] for p, b, s in zip(plans, base_kw, share, strict=True)))
    return plans, bought, loading / RATING_KVA * 100


def test_the_dso_buys_the_managers_cheaper_charging_first_a_third_per_phase_by_hand() -> None:
    """Flat forecast: less charging asks 0.02 EUR/kWh, 0.06 per kW of relief on phase a (a third per kW).

    The household's EV asks 0.40 - 0.30 + 0.02 = 0.12. The DSO takes all 6 kW of the manager's
    charging (2 kW of relief), then 1.4 kW of the EV; the battery's discharge (0.2904 / (1/3) = 0.87
    per kW of relief) is not needed. Phase a: 4 + 6.0 + 0 = 10 kW, 100 %.
    """
    plans, bought, loading = congested_line([0.30, 0.30])
    np.testing.assert_allclose(bought.down_kw, [1.4, 6.0])
    np.testing.assert_allclose(bought.payment_eur, [1.4 * HOURS * 0.12, 6.0 * HOURS * 0.02])
    assert bought.cost_eur == pytest.approx(0.042 + 0.03)
    assert plans[1].battery_kw == pytest.approx(0.0) and plans[0].ev_kw == pytest.approx(-6.0)
    assert loading == pytest.approx(100.0)
    assert bought.shortfall_kw == pytest.approx(0.0, abs=1e-9)


def test_the_dso_buys_the_household_when_the_managers_charging_is_dearer_by_hand() -> None:
    """The forecast rises (0.45 later): less charging asks 0.45 - 0.30 + 0.02 = 0.17, 0.51 per kW of relief.

    The EV's 0.12 is cheaper: 3.4 kW of it; the manager sells nothing. Phase a: 4 + 4.0 + 2 = 10 kW.
    """
    plans, bought, loading = congested_line([0.30, 0.45, 0.45])
    np.testing.assert_allclose(bought.down_kw, [3.4, 0.0])
    np.testing.assert_allclose(bought.payment_eur, [3.4 * HOURS * 0.12, 0.0])
    assert plans[1].battery_kw == pytest.approx(-6.0) and plans[0].ev_kw == pytest.approx(-4.0)
    assert loading == pytest.approx(100.0)


def test_directions_split_a_three_phase_connection_in_thirds() -> None:
    """Row 1 (the community battery, listed on phase a) relieves a third of a kW on each phase."""
    where = Connections(
        np.array([1, 0]), np.array([False, False]), np.array([3, 7]), None, np.array([False, True])
    )
    np.testing.assert_allclose(directions(where), [[0, 1, 0], [1 / 3, 1 / 3, 1 / 3]])
    plain = Connections(np.array([2, 0]), np.array([False, False]), np.array([3, 7]))
    np.testing.assert_allclose(directions(plain), [[0, 0, 1], [1, 0, 0]])


SELLER = {
    "grid.solver": "power_grid_model",
    "bidding.mode": "curves",
    "dso.flexibility.enabled": "true",
    # a limit the base load alone exceeds, on households without EVs or batteries: only the manager offers
    "dso.flexibility.loading_limit_percent": "5",
    "penetration.ev": "0",
    "community.enabled": "true",
    "community.objective": "sell_flexibility",
}


@pytest.fixture(scope="module")
def seller_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default feeder for a day at 60 minutes, the manager's battery at the transformer selling relief."""
    out = tmp_path_factory.mktemp("seller")
    run_to_end(hourly(**SELLER), out)
    return out


@pytest.mark.slow  # 84 s at a load of 12 on 2 cores
def test_balances_hold_with_the_dso_paying_the_manager(seller_run: Path) -> None:
    out = seller_run
    households = pd.read_parquet(out / "households.parquet")
    trades = pd.read_parquet(out / "trades.parquet")
    intervals = pd.read_parquet(out / "intervals.parquet").set_index("interval")
    assert_money_balances(households, trades, intervals)
    mine = households[households.household == community.MANAGER_NAME]
    assert mine.flexibility_payment_eur.sum() > 0  # the DSO did buy from the manager
    per = households.groupby("interval")
    np.testing.assert_allclose(per.flexibility_payment_eur.sum(), intervals.flexibility_cost_eur, atol=1e-12)
    summary = pd.read_json(out / "summary.json", typ="series")
    assert summary.community_manager_flexibility_eur == pytest.approx(mine.flexibility_payment_eur.sum())
    bill = (
        mine.local_payment_eur + mine.retail_payment_eur + mine.network_fee_eur - mine.flexibility_payment_eur
    )
    assert summary.community_manager_bill_eur == pytest.approx(bill.sum())
    assert (intervals.flexibility_cost_eur > 0).sum() >= 2  # it sold in more than one interval
    # energy: injections + feeder import = losses, every interval
    injected = households.groupby("interval").net_injection_kw.sum()
    gross_kw = households.assign(p=households.net_injection_kw.abs()).groupby("interval").p.sum()
    mismatch = injected + intervals.feeder_import_kw - intervals.losses_kw
    assert (mismatch.abs() <= 1e-3 * gross_kw).all()
    # the battery never discharges unless the DSO bought it: every discharging interval was sold
    sold = mine.flexibility_kwh.to_numpy() > 0
    assert not ((mine.battery_kw.to_numpy() > 1e-9) & ~sold).any()


def test_only_the_flexibility_seller_gets_a_forecast_and_it_needs_the_market() -> None:
    plain = Model(hourly(**{"community.enabled": "true", "grid.solver": "power_grid_model"}))
    (m,) = community.managers(plain.households)
    assert not m.policy.needs_forecast and m.redispatches


def test_adding_a_manager_changes_no_households_attack_draw_zone_or_customer_count() -> None:
    sets = {
        "attack.kind": "demand",
        "attack.share": "0.3",
        "market.pricing": "zonal",
        "grid.solver": "power_grid_model",
    }
    plain = Model(hourly(**sets))
    managed = Model(hourly(**sets, **{"community.enabled": "true", "community.battery.bus": "100"}))
    n = len(plain.population)
    np.testing.assert_array_equal(managed._attacked[:n], plain._attacked)
    assert not managed._attacked[n] and plain._attacked.sum() == round(0.3 * n)
    np.testing.assert_array_equal(managed.population.zone[:n], plain.population.zone)
    assert len(managed.voltage_quality.customer_minutes_outside) == n
