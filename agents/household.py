"""Mesa agents: prosumer households and the retailer that backs up the local market."""

from typing import TYPE_CHECKING

import mesa

from agents.strategies import Observation, Order, Strategy

if TYPE_CHECKING:
    from mesa import Model


class Household(mesa.Agent):
    """A household on one bus and phase of the feeder, trading through its strategy.

    Its physical traces (base load, PV) live in the model's arrays at row
    ``index``, so per-interval arithmetic stays vectorised across households.
    """

    def __init__(
        self, model: "Model", index: int, name: str, bus: int, phase: str, strategy: Strategy
    ) -> None:
        super().__init__(model)
        self.index = index
        self.name = name
        self.bus = bus
        self.phase = phase
        self.strategy = strategy
        self.bill_eur = 0.0

    def decide(self, obs: Observation) -> list[Order]:
        """Orders for the coming interval."""
        return self.strategy.decide(obs)

    def learn(self, obs: Observation, reward_eur: float) -> None:
        """Pass the settled interval's reward to the strategy."""
        self.strategy.learn(obs, reward_eur)


class Retailer(mesa.Agent):
    """Fallback counterparty: sells at the retail price, buys at the feed-in tariff."""

    def __init__(
        self, model: "Model", retail_price_eur_per_kwh: float, feed_in_tariff_eur_per_kwh: float
    ) -> None:
        super().__init__(model)
        self.retail_price_eur_per_kwh = retail_price_eur_per_kwh
        self.feed_in_tariff_eur_per_kwh = feed_in_tariff_eur_per_kwh
        self.revenue_eur = 0.0
