"""The community manager in the run: its row in the population, its agent, and its battery's decision.

The manager takes the last row of the population (so every household keeps
its row, draws and results), on its battery's bus, with no load, PV or other
device; :func:`manage` sets its battery each interval from the other
participants' planned net position, before anyone bids, and again after the
market and the DSO (:func:`redispatch`) unless it sells flexibility; a flexibility
seller's offers to the DSO are :func:`offers`.
"""

from collections.abc import Iterable, Sequence
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
from lemgrid.model.flexibility import Offer
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


def managers(households: Iterable[Household]) -> list[CommunityManager]:
    """The community managers among ``households`` (none or one)."""
    return [h for h in households if isinstance(h, CommunityManager)]


def manage(
    households: Iterable[Household], plans: Sequence[DevicePlan], net_kw: np.ndarray, k: int, hours: float
) -> tuple[Sequence[DevicePlan], np.ndarray]:
    """The plans and net injections (kW) with the manager's battery set from everyone else's net injection."""
    found = managers(households)
    if not found:
        return plans, net_kw
    plans, net_kw = list(plans), net_kw.copy()
    for h in found:
        battery_kw = plans[h.index].battery_kw
        others_kw = float(net_kw.sum() - net_kw[h.index])
        plans[h.index] = h.plan_battery(others_kw, k, hours)
        net_kw[h.index] += plans[h.index].battery_kw - battery_kw  # it has no load or PV
    return plans, net_kw


def redispatch(
    households: Iterable[Household], plans: Sequence[DevicePlan], base_kw: np.ndarray, k: int, hours: float
) -> Sequence[DevicePlan]:
    """After the market and the DSO: a manager that re-dispatches answers the positions as cleared and cut."""
    if not any(h.redispatches for h in managers(households)):
        return plans
    net_kw = np.array([p.net_kw(float(b)) for p, b in zip(plans, base_kw, strict=True)])
    return manage([h for h in managers(households) if h.redispatches], plans, net_kw, k, hours)[0]


def offers(
    households: Iterable[Household], plans: Sequence[DevicePlan], hours: float, premium: float
) -> list[Offer]:
    """A flexibility seller's offers to the DSO at its scheduled battery power, over its whole power range.

    Downward (less import): the charging it could give up, then discharging up to its
    limit; upward (less export): charging more, up to its limit. Priced by
    :meth:`CommunityManager.asks`.
    """
    out = []
    for h in managers(households):
        if h.redispatches:
            continue
        flex, now = h.battery.flexibility(hours), plans[h.index].battery_kw
        asks = h.asks(premium)
        moves = (
            (max(-now, 0.0), asks.charge_less, False),
            (flex.p_max_kw - max(now, 0.0), asks.discharge, False),
            (now - flex.p_min_kw, asks.charge_more, True),
        )
        out += [Offer(h.index, "battery", kw, price, upward) for kw, price, upward in moves if kw > 1e-9]
    return out


def book_flexibility(households: Iterable[Household], payment_eur: np.ndarray) -> None:
    """Add what the DSO paid each manager for flexibility this interval to its running total."""
    for h in managers(households):
        h.flexibility_eur += float(payment_eur[h.index])
