"""Trading strategies: turn a household's position into orders, learn from settlement.

Strategies are small classes registered by name in :data:`STRATEGIES`; the
scenario picks one by name. Adding a strategy is one class plus one registry line.
"""

from dataclasses import dataclass
from typing import Literal, Protocol

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order for energy delivered in one interval.

    Attributes:
        household: index of the household that places it.
        side: ``'buy'`` or ``'sell'``.
        energy_kwh: quantity offered or wanted, > 0.
        price_eur_per_kwh: limit price: the most a buyer pays, the least a seller takes.

    """

    household: int
    side: Side
    energy_kwh: float
    price_eur_per_kwh: float


@dataclass(frozen=True, slots=True)
class Observation:
    """What a household knows when it decides for one interval.

    Attributes:
        household: index of the deciding household.
        interval: interval number since the start of the run.
        net_energy_kwh: the household's expected net export in the interval
            (import negative), before any trade.
        retail_price_eur_per_kwh: what the retailer charges for imports.
        feed_in_tariff_eur_per_kwh: what the retailer pays for exports.
        last_price_eur_per_kwh: the previous interval's local clearing price, if any.

    """

    household: int
    interval: int
    net_energy_kwh: float
    retail_price_eur_per_kwh: float
    feed_in_tariff_eur_per_kwh: float
    last_price_eur_per_kwh: float | None


class Strategy(Protocol):
    """The interface every trading strategy implements."""

    name: str

    def decide(self, obs: Observation) -> list[Order]:
        """Orders for the coming interval."""
        ...

    def learn(self, obs: Observation, reward_eur: float) -> None:
        """Receive the interval's reward (money saved against the retailer) after settlement."""
        ...


class Truthful:
    """Price-taker that bids its marginal value: what the retailer alternative is worth.

    A net importer bids to buy its deficit at the retail price (the most buying
    locally is worth to it); a net exporter asks to sell its surplus at the
    feed-in tariff (the least it accepts). It never learns.
    """

    name = "truthful"

    def decide(self, obs: Observation) -> list[Order]:
        """Bid the whole net position at its marginal value."""
        if obs.net_energy_kwh > 0:
            return [Order(obs.household, "sell", obs.net_energy_kwh, obs.feed_in_tariff_eur_per_kwh)]
        if obs.net_energy_kwh < 0:
            return [Order(obs.household, "buy", -obs.net_energy_kwh, obs.retail_price_eur_per_kwh)]
        return []

    def learn(self, obs: Observation, reward_eur: float) -> None:
        """A price-taker does not adapt."""


STRATEGIES: dict[str, type[Strategy]] = {
    "truthful": Truthful,
}
