"""A gymnasium environment: one learning household in the lemgrid market and grid.

Needs the optional ``gymnasium`` package (``pip install lemgrid[rl]``); the
rest of lemgrid does not. One step is one market interval of a full
:class:`model.Model` run; every other household follows its configured
strategy. An episode is the scenario's run (``days`` long).

Observation (``Box``, float32, 8 values): sine and cosine of the time of day
of the coming interval; its base load and PV output (kW); the battery's state
of charge (0 without one); the last mean local price (EUR/kWh, the retail price
before any trade); the household's supply voltage in the last interval (p.u.,
1 before the first); 1 if it has a battery, else 0.

Action (``Box``, float32, 2 values): price fraction in [0, 1] (0: the feed-in
tariff, 1: the retail price) for its order on its net position, and battery
power fraction in [-1, 1] (-1: charge at full power, +1: discharge at full
power; ignored without a battery).

Reward: the money the household saved in the interval against trading only
with the retailer, less battery wear (EUR), minus ``voltage_penalty_eur_per_pu``
times how far its own supply voltage was outside the limits (p.u.): a grid
penalty for taking part in a voltage violation.
"""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lemgrid.agents.strategies import External
from lemgrid.model.model import Model
from lemgrid.model.scenario import Scenario


class LemgridEnv(gym.Env):
    """The market and grid seen by household ``household`` (its index in the feeder's order)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        scenario: Scenario | None = None,
        household: int = 0,
        voltage_penalty_eur_per_pu: float = 10.0,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.household = household
        self.voltage_penalty = voltage_penalty_eur_per_pu
        self._low = np.array([-1, -1, 0, 0, 0, 0, 0, 0], dtype=np.float32)
        self._high = np.array([1, 1, 100, 100, 1, 10, 2, 1], dtype=np.float32)
        self.observation_space = spaces.Box(low=self._low, high=self._high, dtype=np.float32)
        self.action_space = spaces.Box(
            low=np.array([0, -1], dtype=np.float32), high=np.array([1, 1], dtype=np.float32), dtype=np.float32
        )
        self.model: Model | None = None
        self.agent = External()

    def _observation(self) -> np.ndarray:
        model = self.model
        assert model is not None
        k = min(model.interval, model.config.n_intervals - 1)
        per_day = 1440 // model.config.interval_minutes
        angle = 2 * np.pi * (k % per_day) / per_day
        h = model.households[self.household]
        battery = h.devices.battery
        price = model.last_price_eur_per_kwh
        voltage = model.last_supply_voltage_pu[self.household]
        obs = np.array(
            [
                np.sin(angle),
                np.cos(angle),
                model.load_kw[self.household, k],
                model.pv_kw[self.household, k],
                0.0 if battery is None else battery.soc,
                model.config.market.retail_price_eur_per_kwh if price is None else price,
                1.0 if np.isnan(voltage) else voltage,
                0.0 if battery is None else 1.0,
            ],
            dtype=np.float32,
        )
        return np.clip(obs, self._low, self._high)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """Start a new run (the scenario's seed, or ``seed``)."""
        super().reset(seed=seed)
        self.model = Model(self.scenario, rng=seed)
        if not 0 <= self.household < len(self.model.households):
            raise ValueError(
                f"household must be an index below {len(self.model.households)}, got {self.household}"
            )
        self.agent = External()
        self.model.households[self.household].strategy = self.agent
        return self._observation(), {"household": self.model.households[self.household].name}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Trade one interval with ``action``; returns observation, reward, terminated, truncated, info."""
        if self.model is None or not self.model.running:
            raise RuntimeError("call reset() first: the episode has ended or not begun")
        self.agent.action = (float(action[0]), float(action[1]))
        self.model.step()
        feedback = self.agent.feedback
        reward = 0.0 if feedback is None else feedback.reward_eur
        v = float(self.model.last_supply_voltage_pu[self.household])
        limits = self.model.config.grid
        outside = max(v - limits.v_max_pu, limits.v_min_pu - v, 0.0) if not np.isnan(v) else 0.0
        reward -= self.voltage_penalty * outside
        info = {"voltage_pu": v, "traded_kwh": 0.0 if feedback is None else feedback.traded_kwh}
        return self._observation(), float(reward), not self.model.running, False, info
