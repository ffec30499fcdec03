"""Stage 2, decide: each household's strategy places its orders (and may run its battery differently).

The seam where bid curves will enter: today a strategy turns its observation
into orders and, optionally, another battery power, which changes the
household's plan and its planned and reported positions.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan
from lemgrid.agents.strategies import Decision, Order
from lemgrid.model.observe import Observed


@dataclass(frozen=True)
class Decided:
    """The interval's orders, and the plans and positions after the strategies' battery choices."""

    orders: list[Order]
    plans: list[DevicePlan]
    planned_kw: np.ndarray
    reported_kwh: np.ndarray


def decide(households: Iterable[Household], observed: Observed, hours: float) -> Decided:
    """Ask every strategy for its decision; apply any battery power it chose (within the battery's limits)."""
    households = list(households)  # iterated twice: a Mesa AgentSet walks its weak references each time
    decisions: list[Decision] = [h.decide(observed.observations[h.index]) for h in households]
    orders = [o for d in decisions for o in d.orders]
    plans = list(observed.plans)  # a plan is copied only where a strategy changes it
    planned_kw = observed.planned_kw.copy()
    reported_kwh = observed.reported_kwh.copy()
    for h, decision in zip(households, decisions, strict=True):
        if decision.battery_kw is not None and h.devices.battery is not None:
            plan = plans[h.index] = replace(plans[h.index])
            before = plan.battery_kw
            plan.battery_kw = h.devices.battery.flexibility(hours).clip(decision.battery_kw)
            planned_kw[h.index] += plan.battery_kw - before
            reported_kwh[h.index] += (plan.battery_kw - before) * hours
    return Decided(orders, plans, planned_kw, reported_kwh)
