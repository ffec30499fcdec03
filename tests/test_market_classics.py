"""The textbook market experiments, rebuilt on lemgrid's mechanisms and strategies with per-trader limits.

- Gode and Sunder (1993): zero-intelligence traders in a continuous double
  auction. Constrained (ZI-C) traders reach high allocative efficiency from
  the market rules alone; unconstrained (ZI-U) ones do not.
- Cliff (1997): ZIP traders in a symmetric market converge on the equilibrium
  price (Smith's alpha falls within a few trading days).
- Learners against a fixed counter-order: Roth-Erev and Q-learning find the
  best price level within 40 simulated days.

No tariff is touched: every trader's value or cost is its own limit price
(``Order.limit_eur_per_kwh``), and the quote band is the experiment's.
"""

import numpy as np
import pytest

from lemgrid.agents.strategies import ZIC, ZIP, ZIU, Feedback, Observation, Order, make_strategy
from lemgrid.model.market import ContinuousDoubleAuction, PayAsBid
from lemgrid.model.scenario import Scenario, Strategies

# Gode-Sunder style market: 6 buyers and 6 sellers with 3 units each. Buyer i's units are worth
# 200 - 10 (6k + i), seller i's cost 30 + 10 (6k + i) (k = 0, 1, 2): 18 values from 200 down to 30
# and 18 costs from 30 up to 200. Values and costs cross after 9 units: the most surplus the market
# can make is sum_{j=0..8} (200 - 10j) - (30 + 10j) = 810. Quotes lie in [1, 200] as in G&S.
VALUES = [[200 - 10 * (6 * k + i) for k in range(3)] for i in range(6)]
COSTS = [[30 + 10 * (6 * k + i) for k in range(3)] for i in range(6)]
MAX_SURPLUS = 810.0


def _gs_efficiency(kind: type[ZIC], rounds: int, seed: int, periods: int = 20) -> float:
    """Mean allocative efficiency of ``periods`` trading periods (one interval each)."""
    rng = np.random.default_rng(seed)
    traders = [kind(r, (1.0, 200.0)) for r in rng.spawn(12)]
    cda = ContinuousDoubleAuction(rng, rounds, traders)
    efficiencies = []
    for _ in range(periods):
        orders = []
        for h, trader in enumerate(traders):
            side = "buy" if h < 6 else "sell"
            for limit in VALUES[h] if h < 6 else COSTS[h - 6]:
                orders.append(Order(h, side, 1.0, trader.quote(side, limit), limit))
        # a trader's units trade in order (most valued first), so its k-th trade is its k-th unit
        done = [0] * 12
        surplus = 0.0
        for t in cda.clear(orders).trades:
            assert t.energy_kwh == pytest.approx(1.0)
            surplus += VALUES[t.buyer][done[t.buyer]] - COSTS[t.seller - 6][done[t.seller]]
            done[t.buyer] += 1
            done[t.seller] += 1
        efficiencies.append(surplus / MAX_SURPLUS)
    return float(np.mean(efficiencies))


@pytest.mark.slow
def test_gode_sunder_zi_c_is_efficient_with_the_default_rounds_and_zi_u_is_not() -> None:
    rounds = Scenario().market.cda.rounds
    zi_c = np.mean([_gs_efficiency(ZIC, rounds, seed) for seed in range(10)])
    zi_u = np.mean([_gs_efficiency(ZIU, rounds, seed) for seed in range(10)])
    # measured with the default 30 rounds: ZI-C 97.8 %, ZI-U about 0 % (random pairs trade at a loss);
    # one clearing per period gives ZI-C 39 %, G&S report 97-99 % for ZI-C
    assert zi_c >= 0.97
    assert zi_u < zi_c - 0.2
    assert _gs_efficiency(ZIC, 1, 0) < 0.6  # one round is not a continuous market


# Cliff's (1997) symmetric market: 11 buyers and 11 sellers with one unit each, limit prices
# 0.75, 1.00, ..., 3.25 on both sides; the equilibrium price is 2.00. Quotes lie in [0, 4].
LIMITS = [0.75 + 0.25 * i for i in range(11)]
P0 = 2.0


def _smith_alpha_by_day(seed: int, days: int = 10) -> np.ndarray:
    """Smith's alpha (100 * rms deviation of trade prices from P0 / P0) per trading day."""
    rng = np.random.default_rng(seed)
    traders = [
        ZIP(r, float(r.uniform(0.1, 0.5)), float(r.uniform(0.0, 0.1)), (0.05, 0.35), (0.0, 4.0))
        for r in rng.spawn(22)
    ]  # Cliff's draws: beta in [0.1, 0.5], momentum in [0, 0.1], initial margins in [0.05, 0.35]
    cda = ContinuousDoubleAuction(rng, Scenario().market.cda.rounds, traders)
    alpha = np.full(days, np.nan)
    for day in range(days):
        orders = []
        for h, trader in enumerate(traders):
            side = "buy" if h < 11 else "sell"
            trader.new_interval()
            orders.append(Order(h, side, 1.0, trader.quote(side, LIMITS[h % 11]), LIMITS[h % 11]))
        prices = np.array([t.price_eur_per_kwh for t in cda.clear(orders).trades])
        if len(prices):
            alpha[day] = 100 * np.sqrt(np.mean((prices - P0) ** 2)) / P0
    return alpha


@pytest.mark.slow
def test_cliff_zip_converges_on_the_equilibrium_price() -> None:
    alphas = np.array([_smith_alpha_by_day(seed) for seed in range(10)])
    # measured: mean alpha 18 % on day 1, 5 % on day 2, below 1 % from day 5; every seed's
    # days 8-10 below 1 %
    assert np.nanmean(alphas[:, 0]) > 10  # it starts far from equilibrium: the test can fail
    assert (np.nanmean(alphas[:, 7:10], axis=1) < 5).all(), alphas[:, 7:10]


# Learners against one fixed counter-order, cleared pay-as-bid (each pair at the midpoint of its bid
# and ask). The learner sells (buys) 1 kWh every interval of 15 minutes; the counter-order bids
# 0.21 (asks 0.17) for 1 kWh. Price levels: 11 from the feed-in tariff 0.08 to the retail price 0.30,
# 0.022 apart. The best a seller can do is the highest ask at or below 0.21 (level 5, 0.19): it trades
# at 0.20 and gains 0.12 EUR against the feed-in tariff; a buyer's best bid is 0.19 (level 5), which
# trades at 0.18 and saves 0.12 EUR against the retail price.
RETAIL, FIT = 0.30, 0.08
BEST_GAIN_EUR = 0.12


def _daily_reward(name: str, side: str, seed: int, days: int = 40) -> np.ndarray:
    """Mean reward per interval (EUR) for each day of a learner with the default parameters."""
    learner = make_strategy(name, Strategies(), np.random.default_rng(seed))
    counter = Order(1, "buy", 1.0, 0.21) if side == "sell" else Order(1, "sell", 1.0, 0.17)
    last: float | None = None
    reward = np.zeros(days)
    for day in range(days):
        for k in range(96):
            net = 1.0 if side == "sell" else -1.0
            obs = Observation(0, day * 96 + k, net, RETAIL, FIT, last, k, 96, 0.25)
            result = PayAsBid().clear([*learner.decide(obs).orders, counter])
            # money gained against trading the same energy with the retailer
            gain = sum(
                t.energy_kwh * (t.price_eur_per_kwh - FIT if side == "sell" else RETAIL - t.price_eur_per_kwh)
                for t in result.trades
            )
            learner.learn(obs, Feedback(gain, result.volume_kwh, result.mean_price_eur_per_kwh))
            last = result.mean_price_eur_per_kwh if result.trades else last
            reward[day] += gain / 96
    return reward


@pytest.mark.slow
@pytest.mark.parametrize("side", ["sell", "buy"])
@pytest.mark.parametrize("name", ["roth_erev", "q_learning"])
def test_learners_reach_95_percent_of_the_best_reward_within_40_days(name: str, side: str) -> None:
    curves = np.array([_daily_reward(name, side, seed) for seed in range(10)])
    share = curves / BEST_GAIN_EUR
    # measured (defaults): day 40 at 99 % or more in every seed; the first day far lower
    assert (share[:, 0] < 0.9).all()  # learning happens: day 1 is not yet there
    assert (share[:, -1] >= 0.95).all(), share[:, -1]
