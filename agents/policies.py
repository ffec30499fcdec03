"""Device policies: how a household schedules its devices before it trades.

A policy looks at every device's flexibility for the coming interval and
returns a :class:`DevicePlan`; the household trades the resulting net position
and its devices then follow the plan. Policies are registered by name in
:data:`DEVICE_POLICIES`.
"""

from dataclasses import dataclass, field
from typing import Protocol

from agents.devices import EV, Battery, ShiftableAppliance


@dataclass
class DevicePlan:
    """Average powers of one household's devices over an interval (injection positive)."""

    pv_kw: float = 0.0
    pv_curtailed_kw: float = 0.0
    battery_kw: float = 0.0
    ev_kw: float = 0.0
    appliance_kw: list[float] = field(default_factory=list)

    def net_kw(self, base_load_kw: float) -> float:
        """Net injection of the household if it follows the plan."""
        return self.pv_kw + self.battery_kw + self.ev_kw + sum(self.appliance_kw) - base_load_kw


@dataclass
class Devices:
    """What one household owns besides its base load."""

    pv_kwp: float = 0.0
    export_limit_kw: float | None = None
    battery: Battery | None = None
    ev: EV | None = None
    appliances: list[ShiftableAppliance] = field(default_factory=list)


class DevicePolicy(Protocol):
    """The interface every device policy implements."""

    name: str

    def plan(
        self, devices: Devices, base_load_kw: float, pv_kw: float, t0_s: float, t1_s: float
    ) -> DevicePlan:
        """Schedule the devices for [t0, t1)."""
        ...


class SelfConsumption:
    """Rule-based: PV serves the home first, then the battery, then the market.

    1. Base load, running or due appliance cycles and the EV's charging mode
       (full power if ``immediate``, the deadline's minimum if ``deadline``) are served.
    2. A pending appliance cycle starts when PV surplus covers it, or, in a
       home without PV, as soon as its window opens.
    3. A ``deadline`` EV takes any remaining PV surplus.
    4. The battery charges from the surplus, or discharges to cover a deficit.
    5. If an export limit is set, PV above it is curtailed.
    """

    name = "self_consumption"

    def plan(
        self, devices: Devices, base_load_kw: float, pv_kw: float, t0_s: float, t1_s: float
    ) -> DevicePlan:
        """Schedule the devices for [t0, t1)."""
        plan = DevicePlan(pv_kw=pv_kw)
        surplus = pv_kw - base_load_kw
        flexes = [a.flexibility(t0_s, t1_s) for a in devices.appliances]
        plan.appliance_kw = [f.p_max_kw for f in flexes]  # waiting (or fixed) by default
        surplus += sum(plan.appliance_kw)
        for i, flex in enumerate(flexes):
            extra = flex.p_min_kw - flex.p_max_kw  # what starting the cycle adds (negative)
            if flex.discrete and (devices.pv_kwp == 0 or surplus + extra >= 0):
                plan.appliance_kw[i] = flex.p_min_kw
                surplus += extra
        if devices.ev is not None:
            ev_flex = devices.ev.flexibility(t0_s, t1_s)
            plan.ev_kw = devices.ev.preferred_kw(ev_flex)
            surplus += plan.ev_kw
            if devices.ev.charging == "deadline" and surplus > 0:
                extra = min(surplus, plan.ev_kw - ev_flex.p_min_kw)
                plan.ev_kw -= extra
                surplus -= extra
        if devices.battery is not None:
            hours = (t1_s - t0_s) / 3600
            plan.battery_kw = devices.battery.flexibility(hours).clip(-surplus)
            surplus += plan.battery_kw
        if devices.export_limit_kw is not None and surplus > devices.export_limit_kw:
            plan.pv_curtailed_kw = min(surplus - devices.export_limit_kw, pv_kw)
            plan.pv_kw -= plan.pv_curtailed_kw
        return plan


DEVICE_POLICIES: dict[str, type[DevicePolicy]] = {
    "self_consumption": SelfConsumption,
}
