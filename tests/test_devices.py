"""Device physics over a simulated week of random schedules: limits, conservation, deadlines."""

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from lemgrid.agents.devices import EV, ApplianceCycle, Battery, ChargingSession, ShiftableAppliance
from lemgrid.agents.policies import Devices, SelfConsumption

QUARTER_S = 900
WEEK = 7 * 96


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.floats(1.0, 20.0),
    power=st.floats(0.5, 10.0),
    eta=st.floats(0.5, 1.0),
    soc=st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 1.0), st.floats(0.5, 1.0)),
    seed=st.integers(0, 2**32 - 1),
)
def test_battery_limits_and_energy_conservation(capacity, power, eta, soc, seed) -> None:
    soc_min, frac, soc_max = soc
    soc_initial = soc_min + frac * (soc_max - soc_min)
    b = Battery(capacity, power, eta, soc_min, soc_max, soc_initial)
    e0 = b.energy_kwh
    rng = np.random.default_rng(seed)
    hours = QUARTER_S / 3600
    for p in rng.uniform(-3 * power, 3 * power, WEEK):  # asks far beyond the limits too
        done = b.dispatch(float(p), hours)
        assert abs(done) <= power + 1e-12
        assert soc_min - 1e-9 <= b.soc <= soc_max + 1e-9
    # energy in x charge efficiency - energy out / discharge efficiency = change in storage
    stored = b.charged_kwh * math.sqrt(eta) - b.discharged_kwh / math.sqrt(eta)
    assert b.energy_kwh - e0 == pytest.approx(stored, abs=1e-9)


def run_ev(ev: EV, steps: int, choose) -> None:
    """Drive an EV through ``steps`` quarter-hours in a SimPy environment, as the model does."""
    env = simpy.Environment()
    env.process(ev.process(env))

    def loop():
        while True:
            t0, t1 = float(env.now), float(env.now + QUARTER_S)
            flex = ev.flexibility(t0, t1)
            done = ev.dispatch(choose(flex), t0, t1)
            assert flex.p_min_kw - 1e-12 <= done <= flex.p_max_kw + 1e-12
            assert -ev.charger_kw - 1e-12 <= done <= 0.0
            yield env.timeout(QUARTER_S)

    env.process(loop())
    env.run(until=steps * QUARTER_S)


@settings(max_examples=60, deadline=None)
@given(
    charger=st.sampled_from([3.7, 7.4, 11.0]),
    stays=st.lists(
        st.tuples(st.floats(14, 23.5), st.floats(5, 14), st.floats(0.5, 60)), min_size=1, max_size=6
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_ev_meets_every_feasible_deadline_under_any_choice(charger, stays, seed) -> None:
    sessions = []
    for day, (arrive_h, dwell_h, energy) in enumerate(stays):
        arrival = (day * 24 + arrive_h) * 3600
        sessions.append(ChargingSession(arrival, arrival + dwell_h * 3600, energy))
    ev = EV(charger, sessions, "deadline")
    rng = np.random.default_rng(seed)
    # any choice inside the flexibility: the minimum it allows, the maximum, or anything between
    run_ev(ev, (len(stays) + 1) * 96, lambda f: float(rng.uniform(f.p_min_kw, f.p_max_kw)))
    for s in sessions:
        assert s.unmet_kwh is not None  # recorded by the SimPy departure event
        feasible = s.energy_needed_kwh <= charger * (s.departure_s - s.arrival_s) / 3600
        if feasible:
            assert s.unmet_kwh == pytest.approx(0.0, abs=1e-9)
            assert s.delivered_kwh == pytest.approx(s.energy_needed_kwh, rel=1e-9)
        else:  # charged flat out and still short: the shortfall is reported
            assert (
                s.unmet_kwh == pytest.approx(s.energy_needed_kwh - s.delivered_kwh, abs=1e-9)
                and s.unmet_kwh > 0
            )


def test_ev_plugs_in_and_out_inside_an_interval() -> None:
    # arrives at 00:07:30, leaves at 00:37:30: charges half of the first and the third quarter-hour
    ev = EV(7.4, [ChargingSession(450.0, 2250.0, 100.0)], "immediate")
    env = simpy.Environment()
    env.process(ev.process(env))
    powers, plugged = [], []

    def loop():
        while True:
            t0, t1 = float(env.now), float(env.now + QUARTER_S)
            powers.append(ev.dispatch(ev.preferred_kw(ev.flexibility(t0, t1)), t0, t1))
            yield env.timeout(QUARTER_S / 2)
            plugged.append(ev.plugged)  # mid-interval state, set by the SimPy events
            yield env.timeout(QUARTER_S / 2)

    env.process(loop())
    env.run(until=4 * QUARTER_S)
    np.testing.assert_allclose(powers, [-3.7, -7.4, -3.7, 0.0])
    assert plugged == [True, True, False, False]
    assert ev.sessions[0].delivered_kwh == pytest.approx(7.4 * 0.5)
    assert ev.sessions[0].unmet_kwh == pytest.approx(100 - 3.7)


@settings(max_examples=60, deadline=None)
@given(
    # windows inside their own day, as the scenario's daily windows (at most 24 h) are
    windows=st.lists(st.tuples(st.integers(0, 40), st.integers(2, 40)), min_size=1, max_size=5),
    duration_q=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_appliance_cycles_run_whole_inside_their_windows(windows, duration_q, seed) -> None:
    cycles = []
    for day, (start_q, extra_q) in enumerate(windows):
        open_s = (day * 96 + start_q) * QUARTER_S
        cycles.append(ApplianceCycle(open_s, open_s + (duration_q + extra_q) * QUARTER_S))
    appliance = ShiftableAppliance("washer", 2.0, duration_q * QUARTER_S, cycles)
    rng = np.random.default_rng(seed)
    hours = QUARTER_S / 3600
    energy = 0.0
    for k in range((len(windows) + 1) * 96):
        t0, t1 = k * QUARTER_S, (k + 1) * QUARTER_S
        flex = appliance.flexibility(t0, t1)
        wish = flex.p_min_kw if rng.random() < 0.1 else flex.p_max_kw  # start rarely, at random
        energy -= appliance.dispatch(wish, t0, t1) * hours
    for c in cycles:
        assert c.started_s is not None
        assert c.window_start_s <= c.started_s and c.started_s + appliance.duration_s <= c.window_end_s
        assert c.served_kwh == pytest.approx(appliance.cycle_energy_kwh)
    assert energy == pytest.approx(len(cycles) * appliance.cycle_energy_kwh)


def test_self_consumption_order_pv_then_battery_then_market() -> None:
    policy = SelfConsumption()
    battery = Battery(10.0, 3.0, 0.9, 0.1, 0.9, 0.5)
    home = Devices(pv_kwp=5.0, battery=battery)
    # 4 kW of PV, 1 kW of load: 3 kW surplus all goes into the battery (its limit)
    plan = policy.plan(home, base_load_kw=1.0, pv_kw=4.0, t0_s=0, t1_s=QUARTER_S)
    assert plan.battery_kw == pytest.approx(-3.0) and plan.net_kw(1.0) == pytest.approx(0.0)
    # 5 kW surplus: 3 kW to the battery, 2 kW to the market
    plan = policy.plan(home, base_load_kw=0.0, pv_kw=5.0, t0_s=0, t1_s=QUARTER_S)
    assert plan.net_kw(0.0) == pytest.approx(2.0)
    # evening deficit of 1.5 kW: covered by the battery, nothing imported
    plan = policy.plan(home, base_load_kw=1.5, pv_kw=0.0, t0_s=0, t1_s=QUARTER_S)
    assert plan.battery_kw == pytest.approx(1.5) and plan.net_kw(1.5) == pytest.approx(0.0)
    # the battery never charges from the grid
    assert policy.plan(home, base_load_kw=0.5, pv_kw=0.2, t0_s=0, t1_s=QUARTER_S).battery_kw >= 0


def test_export_limit_curtails_pv() -> None:
    plan = SelfConsumption().plan(Devices(pv_kwp=5.0, export_limit_kw=3.5), 0.5, 4.5, 0, QUARTER_S)
    assert plan.pv_curtailed_kw == pytest.approx(0.5)
    assert plan.net_kw(0.5) == pytest.approx(3.5)


def test_appliance_starts_on_pv_surplus_or_at_once_without_pv() -> None:
    def home(pv_kwp: float) -> Devices:
        cycle = ApplianceCycle(0.0, 8 * 3600.0)
        return Devices(pv_kwp=pv_kwp, appliances=[ShiftableAppliance("washer", 2.0, 3600.0, [cycle])])

    policy = SelfConsumption()
    assert policy.plan(home(4.0), 0.5, 1.0, 0, QUARTER_S).appliance_kw == [0.0]  # 0.5 kW surplus: wait
    assert policy.plan(home(4.0), 0.5, 3.0, 0, QUARTER_S).appliance_kw == [-2.0]  # 2.5 kW surplus: start
    assert policy.plan(home(0.0), 0.5, 0.0, 0, QUARTER_S).appliance_kw == [-2.0]  # no PV: start now
