"""Air-source heat pump: space heating of a 1R1C building and a hot-water tank, each within a comfort band.

Building (one resistance, one capacitance): ``C dT/dt = Q - UA (T - T_out)``,
integrated exactly over an interval with constant heat ``Q`` and outdoor
temperature (``T(h) = T_inf + (T0 - T_inf) exp(-h UA / C)``, ``T_inf = T_out + Q / UA``).
Tank (fully mixed, no standing losses): ``c_tank dT/dt = Q_w - D`` with the
household's hot-water draw ``D``. Heat is bought as electricity at the COP of
each use: the quadratic fit of Ruhnau, Hirth and Praktiknjo (2019, Sci. Data 6:189,
eq. 3, air-source) to manufacturers' data, ``COP = a + b dT + c dT^2`` with
``dT = T_sink - T_out`` (defaults a = 6.08, b = -0.09, c = 0.0005).

The flexibility is the comfort band: the least power keeps indoor and tank
temperatures at their band's lower edge at the end of the interval, the most
brings them to the upper edge, both within the electrical rating. When the
least exceeds the rating, the temperature falls below the band and the
shortfall is recorded (kelvin-hours), never hidden.
"""

import math
from dataclasses import dataclass

import numpy as np

from lemgrid.agents.devices.flexibility import Flexibility

# Ruhnau et al. (2019), eq. 3, air-source heat pumps: COP = 6.08 - 0.09 dT + 0.0005 dT^2
RUHNAU_ASHP = (6.08, -0.09, 0.0005)


def cop(sink_c: float, outdoor_c: float, coefficients: tuple[float, float, float] = RUHNAU_ASHP) -> float:
    """Coefficient of performance lifting heat from ``outdoor_c`` to ``sink_c`` (quadratic in the lift)."""
    a, b, c = coefficients
    lift = max(sink_c - outdoor_c, 0.0)
    return a + b * lift + c * lift * lift


@dataclass(frozen=True)
class Band:
    """A temperature band (deg C) a store must stay in."""

    min_c: float
    max_c: float


class HeatPump:
    """One household's heat pump, its building and its hot-water tank.

    Args:
        power_kw: electrical rating (both uses together).
        ua_kw_per_k: the building's heat-loss coefficient.
        heat_capacity_kwh_per_k: the building's thermal capacitance.
        comfort: the indoor band; tank: the hot-water band.
        tank_kwh_per_k: the tank's heat capacity (litres x 4.186 / 3600).
        outdoor_c: outdoor temperature per interval of the run.
        hot_water_kw: hot-water draw (heat) per interval of the run.
        interval_s: interval length.
        space_sink_c, water_sink_c: the sink temperatures the COP is computed for.
        cop_coefficients: (a, b, c) of the COP quadratic.
        three_phase: whether the unit draws evenly on three phases.
    """

    def __init__(
        self,
        power_kw: float,
        ua_kw_per_k: float,
        heat_capacity_kwh_per_k: float,
        comfort: Band,
        tank: Band,
        tank_kwh_per_k: float,
        outdoor_c: np.ndarray,
        hot_water_kw: np.ndarray,
        interval_s: float,
        space_sink_c: float = 40.0,
        water_sink_c: float = 55.0,
        cop_coefficients: tuple[float, float, float] = RUHNAU_ASHP,
        three_phase: bool = False,
    ) -> None:
        self.power_kw = power_kw
        self.ua_kw_per_k = ua_kw_per_k
        self.heat_capacity_kwh_per_k = heat_capacity_kwh_per_k
        self.comfort = comfort
        self.tank = tank
        self.tank_kwh_per_k = tank_kwh_per_k
        self.outdoor_c = np.asarray(outdoor_c, dtype=float)
        self.hot_water_kw = np.asarray(hot_water_kw, dtype=float)
        self.interval_s = interval_s
        self.space_sink_c = space_sink_c
        self.water_sink_c = water_sink_c
        self.cop_coefficients = cop_coefficients
        self.three_phase = three_phase
        self.indoor_c = (comfort.min_c + comfort.max_c) / 2
        self.tank_c = (tank.min_c + tank.max_c) / 2
        self.electric_kwh = 0.0  # cumulative
        self.space_heat_kwh = 0.0
        self.water_heat_kwh = 0.0
        self.last_comfort_violation_kh = 0.0  # indoor kelvin-hours below the band, last interval
        self.last_tank_violation_kh = 0.0

    @property
    def time_constant_h(self) -> float:
        """The building's time constant C / UA."""
        return self.heat_capacity_kwh_per_k / self.ua_kw_per_k

    def index(self, t0_s: float) -> int:
        """The run's interval index at ``t0_s`` (the last one beyond the run)."""
        return min(int(round(t0_s / self.interval_s)), len(self.outdoor_c) - 1)

    def cops(self, k: int) -> tuple[float, float]:
        """COP of space heating and of hot water in interval ``k``."""
        out = float(self.outdoor_c[min(k, len(self.outdoor_c) - 1)])
        return cop(self.space_sink_c, out, self.cop_coefficients), cop(
            self.water_sink_c, out, self.cop_coefficients
        )

    def _decay(self, hours: float) -> float:
        return math.exp(-hours / self.time_constant_h)

    def indoor_after(self, heat_kw: float, outdoor_c: float, hours: float) -> float:
        """Indoor temperature after ``hours`` of ``heat_kw`` (exact 1R1C solution)."""
        steady = outdoor_c + heat_kw / self.ua_kw_per_k
        return steady + (self.indoor_c - steady) * self._decay(hours)

    def space_heat_for(self, target_c: float, outdoor_c: float, hours: float) -> float:
        """Heat (kW, >= 0) that ends the interval at ``target_c`` indoors."""
        a = self._decay(hours)
        steady = (target_c - a * self.indoor_c) / (1 - a)
        return max(self.ua_kw_per_k * (steady - outdoor_c), 0.0)

    def water_heat_for(self, target_c: float, draw_kw: float, hours: float) -> float:
        """Heat (kW, >= 0) that ends the interval at ``target_c`` in the tank."""
        return max(draw_kw + (target_c - self.tank_c) * self.tank_kwh_per_k / hours, 0.0)

    def ranges(self, t0_s: float, t1_s: float) -> tuple[Flexibility, Flexibility]:
        """Electrical range (injection positive) of space heating and of the tank over [t0, t1).

        Each lower end (most consumption) brings its store to the top of its band,
        each upper end holds it at the bottom; the rating goes to space heating's
        need first, then the tank's need, then to what either could add.
        """
        hours = (t1_s - t0_s) / 3600
        k = self.index(t0_s)
        out, draw = float(self.outdoor_c[k]), float(self.hot_water_kw[min(k, len(self.hot_water_kw) - 1)])
        cop_s, cop_w = self.cops(k)
        must_s = min(self.space_heat_for(self.comfort.min_c, out, hours) / cop_s, self.power_kw)
        must_w = min(self.water_heat_for(self.tank.min_c, draw, hours) / cop_w, self.power_kw - must_s)
        can_s = min(self.space_heat_for(self.comfort.max_c, out, hours) / cop_s, self.power_kw - must_w)
        can_w = min(self.water_heat_for(self.tank.max_c, draw, hours) / cop_w, self.power_kw - must_s)
        space = Flexibility(-max(can_s, must_s), -must_s, urgency=1.0 if must_s >= can_s else 0.0)
        water = Flexibility(-max(can_w, must_w), -must_w, urgency=1.0 if must_w >= can_w else 0.0)
        return space, water

    def flexibility(self, t0_s: float, t1_s: float) -> Flexibility:
        """Both uses together (the rating caps the sum)."""
        space, water = self.ranges(t0_s, t1_s)
        most = max(space.p_min_kw + water.p_min_kw, -self.power_kw)
        least = space.p_max_kw + water.p_max_kw
        return Flexibility(min(most, least), least, urgency=1.0 if most >= least else 0.0)

    def dispatch(self, space_kw: float, water_kw: float, t0_s: float, t1_s: float) -> tuple[float, float]:
        """Heat with ``-space_kw`` and ``-water_kw`` electrical over [t0, t1); returns the powers drawn.

        Each is clipped to its range and the sum to the rating (space heating first);
        the stores advance and any fall below a band is recorded.
        """
        hours = (t1_s - t0_s) / 3600
        space, water = self.ranges(t0_s, t1_s)
        space_kw = space.clip(space_kw)
        water_kw = max(water.clip(water_kw), -self.power_kw - space_kw)
        k = self.index(t0_s)
        out, draw = float(self.outdoor_c[k]), float(self.hot_water_kw[min(k, len(self.hot_water_kw) - 1)])
        cop_s, cop_w = self.cops(k)
        q_s, q_w = -space_kw * cop_s, -water_kw * cop_w
        self.indoor_c = self.indoor_after(q_s, out, hours)
        self.tank_c += (q_w - draw) * hours / self.tank_kwh_per_k
        # a store ending a hair below its band edge from rounding is not a violation
        self.last_comfort_violation_kh = max(self.comfort.min_c - self.indoor_c - 1e-9, 0.0) * hours
        self.last_tank_violation_kh = max(self.tank.min_c - self.tank_c - 1e-9, 0.0) * hours
        self.electric_kwh -= (space_kw + water_kw) * hours
        self.space_heat_kwh += q_s * hours
        self.water_heat_kwh += q_w * hours
        return space_kw, water_kw
