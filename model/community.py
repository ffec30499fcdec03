"""The community manager in the run: its row in the population, its agent, and its battery's decision.

The manager takes the last row of the population (so every household keeps
its row, draws and results), on its battery's bus, with no load, PV or other
device; :func:`manage` sets its battery each interval from the other
participants' planned net position, before anyone bids.
"""

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lemgrid.agents.community import MANAGER_NAME, CommunityManager
from lemgrid.agents.devices import Battery
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan
from lemgrid.agents.strategies import make_strategy
from lemgrid.grid.feeders import Feeder
from lemgrid.model.scenario import Scenario, ScenarioError

MANAGER_STRATEGY = "truthful"  # it bids its battery's power at its marginal value (the retailer's prices)


def battery_bus(cfg: Scenario, feeder: Feeder) -> int:
    """The community battery's bus: the scenario's, checked to be a low-voltage bus of the feeder."""
    bus = cfg.community.battery.bus
    if bus is None:
        return int(feeder.net.trafo.lv_bus.iloc[0])  # at the substation: the transformer's LV side
    lv = feeder.lv_buses
    if bus not in lv:
        raise ScenarioError(
            f"scenario field 'community.battery.bus' = {bus}: no low-voltage bus {bus} on feeder "
            f"{feeder.name!r}; allowed: its LV bus indices ({lv.min()} ... {lv.max()}, {len(lv)} buses), "
            "or leave it out for the transformer's LV bus"
        )
    return int(bus)


def with_connection(feeder: Feeder, cfg: Scenario) -> Feeder:
    """The feeder with the community battery's connection after the households' (unchanged without one).

    The solvers, the topology and the zones then see it as one more supply point.
    """
    if not cfg.community.enabled:
        return feeder
    phase = cfg.community.battery.phase
    row = {
        "household": MANAGER_NAME,
        "bus": battery_bus(cfg, feeder),
        "phase": "a" if phase == "abc" else phase,
    }
    connections = pd.concat([feeder.households, pd.DataFrame([row])], ignore_index=True)
    return replace(feeder, households=connections.astype(feeder.households.dtypes.to_dict()))


def households_only(connections: pd.DataFrame) -> pd.DataFrame:
    """The feeder's connections without the community battery's."""
    return connections[connections.household != MANAGER_NAME].reset_index(drop=True)


def with_manager(pop: pd.DataFrame, cfg: Scenario, feeder: Feeder) -> pd.DataFrame:
    """The population with the manager's row appended (unchanged without a community manager)."""
    if not cfg.community.enabled:
        return pop
    connection = feeder.households.iloc[-1]
    row: dict[str, Any] = {}
    for column, dtype in pop.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            row[str(column)] = False
        elif pd.api.types.is_numeric_dtype(dtype):
            row[str(column)] = 0
        else:
            row[str(column)] = None
    row.update(
        household=MANAGER_NAME,
        bus=connection.bus,
        phase=connection.phase,
        strategy=MANAGER_STRATEGY,
        device_policy=cfg.households.device_policy,
    )
    out = pd.concat([pop, pd.DataFrame([row]).astype(pop.dtypes.to_dict())], ignore_index=True)
    out["community_manager"] = np.arange(len(out)) == len(pop)
    return out


def is_manager(pop: pd.DataFrame) -> np.ndarray:
    """Which rows of the population are the community manager (none without one)."""
    if "community_manager" not in pop:
        return np.zeros(len(pop), dtype=bool)
    return pop.community_manager.to_numpy(dtype=bool)


def three_phase(pop: pd.DataFrame, cfg: Scenario) -> np.ndarray:
    """Which rows connect on all three phases, their whole net split evenly: the manager's ``abc`` battery."""
    return is_manager(pop) & (cfg.community.battery.phase == "abc")


def add_manager(model: Any, cfg: Scenario, row: Any, rng: np.random.Generator) -> CommunityManager:
    """The manager's agent for its population ``row``: its battery, objective and forecast."""
    b = cfg.community.battery
    battery = Battery(
        b.capacity_kwh,
        b.power_kw,
        b.round_trip_efficiency,
        b.soc_min,
        b.soc_max,
        b.soc_initial,
        b.degradation_cost_eur_per_kwh,
    )
    households = ~is_manager(model.population)
    base_net_kw = model.pv_kw[households].sum(axis=0) - model.load_kw[households].sum(axis=0)
    strategy = make_strategy(str(row.strategy), cfg.strategies, rng)
    return CommunityManager(
        model,
        int(row.Index),
        int(row.bus),
        str(row.phase),
        strategy,
        battery,
        cfg.community.objective,
        base_net_kw,
        1440 // cfg.interval_minutes,
    )


def manage(
    households: Iterable[Household], plans: list[DevicePlan], base_kw: np.ndarray, k: int, hours: float
) -> list[DevicePlan]:
    """The plans with the manager's battery set from everyone else's planned net injection."""
    for h in households:
        if isinstance(h, CommunityManager):
            others = sum(p.net_kw(float(base_kw[i])) for i, p in enumerate(plans) if i != h.index)
            plans = [*plans[: h.index], h.plan_battery(others, k, hours), *plans[h.index + 1 :]]
    return plans
