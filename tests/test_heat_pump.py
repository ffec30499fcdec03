"""Heat pumps: the building and tank physics against hand calculations, the comfort band, the bids."""

import math

import numpy as np
import pytest

from lemgrid.agents.bids import BidCurve
from lemgrid.agents.device_curves import heat_pump_steps
from lemgrid.agents.devices import Band, HeatPump
from lemgrid.agents.devices.heat_pump import cop
from lemgrid.agents.policies import Devices, SelfConsumption
from lemgrid.model import Model
from lemgrid.model.interval import Connections, injections
from tests.helpers import hourly, run_to_end

H_S = 900.0  # 15-minute intervals
PGM = {"grid.solver": "power_grid_model"}  # the fast solver: these runs check the devices, not the flow


def pump(
    outdoor_c: float | np.ndarray = 0.0,
    power_kw: float = 3.0,
    ua: float = 0.2,
    capacity: float = 10.0,
    draw_kw: float | np.ndarray = 0.0,
    n: int = 192,
) -> HeatPump:
    outdoor = np.broadcast_to(np.asarray(outdoor_c, dtype=float), (n,)).copy()
    draw = np.broadcast_to(np.asarray(draw_kw, dtype=float), (n,)).copy()
    return HeatPump(power_kw, ua, capacity, Band(20.0, 22.0), Band(45.0, 60.0), 0.2326, outdoor, draw, H_S)


def run_thermostat(hp: HeatPump, n: int) -> list[float]:
    """The self-consumption policy (no PV) over ``n`` intervals; returns the indoor temperature after each."""
    devices = Devices(heat_pump=hp)
    indoor = []
    for k in range(n):
        t0, t1 = k * H_S, (k + 1) * H_S
        plan = SelfConsumption().plan(devices, 0.5, 0.0, t0, t1)
        hp.dispatch(plan.heat_pump_kw, plan.hot_water_kw, t0, t1)
        indoor.append(hp.indoor_c)
    return indoor


def test_cop_is_the_ruhnau_quadratic() -> None:
    # 6.08 - 0.09 * 40 + 0.0005 * 40^2 = 3.28 (lift 40 K: 40 deg C flow at 0 deg C outdoors)
    assert cop(40.0, 0.0) == pytest.approx(3.28, abs=1e-12)
    assert cop(55.0, -5.0) == pytest.approx(6.08 - 0.09 * 60 + 0.0005 * 3600, abs=1e-12)


def test_steady_state_electricity_is_ua_dt_t_over_cop() -> None:
    """Held at 20 deg C with 0 deg C outside for two days: E = UA dT t / COP (hand: 58.54 kWh)."""
    hp = pump(outdoor_c=0.0)
    hp.indoor_c = 20.0  # start at the band's bottom, where the thermostat holds it
    run_thermostat(hp, 192)
    hand_kwh = 0.2 * (20.0 - 0.0) * 48.0 / 3.28
    assert hand_kwh == pytest.approx(58.5366, abs=1e-4)
    assert hp.electric_kwh == pytest.approx(hand_kwh, rel=0.01)
    assert hp.space_heat_kwh == pytest.approx(0.2 * 20.0 * 48.0, rel=0.01)
    assert hp.last_comfort_violation_kh == 0.0


def test_exact_1r1c_step_matches_the_exponential_solution() -> None:
    """Unheated for one interval: T = T_out + (T0 - T_out) exp(-h UA / C)."""
    hp = pump(outdoor_c=-5.0, ua=0.25, capacity=12.0)
    hp.indoor_c = 21.0
    assert hp.indoor_after(0.0, -5.0, 0.25) == pytest.approx(-5.0 + 26.0 * math.exp(-0.25 * 0.25 / 12.0))
    # the heat that ends the interval at 21.2 deg C, put back in, ends it there
    q = hp.space_heat_for(21.2, -5.0, 0.25)
    assert q > 0
    assert hp.indoor_after(q, -5.0, 0.25) == pytest.approx(21.2, abs=1e-12)
    assert hp.space_heat_for(20.5, -5.0, 0.25) == 0.0  # it cools to 20.86 unheated: no heat needed


def test_comfort_band_is_held_when_the_rating_suffices() -> None:
    """A cold day (-8 to +2 deg C) with hot-water draws: indoor and tank never leave their bands."""
    hours = np.arange(96) * 0.25
    outdoor = -3.0 + 5.0 * np.cos(2 * np.pi * (hours - 15) / 24)
    draw = np.where((hours >= 7) & (hours < 9), 1.5, 0.0)  # 3 kWh of hot water in the morning
    hp = pump(outdoor_c=outdoor, draw_kw=draw, n=96)
    indoor = run_thermostat(hp, 96)
    assert min(indoor) >= 20.0 - 1e-9
    assert max(indoor) <= 22.0 + 1e-9
    assert hp.tank_c >= 45.0 - 1e-9
    assert hp.last_comfort_violation_kh == 0.0 and hp.last_tank_violation_kh == 0.0
    # the tank's heat balance: heat put in - heat drawn = c_tank * (T_end - T_start)
    assert hp.water_heat_kwh - 3.0 == pytest.approx(0.2326 * (hp.tank_c - 52.5), abs=1e-9)


def test_an_unavoidable_comfort_violation_is_recorded() -> None:
    """0.5 kW electrical cannot hold 20 deg C at -10 deg C with UA 0.3 kW/K (it would need ~3 kW)."""
    hp = pump(outdoor_c=-10.0, power_kw=0.5, ua=0.3, capacity=10.0, n=8)
    hp.indoor_c = 20.0
    space, _ = hp.ranges(0.0, H_S)
    assert space.p_max_kw == pytest.approx(-0.5)  # the rating, all of it, is the least it draws
    hp.dispatch(space.p_max_kw, 0.0, 0.0, H_S)
    heat_kw = 0.5 * cop(40.0, -10.0)
    steady = -10.0 + heat_kw / 0.3
    end_c = steady + (20.0 - steady) * math.exp(-0.25 * 0.3 / 10.0)  # hand: the exact 1R1C step
    assert hp.indoor_c == pytest.approx(end_c, abs=1e-12)
    assert hp.last_comfort_violation_kh == pytest.approx((20.0 - end_c) * 0.25, rel=1e-6)
    assert hp.last_comfort_violation_kh > 0


def test_the_bid_defers_to_cheaper_hours_and_heats_ahead_of_dear_ones() -> None:
    """Within the thermal slack, the optional heat is bought only when now beats every later slot."""
    hp = pump(outdoor_c=0.0)
    hp.indoor_c = 21.0
    cheap_later = np.full(16, 0.10)
    dear_later = np.full(16, 0.40)
    space, water = hp.ranges(0.0, H_S)
    need_kw = -(space.p_max_kw + water.p_max_kw)
    most_kw = -hp.flexibility(0.0, H_S).p_min_kw
    assert most_kw > need_kw + 1.0
    waits = BidCurve(heat_pump_steps(hp, 0.0, H_S, cheap_later), 0.30, 0.05)
    heats = BidCurve(heat_pump_steps(hp, 0.0, H_S, dear_later), 0.30, 0.05)
    assert waits.net_kw(0.20) == pytest.approx(need_kw)  # later is cheaper: only what the band needs
    assert heats.net_kw(0.20) == pytest.approx(most_kw)  # later is dearer: heat to the band's top now
    # the building's willingness: the later price less the stored heat's leak by the end of its slack
    # (tau = C / UA = 50 h; 21 -> 20 deg C unheated at 0 deg C takes 50 ln(21/20) = 2.44 h: 9 slots)
    space_step = [s for s in heats.steps if s.device == "heat_pump:space" and s.price_eur_per_kwh < math.inf]
    assert space_step[0].price_eur_per_kwh == pytest.approx(0.40 * math.exp(-9 * 0.25 / 50.0))


def test_a_heat_pump_run_records_energy_and_keeps_the_balances() -> None:
    """A January day, half the homes with heat pumps, bid curves: the recorded energy is the devices'."""
    model = run_to_end(
        hourly(**{"start": "2026-01-15", "penetration.heat_pump": 0.5, "bidding.mode": "curves", **PGM})
    )
    s = model.summary
    assert s is not None
    pumps = [h.devices.heat_pump for h in model.households if h.devices.heat_pump is not None]
    assert len(pumps) == round(0.5 * len(model.households))
    assert s["heat_pump_kwh"] == pytest.approx(sum(p.electric_kwh for p in pumps), rel=1e-9)
    assert s["consumption_kwh"] == pytest.approx(
        s["base_load_kwh"] + s["ev_kwh"] + s["appliance_kwh"] + s["heat_pump_kwh"], rel=1e-12
    )
    assert s["season"] == "winter"
    assert s["comfort_violation_kh"] == 0.0


def test_too_small_heat_pumps_report_their_violation_in_the_summary() -> None:
    model = run_to_end(
        hourly(**{"start": "2026-01-15", "penetration.heat_pump": 0.2, "heat_pump.power_kw": 0.5, **PGM})
    )
    s = model.summary
    assert s is not None
    assert s["comfort_violation_kh"] > 0
    recorded = sum(r["comfort_violation_kh"] for r in model.interval_rows)
    assert s["comfort_violation_kh"] == pytest.approx(recorded)


def test_a_three_phase_heat_pump_draws_a_third_on_each_phase() -> None:
    """Household 0 (phase a): 1 kW base load and a 3 kW three-phase unit, so 1 + 1 kW on a, 1 on b and c.

    Household 1 (phase c) runs a 2 kW single-phase unit: all 2 kW on c.
    """
    where = Connections(np.array([0, 2]), np.array([False, False]), np.array([0, 1]), np.array([True, False]))
    p = injections(np.array([-4.0, -2.0]), np.zeros(2), where, np.array([-3.0, -2.0]))
    np.testing.assert_allclose(p, [[-2.0, -1.0, -1.0], [0.0, 0.0, -2.0]])
    model = Model(hourly(**{"penetration.heat_pump": 0.5, "heat_pump.three_phase_share": 0.5}))
    pumps = [h.devices.heat_pump for h in model.households if h.devices.heat_pump is not None]
    assert 0 < sum(p.three_phase for p in pumps) < len(pumps)  # the scenario's share, drawn per unit
