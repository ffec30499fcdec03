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
from functools import cached_property
from typing import Protocol

import numpy as np

from lemgrid.agents.bids import BidCurve, Step, check_band
from lemgrid.agents.community import CommunityManager
from lemgrid.agents.curve_table import Levels, StepTable, per_device, tabulate
from lemgrid.agents.curve_table import dispatch as table_dispatch
from lemgrid.agents.curve_table import orders as table_orders
from lemgrid.agents.device_curves import (
    APPLIANCE_0,
    BASE,
    BATTERY,
    DAY_AHEAD,
    EV_CODE,
    PV,
    SPACE,
    WATER,
    Outlook,
    StepRows,
    appliance_columns,
    device_name,
    ev_columns,
    free_battery_columns,
    heat_pump_steps,
)
from lemgrid.agents.household import Household
from lemgrid.agents.policies import DevicePlan, Devices, PlanColumns
from lemgrid.agents.strategies import Order
from lemgrid.model import community
from lemgrid.model.clear import Cleared, Market, TradeCuts, clear, cut_trades, request
from lemgrid.model.constraints import Curtailment
from lemgrid.model.decide import Decided
from lemgrid.model.flexibility import Procurement, procure
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.interval import Interval
from lemgrid.model.market import ClearingResult
from lemgrid.model.observe import Attack
from lemgrid.model.order_book import OrderBook
from lemgrid.model.scenario import Bidding
from lemgrid.model.trades import Trade, TradeList, trade_columns, traded_kwh


@dataclass(frozen=True)
class CurveBids:
    """Every household's curve (one table of steps), its orders, and what the retailer serves of them.

    Attributes:
        table: every household's steps (device codes: :func:`lemgrid.agents.device_curves.device_code`).
        levels: each household's curve at its price levels in the retailer band.
        retail, feed_in: the band (EUR/kWh).
        orders: all households' orders, strategies' mark-ups applied.
        fallback_buy_kwh, fallback_sell_kwh: per household, what it buys even at the retail
            price and sells even at the feed-in tariff.
    """

    table: StepTable
    levels: Levels
    retail: float
    feed_in: float
    orders: OrderBook
    fallback_buy_kwh: np.ndarray
    fallback_sell_kwh: np.ndarray

    @cached_property
    def curves(self) -> list[BidCurve]:
        """Each household's curve as a :class:`BidCurve` (for the stages that read one household's steps)."""
        t = self.table
        steps: list[list[Step]] = [[] for _ in range(t.n_households)]
        for h, code, kw, price, discrete in zip(
            t.household.tolist(),
            t.device.tolist(),
            t.kw.tolist(),
            t.price.tolist(),
            t.discrete.tolist(),
            strict=True,
        ):
            steps[h].append(Step(device_name(code), kw, price, discrete))
        return [BidCurve(mine, self.retail, self.feed_in) for mine in steps]


@dataclass(frozen=True)
class Scheduled:
    """What is fixed before the interval market: battery and EV power (injection +), net purchase (kW)."""

    battery_kw: float | None = None
    ev_kw: float | None = None
    day_ahead_bought_kw: float = 0.0


def inelastic(device: str, consumption_kw: float) -> Step:
    """A step that runs whatever the price: a purchase valued at inf, or a sale asking -inf."""
    return Step(device, consumption_kw, math.inf if consumption_kw > 0 else -math.inf)


@dataclass(frozen=True)
class Band:
    """The interval the households bid for: its times, the retailer band and the price forecast after it."""

    t0_s: float
    t1_s: float
    future: Outlook
    retail: float
    feed_in: float
    pv_curtailment_eur_per_kwh: float

    @property
    def hours(self) -> float:
        """The interval's length."""
        return (self.t1_s - self.t0_s) / 3600


# the order of a household's steps: base, PV, battery (sell, buy), EV, appliances, heat pump, day-ahead
RANK_BASE, RANK_PV, RANK_SELL, RANK_BUY, RANK_EV, RANK_APPLIANCES, RANK_HEAT_PUMP, RANK_DAY_AHEAD = range(8)
UNSCHEDULED = Scheduled()


def step_table(
    devices: Sequence[Devices],
    base_kw: np.ndarray,
    pv_kw: np.ndarray,
    band: Band,
    scheduled: Sequence[Scheduled | None],
) -> StepTable:
    """Every household's steps: base load, PV and each device's, in one table.

    ``scheduled``: a battery or EV whose power is already fixed (by the ``lp_optimiser``
    policy's plan, which plans against the local-price forecast, or by the day-ahead
    market) bids it inelastically instead of its own curve, and energy already bought
    (sold) day-ahead enters as an inelastic sale (purchase), so the curve is the
    household's deviation from its day-ahead position.
    """
    n = len(devices)
    rows = StepRows()
    every = np.arange(n)
    rows.columns(every, BASE, base_kw, np.full(n, math.inf), RANK_BASE)
    rows.columns(every, PV, -pv_kw, np.full(n, band.pv_curtailment_eur_per_kwh), RANK_PV)
    fixed = [s or UNSCHEDULED for s in scheduled]
    free = [i for i, d in enumerate(devices) if d.battery is not None and fixed[i].battery_kw is None]
    sell_kw, sell_price, buy_kw, buy_price = free_battery_columns(devices, free, band.hours, band.future)
    rows.columns(np.array(free, dtype=np.int64), BATTERY, sell_kw, sell_price, RANK_SELL)
    rows.columns(np.array(free, dtype=np.int64), BATTERY, buy_kw, buy_price, RANK_BUY)
    t0, t1, ahead = band.t0_s, band.t1_s, band.future
    for i in (i for i, d in enumerate(devices) if d.battery is not None and fixed[i].battery_kw is not None):
        kw = devices[i].battery.flexibility(band.hours).clip(fixed[i].battery_kw)  # type: ignore[union-attr, arg-type]
        rows.steps(i, [inelastic("battery", -kw)], RANK_SELL)
    for i, ev in (
        (i, d.ev) for i, d in enumerate(devices) if d.ev is not None and fixed[i].ev_kw is not None
    ):
        rows.steps(i, [inelastic("ev", -ev.flexibility(t0, t1).clip(fixed[i].ev_kw))], RANK_EV)  # type: ignore[arg-type]
    free_ev = [i for i, d in enumerate(devices) if d.ev is not None and fixed[i].ev_kw is None]
    ev_columns(rows, devices, free_ev, t0, t1, ahead, RANK_EV)
    appliance_columns(rows, devices, t0, t1, ahead, RANK_APPLIANCES)
    for i, hp in ((i, d.heat_pump) for i, d in enumerate(devices) if d.heat_pump is not None):
        rows.steps(i, heat_pump_steps(hp, t0, t1, ahead), RANK_HEAT_PUMP)
    bought = np.array([-f.day_ahead_bought_kw for f in fixed], dtype=float)
    rows.columns(every, DAY_AHEAD, bought, np.where(bought > 0, math.inf, -math.inf), RANK_DAY_AHEAD)
    return rows.table(n)


def curve_bids(table: StepTable, band: Band, hours: float, placed: Sequence[Order]) -> CurveBids:
    """The table's orders, each with its household's strategy's mark-up on its inelastic position.

    A strategy that bids 0.02 below the retail price for its inelastic demand
    bids 0.02 below every step's value; one that asks above the feed-in tariff
    asks that much more on every sell step (kept within the retailer band).
    ``placed``: the strategies' orders on the policy's plan (their mark-ups).
    """
    check_band(band.retail, band.feed_in)
    levels = tabulate(table, band.retail, band.feed_in)
    cols = table_orders(levels, hours)
    markup = markups(OrderBook.of(placed), table.n_households, band)
    quoted = cols.price + markup[cols.household, np.where(cols.buys, 0, 1)]
    quoted = np.where(band.feed_in > quoted, band.feed_in, quoted)  # max(quote, feed_in), as Python's max
    quoted = np.where(band.retail < quoted, band.retail, quoted)
    # each order's limit is its step's own value: the price a re-quote starts from
    orders = OrderBook(cols.household, cols.buys, cols.kwh, quoted, cols.price)
    return CurveBids(
        table, levels, band.retail, band.feed_in, orders, cols.fallback_buy_kwh, cols.fallback_sell_kwh
    )


def markups(placed: OrderBook, n: int, band: Band) -> np.ndarray:
    """(n, 2) each household's mark-up on buying and on selling: its last placed order's quote off the band.

    A bid's mark-up is its quote less the retail price, an ask's its quote less the feed-in tariff.
    """
    markup = np.zeros((n, 2))  # buy, sell
    side = np.where(placed.buys, 0, 1)
    cell = placed.household * 2 + side
    # a household's last order of a side counts: the last position of each cell
    last = len(cell) - 1 - np.unique(cell[::-1], return_index=True)[1]
    off = np.where(placed.buys, band.retail, band.feed_in)
    markup.ravel()[cell[last]] = placed.price[last] - off[last]
    return markup


def realised_net_kw(
    trades: Sequence[Trade], fallback_buy_kwh: np.ndarray, fallback_sell_kwh: np.ndarray, hours: float
) -> np.ndarray:
    """Each household's net consumption (kW): what it cleared, topped up by the retailer for its fallback.

    A household fills its most valued orders first, so the retailer serves the
    fallback orders' shortfall only: bought ``max(cleared, fallback)``, the same for sold.
    """
    bought, sold = traded_kwh(trades, len(fallback_buy_kwh))
    return (np.maximum(bought, fallback_buy_kwh) - np.maximum(sold, fallback_sell_kwh)) / hours


def plans_from_curves(
    bids: CurveBids, net_kw: np.ndarray, n_appliances: Sequence[int]
) -> Sequence[DevicePlan]:
    """The devices' powers (injection positive) at each household's realised net consumption ``net_kw``."""
    t = bids.table
    width = APPLIANCE_0 + max(n_appliances, default=0)
    injection = -per_device(t, table_dispatch(t, bids.levels, net_kw), width)
    pv = t.device == PV
    available = -np.bincount(t.household[pv], weights=t.kw[pv], minlength=t.n_households)
    return PlanColumns(
        injection[:, PV],
        available - injection[:, PV],
        injection[:, BATTERY],
        injection[:, EV_CODE],
        injection[:, APPLIANCE_0:],
        injection[:, SPACE],
        injection[:, WATER],
        np.asarray(n_appliances, dtype=np.int64).reshape(len(net_kw)),
    ).plans()


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
    band = Band(
        iv.t0_s,
        iv.t1_s,
        future,
        iv.import_price_eur_per_kwh * iv.price_signal,
        iv.feed_in_tariff_eur_per_kwh * iv.price_signal,
        cfg.pv_curtailment_price_eur_per_kwh,
    )
    scheduled = [
        day_ahead[h.index]
        if day_ahead is not None
        else Scheduled(battery_kw=plans[h.index].battery_kw)
        if h.policy.needs_forecast or isinstance(h, CommunityManager)  # planned before the market
        else None
        for h in households
    ]
    table = step_table([h.devices for h in households], iv.base_load_kw, iv.pv_kw, band, scheduled)
    return curve_bids(table, band, iv.hours, placed)


def without_own_trades(clearing: ClearingResult) -> ClearingResult:
    """The clearing without a household's trades with itself.

    A buy and a sell of its own at one indifference price may meet: that energy never leaves its meter.
    """
    buyer, seller, kwh, price = trade_columns(clearing.trades)
    other = buyer != seller
    if other.all():
        return clearing
    kept = TradeList.of(buyer[other], seller[other], kwh[other], price[other])
    return ClearingResult(kept, clearing.price_eur_per_kwh, clearing.zone_prices)


def dispatch_curves(
    bids: CurveBids, clearing: ClearingResult, devices: Sequence[Devices], hours: float
) -> Sequence[DevicePlan]:
    """Each household's device powers at its realised net: cleared locally plus the retailer's fallback."""
    net = realised_net_kw(clearing.trades, bids.fallback_buy_kwh, bids.fallback_sell_kwh, hours)
    return plans_from_curves(bids, net, [len(d.appliances) for d in devices])


def clear_curves(
    bids: CurveBids, decided: Decided, iv: Interval, market: Market, attack: Attack
) -> tuple[Cleared, Sequence[DevicePlan]]:
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
    clearing, plans, flexibility, flex_cuts = flexibility_stage(market, clearing, plans, bids, iv)
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
    plans: Sequence[DevicePlan],
    bids: CurveBids,
    iv: Interval,
) -> tuple[ClearingResult, Sequence[DevicePlan], Procurement | None, TradeCuts]:
    """The DSO's flexibility market on the cleared schedules, if it runs one (:mod:`model.flexibility`).

    The devices deliver what was bought; a household's local trades shrink by its
    delivered kW (pro rata, as a DSO cut does), the rest of the change is its retail exchange.
    """
    if market.dso.flexibility is None:
        return clearing, plans, None, {}
    flexibility = market.dso.flexibility
    offered = community.offers(market.households, plans, iv.hours, flexibility.premium_eur_per_kwh)
    plans, bought = procure(flexibility, plans, bids.curves, iv, market.where, offered)
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
) -> tuple[Decided, Cleared, Sequence[DevicePlan]]:
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
