"""DSO flexibility procurement: a local flexibility market run before delivery (issue 22 item 5).

When: every interval, after the local market has cleared and each household's
devices have their dispatch along its bid curve (its schedule, the baseline of
the flexibility product), and before delivery (the grid stage's power flow).
This is the sequential design of the flexibility platforms in operation
(GOPACS, Piclo Flex, NODES; reviewed by Sassone et al., 2025, Renew. Sustain.
Energy Rev. 116434): the energy market clears first, the DSO forecasts its
network's loading from the resulting schedules, publishes a need (element,
direction, kW), buys the cheapest offers that meet it and pays per kWh
delivered against the schedule (pay as bid). Doing it before the local market
instead would make the DSO forecast the market's outcome as well; after it, the
only forecast is the schedules' power flow.

Per round: a power flow of the schedules; for every watched line and
transformer phase above its target (limit less margin), the relief it needs in
kW (exact for a lossless branch at the flow's power factor, re-checked by the
next round's power flow); downstream households offer what their devices could
give up, the DSO takes offers in order of price per kW of relief (a
single-phase household relieves its own phase, a three-phase charger a third
of a kW on each). Downward flexibility (less import, for an import overload)
comes from the elastic, dispatched consumption of EVs, batteries, appliances
and heat pumps, asking the value the device put on that energy less the retail
price it then does not pay, plus a premium; upward flexibility (less export,
for reverse flow) from PV output, asking the feed-in tariff it loses less its
curtailment price, plus the premium. Energy the deadline or the comfort band
needs now is inelastic and never offered. The providers is an interface
(:class:`Offer`): an aggregator could offer beside the households.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lemgrid.agents.bids import BidCurve
from lemgrid.agents.policies import DevicePlan
from lemgrid.grid.feeders import Feeder
from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree
from lemgrid.model.interval import Connections, Interval, injections, reactive


@dataclass(frozen=True)
class Offer:
    """What one provider offers the DSO for the interval.

    Attributes:
        provider: the household's index (an aggregator would offer under its own households).
        device: which device moves ('ev', 'battery', 'appliance:<i>', 'heat_pump:space', 'pv', ...).
        kw: how much (always positive).
        price_eur_per_kwh: its ask per kWh delivered.
        upward: False: less import (downward); True: less export (upward).
        indivisible: all or nothing (an appliance cycle starts or waits).
    """

    provider: int
    device: str
    kw: float
    price_eur_per_kwh: float
    upward: bool = False
    indivisible: bool = False


@dataclass(frozen=True)
class Need:
    """A relief the DSO requests: ``kw`` at one element and phase, in one direction."""

    element: int
    phase: int
    kw: float
    upward: bool


def buy(need_kw: float, offers: Sequence[Offer], relief: np.ndarray) -> np.ndarray:
    """The kW taken of each offer: cheapest per kW of relief first, until ``need_kw`` of relief.

    ``relief[i]``: kW of relief one kW of offer ``i`` gives (0: it does not help). An
    indivisible offer is taken whole or not at all.
    """
    taken = np.zeros(len(offers))
    useful = [i for i in range(len(offers)) if relief[i] > 0 and offers[i].kw > 0]
    left = need_kw
    for i in sorted(useful, key=lambda i: (offers[i].price_eur_per_kwh / relief[i], i)):
        if left <= 1e-9:
            break
        kw = offers[i].kw if offers[i].indivisible else min(offers[i].kw, left / relief[i])
        taken[i] = kw
        left -= kw * relief[i]
    return taken


@dataclass(frozen=True)
class Elements:
    """The lines and transformers the DSO watches, with who is downstream.

    Attributes:
        names: one label per element ('line <name>' / 'transformer <name>').
        kind, position: 'line' or 'trafo' and its row in the feeder's table.
        below: (n_elements, n_households) whether the household is downstream of it.
    """

    names: list[str]
    kind: list[str]
    position: np.ndarray
    below: np.ndarray


def element_index(feeder: Feeder) -> dict[str, tuple[str, int]]:
    """Every name a scenario may give an element by: its name, 'line <index>', 'trafo <index>'."""
    net = feeder.net
    out: dict[str, tuple[str, int]] = {}
    for kind, table in (("line", net.line), ("trafo", net.trafo)):
        names = table["name"] if "name" in table else [None] * len(table)
        for pos, (index, name) in enumerate(zip(table.index, names, strict=True)):
            if isinstance(name, str) and name:
                out.setdefault(name, (kind, pos))
            out[f"{kind} {index}"] = (kind, pos)
    return out


def unknown_elements(feeder: Feeder, names: Sequence[str]) -> list[str]:
    """The names in ``names`` that are not a line or transformer of ``feeder``."""
    known = element_index(feeder)
    return [n for n in names if n not in known]


def watched_elements(feeder: Feeder, tree: Tree, names: Sequence[str]) -> Elements:
    """The elements named (all lines and transformers if none), for ``tree``'s households."""
    index = element_index(feeder)
    missing = unknown_elements(feeder, names)
    if missing:
        raise ValueError(f"dso.flexibility.elements: {missing} not on feeder {feeder.name!r}")
    net = feeder.net
    chosen = (
        [index[n] for n in names]
        if names
        else [("line", p) for p in range(len(net.line))] + [("trafo", p) for p in range(len(net.trafo))]
    )
    branch_of = {(b.kind, b.position): k for k, b in enumerate(tree.branches)}
    chosen = [c for c in chosen if c in branch_of]  # out-of-service elements carry nothing
    below = tree.downstream[[branch_of[c] for c in chosen]][:, tree.household_bus]
    names_out = [
        f"line {net.line.index[p]}" if kind == "line" else f"transformer {net.trafo.index[p]}"
        for kind, p in chosen
    ]
    return Elements(
        names_out,
        [c[0] for c in chosen],
        np.array([c[1] for c in chosen], dtype=int),
        below,
    )


def needs(
    elements: Elements, state: GridState, p_kw: np.ndarray, q_kvar: np.ndarray, target_percent: float
) -> list[Need]:
    """The relief each element and phase needs to come down to ``target_percent``, worst first.

    A phase's flow is the sum of its downstream households' injections (lossless);
    its loading is the power flow's, shared over a line's phases in proportion to
    their flows (the solver reports a line's highest phase). Cutting the active
    flow by ``x`` at a constant reactive flow brings ``|S|`` to the target:
    ``x = |P| - sqrt((S target)^2 - Q^2)``.
    """
    flow_p = -(elements.below.astype(float) @ p_kw)  # (n_elements, 3), import (away from source) positive
    flow_q = -(elements.below.astype(float) @ q_kvar)
    s_kva = np.hypot(flow_p, flow_q)
    out: list[tuple[float, Need]] = []
    for e, kind in enumerate(elements.kind):
        pos = elements.position[e]
        if kind == "trafo":
            loading = state.trafo_loading_percent[pos]
        else:
            top = s_kva[e].max()
            loading = state.line_loading_percent[pos] * (s_kva[e] / top if top > 0 else np.zeros(3))
        for phase in np.flatnonzero(np.nan_to_num(loading) > target_percent):
            s, p, q = s_kva[e, phase], flow_p[e, phase], flow_q[e, phase]
            if s <= 0:
                continue
            s_target = s * target_percent / loading[phase]
            kw = abs(p) - np.sqrt(max(s_target**2 - q**2, 0.0))
            if kw > 1e-6:
                out.append((loading[phase] - target_percent, Need(e, int(phase), float(kw), bool(p < 0))))
    out.sort(key=lambda x: -x[0])
    return [need for _, need in out]


def offers_of(
    household: int,
    curve: BidCurve,
    plan: DevicePlan,
    retail_eur_per_kwh: float,
    premium_eur_per_kwh: float,
    pv_curtailment_eur_per_kwh: float,
) -> list[Offer]:
    """What a household offers from its curve at its scheduled dispatch ``plan``.

    Per device, the elastic part of what it is scheduled to consume (its dispatch
    above its inelastic steps) at the value of its marginal step less the retail
    price it saves; its PV output at the feed-in tariff it loses less its curtailment price.
    """
    consumed = {
        "ev": -plan.ev_kw,
        "battery": -plan.battery_kw,
        "heat_pump:space": -plan.heat_pump_kw,
        "heat_pump:water": -plan.hot_water_kw,
        **{f"appliance:{i}": -kw for i, kw in enumerate(plan.appliance_kw)},
    }
    out = []
    for device, kw in consumed.items():
        buys = [s for s in curve.steps if s.device == device and s.buys]
        must = sum(s.kw for s in buys if not np.isfinite(s.price_eur_per_kwh))
        values = [s.price_eur_per_kwh for s in buys if np.isfinite(s.price_eur_per_kwh)]
        flexible = kw - must
        if flexible > 1e-6 and values:
            ask = max(min(values) - retail_eur_per_kwh, 0.0) + premium_eur_per_kwh
            discrete = any(s.discrete for s in buys)
            out.append(Offer(household, device, float(flexible), float(ask), indivisible=discrete))
    if plan.pv_kw > 1e-6:
        ask = max(curve.feed_in - pv_curtailment_eur_per_kwh, 0.0) + premium_eur_per_kwh
        out.append(Offer(household, "pv", float(plan.pv_kw), float(ask), upward=True))
    return out


def delivered(plan: DevicePlan, offer: Offer, kw: float) -> DevicePlan:
    """``plan`` with ``kw`` of ``offer`` delivered: its device consumes (or its PV exports) that much less."""
    out = replace(plan, appliance_kw=list(plan.appliance_kw))
    if offer.device == "pv":
        out.pv_kw -= kw
        out.pv_curtailed_kw += kw
    elif offer.device == "ev":
        out.ev_kw += kw
    elif offer.device == "battery":
        out.battery_kw += -kw if offer.upward else kw  # upward: the aggregator's battery charges more
    elif offer.device == "heat_pump:space":
        out.heat_pump_kw += kw
    elif offer.device == "heat_pump:water":
        out.hot_water_kw += kw
    else:
        i = int(offer.device.split(":")[1])
        out.appliance_kw[i] += kw
    return out


@dataclass(frozen=True)
class Procurement:
    """One interval's flexibility market.

    Attributes:
        down_kw, up_kw: per household, the import (export) reduction the DSO bought.
        payment_eur: per household, what the DSO pays it (pay as bid).
        requested_kw: the relief the DSO asked for over all rounds (kW at the elements).
        shortfall_kw: relief still needed to bring every watched element to its limit
            after the last round (the overload no offer could remove; 0 when met; NaN when
            the last forecast power flow did not converge, so the DSO cannot know).
        reason: per household, which element it relieved ('' if none).
        power_flows: forecast power flows run.
    """

    down_kw: np.ndarray
    up_kw: np.ndarray
    payment_eur: np.ndarray
    requested_kw: float = 0.0
    shortfall_kw: float = 0.0
    reason: list[str] = field(default_factory=list)
    power_flows: int = 0

    @property
    def cost_eur(self) -> float:
        """What the DSO pays in the interval."""
        return float(self.payment_eur.sum())


@dataclass(frozen=True)
class FlexibilityMarket:
    """The DSO's flexibility market on one feeder (settings from the scenario's ``dso.flexibility``)."""

    elements: Elements
    solve: Callable[[np.ndarray, np.ndarray], GridState]
    limit_percent: float
    margin_percent: float
    premium_eur_per_kwh: float
    max_price_eur_per_kwh: float
    max_rounds: int
    pv_curtailment_eur_per_kwh: float = 0.0

    def procure(
        self,
        plans: Sequence[DevicePlan],
        curves: Sequence[BidCurve],
        injections: Callable[[list[DevicePlan]], tuple[np.ndarray, np.ndarray]],
        phase_share: Callable[[Offer], np.ndarray],
        hours: float,
        retail_eur_per_kwh: float,
        aggregator_offers: Sequence[Offer] = (),
    ) -> tuple[list[DevicePlan], Procurement]:
        """Buy the flexibility the schedules ``plans`` need; returns the plans as delivered and the purchase.

        ``injections(plans)``: the (n, 3) active and reactive injections the plans give;
        ``phase_share(offer)``: how one kW of the offer splits over the phases a, b, c;
        ``aggregator_offers``: offers besides the households' curves (the community manager's).
        """
        n = len(plans)
        plans = list(plans)
        prices = (retail_eur_per_kwh, self.premium_eur_per_kwh, self.pv_curtailment_eur_per_kwh)
        households = [o for h in range(n) for o in offers_of(h, curves[h], plans[h], *prices)]
        cap = self.max_price_eur_per_kwh
        offers = [o for o in [*households, *aggregator_offers] if o.price_eur_per_kwh <= cap]
        taken = np.zeros(len(offers))
        share = np.array([phase_share(o) for o in offers]).reshape(len(offers), 3)
        reason = [""] * n
        requested, flows = 0.0, 0
        target = self.limit_percent - self.margin_percent
        for round_ in range(self.max_rounds + 1):
            p_kw, q_kvar = injections(plans)
            state = self.solve(p_kw, q_kvar)
            flows += 1
            wanted = needs(self.elements, state, p_kw, q_kvar, target) if state.converged else []
            if not wanted or round_ == self.max_rounds:
                break
            bought = self._buy_round(wanted, offers, taken, share, reason)
            requested += sum(w.kw for w in wanted)
            if not bought.any():
                break
            for i in np.flatnonzero(bought):
                plans[offers[i].provider] = delivered(plans[offers[i].provider], offers[i], float(bought[i]))
            taken += bought
        shortfall = (
            sum(w.kw for w in needs(self.elements, state, p_kw, q_kvar, self.limit_percent))
            if state.converged
            else np.nan  # unknown, not met: the run metric counts these intervals
        )
        down, up, pay = np.zeros(n), np.zeros(n), np.zeros(n)
        for o, kw in zip(offers, taken, strict=True):
            (up if o.upward else down)[o.provider] += kw
            pay[o.provider] += kw * hours * o.price_eur_per_kwh
        return plans, Procurement(down, up, pay, requested, float(shortfall), reason, flows)

    def _buy_round(
        self, wanted: list[Need], offers: list[Offer], taken: np.ndarray, share: np.ndarray, reason: list[str]
    ) -> np.ndarray:
        """One round: each need, worst first, from the offers left; later needs see earlier purchases."""
        bought = np.zeros(len(offers))
        if not offers:
            return bought
        provider = np.array([o.provider for o in offers])
        upward = np.array([o.upward for o in offers])
        for need in wanted:
            e = need.element
            below = self.elements.below[e, provider]
            relief = np.where(below & (upward == need.upward), share[:, need.phase], 0.0)
            # a purchase for an earlier need on this element and phase already counts
            done = float((bought * relief).sum())
            rest = [replace(o, kw=max(o.kw - taken[i] - bought[i], 0.0)) for i, o in enumerate(offers)]
            more = buy(need.kw - done, rest, relief)
            for i in np.flatnonzero(more):
                reason[offers[i].provider] = reason[offers[i].provider] or self.elements.names[e]
            bought += more
        return bought


def flexibility_market(
    cfg: Any, feeder: Feeder, tree: Tree, solve: Callable[[np.ndarray, np.ndarray], GridState]
) -> FlexibilityMarket:
    """The flexibility market a scenario's ``dso.flexibility`` section sets up on ``feeder``."""
    flex = cfg.dso.flexibility
    return FlexibilityMarket(
        watched_elements(feeder, tree, flex.elements),
        solve,
        flex.loading_limit_percent,
        flex.margin_percent,
        flex.offer_premium_eur_per_kwh,
        flex.max_price_eur_per_kwh,
        flex.max_rounds,
        cfg.bidding.pv_curtailment_price_eur_per_kwh,
    )


def procure(
    market: FlexibilityMarket,
    plans: Sequence[DevicePlan],
    curves: Sequence[BidCurve],
    iv: Interval,
    where: Connections,
    aggregator_offers: Sequence[Offer] = (),
) -> tuple[list[DevicePlan], Procurement]:
    """Run the interval's flexibility market on the households' ``plans`` and an aggregator's offers."""

    def flows(plans: list[DevicePlan]) -> tuple[np.ndarray, np.ndarray]:
        net = np.array([p.net_kw(float(b)) for p, b in zip(plans, iv.base_load_kw, strict=True)])
        ev = np.array([p.ev_kw for p in plans])
        hp = np.array([p.heat_pump_kw + p.hot_water_kw for p in plans])
        return injections(net, ev, where, hp), reactive(iv.load_kvar, where)

    def phase_share(offer: Offer) -> np.ndarray:
        h = offer.provider
        hp3 = where.heat_pump_three_phase
        if (offer.device == "ev" and where.ev_three_phase[h]) or (
            offer.device.startswith("heat_pump") and hp3 is not None and hp3[h]
        ):
            return np.full(3, 1 / 3)
        if where.three_phase is not None and where.three_phase[h]:
            return np.full(3, 1 / 3)  # a three-phase connection (the community battery)
        return np.eye(3)[where.phase_col[h]]

    return market.procure(
        plans,
        curves,
        flows,
        phase_share,
        iv.hours,
        iv.import_price_eur_per_kwh * iv.price_signal,
        aggregator_offers,
    )
