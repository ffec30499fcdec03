"""Price-responsive bidding (``bidding.mode: curves``): households bid their devices' curves, devices follow.

Per interval: every household's devices state their steps (:mod:`lemgrid.agents.device_curves`)
from their state and the local-price forecast; the household's strategy shapes
the aggregate curve (its mark-up on the inelastic position is applied to every
step); the mechanism clears the orders; each household's realised net is what
cleared locally plus what the retailer serves of the orders marked for its
fallback; and the curve splits that net back onto the devices in merit order.
With ``bidding.mode: fixed`` none of this runs and devices follow their policy's plan.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from lemgrid.agents.bids import BidCurve, CurveOrder, Step
from lemgrid.agents.community import CommunityManager
from lemgrid.agents.device_curves import (
    Outlook,
    appliance_steps,
    base_step,
    battery_steps,
    ev_steps,
    heat_pump_steps,
    outlook,
    pv_step,
)
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan, Devices
from lemgrid.agents.strategies import Order
from lemgrid.model import community
from lemgrid.model.clear import Cleared, Market, TradeCuts, clear, cut_trades, request
from lemgrid.model.constraints import Curtailment
from lemgrid.model.decide import Decided
from lemgrid.model.flexibility import Procurement, procure
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.interval import Interval
from lemgrid.model.market import ClearingResult, Trade, traded_kwh
from lemgrid.model.observe import Attack
from lemgrid.model.scenario import Bidding


@dataclass(frozen=True)
class CurveBids:
    """Every household's curve and orders, and what of them the retailer serves if the market does not.

    Attributes:
        curves: one curve per household.
        orders: all households' orders, strategies' mark-ups applied.
        fallback_buy_kwh, fallback_sell_kwh: per household, what it buys even at the retail
            price and sells even at the feed-in tariff.
    """

    curves: list[BidCurve]
    orders: list[Order]
    fallback_buy_kwh: np.ndarray
    fallback_sell_kwh: np.ndarray


@dataclass(frozen=True)
class Scheduled:
    """What is fixed before the interval market: battery and EV power (injection +), net purchase (kW)."""

    battery_kw: float | None = None
    ev_kw: float | None = None
    day_ahead_bought_kw: float = 0.0


def inelastic(device: str, consumption_kw: float) -> Step:
    """A step that runs whatever the price: a purchase valued at inf, or a sale asking -inf."""
    return Step(device, consumption_kw, math.inf if consumption_kw > 0 else -math.inf)


def household_curve(
    devices: Devices,
    base_kw: float,
    pv_kw: float,
    t0_s: float,
    t1_s: float,
    future: np.ndarray | Outlook,
    retail: float,
    feed_in: float,
    pv_curtailment_eur_per_kwh: float,
    scheduled: Scheduled | None = None,
) -> BidCurve:
    """The household's aggregate bid: base load, PV and each device's steps.

    ``scheduled``: a battery or EV whose power is already fixed (by the ``lp_optimiser``
    policy's plan, which plans against the local-price forecast, or by the day-ahead
    market) bids it inelastically instead of its own curve, and energy already bought
    (sold) day-ahead enters as an inelastic sale (purchase), so the curve is the
    household's deviation from its day-ahead position.
    """
    hours = (t1_s - t0_s) / 3600
    future = outlook(future)  # the forecast's ranks, once for all the household's devices
    steps: list[Step] = [*base_step(base_kw), *pv_step(pv_kw, pv_curtailment_eur_per_kwh)]
    fixed = scheduled or Scheduled()
    if devices.battery is not None and fixed.battery_kw is not None:
        steps.append(inelastic("battery", -devices.battery.flexibility(hours).clip(fixed.battery_kw)))
    elif devices.battery is not None:
        steps += battery_steps(devices.battery, hours, future)
    if devices.ev is not None and fixed.ev_kw is not None:
        steps.append(inelastic("ev", -devices.ev.flexibility(t0_s, t1_s).clip(fixed.ev_kw)))
    elif devices.ev is not None:
        steps += ev_steps(devices.ev, t0_s, t1_s, future)
    for i, a in enumerate(devices.appliances):
        steps += appliance_steps(a, i, t0_s, t1_s, future)
    if devices.heat_pump is not None:
        steps += heat_pump_steps(devices.heat_pump, t0_s, t1_s, future)
    steps.append(inelastic("day_ahead", -fixed.day_ahead_bought_kw))
    return BidCurve(steps, retail, feed_in)


def fallback_positions(orders: Sequence[Sequence[CurveOrder]]) -> tuple[np.ndarray, np.ndarray]:
    """Per household, what it buys even at the retail price and sells even at the feed-in tariff (kWh)."""
    buy = np.zeros(len(orders))
    sell = np.zeros(len(orders))
    for i, mine in enumerate(orders):
        for o in mine:
            if o.retail_fallback:
                if o.side == "buy":
                    buy[i] += o.kwh
                else:
                    sell[i] += o.kwh
    return buy, sell


def shaped_orders(
    household: int, curve: BidCurve, orders: Sequence[CurveOrder], placed: Sequence[Order]
) -> list[Order]:
    """The curve's orders with the strategy's mark-up on its inelastic position applied to every step.

    A strategy that bids 0.02 below the retail price for its inelastic demand
    bids 0.02 below every step's value; one that asks above the feed-in tariff
    asks that much more on every sell step (kept within the retailer band).
    """
    markup = {"buy": 0.0, "sell": 0.0}
    for o in placed:
        truthful = curve.retail if o.side == "buy" else curve.feed_in
        markup[o.side] = o.price_eur_per_kwh - truthful
    return [
        Order(
            household,
            o.side,  # type: ignore[arg-type]
            o.kwh,
            min(max(o.price_eur_per_kwh + markup[o.side], curve.feed_in), curve.retail),
            o.price_eur_per_kwh,  # the step's own value: the limit a re-quote starts from
        )
        for o in orders
    ]


def realised_net_kw(
    trades: Sequence[Trade], fallback_buy_kwh: np.ndarray, fallback_sell_kwh: np.ndarray, hours: float
) -> np.ndarray:
    """Each household's net consumption (kW): what it cleared, topped up by the retailer for its fallback.

    A household fills its most valued orders first, so the retailer serves the
    fallback orders' shortfall only: bought ``max(cleared, fallback)``, the same for sold.
    """
    bought, sold = traded_kwh(trades, len(fallback_buy_kwh))
    return (np.maximum(bought, fallback_buy_kwh) - np.maximum(sold, fallback_sell_kwh)) / hours


def plan_from_curve(curve: BidCurve, net_kw: float, n_appliances: int) -> DevicePlan:
    """The devices' powers (injection positive) at the household's realised net consumption ``net_kw``."""
    kw = curve.dispatch(net_kw)
    pv = -kw.get("pv", 0.0)
    available = -sum(s.kw for s in curve.steps if s.device == "pv")
    return DevicePlan(
        pv_kw=pv,
        pv_curtailed_kw=available - pv,
        battery_kw=-kw.get("battery", 0.0),
        ev_kw=-kw.get("ev", 0.0),
        appliance_kw=[-kw.get(f"appliance:{i}", 0.0) for i in range(n_appliances)],
        heat_pump_kw=-kw.get("heat_pump:space", 0.0),
        hot_water_kw=-kw.get("heat_pump:water", 0.0),
    )


def bid(
    households: Sequence[Household],
    placed: Sequence[Order],
    plans: Sequence[DevicePlan],
    iv: Interval,
    forecast: PriceForecast,
    cfg: Bidding,
    day_ahead: Sequence[Scheduled] | None = None,
) -> CurveBids:
    """Stage 2 with curves: each household's curve from its devices, forecast and strategy.

    ``day_ahead``: per household, what the day-ahead market fixed for this interval.
    """
    # one forecast, ranked once, for every household (not once per battery or appliance)
    future = Outlook(forecast.ahead(iv.k + 1, max(1, round(cfg.horizon_hours / iv.hours))) * iv.price_signal)
    retail = iv.import_price_eur_per_kwh * iv.price_signal
    feed_in = iv.feed_in_tariff_eur_per_kwh * iv.price_signal
    base_kw, pv_kw, unscheduled = iv.base_load_kw.tolist(), iv.pv_kw.tolist(), Scheduled()
    curves = [
        household_curve(
            h.devices,
            base_kw[h.index],
            pv_kw[h.index],
            iv.t0_s,
            iv.t1_s,
            future,
            retail,
            feed_in,
            cfg.pv_curtailment_price_eur_per_kwh,
            day_ahead[h.index]
            if day_ahead is not None
            else Scheduled(battery_kw=plans[h.index].battery_kw)
            if h.policy.needs_forecast or isinstance(h, CommunityManager)  # planned before the market
            else unscheduled,
        )
        for h in households
    ]
    curve_orders = [c.orders(iv.hours) for c in curves]
    buy, sell = fallback_positions(curve_orders)
    by_household: dict[int, list[Order]] = {}
    for o in placed:  # the strategies' orders on the policy's plan: their mark-ups
        by_household.setdefault(o.household, []).append(o)
    orders = [
        o
        for h in households
        for o in shaped_orders(h.index, curves[h.index], curve_orders[h.index], by_household.get(h.index, []))
    ]
    return CurveBids(curves, orders, buy, sell)


def without_own_trades(clearing: ClearingResult) -> ClearingResult:
    """The clearing without a household's trades with itself.

    A buy and a sell of its own at one indifference price may meet: that energy never leaves its meter.
    """
    if all(t.buyer != t.seller for t in clearing.trades):
        return clearing
    kept = [t for t in clearing.trades if t.buyer != t.seller]
    return ClearingResult(kept, clearing.price_eur_per_kwh, clearing.zone_prices)


def dispatch_curves(
    bids: CurveBids, clearing: ClearingResult, devices: Sequence[Devices], hours: float
) -> list[DevicePlan]:
    """Each household's device powers at its realised net: cleared locally plus the retailer's fallback."""
    net = realised_net_kw(clearing.trades, bids.fallback_buy_kwh, bids.fallback_sell_kwh, hours)
    return [
        plan_from_curve(c, float(q), len(d.appliances))
        for c, q, d in zip(bids.curves, net, devices, strict=True)
    ]


def clear_curves(
    bids: CurveBids, decided: Decided, iv: Interval, market: Market, attack: Attack
) -> tuple[Cleared, list[DevicePlan]]:
    """Stage 3 with curves: clear the curves' orders, dispatch the devices along them, then the DSO's limits.

    With a flexibility market, the DSO buys flexibility on the cleared dispatch first
    (:func:`flexibility_stage`). The DSO checks the market's dispatch as the households report it (the
    demand attack scales the reports; every constraint mode acts after
    clearing here): an import cut takes battery, then EV, charging; an export
    cut curtails PV; the households' trades are cut pro rata.
    """
    clearing = without_own_trades(market.mechanism.clear(bids.orders))
    plans = dispatch_curves(bids, clearing, [h.devices for h in market.households], iv.hours)
    n = len(plans)
    clearing, plans, flexibility, flex_cuts = flexibility_stage(market, clearing, plans, bids.curves, iv)
    if market.dso.constraint_mode == "none":
        return Cleared(clearing, Curtailment.nothing(n), flex_cuts, flexibility=flexibility), plans
    planned_kw = np.array([p.net_kw(float(b)) for p, b in zip(plans, iv.base_load_kw, strict=True)])
    dispatched = replace(
        decided,
        orders=bids.orders,
        plans=plans,
        planned_kw=planned_kw,
        reported_kwh=attack.reports(iv.k, planned_kw * iv.hours),
    )
    cut = market.dso.enforce(request(dispatched, iv, market), iv.hours)
    trades, trade_cuts = cut_trades(clearing.trades, cut, iv.hours)
    cuts: TradeCuts = {**flex_cuts}
    for i, (kwh, why) in trade_cuts.items():
        cuts[i] = (cuts.get(i, (0.0, ""))[0] + kwh, why)
    result = ClearingResult(trades, clearing.price_eur_per_kwh, clearing.zone_prices)
    return Cleared(result, cut, cuts, flexibility=flexibility), plans


def flexibility_stage(
    market: Market,
    clearing: ClearingResult,
    plans: list[DevicePlan],
    curves: Sequence[BidCurve],
    iv: Interval,
) -> tuple[ClearingResult, list[DevicePlan], Procurement | None, TradeCuts]:
    """The DSO's flexibility market on the cleared schedules, if it runs one (:mod:`model.flexibility`).

    The devices deliver what was bought; a household's local trades shrink by its
    delivered kW (pro rata, as a DSO cut does), the rest of the change is its retail exchange.
    """
    if market.dso.flexibility is None:
        return clearing, plans, None, {}
    flexibility = market.dso.flexibility
    offered = community.offers(market.households, plans, iv.hours, flexibility.premium_eur_per_kwh)
    plans, bought = procure(flexibility, plans, curves, iv, market.where, offered)
    community.book_flexibility(market.households, bought.payment_eur)
    market.dso.pay_flexibility(bought)
    as_cut = Curtailment(bought.up_kw, bought.down_kw, [f"flexibility for {r}" for r in bought.reason])
    trades, cuts = cut_trades(clearing.trades, as_cut, iv.hours)
    return ClearingResult(trades, clearing.price_eur_per_kwh, clearing.zone_prices), plans, bought, cuts


class DayAheadPositions(Protocol):
    """What the interval market needs of a day-ahead stage (:class:`model.day_ahead.DayAhead`)."""

    def positions(self, k: int, households: Sequence[Household]) -> list[Scheduled]:
        """Per household, the battery and EV powers and the net purchase fixed day-ahead for ``k``."""
        ...

    def clearing(self, k: int) -> ClearingResult:
        """The day-ahead clearing of interval ``k``."""
        ...


def clear_bids(
    decided: Decided,
    iv: Interval,
    market: Market,
    forecast: PriceForecast,
    cfg: Bidding,
    attack: Attack,
    day_ahead: DayAheadPositions | None = None,
) -> tuple[Decided, Cleared, list[DevicePlan]]:
    """Stages 2-3 as ``bidding.mode`` says: the strategies' orders on fixed plans, or the devices' curves.

    Returns the orders as placed, the clearing (with the day-ahead stage's, if any)
    and the plans the devices then follow; the forecast learns the interval's local price.
    """
    if cfg.mode == "fixed":
        cleared, plans = clear(decided, iv, market), decided.plans
    else:
        fixed = day_ahead.positions(iv.k, market.households) if day_ahead is not None else None
        bids = bid(market.households, decided.orders, decided.plans, iv, forecast, cfg, fixed)
        cleared, plans = clear_curves(bids, decided, iv, market, attack)
        decided = replace(decided, orders=bids.orders)
        expected = float(forecast.ahead(iv.k, 1)[0])
        cleared = replace(
            cleared,
            day_ahead=day_ahead.clearing(iv.k) if day_ahead is not None else None,
            forecast_eur_per_kwh=expected,
        )
        forecast.observe(iv.k, marginal_price(cleared, bids, iv))
    return decided, cleared, plans


def marginal_price(cleared: Cleared, bids: CurveBids, iv: Interval) -> float:
    """The price the interval's marginal kWh changed hands at, which the forecast learns.

    The local price (the interval market's, else the day-ahead market's); without
    local trade, the retailer's price on the side the households traded with it:
    the retail price if they bought (net), the feed-in tariff if they sold.
    """
    for clearing in (cleared.clearing, cleared.day_ahead):
        if clearing is not None and clearing.mean_price_eur_per_kwh is not None:
            return clearing.mean_price_eur_per_kwh
    bought = bids.fallback_buy_kwh.sum() >= bids.fallback_sell_kwh.sum()
    return iv.retail_price_eur_per_kwh if bought else iv.feed_in_tariff_eur_per_kwh
