"""Stage 2, decide: each household's strategy places its orders (and may run its battery differently).

Truthful strategies (and the rule-based ones that bid like them) decide for all
their households at once, as columns; every other strategy decides in one loop
over its households. A strategy may also choose another battery power, which
changes the household's plan and its planned and reported positions.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan
from lemgrid.agents.strategies import TRUTHFUL_ACTIONS, Decision, in_batch, truthful_orders
from lemgrid.model.observe import Observed
from lemgrid.model.order_book import OrderBook


@dataclass(frozen=True)
class Decided:
    """The interval's orders, and the plans and positions after the strategies' battery choices."""

    orders: OrderBook
    plans: Sequence[DevicePlan]
    planned_kw: np.ndarray
    reported_kwh: np.ndarray


def decide(households: Iterable[Household], observed: Observed, hours: float) -> Decided:
    """Ask every strategy for its decision; apply any battery power it chose (within the battery's limits).

    The orders are placed household by household, in the households' order.
    """
    households = list(households)  # iterated twice: a Mesa AgentSet walks its weak references each time
    obs = observed.observations
    batch = in_batch([h.strategy for h in households])
    each = enumerate(zip(households, batch, strict=True))
    decisions = [(k, h, h.decide(obs[h.index])) for k, (h, b) in each if not b]
    orders = _orders(households, batch, observed, decisions)
    plans: Sequence[DevicePlan] = observed.plans
    changed: list[DevicePlan] | None = None  # a list of its own once a strategy changes a plan
    planned_kw = observed.planned_kw.copy()
    reported_kwh = observed.reported_kwh.copy()
    for _, h, decision in decisions:
        if decision.battery_kw is not None and h.devices.battery is not None:
            plans = changed = list(plans) if changed is None else changed
            plan = changed[h.index] = replace(changed[h.index])
            before = plan.battery_kw
            plan.battery_kw = h.devices.battery.flexibility(hours).clip(decision.battery_kw)
            planned_kw[h.index] += plan.battery_kw - before
            reported_kwh[h.index] += (plan.battery_kw - before) * hours
    return Decided(orders, plans, planned_kw, reported_kwh)


def _orders(
    households: list[Household],
    batch: list[bool],
    observed: Observed,
    decisions: list[tuple[int, Household, Decision]],
) -> OrderBook:
    """The truthful households' orders as columns, merged with the other strategies' orders by position."""
    obs = observed.observations
    at = np.flatnonzero(batch)
    index = np.array([households[k].index for k in at.tolist()], dtype=np.int64)
    net = observed.reported_kwh[index]
    placing, buys, kwh, price = truthful_orders(net, obs.retail, obs.feed_in)
    actions = np.where(net > 0, 1, np.where(net < 0, 2, 0)).tolist()
    for k, a in zip(at.tolist(), actions, strict=True):
        households[k].strategy.last_action = TRUTHFUL_ACTIONS[a]
    book = OrderBook(index[placing], buys, kwh, price, np.full(len(placing), np.nan))
    if not decisions:
        return book
    placed = [(k, o) for k, _, d in decisions for o in d.orders]
    if not placed:
        return book
    theirs = OrderBook.of([o for _, o in placed])
    key = np.concatenate([at[placing], np.array([k for k, _ in placed], dtype=np.int64)])
    order = np.argsort(key, kind="stable")
    return OrderBook(
        np.concatenate([book.household, theirs.household])[order],
        np.concatenate([book.buys, theirs.buys])[order],
        np.concatenate([book.kwh, theirs.kwh])[order],
        np.concatenate([book.price, theirs.price])[order],
        np.concatenate([book.limit, theirs.limit])[order],
    )
