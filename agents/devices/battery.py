"""Home battery: power and energy limits, losses split between charging and discharging."""

import math

from lemgrid.agents.devices.flexibility import Flexibility


class Battery:
    """A stationary battery on the household's phase.

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
        self.capacity_kwh = capacity_kwh
        self.power_kw = power_kw
        self.eta_charge = math.sqrt(round_trip_efficiency)
        self.eta_discharge = math.sqrt(round_trip_efficiency)
        self.soc_min = soc_min
        self.soc_max = soc_max
        self.energy_kwh = soc_initial * capacity_kwh
        self.degradation_cost_eur_per_kwh = degradation_cost_eur_per_kwh
        self.charged_kwh = 0.0  # AC energy drawn, cumulative
        self.discharged_kwh = 0.0  # AC energy delivered, cumulative

    @property
    def soc(self) -> float:
        """State of charge as a fraction of capacity."""
        return self.energy_kwh / self.capacity_kwh if self.capacity_kwh > 0 else 0.0

    def flexibility(self, hours: float) -> Flexibility:
        """Charge and discharge range over an interval of ``hours``."""
        room_kwh = max(self.soc_max * self.capacity_kwh - self.energy_kwh, 0.0)
        stock_kwh = max(self.energy_kwh - self.soc_min * self.capacity_kwh, 0.0)
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
