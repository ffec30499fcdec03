"""The fleet's array arithmetic equals each device's own methods, bit for bit, on random fleets.

Two copies of one random population of households: one gathered into a
:class:`Fleet` (planned, bid and dispatched as arrays), the other detached
(every device on its own, the reference). Interval after interval both plan,
bid and dispatch the same random wishes; every plan, step and state must be
the same float (``repr`` tells ``-0.0`` from ``0.0``).
"""

import copy
import math

import numpy as np
import pytest

from lemgrid.agents.device_curves import Outlook
from lemgrid.agents.devices import EV, ApplianceCycle, Battery, ChargingSession, ShiftableAppliance
from lemgrid.agents.devices.fleet import Fleet, python_sum
from lemgrid.agents.policies import (
    Devices,
    PlanColumns,
    SelfConsumption,
    TimeOfUse,
    dispatch_columns,
    self_consumption_columns,
)
from lemgrid.model.bidding import Band, step_table

Q = 900.0  # seconds per interval
DAYS = 2


def _battery(rng: np.random.Generator) -> Battery:
    kind = rng.integers(4)
    capacity = [0.0, 5.0, 10.0, 13.5][rng.integers(4)]
    start = [0.0, 1.0, 0.1, float(rng.random())][kind]  # empty, full, at its minimum, anywhere
    soc_min, soc_max = (0.0, 1.0) if kind < 2 else (0.1, 0.9)
    power = [0.0, 3.0, 5.0][rng.integers(3)]
    return Battery(
        capacity, power, [1.0, 0.9][rng.integers(2)], soc_min, soc_max, start, 0.01 * rng.integers(2)
    )


def _ev(rng: np.random.Generator) -> EV:
    sessions, t = [], -float(rng.integers(0, 8)) * 3600
    while t < DAYS * 86400:
        # arrivals and departures on and between interval boundaries; back-to-back stays too
        arrive = t + float(rng.choice([0.0, 450.0, 900.0, 3600.0 * rng.random()]))
        leave = arrive + float(rng.choice([300.0, 1800.0, 4 * 3600.0, 13 * 3600.0 + 100.0]))
        sessions.append(ChargingSession(arrive, leave, float(rng.choice([0.0, 3.0, 15.0, 60.0]))))
        t = leave + float(rng.choice([0.0, 600.0, 8 * 3600.0]))
    charger = [0.0, 3.7, 7.4, 11.0][rng.integers(4)]
    return EV(charger, sessions, ["immediate", "deadline"][rng.integers(2)])


def _appliance(rng: np.random.Generator, name: str) -> ShiftableAppliance:
    duration = Q * int(rng.integers(1, 9))
    cycles = []
    for day in range(DAYS):
        if rng.random() < 0.8:
            start = day * 86400 + Q * int(rng.integers(0, 80)) + float(rng.choice([0.0, 300.0]))
            # some windows close exactly one cycle after a boundary: the cycle must start there
            cycles.append(ApplianceCycle(start, start + duration + Q * int(rng.integers(0, 12))))
    return ShiftableAppliance(name, [0.0, 1.0, 2.2][rng.integers(3)], duration, cycles)


def _population(seed: int, n: int = 24) -> list[Devices]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pv = [0.0, 4.0, 8.0][rng.integers(3)]
        d = Devices(pv_kwp=pv, export_limit_kw=0.5 * pv if pv and rng.random() < 0.3 else None)
        d.battery = _battery(rng) if rng.random() < 0.5 else None
        d.ev = _ev(rng) if rng.random() < 0.5 else None
        d.appliances = [_appliance(rng, f"a{j}") for j in range(rng.choice([0, 1, 2, 3]))]
        out.append(d)
    return out


def _same(a: object, b: object) -> bool:
    return repr(a) == repr(b)


def _state(devices: list[Devices]) -> list[str]:
    """Every device's state, exactly."""
    out = []
    for d in devices:
        b = d.battery
        out.append(repr(None if b is None else (b.energy_kwh, b.charged_kwh, b.discharged_kwh)))
        out.append(repr(None if d.ev is None else (d.ev._first, d.ev.sessions)))
        out.append(repr([(a._first, a.cycles) for a in d.appliances]))
    return out


def _wish(rng: np.random.Generator, columns: PlanColumns, n_appliances: np.ndarray) -> PlanColumns:
    """Powers to dispatch: the plan, or anything (outside the limits too, for the clipping)."""
    wish = copy.deepcopy(columns)
    n = len(wish.pv_kw)
    for name in ("battery_kw", "ev_kw"):
        anything = rng.uniform(-15.0, 15.0, n).round(1)
        setattr(wish, name, np.where(rng.random(n) < 0.5, anything, getattr(wish, name)))
    anything = rng.uniform(-3.0, 1.0, wish.appliance_kw.shape).round(1)
    wish.appliance_kw = np.where(rng.random(wish.appliance_kw.shape) < 0.3, anything, wish.appliance_kw)
    wish.n_appliances = n_appliances
    return wish


@pytest.mark.parametrize("seed", range(3))
def test_fleet_plans_bids_and_dispatch_equal_each_devices_own(seed: int) -> None:
    devices = _population(seed)
    reference = copy.deepcopy(devices)  # detached: each device runs its own methods
    fleet = Fleet(devices)
    assert Fleet.of(reference) is None
    rng = np.random.default_rng(1000 + seed)
    n = len(devices)
    policy, tou = SelfConsumption(), TimeOfUse((0, 6), (17, 21))
    for k in range(DAYS * 96):
        t0, t1 = k * Q, (k + 1) * Q
        base, pv = rng.uniform(0, 3, n).round(2), rng.uniform(0, 8, n).round(2) * (rng.random() < 0.6)
        columns = self_consumption_columns(fleet, base, pv, t0, t1)
        own = [
            policy.plan(d, float(b), float(p), t0, t1) for d, b, p in zip(reference, base, pv, strict=True)
        ]
        assert _same(list(columns.plans()), own), k
        # one plan read at a time, from the last, builds the same plans as all at once
        plans = columns.plans()
        assert _same([plans[i] for i in range(-1, -n - 1, -1)][::-1], own), k
        assert _same(list(plans), own) and plans[-1] is plans[n - 1], k
        assert _same(
            columns.net_kw(base).tolist(), [p.net_kw(float(b)) for p, b in zip(own, base, strict=True)]
        )
        tou.adjust_columns(columns, fleet, np.ones(n, dtype=bool), t0, t1)
        own = [tou.plan(d, float(b), float(p), t0, t1) for d, b, p in zip(reference, base, pv, strict=True)]
        assert _same(list(columns.plans()), own), k
        # ties in the forecast, and forecasts shorter than a deadline
        future = Outlook(rng.choice([0.05, 0.1, 0.2, 0.3], size=int(rng.integers(0, 12))))
        band = Band(t0, t1, future, 0.3, 0.08, 0.0)
        tables = [step_table(d, base, pv, band, [None] * n) for d in (devices, reference)]
        for name in ("household", "device", "kw", "price", "discrete"):
            assert _same(getattr(tables[0], name).tolist(), getattr(tables[1], name).tolist()), (k, name)
        wish = _wish(rng, columns, fleet.n_appliances)
        done = dispatch_columns(fleet, wish, t0, t1)
        own = [d.dispatch(p, t0, t1) for d, p in zip(reference, wish.plans(), strict=True)]
        assert _same(list(done.plans()), own), k
        assert _state(devices) == _state(reference), k


@pytest.mark.parametrize("width", [0, 1, 2, 3, 5])
def test_python_sum_is_pythons_sum(width: int) -> None:
    rng = np.random.default_rng(5)
    values = rng.choice([0.0, -0.0, 1e16, -1e16, 1.0, 0.1, -0.3, 3.3e-17, math.inf], size=(4000, width))
    values[:100] = rng.normal(size=(100, width)) * 10.0 ** rng.integers(-20, 20, size=(100, width))
    present = rng.random(values.shape) < 0.7
    got = python_sum(values, present)
    for row, here, total in zip(values, present, got.tolist(), strict=True):
        assert repr(total) == repr(float(sum(row[here].tolist())))


def test_a_battery_is_a_view_of_its_fleets_row() -> None:
    a, b = Battery(10.0, 3.0, 0.81, 0.0, 1.0, 0.5), Battery(4.0, 2.0, 1.0, 0.0, 1.0, 1.0)
    fleet = Fleet([Devices(battery=a), Devices(), Devices(battery=b)])
    assert fleet.battery_owner.tolist() == [0, 2]
    a.dispatch(-3.0, 1.0)  # 3 kWh drawn, 2.7 stored (eta 0.9 each way)
    assert fleet.batteries.energy_kwh.tolist() == [pytest.approx(7.7), 4.0]
    p_min, p_max = fleet.batteries.flexibility(1.0)
    assert p_min.tolist() == [pytest.approx(-2.3 / 0.9), -0.0] and p_max.tolist() == [3.0, 2.0]
    assert copy.deepcopy(a).energy_kwh == a.energy_kwh and copy.deepcopy(a)._fleet is not fleet.batteries
