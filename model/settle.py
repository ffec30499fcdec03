"""Stage 6, settle (and learn): who pays whom for what the meters saw, and what the strategies learn.

Settlement comes after the grid step (DESIGN.md lists it before) because
inverter droops can curtail PV, and households are paid for what was metered.
The local trades are paid at their price, the retailer takes the rest
(:mod:`model.settlement`), the tariff's hooks give the DSO's fees
(:mod:`model.tariffs`), the losses are allocated (:mod:`grid.losses`), and each
strategy is rewarded with the money it gained against trading the same energy
with the retailer alone, less its battery's wear.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lemgrid.agents.devices.fleet import Fleet
from lemgrid.agents.household import Accounts, Household
from lemgrid.agents.strategies import Feedback, in_batch
from lemgrid.grid.losses import allocate_losses
from lemgrid.grid.sensitivity import Sensitivities, loss_sensitivity_factors, sensitivities
from lemgrid.grid.state import PowerFlowSolver
from lemgrid.grid.topology import Tree
from lemgrid.model.clear import Cleared, directions
from lemgrid.model.dispatch import Columns
from lemgrid.model.grid_step import GridResult
from lemgrid.model.interval import Connections, Interval
from lemgrid.model.observe import Observations
from lemgrid.model.settlement import Settlement, settle
from lemgrid.model.tariffs import NetworkTariff, TariffInputs
from lemgrid.model.trades import Trade, trade_columns


class _Lazy:
    """A value computed on first use (the sensitivities only some tariffs need)."""

    def __init__(self, compute: Callable[[], Sensitivities]) -> None:
        self._compute = compute
        self._value: Sensitivities | None = None

    def get(self) -> Sensitivities:
        if self._value is None:
            self._value = self._compute()
        return self._value


@dataclass(frozen=True)
class Billing:
    """What settling needs besides the interval: the tariff, the loss allocation and the feeder."""

    tariff: NetworkTariff
    loss_allocation: str
    solver: PowerFlowSolver
    tree: Callable[[], Tree]  # built on first use
    where: Connections  # its phase columns follow the DSO's phase switching


@dataclass(frozen=True)
class Settled:
    """One interval's money: the settlement with fees, each trade's fee and losses, and the rewards.

    ``columns`` adds ``loss_allocation_kwh``, ``battery_wear_eur`` and ``reward_eur``
    to the per-household columns.
    """

    settlement: Settlement
    trade_fees_eur: np.ndarray
    trade_losses_kwh: np.ndarray
    columns: Columns


def settle_interval(
    grid: GridResult, cleared: Cleared, iv: Interval, households: Sequence[Household], billing: Billing
) -> Settled:
    """Settle the metered energy, charge the tariff, allocate the losses and compute the rewards."""
    columns = grid.columns
    state, p_kw, q_kvar = grid.operated.state, grid.operated.p_kw, grid.operated.q_kvar
    hours = iv.hours
    net_kwh = columns["net_injection_kw"] * hours
    trades = cleared.trades  # both stages' trades
    measured = _Lazy(lambda: sensitivities(billing.solver, p_kw, q_kvar, directions(billing.where)))
    settlement = settle(net_kwh, trades, iv.retail_price_eur_per_kwh, iv.feed_in_tariff_eur_per_kwh)
    fees = billing.tariff.fees(
        TariffInputs(iv.k, trades, settlement.bought_retail_kwh, net_kwh, state, measured.get)
    )
    settlement = settlement.with_network_fees(fees.household_eur)
    if cleared.flexibility is not None:
        settlement = settlement.with_flexibility(cleared.flexibility.payment_eur)
    losses_kw = (
        allocate_losses(
            billing.loss_allocation,
            columns["net_injection_kw"],
            state,
            billing.tree,
            lambda: loss_sensitivity_factors(billing.tree(), p_kw, q_kvar, directions(billing.where), state),
        )
        if state.converged
        else np.full(len(net_kwh), np.nan)
    )
    loss_kwh = losses_kw * hours
    retailer_only_bill = np.where(
        net_kwh < 0,
        -net_kwh * iv.import_price_eur_per_kwh,
        -net_kwh * iv.feed_in_tariff_eur_per_kwh,
    )
    wear = battery_wear_eur(households, columns["battery_kw"], hours)
    reward = retailer_only_bill - settlement.bill_eur - wear
    columns = {**columns, "loss_allocation_kwh": loss_kwh, "battery_wear_eur": wear, "reward_eur": reward}
    return Settled(settlement, fees.trade_eur, trade_losses(trades, loss_kwh, settlement), columns)


def battery_wear_eur(households: Sequence[Household], battery_kw: np.ndarray, hours: float) -> np.ndarray:
    """Each household's battery wear (:meth:`Battery.degradation_cost_eur`), the fleet's at once."""
    wear = np.zeros(len(households))
    fleet, outside = Fleet.split(households)
    if fleet is not None:
        owner = fleet.battery_owner
        wear[owner] = np.abs(battery_kw[owner]) * hours * fleet.batteries.degradation_cost_eur_per_kwh
    for h in (households[i] for i in outside):
        if h.devices.battery is not None:
            wear[h.index] = h.devices.battery.degradation_cost_eur(float(battery_kw[h.index]), hours)
    return wear


def learn(
    households: Sequence[Household], observations: Observations, settled: Settled, cleared: Cleared
) -> np.ndarray:
    """Book each household's bill and pass its reward to its strategy; returns what each strategy chose.

    A strategy that learns nothing (:func:`~lemgrid.agents.strategies.in_batch`) gets no
    call: only its household's learning curve books the reward.
    """
    households = list(households)  # iterated often: a Mesa AgentSet walks its weak references each time
    accounts = Accounts.of(households)  # row i: households[i]
    index = np.fromiter((h.index for h in households), np.int64, len(households))
    accounts.bill_eur += settled.settlement.bill_eur[index]
    reward = settled.columns["reward_eur"]
    day = observations.interval // max(observations.intervals_per_day, 1)
    booked = np.array(in_batch([h.strategy for h in households]), dtype=bool).reshape(len(households))
    learning = np.flatnonzero(~booked).tolist()
    accounts.book_rewards(day, np.flatnonzero(booked), reward[index[booked]])
    if learning:
        traded = (settled.settlement.bought_local_kwh + settled.settlement.sold_local_kwh).tolist()
        price = cleared.clearing.mean_price_eur_per_kwh  # one market price for all: read once
        rewards = reward.tolist()
        for k in learning:
            i = households[k].index
            households[k].learn(observations[i], Feedback(rewards[i], traded[i], price))
    return np.array([h.strategy.last_action for h in households], dtype=object)


def trade_losses(trades: list[Trade], household_kwh: np.ndarray, settlement: Settlement) -> np.ndarray:
    """Each trade's share of the allocated losses.

    A household's allocation is spread over all its exchanges (local trades and the
    retailer) in proportion to energy; a trade carries its buyer's and seller's parts.
    """
    exchanged = (
        settlement.bought_local_kwh
        + settlement.sold_local_kwh
        + settlement.bought_retail_kwh
        + settlement.sold_retail_kwh
    )
    per_kwh = np.divide(household_kwh, exchanged, out=np.zeros_like(household_kwh), where=exchanged > 0)
    buyer, seller, kwh, _ = trade_columns(trades)
    return kwh * (per_kwh[buyer] + per_kwh[seller])
