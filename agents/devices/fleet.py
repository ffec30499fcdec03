"""Every household's devices, kind by kind, as arrays indexed by household (struct of arrays).

A :class:`Fleet` gathers the devices of a run's households once: the batteries'
parameters and state become one :class:`~agents.devices.battery.BatteryFleet`
(each ``Battery`` stays a view of its row), and each kind records which household
owns which device. The interval stages then run the rule-based policies, the
dispatch and the bid steps as array arithmetic across households, with the same
floating-point operations, in the same order, as each device's own methods.
"""

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from lemgrid.agents.devices.appliance import ApplianceFleet
from lemgrid.agents.devices.battery import BatteryFleet
from lemgrid.agents.devices.ev import EVFleet
from lemgrid.agents.devices.flexibility import python_sum

__all__ = ["Fleet", "python_sum"]


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
        with_ev = [i for i, d in enumerate(self.members) if d.ev is not None]
        self.ev_owner = np.array(with_ev, dtype=np.int64)
        self.evs = EVFleet([self.members[i].ev for i in with_ev])
        self.heat_pump_owner = [i for i, d in enumerate(self.members) if d.heat_pump is not None]
        self.n_appliances = np.array([len(d.appliances) for d in self.members], dtype=np.int64).reshape(n)
        self.appliance_width = int(self.n_appliances.max(initial=0))
        slots = [(i, j) for i, d in enumerate(self.members) for j in range(len(d.appliances))]
        self.appliance_owner = np.array([i for i, _ in slots], dtype=np.int64)
        self.appliance_slot = np.array([j for _, j in slots], dtype=np.int64)
        self.appliances = ApplianceFleet([self.members[i].appliances[j] for i, j in slots])
        self.owns = self.n_appliances > 0  # households with a device in the fleet
        for owned in (self.battery_owner, self.ev_owner, self.heat_pump_owner):
            self.owns[owned] = True
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
        members = np.fromiter(map(operator.is_, devices, fleet.members), bool, len(devices))
        if (fleet.owns & ~members).any():  # a fleet device whose household is not there: not this fleet's run
            return None
        return fleet, members

    @staticmethod
    def split(households: Sequence[Any]) -> "tuple[Fleet | None, list[int]]":
        """The fleet the households' devices share (or None) and the positions of the households outside it.

        The fleet's households are computed from its tables at once; those outside it
        (all of them without a fleet) by their own devices' methods, one by one.
        """
        found = Fleet.of([h.devices for h in households])
        if found is None:
            return None, list(range(len(households)))
        return found[0], np.flatnonzero(~found[1]).tolist()

    def ev_flexibility(
        self, t0_s: float, t1_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each EV's ``p_min_kw``, ``p_max_kw``, and whether it charges ``immediate`` or to a ``deadline``."""
        p_min, p_max = self.evs.flexibility(t0_s, t1_s)[:2]
        return p_min, p_max, self.evs.immediate, self.evs.deadline

    def appliance_flexibility(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per household and appliance slot: ``p_min_kw``, ``p_max_kw``, ``discrete`` (none: 0, 0, False)."""
        shape = (self.n, self.appliance_width)
        p_min, p_max, discrete = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
        at = (self.appliance_owner, self.appliance_slot)
        p_min[at], p_max[at], discrete[at] = self.appliances.flexibility(t0_s, t1_s)[:3]
        return p_min, p_max, discrete

    def dispatch_appliances(self, p_kw: np.ndarray, t0_s: float, t1_s: float) -> np.ndarray:
        """Every appliance runs at ``p_kw`` (per household and slot) as far as it can; returns the powers."""
        at = (self.appliance_owner, self.appliance_slot)
        done = np.zeros((self.n, self.appliance_width))
        done[at] = self.appliances.dispatch(p_kw[at], t0_s, t1_s)
        return done
