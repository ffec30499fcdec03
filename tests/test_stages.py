"""Each interval stage run alone, on a model's parts and a hand-made Interval (no Model.step)."""

import numpy as np
import pytest

from lemgrid.agents.policies import DevicePlan
from lemgrid.agents.strategies import Order
from lemgrid.model import Model
from lemgrid.model.clear import Cleared, clear, cut_orders
from lemgrid.model.constraints import Curtailment
from lemgrid.model.decide import decide
from lemgrid.model.dispatch import cut_plan, dispatch
from lemgrid.model.grid_step import grid_step
from lemgrid.model.interval import Interval
from lemgrid.model.market import ClearingResult
from lemgrid.model.metrics import interval_row
from lemgrid.model.observe import Attack, observe
from lemgrid.model.record import outcome
from lemgrid.model.settle import learn, settle_interval
from lemgrid.model.trades import Trade
from tests.helpers import hourly

NOON = 12


@pytest.fixture(scope="module")
def parts() -> Model:
    """A model that has not stepped: its agents, DSO and stage inputs are the stages' collaborators."""
    return Model(
        hourly(**{"grid.solver": "power_grid_model", "penetration.pv": 0.6, "penetration.battery": 0.3})
    )


def _interval(model: Model, k: int = NOON) -> Interval:
    n = len(model.population)
    return Interval(
        k=k,
        t0_s=k * 3600.0,
        t1_s=(k + 1) * 3600.0,
        hours=1.0,
        intervals_per_day=24,
        base_load_kw=model.load_kw[:, k],
        pv_kw=model.pv_kw[:, k],
        load_kvar=model.profiles.load_kvar[:, k],
        price_signal=1.0,
        retail_price_eur_per_kwh=0.3,
        feed_in_tariff_eur_per_kwh=0.08,
        last_price_eur_per_kwh=None,
        last_supply_voltage_pu=np.full(n, np.nan),
    )


def test_observe_reports_each_households_planned_net_position(parts: Model) -> None:
    iv = _interval(parts)
    no_attack = Attack("none", 1.0, 0, np.zeros(len(parts.population), bool))
    observed = observe(parts.households, iv, parts._forecaster, no_attack)
    assert len(observed.plans) == len(observed.observations) == len(parts.population)
    np.testing.assert_array_equal(observed.reported_kwh, observed.planned_kw * iv.hours)
    assert all(o.interval == NOON and o.retail_price_eur_per_kwh == 0.3 for o in observed.observations)


def test_each_observation_holds_the_shared_prices_and_its_own_battery(parts: Model) -> None:
    from dataclasses import replace

    n = len(parts.population)
    voltages = np.linspace(0.95, 1.05, n)
    voltages[0] = np.nan  # no power flow yet at the first household: no grid signal
    iv = replace(
        _interval(parts),
        k=NOON + 24,  # the next day: interval 12 of the day
        price_signal=2.0,
        last_price_eur_per_kwh=0.1,
        network_import_eur_per_kwh=0.05,
        last_supply_voltage_pu=voltages,
    )
    no_attack = Attack("none", 1.0, 0, np.zeros(n, bool))
    observed = observe(parts.households, iv, parts._forecaster, no_attack)
    kinds = set()
    for h in parts.households:
        o, battery = observed.observations[h.index], h.devices.battery
        assert (o.household, o.interval, o.interval_of_day, o.intervals_per_day, o.hours) == (
            h.index,
            NOON + 24,
            NOON,
            24,
            1.0,
        )
        # (retail + network charge) and the feed-in tariff and last price, all times the price signal
        assert (o.retail_price_eur_per_kwh, o.feed_in_tariff_eur_per_kwh, o.last_price_eur_per_kwh) == (
            pytest.approx(0.7),
            0.16,
            0.2,
        )
        assert o.net_energy_kwh == observed.reported_kwh[h.index]
        assert o.battery_planned_kw == observed.plans[h.index].battery_kw
        assert o.voltage_pu == (None if h.index == 0 else voltages[h.index])
        if battery is None:
            assert (o.battery_soc, o.battery_min_kw, o.battery_max_kw) == (None, 0.0, 0.0)
        else:
            flex = battery.flexibility(1.0)
            assert (o.battery_soc, o.battery_min_kw, o.battery_max_kw) == (battery.soc, *flex[:2])
            assert flex.p_min_kw < 0  # a real range, not the no-battery zeros
        kinds.add(battery is None)
    assert kinds == {True, False}  # households with and without a battery were checked


def test_the_demand_attack_scales_only_its_targets_reports() -> None:
    attack = Attack("demand", 2.0, 3, np.array([True, False]))
    np.testing.assert_array_equal(attack.reports(2, np.array([1.0, 1.0])), [1.0, 1.0])
    np.testing.assert_array_equal(attack.reports(3, np.array([1.0, 1.0])), [2.0, 1.0])
    assert Attack("price", 1.5, 3, np.zeros(2, bool)).price_signal(3) == 1.5


def test_decide_and_clear_give_trades_and_cleared_quantities(parts: Model) -> None:
    iv = _interval(parts)
    no_attack = Attack("none", 1.0, 0, np.zeros(len(parts.population), bool))
    decided = decide(parts.households, observe(parts.households, iv, parts._forecaster, no_attack), iv.hours)
    assert decided.orders, "at noon with 60 % PV someone sells"
    cleared = clear(decided, iv, parts._market)
    trades = cleared.clearing.trades
    assert cleared.bought_kwh.sum() == pytest.approx(sum(t.energy_kwh for t in trades))
    assert cleared.sold_kwh.sum() == pytest.approx(cleared.bought_kwh.sum())
    sold = {o.household for o in decided.orders if o.side == "sell"}
    assert set(np.flatnonzero(cleared.sold_kwh > 0)) <= sold


def test_cuts_take_pv_for_exports_and_battery_before_ev_for_imports() -> None:
    plan = DevicePlan(pv_kw=3.0, battery_kw=-1.0, ev_kw=-4.0)
    cut = cut_plan(plan, export_kw=1.0, import_kw=2.0)
    assert (cut.pv_kw, cut.pv_curtailed_kw, cut.battery_kw, cut.ev_kw) == (2.0, 1.0, 0.0, -3.0)
    assert plan.pv_kw == 3.0, "the plan itself is left as it was"
    orders = [Order(0, "sell", 2.0, 0.1), Order(1, "buy", 1.0, 0.2)]
    cut_all = Curtailment(np.array([1.5, 0.0]), np.array([0.0, 1.0]), ["x", "y"])
    assert cut_orders(orders, cut_all, hours=1.0) == [Order(0, "sell", 0.5, 0.1)]


def test_dispatch_grid_settle_and_record_run_alone(parts: Model) -> None:
    iv = _interval(parts)
    plans = [
        h.plan(float(iv.base_load_kw[h.index]), float(iv.pv_kw[h.index]), iv.t0_s, iv.t1_s)
        for h in parts.households
    ]
    n = len(plans)
    done, columns = dispatch(parts.households, plans, Curtailment.nothing(n), iv)
    np.testing.assert_allclose(
        columns["net_injection_kw"],
        [d.net_kw(float(b)) for d, b in zip(done.plans(), iv.base_load_kw, strict=True)],
    )
    grid = grid_step(columns, iv, parts.dso, parts.households, parts._network, parts._measures)
    assert grid.operated.state.converged
    # the feeder draws what the households do not inject, plus the losses
    imported = -grid.columns["net_injection_kw"].sum() + grid.metrics.losses_kw
    assert grid.metrics.ext_grid_import_kw == pytest.approx(
        imported, abs=0.01 * np.abs(columns["net_injection_kw"]).sum()
    )
    cleared = Cleared(ClearingResult([Trade(0, 1, 0.5, 0.2)], 0.2), Curtailment.nothing(n))
    settled = settle_interval(grid, cleared, iv, list(parts.households), parts._billing)
    s = settled.settlement
    assert s.local_payment_eur.sum() == pytest.approx(0.0)
    assert s.bought_local_kwh[0] == 0.5 and s.sold_local_kwh[1] == 0.5
    no_attack = Attack("none", 1.0, 0, np.zeros(n, bool))
    observations = observe(parts.households, iv, parts._forecaster, no_attack).observations
    actions = learn(list(parts.households), observations, settled, cleared)
    assert len(actions) == n
    # each household's reward is booked to the day it was earned in (its learning curve)
    reward = settled.columns["reward_eur"]
    assert [h.reward_by_day_eur[-1] for h in parts.households] == pytest.approx(list(reward))
    from lemgrid.model.decide import Decided

    decided = Decided([], plans, columns["net_injection_kw"], columns["net_injection_kw"] * iv.hours)
    out = outcome(iv, np.datetime64("2026-06-21T10:00"), decided, cleared, grid, settled, actions, 0.9, 1.1)
    row = interval_row(out)
    assert row["n_trades"] == 1 and row["local_volume_kwh"] == 0.5
    assert row["household_injection_kw"] == pytest.approx(grid.columns["net_injection_kw"].sum())


def test_battery_wear_of_the_fleet_is_each_batterys_own(parts: Model) -> None:
    from lemgrid.model.settle import battery_wear_eur

    households = list(parts.households)
    owners = [h for h in households if h.devices.battery is not None]
    assert owners
    rng = np.random.default_rng(3)
    battery_kw = rng.uniform(-5, 5, len(households)).round(3)
    battery_kw[0] = -0.0
    for h, cost in zip(owners, rng.uniform(0, 0.05, len(owners)), strict=True):
        h.devices.battery.degradation_cost_eur_per_kwh = float(cost)  # written into the fleet's table
    try:
        wear = battery_wear_eur(households, battery_kw, 0.25)
        own = [
            h.devices.battery.degradation_cost_eur(float(battery_kw[h.index]), 0.25)
            if h.devices.battery
            else 0.0
            for h in households
        ]
        assert wear.tolist() == own and (wear > 0).sum() >= len(owners) - 1
    finally:
        for h in owners:
            h.devices.battery.degradation_cost_eur_per_kwh = 0.0


def test_accounts_book_for_all_at_once_what_each_household_books_alone() -> None:
    import mesa

    from lemgrid.agents.household import Accounts, Household
    from lemgrid.agents.policies import Devices, SelfConsumption
    from lemgrid.agents.strategies import Truthful

    model = mesa.Model()
    households = [
        Household(model, i, f"h{i}", 1, "a", Truthful(), SelfConsumption(), Devices()) for i in range(4)
    ]
    a, b = households[0], households[1]
    a.book_reward(2, 0.5)  # on accounts of its own; its curve grows to day 2 with zeros
    a.book_reward(2, 0.25)
    b.bill_eur += 1.5
    assert a.reward_by_day_eur == [0.0, 0.0, 0.75] and b.reward_by_day_eur == [] and b.bill_eur == 1.5
    subset = Accounts.of(households[1:3])  # one table for two: gathered, keeping what each booked
    assert subset.bill_eur.tolist() == [1.5, 0.0] and [h.account_row for h in households[1:3]] == [0, 1]
    table = Accounts.of(households)
    assert Accounts.of(households) is table and [h.account_row for h in households] == [0, 1, 2, 3]
    assert (
        a.reward_by_day_eur == [0.0, 0.0, 0.75]
        and b.bill_eur == 1.5
        and table.bill_eur.tolist() == [0, 1.5, 0, 0]
    )
    table.book_rewards(5, np.array([0, 3]), np.array([1.0, -2.0]))
    assert a.reward_by_day_eur == [0.0, 0.0, 0.75, 0.0, 0.0, 1.0]
    assert households[3].reward_by_day_eur == [0.0] * 5 + [-2.0] and b.reward_by_day_eur == []
