"""The gymnasium environment passes gymnasium's own checks and plays a whole episode."""

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")  # an optional extra: lemgrid[rl]

from gymnasium.utils.env_checker import check_env  # noqa: E402

from lemgrid.model.gym_env import LemgridEnv  # noqa: E402
from tests.helpers import hourly  # noqa: E402


def test_passes_check_env() -> None:
    check_env(LemgridEnv(hourly(**{"grid.solver": "power_grid_model"})), skip_render_check=True)


def test_an_episode_is_the_run_and_the_reward_is_the_households_saving() -> None:
    scenario = hourly(**{"grid.solver": "power_grid_model", "penetration.battery": 1.0})
    env = LemgridEnv(scenario, household=3, voltage_penalty_eur_per_pu=0.0)
    obs, info = env.reset(seed=5)
    assert env.observation_space.contains(obs) and info["household"] == env.model.households[3].name
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, done, truncated, _ = env.step(
            np.array([0.5, -1.0], dtype=np.float32)
        )  # charge, mid price
        total += reward
        steps += 1
    assert steps == 24 and not truncated
    # the action reached the household: its strategy bid and ran its battery as told
    assert env.model.households[3].strategy.last_action.startswith("price 0.500, battery -1.000")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0.5, 0.0], dtype=np.float32))


def test_voltage_penalty_applies_outside_the_limits() -> None:
    env = LemgridEnv(
        hourly(**{"grid.solver": "power_grid_model", "grid.v_max_pu": 1.001}),
        voltage_penalty_eur_per_pu=100.0,
    )
    env.reset(seed=1)
    rewards = []
    for _ in range(24):
        _, reward, done, _, info = env.step(np.array([0.0, 0.0], dtype=np.float32))
        rewards.append((reward, info["voltage_pu"]))
    # with the upper limit at 1.001 p.u. the household's voltage is above it at times: penalised
    penalised = [r for r, v in rewards if v > 1.001]
    assert penalised and all(r < 0 for r in penalised)
