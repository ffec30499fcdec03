"""What one market interval starts from: the frozen input every stage of the loop reads.

``Model`` builds one :class:`Interval` per step and passes it, with the
previous stage's result, to each stage (:mod:`model.observe`,
:mod:`model.decide`, :mod:`model.clear`, :mod:`model.dispatch`,
:mod:`model.grid_step`, :mod:`model.settle`, :mod:`model.record`). A stage
never reads ``Model``. Sign convention throughout: injection positive.
"""

from dataclasses import dataclass

import numpy as np


class PowerFlowError(RuntimeError):
    """A power flow failed and the scenario says to abort (``grid.on_nonconvergence=abort``)."""


@dataclass(frozen=True)
class Interval:
    """One interval's time and what the households see when it starts.

    Attributes:
        k: interval number since the start of the run.
        t0_s, t1_s: start and end, seconds since the start of the run.
        hours: interval length.
        intervals_per_day: intervals in a day.
        base_load_kw, pv_kw: each household's base load and available PV output.
        load_kvar: each household's reactive load (kvar, drawn at a fixed power factor).
        price_signal: the factor on every price the households see (1 unless attacked).
        retail_price_eur_per_kwh, feed_in_tariff_eur_per_kwh: the retailer's prices.
        network_import_eur_per_kwh: the network tariff's import charge published for the interval
            (paid to the DSO on top of the retail price on each kWh bought from the retailer).
        last_price_eur_per_kwh: the last local price (None before the first trade).
        last_supply_voltage_pu: each household's supply voltage in the previous interval (NaN at first).
    """

    k: int
    t0_s: float
    t1_s: float
    hours: float
    intervals_per_day: int
    base_load_kw: np.ndarray
    pv_kw: np.ndarray
    load_kvar: np.ndarray
    price_signal: float
    retail_price_eur_per_kwh: float
    feed_in_tariff_eur_per_kwh: float
    last_price_eur_per_kwh: float | None
    last_supply_voltage_pu: np.ndarray
    network_import_eur_per_kwh: float = 0.0

    @property
    def import_price_eur_per_kwh(self) -> float:
        """What a kWh bought from the retailer costs: the retail price and the network charge."""
        return self.retail_price_eur_per_kwh + self.network_import_eur_per_kwh


@dataclass(frozen=True)
class Connections:
    """Where the households connect: bus positions and phases (the DSO may switch phases in place).

    Attributes:
        phase_col: each household's phase column (0, 1, 2 for a, b, c); the DSO's phase
            switching changes this array in place.
        ev_three_phase: whether each household's EV charger draws on all three phases.
        bus_pos: position of each household's bus in the feeder's bus order.
        heat_pump_three_phase: whether each household's heat pump is a three-phase unit (None: none is).
        three_phase: whether each participant's whole connection is three-phase, its net split evenly
            over the phases (the community battery; None: none is).
    """

    phase_col: np.ndarray
    ev_three_phase: np.ndarray
    bus_pos: np.ndarray
    heat_pump_three_phase: np.ndarray | None = None
    three_phase: np.ndarray | None = None


def injections(
    net_kw: np.ndarray, ev_kw: np.ndarray, where: Connections, heat_pump_kw: np.ndarray | None = None
) -> np.ndarray:
    """(n, 3) active injections: the net on the household's phase, three-phase units split evenly."""
    rows = np.arange(len(net_kw))
    ev3 = np.where(where.ev_three_phase, ev_kw, 0.0)
    hp3 = where.heat_pump_three_phase
    if heat_pump_kw is not None and hp3 is not None and hp3.any():
        ev3 = ev3 + np.where(hp3, heat_pump_kw, 0.0)
    if where.three_phase is not None:
        ev3 = np.where(where.three_phase, net_kw, ev3)
    p = np.zeros((len(rows), 3))
    p[rows, where.phase_col] = net_kw - ev3
    return p + ev3[:, None] / 3


def reactive(load_kvar: np.ndarray, where: Connections) -> np.ndarray:
    """(n, 3) reactive injections of the households' loads (PV at unity power factor)."""
    q = np.zeros((len(where.phase_col), 3))
    q[np.arange(len(q)), where.phase_col] = -load_kvar
    return q
