"""Prosumer devices. Each exposes its flexibility for an interval and follows a dispatch.

Sign convention (as everywhere in lemgrid): power injected into the grid is
positive, so charging a battery or an EV, or running an appliance, is a
negative ``p_kw``. Powers are averages over the interval; times are SimPy
seconds since the start of the run.
"""

from lemgrid.agents.devices.appliance import ApplianceCycle, ShiftableAppliance
from lemgrid.agents.devices.battery import Battery
from lemgrid.agents.devices.ev import EV, ChargingSession
from lemgrid.agents.devices.flexibility import Flexibility
from lemgrid.agents.devices.heat_pump import Band, HeatPump

__all__ = [
    "EV",
    "ApplianceCycle",
    "Band",
    "Battery",
    "ChargingSession",
    "Flexibility",
    "HeatPump",
    "ShiftableAppliance",
]
