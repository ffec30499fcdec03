"""Trading strategies: turn a household's position into orders, learn from settlement.

Every strategy implements :class:`Strategy`: ``decide`` turns an
:class:`Observation` (time, prices, the household's planned net position,
its battery's range, a grid signal) into a :class:`Decision` (orders, and
optionally a different battery power), and ``learn`` receives the settled
:class:`Feedback`. Its budget is the retailer alternative: a buyer never pays
more than the retail price, a seller never takes less than the feed-in tariff.
Learning state lives in the strategy object (so it carries over from day to
day within a run) and can be saved and loaded with ``state``/``load_state``.

Strategies are registered by name in :data:`STRATEGIES`; a scenario mixes them
(``households.strategy: {zip: 0.3, zi_c: 0.5, q_learning: 0.2}``). All
randomness comes from a generator the model derives from its own ``rng``.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

Side = Literal["buy", "sell"]

# Learning files (``Model.save_learning``) carry this version; 2: per-household strategy and state
# under "households", Q-learning's optimistic initial values and limit-relative quotes.
LEARNING_FILE_VERSION = 2


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order for energy delivered in one interval.

    Attributes:
        household: index of the household that places it.
        side: ``'buy'`` or ``'sell'``.
        energy_kwh: quantity offered or wanted, > 0.
        price_eur_per_kwh: the quoted price: the most a buyer pays, the least a seller takes.
        limit_eur_per_kwh: the household's own limit price for this energy (its value to
            a buyer, its cost to a seller) that the quote was shaded from; None: the quote is
            the limit (a truthful order). Strategies re-quote relative to it.
    """

    household: int
    side: Side
    energy_kwh: float
    price_eur_per_kwh: float
    limit_eur_per_kwh: float | None = None

    @property
    def limit(self) -> float:
        """The limit price: the household's value (buy) or cost (sell) of this energy."""
        return self.price_eur_per_kwh if self.limit_eur_per_kwh is None else self.limit_eur_per_kwh


class Observation(NamedTuple):
    """What a household knows when it decides for one interval.

    A named tuple (as :class:`Flexibility`): every household gets one per interval, and
    a tuple is built in a fraction of a frozen dataclass's time.

    Attributes:
        household: index of the deciding household.
        interval: interval number since the start of the run.
        net_energy_kwh: the household's expected net export in the interval
            (import negative) as its devices are planned, before any trade.
        retail_price_eur_per_kwh: what the retailer charges for imports.
        feed_in_tariff_eur_per_kwh: what the retailer pays for exports.
        last_price_eur_per_kwh: the previous interval's mean local price, if any.
        interval_of_day, intervals_per_day: the time of day, in intervals.
        hours: length of the interval.
        battery_soc: state of charge, None without a battery.
        battery_planned_kw: the battery power in the plan (injection positive).
        battery_min_kw, battery_max_kw: the battery's range this interval.
        voltage_pu: the household's supply voltage in the previous interval (a grid signal).
    """

    household: int
    interval: int
    net_energy_kwh: float
    retail_price_eur_per_kwh: float
    feed_in_tariff_eur_per_kwh: float
    last_price_eur_per_kwh: float | None
    interval_of_day: int = 0
    intervals_per_day: int = 96
    hours: float = 0.25
    battery_soc: float | None = None
    battery_planned_kw: float = 0.0
    battery_min_kw: float = 0.0
    battery_max_kw: float = 0.0
    voltage_pu: float | None = None


class Decision(NamedTuple):
    """Orders for the interval and, if the strategy wants another, the battery power (kW, injection +)."""

    orders: list[Order]
    battery_kw: float | None = None


class Feedback(NamedTuple):
    """The settled outcome of an interval, for learning.

    Attributes:
        reward_eur: money saved against trading only with the retailer, less battery wear.
        traded_kwh: energy the household traded locally (bought or sold).
        market_price_eur_per_kwh: the interval's mean local price (None without local trade).
    """

    reward_eur: float
    traded_kwh: float
    market_price_eur_per_kwh: float | None


class Strategy(Protocol):
    """The interface every trading strategy implements.

    Attributes:
        name: registry name.
        device_policy: a device policy this strategy brings (None: the household's).
        last_action: a short text of the last decision, recorded per interval.
        listens: whether it learns from shouts inside a continuous double auction.
    """

    name: str
    device_policy: str | None
    last_action: str
    listens: bool

    def requote(self, order: Order) -> float:
        """The price for the residual of ``order`` in the next trading round, relative to its limit."""
        ...

    def hear(self, side: str, price_eur_per_kwh: float, accepted: bool, active: bool) -> None:
        """Learn from a shout: its side and price, whether it traded, whether this trader is still active."""
        ...

    def decide(self, obs: Observation) -> Decision:
        """Orders (and perhaps a battery power) for the coming interval."""
        ...

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Update from the settled interval."""
        ...

    def state(self) -> dict[str, Any]:
        """Learning state, JSON-ready."""
        ...

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a saved learning state."""
        ...


def order_at(obs: Observation, net_kwh: float, price: float) -> list[Order]:
    """One order for the net position ``net_kwh`` at ``price``, kept within the retailer budget.

    The household's limit price for its net position is the retailer alternative:
    the retail price to a buyer, the feed-in tariff to a seller.
    """
    price = min(max(price, obs.feed_in_tariff_eur_per_kwh), obs.retail_price_eur_per_kwh)
    if net_kwh > 1e-9:
        return [Order(obs.household, "sell", net_kwh, price, limit(obs, "sell"))]
    if net_kwh < -1e-9:
        return [Order(obs.household, "buy", -net_kwh, price, limit(obs, "buy"))]
    return []


def limit(obs: Observation, side: str) -> float:
    """A household's limit price for its net position: what the retailer alternative is worth."""
    return obs.retail_price_eur_per_kwh if side == "buy" else obs.feed_in_tariff_eur_per_kwh


def shaded(side: str, limit_eur_per_kwh: float, fraction: float, band: tuple[float, float]) -> float:
    """A quote ``fraction`` of the way from the limit price to the far end of the quote band.

    0 quotes the limit (truthful); 1 bids the band's floor or asks its ceiling.
    """
    floor, ceiling = band
    if side == "buy":
        return limit_eur_per_kwh - fraction * max(limit_eur_per_kwh - floor, 0.0)
    return limit_eur_per_kwh + fraction * max(ceiling - limit_eur_per_kwh, 0.0)


def band(obs: Observation) -> tuple[float, float]:
    """The quote band: no local price is worth less than the feed-in tariff or more than the retail price."""
    return obs.feed_in_tariff_eur_per_kwh, obs.retail_price_eur_per_kwh


def _span(obs: Observation) -> float:
    return obs.retail_price_eur_per_kwh - obs.feed_in_tariff_eur_per_kwh


def _gain_share(obs: Observation, feedback: Feedback) -> float:
    """Reward as a share of the most a household could gain on its position (0..1)."""
    best = abs(obs.net_energy_kwh) * _span(obs)
    return min(max(feedback.reward_eur / best, 0.0), 1.0) if best > 1e-12 else 0.0


class _OneQuote:
    """Base for strategies that decide once per interval: the same price in every trading round."""

    listens = False

    def requote(self, order: Order) -> float:
        """The price as placed: the decision is made once per interval."""
        return order.price_eur_per_kwh

    def hear(self, side: str, price_eur_per_kwh: float, accepted: bool, active: bool) -> None:
        """Shouts are not used."""


class _Stateless(_OneQuote):
    """Base for strategies that keep nothing between intervals."""

    device_policy: str | None = None
    last_action = ""

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Nothing to learn."""

    def state(self) -> dict[str, Any]:
        """No state."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """No state."""


class Truthful(_Stateless):
    """Price-taker that bids its marginal value: what the retailer alternative is worth.

    A net importer bids to buy its deficit at the retail price (the most buying
    locally is worth to it); a net exporter asks to sell its surplus at the
    feed-in tariff (the least it accepts). It never learns.
    """

    name = "truthful"

    def decide(self, obs: Observation) -> Decision:
        """Bid the whole net position at its marginal value."""
        if obs.net_energy_kwh > 0:
            self.last_action = "ask fit"
            return Decision(
                [Order(obs.household, "sell", obs.net_energy_kwh, obs.feed_in_tariff_eur_per_kwh)]
            )
        if obs.net_energy_kwh < 0:
            self.last_action = "bid retail"
            return Decision([Order(obs.household, "buy", -obs.net_energy_kwh, obs.retail_price_eur_per_kwh)])
        self.last_action = ""
        return Decision([])


def in_batch(strategies: Iterable["Strategy"]) -> list[bool]:
    """Whether each strategy bids truthfully and learns nothing, so :func:`truthful_orders` decides for it.

    Found once per strategy class, then looked up.
    """
    kinds: list[type[Strategy]] = list(map(type, strategies))
    for kind in set(kinds).difference(_IN_BATCH):
        _IN_BATCH[kind] = kind.decide is Truthful.decide and kind.learn is _Stateless.learn
    return list(map(_IN_BATCH.__getitem__, kinds))


_IN_BATCH: dict[type["Strategy"], bool] = {}


def truthful_orders(
    net_kwh: np.ndarray, retail_eur_per_kwh: float, feed_in_eur_per_kwh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`Truthful.decide` for many households at once: who bids, each order's side, kWh and price.

    Returns the positions of the households with an order, whether each buys, its kWh and its quote.
    """
    buys = net_kwh < 0
    placing = np.flatnonzero(buys | (net_kwh > 0))
    buys = buys[placing]
    net = net_kwh[placing]
    return placing, buys, np.where(buys, -net, net), np.where(buys, retail_eur_per_kwh, feed_in_eur_per_kwh)


TRUTHFUL_ACTIONS = ("", "ask fit", "bid retail")  # Truthful.last_action by np.sign(net position)


class TimeOfUseBattery(Truthful):
    """Rule-based: the ``time_of_use`` device policy (charge off-peak, discharge at peak), truthful bids."""

    name = "time_of_use"
    device_policy: str | None = "time_of_use"


class LPOptimiser(Truthful):
    """Forecast-based: the ``lp_optimiser`` device policy schedules the battery.

    A linear program over a rolling horizon against forecast prices; the
    resulting position is bid truthfully.
    """

    name = "lp_optimiser"
    device_policy: str | None = "lp_optimiser"


class ZIC(_Stateless):
    """Zero-intelligence constrained (Gode and Sunder 1993): random prices within the budget.

    A buyer bids uniformly between the quote band's floor (the feed-in tariff)
    and its limit price (its value); a seller asks uniformly between its limit
    price (its cost) and the band's ceiling (the retail price). It draws anew
    for every trading round. As every mechanism trades within both quotes, it
    never trades at a loss.
    """

    name = "zi_c"

    def __init__(self, rng: np.random.Generator, quote_band: tuple[float, float] = (0.0, math.inf)) -> None:
        self.rng = rng
        self.band = quote_band

    def quote(self, side: str, limit_eur_per_kwh: float) -> float:
        """A uniformly random price between the limit and the band's far end."""
        return shaded(side, limit_eur_per_kwh, float(self.rng.uniform(0.0, 1.0)), self.band)

    def decide(self, obs: Observation) -> Decision:
        """A uniformly random price within the budget."""
        self.band = band(obs)
        price = float(self.rng.uniform(obs.feed_in_tariff_eur_per_kwh, obs.retail_price_eur_per_kwh))
        self.last_action = f"{price:.4f}"
        return Decision(order_at(obs, obs.net_energy_kwh, price))

    def requote(self, order: Order) -> float:
        """A fresh draw for the residual."""
        return self.quote(order.side, order.limit)


class ZIU(ZIC):
    """Zero-intelligence unconstrained (Gode and Sunder 1993): random prices over the whole band.

    Quotes uniformly over the quote band whatever its limit price, so it can
    trade at a loss (a baseline showing what the budget constraint alone buys).
    """

    name = "zi_u"

    def quote(self, side: str, limit_eur_per_kwh: float) -> float:
        """A uniformly random price in the band, the limit ignored."""
        return float(self.rng.uniform(*self.band))

    def decide(self, obs: Observation) -> Decision:
        """A uniformly random price in the band (the order still carries the household's limit)."""
        self.band = band(obs)
        return super().decide(obs)


@dataclass
class _Margin:
    """One side's ZIP state: profit margin and the momentum of its last change."""

    margin: float
    momentum: float = 0.0


class ZIP:
    """Zero-intelligence plus (Cliff 1997): an adaptive profit margin per side, relative to the limit price.

    A seller asks ``limit * (1 + margin)``, a buyer bids ``limit * (1 - margin)``
    (limit = the household's cost or value; on a net position, the feed-in
    tariff or the retail price). The price moves toward a target by the
    Widrow-Hoff rule with momentum (Cliff 1997, eqs. 13-15:
    ``delta = beta * (target - price)``; ``change = gamma * change + (1 - gamma) * delta``),
    target ``R * q + A`` with R and A drawn around a shout price q
    (raising: R in [1, 1.05], A in [0, a]; lowering: R in [0.95, 1], A in [-a, 0];
    a = 1.25 % of the quote band, Cliff's 0.05 on his 0-4 price scale).

    In a continuous double auction it hears every shout and applies Cliff's
    rules (section 4.2): a seller raises its margin when a trade happens at or
    above its ask, and lowers it when still active and a bid trades below its
    ask or an ask at or below its ask goes unaccepted; buyers mirror this. In
    call auctions it learns once per interval from the mean local price.
    Margins stay within [0, max margin], so quotes stay within the band.
    """

    name = "zip"
    device_policy: str | None = None
    listens = True

    def __init__(
        self,
        rng: np.random.Generator,
        beta: float,
        gamma: float,
        initial: tuple[float, float],
        quote_band: tuple[float, float] = (0.0, math.inf),
    ) -> None:
        self.rng = rng
        self.beta = beta
        self.gamma = gamma
        self.sides = {side: _Margin(float(rng.uniform(*initial))) for side in ("buy", "sell")}
        self.band = quote_band
        self.last_action = ""
        self._last: tuple[str, float] | None = None
        self._limit: dict[str, float] = {}  # the limit behind each side's current quote
        self._heard = False

    def quote(self, side: str, limit_eur_per_kwh: float) -> float:
        """The side's current price from its margin and ``limit_eur_per_kwh``."""
        self._limit[side] = limit_eur_per_kwh
        m = self.sides[side].margin
        p = limit_eur_per_kwh * (1 + m) if side == "sell" else limit_eur_per_kwh * (1 - m)
        return min(max(p, self.band[0]), self.band[1])

    def price(self, side: str, obs: Observation) -> float:
        """The side's current price on the household's net position."""
        self.band = band(obs)
        return self.quote(side, limit(obs, side))

    def new_interval(self) -> None:
        """Forget the last interval's quotes: only sides quoted from now on hear shouts."""
        self._heard = False
        self._limit = {}

    def decide(self, obs: Observation) -> Decision:
        """Quote the current margin for whichever side the position is on."""
        self.new_interval()
        side = "sell" if obs.net_energy_kwh > 0 else "buy"
        if abs(obs.net_energy_kwh) <= 1e-9:
            self._last = None
            self.last_action = ""
            return Decision([])
        price = self.price(side, obs)
        self._last = (side, price)
        self.last_action = f"{side} {price:.4f}"
        return Decision(order_at(obs, obs.net_energy_kwh, price))

    def requote(self, order: Order) -> float:
        """The residual at the current margin (which the shouts may have moved)."""
        return self.quote(order.side, order.limit)

    def hear(self, side: str, price_eur_per_kwh: float, accepted: bool, active: bool) -> None:
        """Cliff's (1997) shout rules for whichever side this household quotes."""
        for mine, lim in list(self._limit.items()):
            p = self.quote(mine, lim)
            q = price_eur_per_kwh
            if mine == "sell":
                if accepted and p <= q:
                    self._move(mine, lim, p, q, raise_price=True)
                elif (
                    active and ((accepted and side == "buy") or (not accepted and side == "sell")) and p >= q
                ):
                    self._move(mine, lim, p, q, raise_price=False)
            else:
                if accepted and p >= q:
                    self._move(mine, lim, p, q, raise_price=False)
                elif (
                    active and ((accepted and side == "sell") or (not accepted and side == "buy")) and p <= q
                ):
                    self._move(mine, lim, p, q, raise_price=True)
            self._heard = True

    def _move(self, side: str, lim: float, price: float, q: float, raise_price: bool) -> None:
        """One Widrow-Hoff step toward a target drawn just above (or below) the shout price."""
        a = 0.0125 * (self.band[1] - self.band[0]) if math.isfinite(self.band[1]) else 0.05
        if raise_price:
            target = q * float(self.rng.uniform(1.0, 1.05)) + float(self.rng.uniform(0.0, a))
        else:
            target = q * float(self.rng.uniform(0.95, 1.0)) - float(self.rng.uniform(0.0, a))
        self._step(side, lim, price, target)

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Cliff's margin rules on the interval's outcome (when no shouts were heard)."""
        if self._last is None or self._heard:
            return
        side, price = self._last
        q = feedback.market_price_eur_per_kwh
        traded = feedback.traded_kwh > 1e-9
        r = float(self.rng.uniform(0.0, 0.05))
        if side == "sell":
            target = (q if q is not None else price) * ((1 + r) if traded else (1 - r))
            if traded and q is not None and q < price:  # never raise above what it got
                target = price
        else:
            target = (q if q is not None else price) * ((1 - r) if traded else (1 + r))
            if traded and q is not None and q > price:
                target = price
        self.update(side, obs, price, target)

    def update(self, side: str, obs: Observation, price: float, target: float) -> None:
        """Move the side's price toward ``target`` on the net position (limit = the retailer alternative)."""
        self.band = band(obs)
        self._step(side, limit(obs, side), price, target)

    def _step(self, side: str, lim: float, price: float, target: float) -> None:
        """Widrow-Hoff with momentum (Cliff 1997, eqs. 13-15); the margin keeps the price in the band."""
        s = self.sides[side]
        s.momentum = self.gamma * s.momentum + (1 - self.gamma) * self.beta * (target - price)
        new_price = price + s.momentum
        if lim <= 0:
            s.margin = 0.0
        elif side == "sell":
            top = self.band[1] / lim - 1
            s.margin = min(max(new_price / lim - 1, 0.0), max(top, 0.0))
        else:
            top = 1 - self.band[0] / lim
            s.margin = min(max(1 - new_price / lim, 0.0), max(top, 0.0))

    def state(self) -> dict[str, Any]:
        """Margins and momenta per side."""
        return {side: {"margin": s.margin, "momentum": s.momentum} for side, s in self.sides.items()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from saved margins."""
        for side, values in state.items():
            self.sides[side] = _Margin(float(values["margin"]), float(values["momentum"]))


def _levels(n: int) -> np.ndarray:
    """Price levels as fractions of the way from the feed-in tariff to the retail price."""
    return np.linspace(0.0, 1.0, n)


class RothErev(_OneQuote):
    """Modified Roth-Erev reinforcement learning (Nicolaisen et al. 2001, as in AMES) with a reference point.

    Actions are ``levels`` price points evenly spread from the limit price to
    the far end of the quote band (on a net position: from the feed-in tariff
    to the retail price), learnt separately for buying and selling. The chosen
    action is drawn with probability proportional to its propensity. After the
    interval, with reward r (the money gained against the retailer as a share
    of the most the position could gain, 0..1), reference point rho, recency
    phi and experimentation e:

        q_j <- (1 - phi) q_j + (r - rho) (1 - e)       for the chosen j
        q_j <- (1 - phi) q_j + q_j e / (levels - 1)    for the others
        rho <- rho + w (r - rho)

    The reference point (Erev and Roth 1998, section 4) is the running mean of
    the side's rewards (weight w = ``reference_weight``); reinforcing only
    what beats it makes the choice settle on the best level, not on any level
    that pays. w = 0 is the plain modified Roth-Erev. Propensities stay above 1e-6.
    """

    name = "roth_erev"
    device_policy: str | None = None

    def __init__(
        self,
        rng: np.random.Generator,
        levels: int,
        recency: float,
        experimentation: float,
        initial: float,
        reference_weight: float = 0.0,
    ) -> None:
        self.rng = rng
        self.levels = _levels(levels)
        self.recency = recency
        self.experimentation = experimentation
        self.reference_weight = reference_weight
        self.propensity = {side: np.full(levels, initial) for side in ("buy", "sell")}
        self.reference = {side: 0.0 for side in ("buy", "sell")}
        self.last_action = ""
        self._last: tuple[str, int] | None = None

    def probabilities(self, side: str) -> np.ndarray:
        """Choice probabilities of one side's actions."""
        q = self.propensity[side]
        return q / q.sum()

    def decide(self, obs: Observation) -> Decision:
        """Draw a price level by propensity."""
        if abs(obs.net_energy_kwh) <= 1e-9:
            self._last = None
            self.last_action = ""
            return Decision([])
        side = "sell" if obs.net_energy_kwh > 0 else "buy"
        j = int(self.rng.choice(len(self.levels), p=self.probabilities(side)))
        self._last = (side, j)
        price = obs.feed_in_tariff_eur_per_kwh + self.levels[j] * _span(obs)
        self.last_action = f"{side} level {j}"
        return Decision(order_at(obs, obs.net_energy_kwh, price))

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Reinforce the chosen level by the reward, spread a little to the others."""
        if self._last is None:
            return
        side, j = self._last
        q = self.propensity[side]
        n = len(q)
        reward = _gain_share(obs, feedback)
        spill = q * self.experimentation / (n - 1)
        spill[j] = (reward - self.reference[side]) * (1 - self.experimentation)
        self.reference[side] += self.reference_weight * (reward - self.reference[side])
        self.propensity[side] = np.maximum((1 - self.recency) * q + spill, 1e-6)

    def state(self) -> dict[str, Any]:
        """Propensities and reference points per side."""
        return {
            **{side: q.tolist() for side, q in self.propensity.items()},
            "reference": dict(self.reference),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from saved propensities and reference points."""
        for side in ("buy", "sell"):
            q = np.asarray(state[side], dtype=float)
            if q.shape != self.propensity[side].shape:
                raise ValueError(f"{side} propensities have {q.size} levels; this run has {self.levels.size}")
            self.propensity[side] = q
        self.reference = {side: float(state["reference"][side]) for side in ("buy", "sell")}


class QLearning(_OneQuote):
    """Tabular Q-learning (Watkins 1989) with optimistic initial values and decaying exploration.

    State design: time-of-day band (``day_bands`` per day: what the household
    trades and who it meets change over the day), battery state-of-charge band
    (none / low / mid / high: what a battery action can do) and the last local
    price band (none / low / mid / high within the feed-in tariff to retail
    range: the market's recent level). Action: a price level (``price_levels``
    from the limit price to the far end of the quote band; on a net position,
    from the feed-in tariff to the retail price) and, for a household with a
    battery, what the battery does (follow the plan, charge at full power,
    discharge at full power). Reward: the money gained against trading the
    same energy with the retailer, less battery wear, as a share of the most
    its position could gain (so rewards of different households compare).

    Every value starts at ``initial`` (optimistic: at or above any reachable
    value, 1 / (1 - gamma) for rewards of at most 1, so each action is tried in
    each state before the greedy choice settles; Sutton and Barto 2018,
    section 2.6). Epsilon-greedy exploration decays by ``epsilon_decay`` at the
    start of every day, down to ``epsilon_min``. The default discount is 0: a
    price level barely moves the next state, and bootstrapping from optimistic
    next-state values slows the choice between close levels (measured in
    tests/test_market_classics.py); a battery's arbitrage across intervals needs gamma > 0.
    """

    name = "q_learning"
    device_policy: str | None = None
    BATTERY = ("plan", "charge", "discharge")

    def __init__(
        self,
        rng: np.random.Generator,
        price_levels: int,
        day_bands: int,
        alpha: float,
        gamma: float,
        epsilon: float,
        epsilon_decay: float,
        epsilon_min: float,
        initial: float = 0.0,
    ) -> None:
        self.rng = rng
        self.initial = initial
        self.levels = _levels(price_levels)
        self.day_bands = day_bands
        self.alpha, self.gamma = alpha, gamma
        self.epsilon, self.epsilon_decay, self.epsilon_min = epsilon, epsilon_decay, epsilon_min
        self.q: dict[str, np.ndarray] = {}
        self.last_action = ""
        self._pending: tuple[str, int, float] | None = None  # state, action, reward awaiting the next state
        self._last: tuple[str, int] | None = None

    def _state(self, obs: Observation) -> str:
        band = obs.interval_of_day * self.day_bands // max(obs.intervals_per_day, 1)
        soc = "n" if obs.battery_soc is None else "lmh"[min(int(obs.battery_soc * 3), 2)]
        if obs.last_price_eur_per_kwh is None or _span(obs) <= 0:
            price = "n"
        else:
            x = (obs.last_price_eur_per_kwh - obs.feed_in_tariff_eur_per_kwh) / _span(obs)
            price = "lmh"[min(max(int(x * 3), 0), 2)]
        return f"{band}{soc}{price}"

    def _actions(self, obs: Observation) -> int:
        return len(self.levels) * (len(self.BATTERY) if obs.battery_soc is not None else 1)

    def _values(self, state: str, n: int) -> np.ndarray:
        if state not in self.q or len(self.q[state]) != n:
            self.q[state] = np.full(n, self.initial)
        return self.q[state]

    def decide(self, obs: Observation) -> Decision:
        """Epsilon-greedy over (price level, battery action); completes the previous update first."""
        if obs.interval_of_day == 0 and obs.interval > 0:
            self.epsilon = max(self.epsilon * self.epsilon_decay, self.epsilon_min)
        state = self._state(obs)
        n = self._actions(obs)
        values = self._values(state, n)
        if self._pending is not None:
            prev_state, prev_action, reward = self._pending
            old = self.q[prev_state]
            old[prev_action] += self.alpha * (reward + self.gamma * values.max() - old[prev_action])
            self._pending = None
        if self.rng.random() < self.epsilon:
            a = int(self.rng.integers(n))
        else:
            best = np.flatnonzero(values == values.max())
            a = int(self.rng.choice(best))
        self._last = (state, a)
        level, battery = divmod(a, len(self.BATTERY)) if obs.battery_soc is not None else (a, 0)
        battery_kw = {
            "plan": obs.battery_planned_kw,
            "charge": obs.battery_min_kw,
            "discharge": obs.battery_max_kw,
        }[self.BATTERY[battery]]
        net = obs.net_energy_kwh + (battery_kw - obs.battery_planned_kw) * obs.hours
        price = obs.feed_in_tariff_eur_per_kwh + self.levels[level] * _span(obs)
        self.last_action = f"level {level}, battery {self.BATTERY[battery]}"
        return Decision(order_at(obs, net, price), None if self.BATTERY[battery] == "plan" else battery_kw)

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Keep the reward; the update completes when the next state is seen."""
        if self._last is None:
            return
        state, action = self._last
        best = max(abs(obs.net_energy_kwh), obs.battery_max_kw * obs.hours, 1e-9) * max(_span(obs), 1e-9)
        self._pending = (state, action, feedback.reward_eur / best)

    def state(self) -> dict[str, Any]:
        """Q-table and exploration rate."""
        return {"epsilon": self.epsilon, "q": {s: v.tolist() for s, v in self.q.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a saved Q-table."""
        self.epsilon = float(state["epsilon"])
        self.q = {s: np.asarray(v, dtype=float) for s, v in state["q"].items()}


class External(_Stateless):
    """Acts as told from outside: the gymnasium environment sets ``action`` before every interval.

    ``action`` = (price fraction in [0, 1] from the feed-in tariff to the retail
    price, battery power fraction in [-1, 1]: -1 charges at full power, +1
    discharges at full power, 0 idles; ignored without a battery).
    """

    name = "external"

    def __init__(self) -> None:
        self.action = (0.5, 0.0)
        self.feedback: Feedback | None = None

    def decide(self, obs: Observation) -> Decision:
        """Bid the position the action implies at the action's price."""
        price_fraction, battery_fraction = (float(x) for x in self.action)
        battery_kw = None
        net = obs.net_energy_kwh
        if obs.battery_soc is not None:
            battery_kw = battery_fraction * (
                obs.battery_max_kw if battery_fraction > 0 else -obs.battery_min_kw
            )
            net += (battery_kw - obs.battery_planned_kw) * obs.hours
        price = obs.feed_in_tariff_eur_per_kwh + min(max(price_fraction, 0.0), 1.0) * _span(obs)
        self.last_action = f"price {price_fraction:.3f}, battery {battery_fraction:.3f}"
        return Decision(order_at(obs, net, price), battery_kw)

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Keep the outcome for the environment's reward."""
        self.feedback = feedback


# name -> builder(parameters, rng); parameters: the scenario's ``strategies`` section
STRATEGIES: dict[str, Callable[[Any, np.random.Generator], Strategy]] = {
    "truthful": lambda p, rng: Truthful(),
    "zi_c": lambda p, rng: ZIC(rng),
    "zi_u": lambda p, rng: ZIU(rng),
    "zip": lambda p, rng: ZIP(rng, p.zip_beta, p.zip_momentum, p.zip_initial_margin),
    "roth_erev": lambda p, rng: RothErev(
        rng,
        p.roth_erev_levels,
        p.roth_erev_recency,
        p.roth_erev_experimentation,
        p.roth_erev_initial_propensity,
        p.roth_erev_reference_weight,
    ),
    "q_learning": lambda p, rng: QLearning(
        rng,
        p.q_price_levels,
        p.q_day_bands,
        p.q_alpha,
        p.q_gamma,
        p.q_epsilon,
        p.q_epsilon_decay,
        p.q_epsilon_min,
        p.q_initial_value,
    ),
    "time_of_use": lambda p, rng: TimeOfUseBattery(),
    "lp_optimiser": lambda p, rng: LPOptimiser(),
}


def make_strategy(name: str, params: Any, rng: np.random.Generator) -> Strategy:
    """Build the strategy registered under ``name``."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r} does not exist; available: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](params, rng)


def largest_remainder(shares: dict[str, float], n: int) -> dict[str, int]:
    """Exact counts for ``n`` households from shares summing to 1 (Hamilton's method, ties by name order)."""
    raw = {k: v * n for k, v in shares.items()}
    counts = {k: math.floor(x) for k, x in raw.items()}
    left = n - sum(counts.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - counts[k]), list(shares).index(k)))[:left]:
        counts[k] += 1
    return counts
