"""Mesa agents: prosumer households and the retailer that backs up the local market."""

from typing import TYPE_CHECKING

import mesa
import numpy as np

from lemgrid.agents.policies import DevicePlan, DevicePolicy, Devices, Forecast
from lemgrid.agents.strategies import Decision, Feedback, Observation, Strategy

if TYPE_CHECKING:
    from mesa import Model


class Household(mesa.Agent):
    """A household on one bus and phase of the feeder, with its devices and trading strategy.

    Its base-load and PV traces live in the model's arrays at row ``index``, so
    per-interval arithmetic stays vectorised across households. Each interval
    it plans its devices (``plan``), trades the resulting net position
    (``decide``), runs its devices as planned (``dispatch``) and learns.
    """

    def __init__(
        self,
        model: "Model",
        index: int,
        name: str,
        bus: int,
        phase: str,
        strategy: Strategy,
        policy: DevicePolicy,
        devices: Devices,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.name = name
        self.bus = bus
        self.phase = phase
        self.strategy = strategy
        self.policy = policy
        self.devices = devices
        self.bill_eur = 0.0
        self.reward_by_day_eur: list[float] = []  # the learning curve: reward summed per simulated day

    def plan(
        self, base_load_kw: float, pv_kw: float, t0_s: float, t1_s: float, forecast: Forecast | None = None
    ) -> DevicePlan:
        """Schedule the devices for [t0, t1) with the household's device policy."""
        return self.policy.plan(self.devices, base_load_kw, pv_kw, t0_s, t1_s, forecast)

    def decide(self, obs: Observation) -> Decision:
        """Orders (and perhaps another battery power) for the coming interval."""
        return self.strategy.decide(obs)

    def dispatch(self, plan: DevicePlan, t0_s: float, t1_s: float) -> DevicePlan:
        """Run the devices as planned; returns what they actually did (each clipped to its limits)."""
        return self.devices.dispatch(plan, t0_s, t1_s)

    def learn(self, obs: Observation, feedback: Feedback) -> None:
        """Pass the settled interval's outcome to the strategy; add its reward to the day's."""
        self.book_reward(obs.interval // max(obs.intervals_per_day, 1), feedback.reward_eur)
        self.strategy.learn(obs, feedback)

    def book_reward(self, day: int, reward_eur: float) -> None:
        """Add an interval's reward to its day's (the learning curve)."""
        while len(self.reward_by_day_eur) <= day:
            self.reward_by_day_eur.append(0.0)
        self.reward_by_day_eur[day] += reward_eur


class Retailer(mesa.Agent):
    """Fallback counterparty: sells at the retail price, buys at the feed-in tariff (each per interval)."""

    def __init__(
        self, model: "Model", retail_price_eur_per_kwh: np.ndarray, feed_in_tariff_eur_per_kwh: np.ndarray
    ) -> None:
        super().__init__(model)
        self.retail_price_eur_per_kwh = retail_price_eur_per_kwh
        self.feed_in_tariff_eur_per_kwh = feed_in_tariff_eur_per_kwh
        self.revenue_eur = 0.0
