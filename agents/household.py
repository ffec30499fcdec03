"""Mesa agents: prosumer households and the retailer that backs up the local market."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from lemgrid.agents.policies import DevicePlan, DevicePolicy, Devices, Forecast
from lemgrid.agents.strategies import Decision, Feedback, Observation, Strategy

if TYPE_CHECKING:
    from mesa import Model


class Accounts:
    """Households' bills and learning curves, one row per household, booked for many at once.

    Each :class:`Household` reads and books its own row; the settlement books the
    whole run's households in one array operation (:meth:`gather` puts them in one table).
    """

    def __init__(self, n: int) -> None:
        self.bill_eur = np.zeros(n)
        self.reward_eur = np.zeros((n, 0))  # per household and day (columns past a row's ``days``: unused)
        self.days = np.zeros(n, dtype=np.int64)  # per household: days of its learning curve

    @classmethod
    def gather(cls, households: Sequence["Household"]) -> "Accounts":
        """One table of ``households``' accounts (row ``i``: ``households[i]``), with what each has booked."""
        accounts = cls(len(households))
        width = max((h.accounts.days[h.account_row] for h in households), default=0)
        accounts.reward_eur = np.zeros((len(households), int(width)))
        for i, h in enumerate(households):
            accounts.bill_eur[i] = h.bill_eur
            curve = h.reward_by_day_eur
            accounts.reward_eur[i, : len(curve)] = curve
            accounts.days[i] = len(curve)
            h.accounts, h.account_row = accounts, i
        return accounts

    @classmethod
    def of(cls, households: Sequence["Household"]) -> "Accounts":
        """The table holding ``households`` in order (row ``i``: ``households[i]``), gathered if none does."""
        accounts = households[0].accounts if households else None
        if accounts is None or len(households) != len(accounts.bill_eur):
            return cls.gather(households)
        if any(h.accounts is not accounts or h.account_row != i for i, h in enumerate(households)):
            return cls.gather(households)
        return accounts

    def rewards(self, row: int) -> list[float]:
        """Row ``row``'s learning curve."""
        return self.reward_eur[row, : self.days[row]].tolist()

    def book_rewards(self, day: int, rows: np.ndarray, reward_eur: np.ndarray) -> None:
        """Add each row's reward of an interval to its ``day`` (the curve grows to the day, with zeros)."""
        if day >= self.reward_eur.shape[1]:  # room for twice the days, so growing costs little over a run
            grown = np.zeros((len(self.bill_eur), max(2 * self.reward_eur.shape[1], day + 1)))
            grown[:, : self.reward_eur.shape[1]] = self.reward_eur
            self.reward_eur = grown
        self.reward_eur[rows, day] += reward_eur
        self.days[rows] = np.maximum(self.days[rows], day + 1)


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
        self.accounts, self.account_row = Accounts(1), 0  # its own until a run gathers them (Accounts.gather)

    @property
    def bill_eur(self) -> float:
        """What the household has paid over the run (negative: earned)."""
        return float(self.accounts.bill_eur[self.account_row])

    @bill_eur.setter
    def bill_eur(self, value: float) -> None:
        self.accounts.bill_eur[self.account_row] = value

    @property
    def reward_by_day_eur(self) -> list[float]:
        """The learning curve: reward summed per simulated day (a copy)."""
        return self.accounts.rewards(self.account_row)

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
        self.accounts.book_rewards(day, np.array([self.account_row]), np.array([reward_eur]))


class Retailer(mesa.Agent):
    """Fallback counterparty: sells at the retail price, buys at the feed-in tariff (each per interval)."""

    def __init__(
        self, model: "Model", retail_price_eur_per_kwh: np.ndarray, feed_in_tariff_eur_per_kwh: np.ndarray
    ) -> None:
        super().__init__(model)
        self.retail_price_eur_per_kwh = retail_price_eur_per_kwh
        self.feed_in_tariff_eur_per_kwh = feed_in_tariff_eur_per_kwh
        self.revenue_eur = 0.0
