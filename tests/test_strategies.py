"""Strategies: budget limits, Cliff's ZIP rules, learning in a repeatable market, the LP optimiser, mixes."""

import json

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.devices import Battery
from lemgrid.agents.lp import schedule, schedule_battery
from lemgrid.agents.policies import Forecast
from lemgrid.agents.strategies import ZIP, Feedback, Observation, Order, largest_remainder, make_strategy
from lemgrid.model import Model, Scenario
from lemgrid.model.market import PayAsClear
from lemgrid.model.scenario import ScenarioError, Strategies
from tests.helpers import hourly, run_to_end

RETAIL, FIT = 0.30, 0.08
# The repeatable market: three buyers (1 kWh at 0.30, 0.25, 0.20) and two sellers (1 kWh at 0.10, 0.12)
# bid the same every interval; the learner sells 1 kWh. Pay-as-clear: asking up to 0.20 trades, and the
# price is the midpoint of 0.20 and the highest matched ask, so the best ask is just below 0.20 (profit
# about 0.115 EUR against the feed-in tariff); above 0.20 it sells nothing locally.
BOOK = [Order(1, "buy", 1.0, 0.30), Order(2, "buy", 1.0, 0.25), Order(3, "buy", 1.0, 0.20)]
BOOK += [Order(4, "sell", 1.0, 0.10), Order(5, "sell", 1.0, 0.12)]
EPISODES, PER_DAY = 40, 24


def _episode_profits(name: str, seed: int) -> np.ndarray:
    """Mean profit per episode (day) of a learner in the repeatable market."""
    learner = make_strategy(name, Strategies(), np.random.default_rng(seed))
    profits = np.zeros(EPISODES)
    last_price = None
    for day in range(EPISODES):
        for t in range(PER_DAY):
            obs = Observation(0, day * PER_DAY + t, 1.0, RETAIL, FIT, last_price, t, PER_DAY, 1.0)
            result = PayAsClear().clear(BOOK + learner.decide(obs).orders)
            sold = sum(tr.energy_kwh for tr in result.trades if tr.seller == 0)
            profit = sold * ((result.price_eur_per_kwh or FIT) - FIT)  # what local selling adds to the FIT
            learner.learn(obs, Feedback(profit, sold, result.price_eur_per_kwh))
            last_price = result.price_eur_per_kwh
            profits[day] += profit / PER_DAY
    return profits


SEEDS = range(6)


@pytest.fixture(scope="module")
def learning_runs() -> dict[str, np.ndarray]:
    return {
        name: np.array([_episode_profits(name, s) for s in SEEDS])
        for name in ("zi_c", "roth_erev", "q_learning")
    }


@pytest.mark.parametrize("name", ["roth_erev", "q_learning"])
def test_learners_improve_and_beat_zero_intelligence(learning_runs: dict[str, np.ndarray], name: str) -> None:
    runs = learning_runs[name]
    first, last = runs[:, :5].mean(axis=1), runs[:, -5:].mean(axis=1)
    zic = learning_runs["zi_c"][:, -5:].mean(axis=1)
    # In every one of the 6 seeds the last 5 days beat the first 5 and ZI-C's last 5 days, each by 10 %
    # (measured, seeds 0-5: see the closing note of issue #4).
    assert (last > 1.1 * first).all(), (first, last)
    assert (last > 1.1 * zic).all(), (zic, last)
    assert last.mean() > 0.09  # near the best ask's 0.115 EUR per interval


def test_zi_c_stays_within_its_budget(learning_runs: dict[str, np.ndarray]) -> None:
    zic = make_strategy("zi_c", Strategies(), np.random.default_rng(0))
    for net in (-1.0, 1.0) * 200:
        (order,) = zic.decide(Observation(0, 0, net, RETAIL, FIT, None)).orders
        assert (
            FIT <= order.price_eur_per_kwh <= RETAIL
        )  # a buyer never above its value, a seller never below cost
    assert (learning_runs["zi_c"] >= 0).all()  # never a loss against the retailer


def test_zip_margins_follow_cliffs_rules() -> None:
    zip_ = ZIP(np.random.default_rng(1), beta=0.3, gamma=0.0, initial=[0.5, 0.5])
    sell = Observation(0, 0, 1.0, RETAIL, FIT, None)
    buy = Observation(0, 0, -1.0, RETAIL, FIT, None)
    margins = []
    for obs, traded, price in [
        (sell, 1.0, 0.20),  # ask 0.12 accepted at 0.20: ask more
        (sell, 1.0, 0.20),
        (sell, 0.0, 0.10),  # rejected while the market paid 0.10: ask less
        (buy, 1.0, 0.10),  # bid 0.15 accepted at 0.10: bid less (raise the margin)
        (buy, 0.0, 0.25),  # rejected while the market paid 0.25: bid more
    ]:
        side = "sell" if obs.net_energy_kwh > 0 else "buy"
        before = zip_.sides[side].margin
        zip_.decide(obs)
        zip_.learn(obs, Feedback(0.0, traded, price))
        margins.append((side, before, zip_.sides[side].margin))
    (s, a0, a1), (_, b0, b1), (_, c0, c1), (_, d0, d1), (_, e0, e1) = margins
    assert a1 > a0 and b1 > b0  # accepted seller raises its margin
    assert c1 < c0  # rejected seller lowers it
    assert d1 > d0  # accepted buyer raises its margin (bids lower)
    assert e1 < e0  # rejected buyer lowers it (bids higher)


def _self_consumption_battery(battery: Battery, forecast: Forecast) -> np.ndarray:
    """The rule-based heuristic over a forecast: the battery takes the surplus, covers the deficit."""
    out = []
    for load, pv in zip(forecast.load_kw, forecast.pv_kw, strict=True):
        out.append(battery.dispatch(battery.flexibility(forecast.hours).clip(load - pv), forecast.hours))
    return np.array(out)


def _cost(forecast: Forecast, battery_kw: np.ndarray, wear: float) -> float:
    net = forecast.pv_kw - forecast.load_kw + battery_kw
    energy = (
        np.clip(-net, 0, None) * forecast.buy_eur_per_kwh - np.clip(net, 0, None) * forecast.sell_eur_per_kwh
    )
    return float((energy.sum() + wear * np.abs(battery_kw).sum()) * forecast.hours)


@pytest.mark.parametrize("seed", range(5))
def test_lp_schedule_is_feasible_and_no_worse_than_the_heuristic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hours = np.arange(96) / 4
    pv = np.clip(6 * np.sin(np.pi * (hours - 6) / 12), 0, None) * rng.uniform(0.5, 1.0, 96)
    load = rng.uniform(0.2, 2.0, 96)
    buy = np.where((hours >= 17) & (hours < 21), 0.40, 0.25)  # a time-of-use import price
    forecast = Forecast(load, pv, buy, np.full(96, 0.08), 0.25)

    def battery() -> Battery:
        return Battery(10.0, 4.0, 0.9, 0.1, 0.95, 0.5, degradation_cost_eur_per_kwh=0.02)

    planned = schedule_battery(battery(), forecast)
    replay = battery()  # the schedule, dispatched interval by interval, is never clipped
    done = np.array([replay.dispatch(p, 0.25) for p in planned])
    np.testing.assert_allclose(done, planned, atol=1e-6)
    assert 0.1 - 1e-9 <= replay.soc <= 0.95 + 1e-9
    lp_cost = _cost(forecast, done, 0.02) - replay.energy_kwh * 0.08 * replay.eta_discharge
    heuristic = battery()
    rule = _self_consumption_battery(heuristic, forecast)
    rule_cost = _cost(forecast, rule, 0.02) - heuristic.energy_kwh * 0.08 * heuristic.eta_discharge
    assert lp_cost <= rule_cost + 1e-6


def test_lp_charges_the_ev_while_plugged_by_its_deadline_and_no_dearer_than_immediate() -> None:
    from lemgrid.agents.devices import EV, ChargingSession

    hours = np.arange(96) / 4
    pv = np.clip(7 * np.sin(np.pi * (hours - 6) / 12), 0, None)
    forecast = Forecast(np.full(96, 0.4), pv, np.full(96, 0.30), np.full(96, 0.08), 0.25)
    stay = ChargingSession(arrival_s=9 * 3600, departure_s=19 * 3600, energy_needed_kwh=12.0)
    ev = EV(7.4, [stay], charging="immediate")
    _, ev_kw = schedule(None, forecast, 0.0, ev, 0.0)
    plugged = (hours >= 9) & (hours < 19)
    assert (ev_kw[~plugged] == 0).all() and (ev_kw >= -7.4 - 1e-9).all()
    assert -ev_kw.sum() * 0.25 == pytest.approx(12.0)  # exactly what the stay needs, by its departure
    immediate = np.where((hours >= 9) & (hours < 9 + 12 / 7.4), -7.4, 0.0)
    immediate[int(9 * 4 + 12 / 7.4 * 4)] = -(12.0 - 7.4 * int(12 / 7.4 * 4) / 4) / 0.25
    assert -immediate.sum() * 0.25 == pytest.approx(12.0)
    # spread over the midday PV instead of at full power on arrival: measured 0.71 EUR cheaper
    assert _cost(forecast, ev_kw, 0.0) < _cost(forecast, immediate, 0.0) - 0.5


def test_a_mix_is_drawn_exactly_and_reproducibly() -> None:
    assert largest_remainder({"zip": 0.3, "zi_c": 0.5, "q_learning": 0.2}, 55) == {
        "zip": 17,  # 16.5 -> 17: ties in the remainder go to the first named
        "zi_c": 27,
        "q_learning": 11,
    }
    mix = "households.strategy={zip: 0.3, zi_c: 0.5, q_learning: 0.2}"
    a = Model(Scenario.load(None, [mix, "seed=3"])).population.strategy
    b = Model(Scenario.load(None, [mix, "seed=3"])).population.strategy
    c = Model(Scenario.load(None, [mix, "seed=4"])).population.strategy
    assert a.value_counts().to_dict() == {"zi_c": 27, "zip": 17, "q_learning": 11}
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ("{zip: 0.5, psychic: 0.5}", "unknown strategy \\['psychic'\\]"),
        ("{zip: 0.5, zi_c: 0.4}", "sum to 1"),
    ],
)
def test_bad_mixes_are_named(mix: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=f"'households.strategy'.*{message}"):
        Scenario.load(None, [f"households.strategy={mix}"])


def test_learning_persists_is_recorded_and_round_trips(tmp_path) -> None:
    scenario = hourly(**{"grid.solver": "power_grid_model", "days": 2, "households.strategy": "roth_erev"})
    model = run_to_end(scenario, tmp_path / "run")
    households = pd.read_parquet(tmp_path / "run" / "households.parquet")
    traders = households[households.net_injection_kw.abs() > 1e-6]
    assert traders.action.str.contains("level").all() and households.reward_eur.notna().all()
    # propensities moved during the run, across the day boundary
    learnt = [h.strategy.state() for h in model.households]
    assert any(not np.allclose(s["sell"], 1.0) or not np.allclose(s["buy"], 1.0) for s in learnt)
    model.save_learning(tmp_path / "learning.json")
    saved = json.loads((tmp_path / "learning.json").read_text())
    assert saved["lemgrid_learning"] == 2
    assert saved["households"][model.households[0].name]["strategy"] == "roth_erev"
    again = Model(
        hourly(
            **{
                "households.strategy": "roth_erev",
                "strategies.learning_file": str(tmp_path / "learning.json"),
            }
        )
    )
    for h, state in zip(again.households, learnt, strict=True):
        np.testing.assert_allclose(h.strategy.state()["sell"], state["sell"])


def test_learning_file_of_another_strategy_is_refused_by_household(tmp_path) -> None:
    # a mix: the scenario check cannot know who trades what, the model names the household
    mix = {"households.strategy": "{zip: 0.5, roth_erev: 0.5}"}
    model = Model(hourly(**mix))
    model.save_learning(tmp_path / "learning.json")
    swapped = {"households.strategy": "{zip: 0.5, q_learning: 0.5}"}
    with pytest.raises(ScenarioError, match="saved with strategy 'roth_erev' but trades with 'q_learning'"):
        Model(hourly(**swapped, **{"strategies.learning_file": str(tmp_path / "learning.json")}))


def test_learning_file_that_does_not_exist_is_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="'strategies.learning_file'.*cannot read it"):
        Model(hourly(**{"strategies.learning_file": str(tmp_path / "missing.json")}))


@pytest.mark.slow  # over 20 s; runs in make test-slow
def test_lp_households_shave_their_peaks_under_a_capacity_tariff() -> None:
    base = {
        "grid.solver": "power_grid_model",
        "penetration.battery": 1.0,
        "penetration.ev": 0.6,
        "days": 2,
        "households.strategy": "lp_optimiser",
    }
    peaks = {}
    for tariff in ("none", "capacity"):
        # billed daily: a kW more of a day's peak costs 5 EUR
        model = run_to_end(hourly(**base, **{"tariff.kind": tariff, "tariff.billing_days": 1}))
        peaks[tariff] = model.summary["peak_feeder_import_kw"]
    # the LP prices a higher import peak at 5 EUR/kW: it charges EVs and batteries more evenly
    # (measured over these 2 days, bid curves on: 327.9 kW without the tariff, 144.7 kW with it)
    assert peaks["capacity"] < 0.7 * peaks["none"]
