"""Home battery: power and energy limits, losses split between charging and discharging.

The state of many batteries lives in one :class:`BatteryFleet` (a table: one
array per quantity, one row per battery, as pandapower keeps its elements);
a :class:`Battery` is one row's view, so per-interval arithmetic runs across
all batteries at once while each battery keeps its own attributes and methods.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lemgrid.agents.devices.flexibility import Flexibility

# the columns of a fleet: parameters, then the state a dispatch changes
PARAMETERS = (
    "capacity_kwh",
    "power_kw",
    "eta_charge",
    "eta_discharge",
    "soc_min",
    "soc_max",
    "degradation_cost_eur_per_kwh",
)
STATE = ("energy_kwh", "charged_kwh", "discharged_kwh")


class BatteryFleet:
    """Parameters and state of many batteries, one array per quantity (row ``r`` is one battery).

    ``flexibility`` is computed once for all batteries per state: any change of a
    column through a view, or a fleet dispatch, makes it be computed again.
    """

    def __init__(self, n: int) -> None:
        self.capacity_kwh = np.zeros(n)
        self.power_kw = np.zeros(n)
        self.eta_charge = np.zeros(n)
        self.eta_discharge = np.zeros(n)
        self.soc_min = np.zeros(n)
        self.soc_max = np.zeros(n)
        self.degradation_cost_eur_per_kwh = np.zeros(n)
        self.energy_kwh = np.zeros(n)
        self.charged_kwh = np.zeros(n)
        self.discharged_kwh = np.zeros(n)
        self.n = n
        self.version = 0  # bumped on every change; the cached flexibility belongs to one version
        self._flex: tuple[float, int, np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, batteries: Sequence["Battery"]) -> "BatteryFleet":
        """One fleet holding ``batteries`` (in order), which become its rows' views."""
        fleet = cls(len(batteries))
        for name in PARAMETERS + STATE:
            getattr(fleet, name)[:] = [getattr(b, name) for b in batteries]
        for row, b in enumerate(batteries):
            b._fleet, b._row = fleet, row
        return fleet

    def flexibility(self, hours: float) -> tuple[np.ndarray, np.ndarray]:
        """Each battery's ``p_min_kw`` and ``p_max_kw`` over ``hours`` (:meth:`Battery.flexibility`)."""
        cached = self._flex
        if cached is not None and cached[0] == hours and cached[1] == self.version:
            return cached[2], cached[3]
        cap = self.capacity_kwh
        room = self.soc_max * cap - self.energy_kwh
        room = np.where(0.0 > room, 0.0, room)  # max(room, 0.0), as Python's max picks
        stock = self.energy_kwh - self.soc_min * cap
        stock = np.where(0.0 > stock, 0.0, stock)
        charge: np.ndarray = room / self.eta_charge / hours
        charge = np.where(charge < self.power_kw, charge, self.power_kw)  # min(power, charge)
        discharge: np.ndarray = stock * self.eta_discharge / hours
        discharge = np.where(discharge < self.power_kw, discharge, self.power_kw)
        p_min, p_max = -charge, discharge
        self._flex = (hours, self.version, p_min, p_max)
        return p_min, p_max

    def dispatch(self, p_kw: np.ndarray, hours: float) -> np.ndarray:
        """Every battery charges (``p_kw < 0``) or discharges for ``hours``; returns the powers exchanged.

        Each row as :meth:`Battery.dispatch` does it, with the same operations.
        """
        p_min, p_max = self.flexibility(hours)
        p_kw = np.where(p_min > p_kw, p_min, p_kw)  # Flexibility.clip: min(max(p, p_min), p_max)
        p_kw = np.where(p_max < p_kw, p_max, p_kw)
        energy, cap = self.energy_kwh, self.capacity_kwh
        charged = energy - p_kw * hours * self.eta_charge
        top = self.soc_max * cap
        charged = np.where(top < charged, top, charged)
        discharged = energy - p_kw * hours / self.eta_discharge
        bottom = self.soc_min * cap
        discharged = np.where(bottom > discharged, bottom, discharged)
        charging, discharging = p_kw < 0, p_kw > 0
        self.energy_kwh = np.where(charging, charged, np.where(discharging, discharged, energy))
        self.charged_kwh = np.where(charging, self.charged_kwh - p_kw * hours, self.charged_kwh)
        self.discharged_kwh = np.where(discharging, self.discharged_kwh + p_kw * hours, self.discharged_kwh)
        self.version += 1
        return p_kw


class _Column:
    """A battery's attribute stored in its fleet's column of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, battery: "Battery | None", owner: type | None = None) -> Any:
        if battery is None:
            return self
        return float(getattr(battery._fleet, self.name)[battery._row])

    def __set__(self, battery: "Battery", value: float) -> None:
        fleet = battery._fleet
        getattr(fleet, self.name)[battery._row] = value
        fleet.version += 1


class Battery:
    """A stationary battery on the household's phase (a view of one row of a :class:`BatteryFleet`).

    The round-trip efficiency is split evenly: energy drawn from the grid is
    stored times ``sqrt(eta)``, energy taken from storage reaches the grid
    times ``sqrt(eta)``. The state of charge never leaves ``[soc_min, soc_max]``.

    Args:
        capacity_kwh: usable nameplate energy.
        power_kw: charge and discharge power limit (AC side).
        round_trip_efficiency: AC-to-AC, in (0, 1].
        soc_min, soc_max, soc_initial: state-of-charge bounds and start, as fractions.
        degradation_cost_eur_per_kwh: cost of one kWh of throughput (charged plus discharged, AC).
    """

    capacity_kwh = _Column()
    power_kw = _Column()
    eta_charge = _Column()
    eta_discharge = _Column()
    soc_min = _Column()
    soc_max = _Column()
    degradation_cost_eur_per_kwh = _Column()
    energy_kwh = _Column()
    charged_kwh = _Column()  # AC energy drawn, cumulative
    discharged_kwh = _Column()  # AC energy delivered, cumulative

    def __init__(
        self,
        capacity_kwh: float,
        power_kw: float,
        round_trip_efficiency: float,
        soc_min: float,
        soc_max: float,
        soc_initial: float,
        degradation_cost_eur_per_kwh: float = 0.0,
    ) -> None:
        self._fleet, self._row = BatteryFleet(1), 0  # its own fleet until one gathers it (BatteryFleet.of)
        self.capacity_kwh = capacity_kwh
        self.power_kw = power_kw
        self.eta_charge = math.sqrt(round_trip_efficiency)
        self.eta_discharge = math.sqrt(round_trip_efficiency)
        self.soc_min = soc_min
        self.soc_max = soc_max
        self.energy_kwh = soc_initial * capacity_kwh
        self.degradation_cost_eur_per_kwh = degradation_cost_eur_per_kwh

    def __deepcopy__(self, memo: dict[int, Any]) -> "Battery":
        """A detached copy in a fleet of its own (copying a view does not copy every other battery)."""
        copy = Battery.__new__(Battery)
        copy._fleet, copy._row = BatteryFleet(1), 0
        for name in PARAMETERS + STATE:
            setattr(copy, name, getattr(self, name))
        return copy

    @property
    def soc(self) -> float:
        """State of charge as a fraction of capacity."""
        return self.energy_kwh / self.capacity_kwh if self.capacity_kwh > 0 else 0.0

    def flexibility(self, hours: float) -> Flexibility:
        """Charge and discharge range over an interval of ``hours``."""
        fleet, row = self._fleet, self._row
        cached = fleet._flex
        if cached is not None and cached[0] == hours and cached[1] == fleet.version:
            return Flexibility(p_min_kw=float(cached[2][row]), p_max_kw=float(cached[3][row]))
        energy, capacity = self.energy_kwh, self.capacity_kwh
        room_kwh = max(self.soc_max * capacity - energy, 0.0)
        stock_kwh = max(energy - self.soc_min * capacity, 0.0)
        charge_kw = min(self.power_kw, room_kwh / self.eta_charge / hours)
        discharge_kw = min(self.power_kw, stock_kwh * self.eta_discharge / hours)
        return Flexibility(p_min_kw=-charge_kw, p_max_kw=discharge_kw)

    def dispatch(self, p_kw: float, hours: float) -> float:
        """Charge (``p_kw < 0``) or discharge for ``hours``; returns the power actually exchanged."""
        p_kw = self.flexibility(hours).clip(p_kw)
        if p_kw < 0:
            self.energy_kwh = min(
                self.energy_kwh - p_kw * hours * self.eta_charge, self.soc_max * self.capacity_kwh
            )
            self.charged_kwh -= p_kw * hours
        elif p_kw > 0:
            self.energy_kwh = max(
                self.energy_kwh - p_kw * hours / self.eta_discharge, self.soc_min * self.capacity_kwh
            )
            self.discharged_kwh += p_kw * hours
        return p_kw

    def degradation_cost_eur(self, p_kw: float, hours: float) -> float:
        """Wear cost of exchanging ``p_kw`` for ``hours``."""
        return abs(p_kw) * hours * self.degradation_cost_eur_per_kwh
