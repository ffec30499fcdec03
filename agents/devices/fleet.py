"""Every household's devices, kind by kind, as arrays indexed by household (struct of arrays).

A :class:`Fleet` gathers the devices of a run's households once: the batteries'
parameters and state become one :class:`~agents.devices.battery.BatteryFleet`
(each ``Battery`` stays a view of its row), and each kind records which household
owns which device. The interval stages then run the rule-based policies, the
dispatch and the bid steps as array arithmetic across households, with the same
floating-point operations, in the same order, as each device's own methods.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from lemgrid.agents.devices.battery import BatteryFleet


def python_sum(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per row, what Python's ``sum()`` of the row's present values gives, bit for bit.

    Python (>= 3.12) adds floats with Neumaier's compensation (Neumaier 1974,
    ZAMM 54:39, as CPython's ``builtin_sum``): the first value is added to the
    integer 0, each later one with its rounding error carried aside, and the
    carried error is added at the end when it is finite and not zero.
    An empty row sums to 0.0.
    """
    n, width = values.shape
    total = np.zeros(n)
    carried = np.zeros(n)
    started = np.zeros(n, dtype=bool)
    for j in range(width):
        x, here = values[:, j], present[:, j]
        first = here & ~started
        t = total + x
        error = np.where(np.abs(total) >= np.abs(x), (total - t) + x, (x - t) + total)
        later = here & started
        carried = np.where(later, carried + error, carried)
        total = np.where(first, 0.0 + x, np.where(later, t, total))
        started |= here
    with np.errstate(invalid="ignore"):
        add = (carried != 0) & np.isfinite(carried)
    return np.where(add, total + carried, total)


class Fleet:
    """The devices of ``devices`` (one entry per household, in household order), by kind.

    Attributes:
        members: the households' :class:`~agents.policies.Devices`, each with ``fleet`` set to this.
        pv_kwp, export_limit_kw: per household (no export limit: NaN).
        batteries: the batteries' table; ``battery_owner[r]`` is the household of row ``r``.
        ev_owner, evs: the households with an EV and their EVs.
        heat_pump_owner: the households with a heat pump.
        appliances: per household, its shiftable appliances (``n_appliances`` of them).
    """

    def __init__(self, devices: Sequence[Any]) -> None:
        self.members = list(devices)
        self.n = n = len(self.members)
        self.pv_kwp = np.array([d.pv_kwp for d in self.members], dtype=float).reshape(n)
        self.export_limit_kw = np.array(
            [np.nan if d.export_limit_kw is None else d.export_limit_kw for d in self.members], dtype=float
        ).reshape(n)
        owners = [i for i, d in enumerate(self.members) if d.battery is not None]
        self.battery_owner = np.array(owners, dtype=np.int64)
        self.batteries = BatteryFleet.of([self.members[i].battery for i in owners])
        owners = [i for i, d in enumerate(self.members) if d.ev is not None]
        self.ev_owner = np.array(owners, dtype=np.int64)
        self.evs = [self.members[i].ev for i in owners]
        self.heat_pump_owner = [i for i, d in enumerate(self.members) if d.heat_pump is not None]
        self.n_appliances = np.array([len(d.appliances) for d in self.members], dtype=np.int64).reshape(n)
        self.appliance_width = int(self.n_appliances.max(initial=0))
        self.owns = self.n_appliances > 0  # households with a device in the fleet
        for owners in (self.battery_owner, self.ev_owner, self.heat_pump_owner):
            self.owns[owners] = True
        for d in self.members:
            d.fleet = self

    @staticmethod
    def of(devices: Sequence[Any]) -> "tuple[Fleet, np.ndarray] | None":
        """The fleet shared by ``devices`` (one per household) and which of them it holds, or None.

        A household outside the fleet (the community manager, or devices built by hand)
        is planned and dispatched by its own devices' methods.
        """
        fleet = next((d.fleet for d in devices if d.fleet is not None), None)
        if fleet is None or fleet.n != len(devices):
            return None
        members = np.fromiter((d is m for d, m in zip(devices, fleet.members, strict=True)), bool, len(devices))
        if (fleet.owns & ~members).any():  # a fleet device whose household is not there: not this fleet's run
            return None
        return fleet, members

    def ev_flexibility(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each EV's ``p_min_kw``, ``p_max_kw``, and whether it charges ``immediate`` or to its ``deadline``."""
        flex = [ev.flexibility(t0_s, t1_s) for ev in self.evs]
        m = len(flex)
        p_min = np.fromiter((f.p_min_kw for f in flex), float, m)
        p_max = np.fromiter((f.p_max_kw for f in flex), float, m)
        immediate = np.fromiter((ev.charging == "immediate" for ev in self.evs), bool, m)
        deadline = np.fromiter((ev.charging == "deadline" for ev in self.evs), bool, m)
        return p_min, p_max, immediate, deadline

    def appliance_flexibility(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per household and appliance slot: ``p_min_kw``, ``p_max_kw`` and ``discrete`` (absent: 0, 0, False)."""
        shape = (self.n, self.appliance_width)
        p_min, p_max, discrete = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
        for i in np.flatnonzero(self.n_appliances).tolist():
            for j, a in enumerate(self.members[i].appliances):
                f = a.flexibility(t0_s, t1_s)
                p_min[i, j], p_max[i, j], discrete[i, j] = f.p_min_kw, f.p_max_kw, f.discrete
        return p_min, p_max, discrete
