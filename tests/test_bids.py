"""Bid curves: hand-worked device curves, orders in the retail band, dispatch in merit order."""

import math

import numpy as np
import pytest

from lemgrid.agents.bids import BidCurve, CurveError, Step, check_monotone
from lemgrid.agents.device_curves import Outlook, appliance_steps, battery_steps, ev_steps, pv_step
from lemgrid.agents.devices import EV, ApplianceCycle, Battery, ChargingSession, ShiftableAppliance

H = 0.25  # hours per interval
RETAIL, FEED_IN = 0.30, 0.08


def curve(*steps: Step) -> BidCurve:
    return BidCurve(steps, RETAIL, FEED_IN)


def test_a_surplus_and_a_battery_make_one_buy_and_one_sell_order_at_the_battery_value():
    # 2 kW PV surplus over 1 kW load, battery charges 3 kW below 0.15
    c = curve(Step("base", 1.0, math.inf), Step("pv", -3.0, 0.0), Step("battery", 3.0, 0.15))
    assert c.net_kw(0.10) == pytest.approx(1.0) and c.net_kw(0.20) == pytest.approx(-2.0)
    orders = {(o.side, o.price_eur_per_kwh): (o.kwh, o.retail_fallback) for o in c.orders(H)}
    # below 0.15 it buys 1 kW net; at or above 0.15 it sells its 2 kW surplus
    assert orders == {
        ("buy", 0.15): (pytest.approx(0.25), False),
        ("sell", 0.15): (pytest.approx(0.5), False),
    }


def test_dispatch_follows_the_cleared_quantity_in_merit_order():
    c = curve(Step("base", 1.0, math.inf), Step("pv", -3.0, 0.0), Step("battery", 3.0, 0.15))
    # nothing cleared: the battery takes exactly the own surplus, 2 of its 3 kW
    assert c.dispatch(0.0) == pytest.approx({"base": 1.0, "pv": -3.0, "battery": 2.0})
    # its buy cleared: the battery charges fully
    assert c.dispatch(1.0) == pytest.approx({"base": 1.0, "pv": -3.0, "battery": 3.0})
    # its sell cleared: the battery stays idle
    assert c.dispatch(-2.0) == pytest.approx({"base": 1.0, "pv": -3.0, "battery": 0.0})
    # asked for more than the curve allows: clamped to its range
    assert c.dispatch(-9.0) == pytest.approx({"base": 1.0, "pv": -3.0, "battery": 0.0})


def test_inelastic_demand_is_a_fallback_buy_at_the_retail_price():
    c = curve(Step("base", 2.0, math.inf), Step("ev", 4.0, 0.20))
    orders = sorted(c.orders(H), key=lambda o: o.price_eur_per_kwh)
    assert [(o.side, o.price_eur_per_kwh, o.retail_fallback) for o in orders] == [
        ("buy", 0.20, False),
        ("buy", RETAIL, True),
    ]
    assert [o.kwh for o in orders] == pytest.approx([1.0, 0.5])


def test_a_step_valued_outside_the_band_never_trades():
    # a battery that values stored energy below the feed-in tariff rather sells the surplus to the retailer
    c = curve(Step("pv", -2.0, 0.0), Step("battery", 2.0, 0.05))
    assert [(o.side, o.kwh, o.price_eur_per_kwh, o.retail_fallback) for o in c.orders(H)] == [
        ("sell", pytest.approx(0.5), FEED_IN, True)
    ]
    assert c.dispatch(-2.0)["battery"] == 0.0


def test_orders_reproduce_the_curve_at_every_price():
    rng = np.random.default_rng(3)
    for _ in range(200):
        steps = [Step("base", float(rng.uniform(0, 3)), math.inf), Step("pv", -float(rng.uniform(0, 5)), 0.0)]
        steps += [Step(f"d{i}", float(rng.uniform(-3, 3)), float(rng.uniform(0.0, 0.4))) for i in range(4)]
        c = curve(*steps)
        orders = c.orders(1.0)
        assert not ({o.side for o in orders} == {"buy", "sell"} and _overlap(orders))
        for p in np.linspace(FEED_IN, RETAIL, 23):
            net = sum(o.kwh for o in orders if o.side == "buy" and o.price_eur_per_kwh >= p) - sum(
                o.kwh for o in orders if o.side == "sell" and o.price_eur_per_kwh <= p
            )
            assert net == pytest.approx(c.net_kw(p), abs=1e-9)
        # dispatch of any quantity in range adds up to that quantity
        low, high = c.range_kw()
        for q in np.linspace(low, high, 7):
            assert sum(c.dispatch(q).values()) == pytest.approx(q, abs=1e-9)


def _overlap(orders):
    """Whether some price has both an active buy and an active sell (a household trading with itself)."""
    top_sell = min(o.price_eur_per_kwh for o in orders if o.side == "sell")
    return any(o.side == "buy" and o.price_eur_per_kwh > top_sell for o in orders)


def test_battery_curve_at_a_known_stored_energy_value():
    # 10 kWh, 4 kW, 81 % round trip (90 % each way), 3 kWh above the minimum: one interval's
    # full discharge takes 4 * 0.25 / 0.9 = 1.11 kWh from storage, so the top stored kWh goes to
    # the 3rd best slot (ceil(3 / 1.11) - 1 = 2) and a kWh charged now to the 3rd best as well.
    b = Battery(10.0, 4.0, 0.81, 0.0, 1.0, 0.3, degradation_cost_eur_per_kwh=0.01)
    future = np.array([0.10, 0.35, 0.20, 0.30, 0.12])  # sorted best first: 0.35, 0.30, 0.20, 0.12, 0.10
    sell, buy = battery_steps(b, H, future)
    assert sell.kw == pytest.approx(-4.0) and sell.price_eur_per_kwh == pytest.approx(0.20)
    assert buy.kw == pytest.approx(4.0) and buy.price_eur_per_kwh == pytest.approx(0.81 * 0.20 - 0.02)
    empty = Battery(10.0, 4.0, 0.81, 0.0, 1.0, 0.0)
    (charge,) = battery_steps(empty, H, future)  # nothing to sell; the first kWh goes to the best slot
    assert charge.price_eur_per_kwh == pytest.approx(0.81 * 0.35)


def test_ev_with_zero_slack_is_inelastic():
    # 11 kW charger, needs 5.5 kWh, leaves in 30 minutes: it must charge at full power now and next
    ev = EV(11.0, [ChargingSession(0.0, 1800.0, 5.5)], charging="deadline")
    steps = ev_steps(ev, 0.0, 900.0, np.array([0.01, 0.01, 0.01]))
    assert [(s.kw, s.price_eur_per_kwh) for s in steps if s.kw > 0] == [(pytest.approx(11.0), math.inf)]


def test_ev_willingness_to_pay_rises_as_its_slack_shrinks():
    future = np.array([0.25, 0.10, 0.20, 0.15, 0.30, 0.12, 0.28, 0.22])
    # needs one full interval of charging and has 8 slots left: it waits for the cheapest (0.10)
    loose = EV(4.0, [ChargingSession(0.0, 9 * 900.0, 1.0)], charging="deadline")
    flexible = [s for s in ev_steps(loose, 0.0, 900.0, future) if s.price_eur_per_kwh < math.inf]
    assert flexible[0].price_eur_per_kwh == pytest.approx(0.10)
    # needs three intervals of charging in 4 slots: the 3rd cheapest of the next 3 slots (0.25)
    tight = EV(4.0, [ChargingSession(0.0, 4 * 900.0, 3.0)], charging="deadline")
    flexible = [s for s in ev_steps(tight, 0.0, 900.0, future) if s.price_eur_per_kwh < math.inf]
    assert flexible[0].price_eur_per_kwh == pytest.approx(0.25)


def test_appliance_at_the_end_of_its_window_is_inelastic_and_earlier_waits_for_the_cheapest_start():
    # 2 kW for 1 hour, window 0-2 h: startable at 0, 0.25, ..., 1.0 h
    a = ShiftableAppliance("dishwasher", 2.0, 3600.0, [ApplianceCycle(0.0, 7200.0)])
    future = np.array([0.20, 0.11, 0.30, 0.25, 0.40])
    start = [s for s in appliance_steps(a, 0, 0.0, 900.0, future) if s.discrete]
    assert start[0].price_eur_per_kwh == pytest.approx(0.11)  # cheapest of the 4 later starts
    late = ShiftableAppliance("dishwasher", 2.0, 3600.0, [ApplianceCycle(0.0, 4500.0)])
    steps = appliance_steps(late, 0, 900.0, 1800.0, future)  # at 0.25 h the last start is now
    assert not any(s.discrete for s in steps)
    assert sum(s.kw for s in steps) == pytest.approx(2.0) and all(
        s.price_eur_per_kwh == math.inf for s in steps
    )


def test_pv_curtails_only_below_its_curtailment_price():
    # a negative feed-in tariff (indexed on a negative wholesale price): PV sells down to 0 EUR/kWh only
    c = BidCurve([Step("base", 0.5, math.inf), *pv_step(4.0, 0.0)], 0.15, -0.05)
    assert c.net_kw(-0.02) == pytest.approx(0.5)  # curtailed
    assert c.net_kw(0.01) == pytest.approx(-3.5)
    assert c.dispatch(c.range_kw()[1])["pv"] == 0.0  # nothing cleared: PV off, base load from the retailer


def test_bad_curves_are_named():
    with pytest.raises(CurveError, match="not monotone"):
        check_monotone([0.1, 0.2, 0.3], [3.0, 1.0, 2.0], "households.curve")
    with pytest.raises(CurveError, match="battery"):
        BidCurve([Step("battery", float("nan"), 0.1)], RETAIL, FEED_IN)
    with pytest.raises(CurveError, match="below the feed-in"):
        BidCurve([], 0.05, 0.08)


def test_one_outlook_shared_by_all_households_gives_each_device_the_steps_of_its_own_forecast():
    # the interval's forecast is ranked once for every household (bid): a battery's sale slot and an
    # appliance's cheapest start must equal what each finds in the plain forecast, bit for bit
    rng = np.random.default_rng(7)
    for _ in range(50):
        future = rng.choice([0.05, 0.08, 0.11, 0.2, 0.31], size=int(rng.integers(1, 12)))
        shared = Outlook(future)
        for soc in (0.0, 0.35, 0.8, 1.0):
            b = Battery(10.0, 4.0, 0.81, 0.1, 0.95, soc, degradation_cost_eur_per_kwh=0.01)
            assert battery_steps(b, H, shared) == battery_steps(b, H, future.copy())
        end_s = float(rng.integers(2, 14)) * 900.0
        a = ShiftableAppliance("dishwasher", 2.0, 900.0, [ApplianceCycle(0.0, end_s)])
        with_outlook = appliance_steps(a, 0, 0.0, 900.0, shared)
        waits = [s.price_eur_per_kwh for s in with_outlook if s.discrete]
        later = min(int((end_s - 900.0 - 900.0) // 900.0) + 1, len(future))
        assert waits == ([float(min(future[:later]))] if later > 0 else [math.inf])
        assert with_outlook == appliance_steps(a, 0, 0.0, 900.0, future.copy())
