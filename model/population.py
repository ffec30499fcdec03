"""Who is simulated: each household's place on the feeder, its devices and their parameters.

Each concern draws from its own random stream (spawned from the model's
``rng``), so changing, say, EV penetration leaves every household's base load,
PV system and battery exactly as they were: scenarios compare like with like.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lemgrid.agents.devices import (
    EV,
    ApplianceCycle,
    Band,
    Battery,
    ChargingSession,
    HeatPump,
    ShiftableAppliance,
)
from lemgrid.agents.devices.fleet import Fleet
from lemgrid.agents.policies import Devices
from lemgrid.agents.profiles import base_load_kw, clear_sky_index, pv_ac_kw
from lemgrid.agents.strategies import largest_remainder
from lemgrid.grid.feeders import FEEDERS, Feeder, assign_phases, feeder_from_files, load_feeder
from lemgrid.model import community
from lemgrid.model.interval import Connections
from lemgrid.model.scenario import Scenario, ScenarioError
from lemgrid.model.weather import outdoor_temperature_c

STREAMS = (
    "households",
    "pv",
    "battery",
    "ev",
    "flexible_load",
    "weather",
    "phases",
    "market",
    "attack",
    "strategies",
    "heat_pump",  # last: spawning one more stream leaves the others as they were
)


def feeder_for(scenario: Scenario) -> Feeder:
    """The scenario's feeder: a ready-made one by name, or the user's files."""
    section = scenario.feeder
    if section.name in FEEDERS:
        return community.with_connection(load_feeder(section.name), scenario)
    try:
        feeder = feeder_from_files(
            str(section.file), section.households_file, derive_three_phase=section.three_phase == "derive"
        )
    except ValueError as exc:
        raise ScenarioError(f"scenario field {exc}") from None
    return community.with_connection(feeder, scenario)


def random_streams(rng: np.random.Generator) -> dict[str, np.random.Generator]:
    """One independent generator per concern, derived deterministically from ``rng``."""
    return dict(zip(STREAMS, rng.spawn(len(STREAMS)), strict=True))


def _owners(rng: np.random.Generator, n: int, share: float, prefer: np.ndarray | None = None) -> np.ndarray:
    """Exactly ``round(share * n)`` owners at random, taken from ``prefer`` first if given."""
    count = int(round(share * n))
    order = rng.permutation(n)
    if prefer is not None:
        order = np.concatenate([order[prefer[order]], order[~prefer[order]]])
    owners = np.zeros(n, dtype=bool)
    owners[order[:count]] = True
    return owners


def _charged_before_start(stay: ChargingSession, charger_kw: float, charging: str) -> float:
    """Energy a stay that began before the run has already charged at its start (t = 0).

    The car has been home since the evening before; without this, every car
    would start its whole night's need at the first interval together, a
    synchronised burst no feeder sees. The charging mode says how much is
    done: immediate charging at full power since arrival, deadline charging
    only what the hours left cannot fit.
    """
    need = stay.energy_needed_kwh
    if charging == "immediate":
        return min(need, charger_kw * max(-stay.arrival_s, 0.0) / 3600)
    return max(need - charger_kw * stay.departure_s / 3600, 0.0)


def draw_population(
    scenario: Scenario, feeder: Feeder, streams: dict[str, np.random.Generator]
) -> pd.DataFrame:
    """One row per household: place on the feeder, consumption, devices and strategy."""
    pop = community.households_only(feeder.households)
    unknown = sorted(set(scenario.feeder.phase_overrides) - set(pop.household))
    if unknown:
        raise ScenarioError(
            f"scenario field 'feeder.phase_overrides' names households {unknown} that feeder "
            f"{feeder.name!r} does not have; its households are "
            f"{pop.household.iloc[0]} ... {pop.household.iloc[-1]}"
        )
    if scenario.feeder.phase_assignment != "feeder":
        pop["phase"] = assign_phases(len(pop), scenario.feeder.phase_assignment, streams["phases"])
    switching = scenario.dso.phase_switching
    pop["phase_switchable"] = _owners(
        streams["phases"], len(pop), switching.share_switchable if switching.enabled else 0.0
    )
    for name, phase in scenario.feeder.phase_overrides.items():
        pop.loc[pop.household == name, "phase"] = phase
    n = len(pop)
    hh, pen = scenario.households, scenario.penetration

    rng = streams["households"]
    pop["annual_consumption_kwh"] = hh.annual_consumption_kwh.sample(rng, n)
    pop["profile_shift_minutes"] = rng.integers(
        -hh.profile_shift_max_minutes, hh.profile_shift_max_minutes + 1, n
    )

    rng = streams["pv"]
    has_pv = _owners(rng, n, pen.pv)
    pop["has_pv"] = has_pv
    pop["pv_kwp"] = np.where(has_pv, scenario.pv.kwp.sample(rng, n), 0.0)
    pop["pv_tilt_deg"] = np.where(has_pv, scenario.pv.tilt_deg.sample(rng, n), np.nan)
    pop["pv_azimuth_deg"] = np.where(has_pv, scenario.pv.azimuth_deg.sample(rng, n), np.nan)

    rng = streams["battery"]
    has_battery = _owners(rng, n, pen.battery, prefer=has_pv)
    pop["has_battery"] = has_battery
    pop["battery_capacity_kwh"] = np.where(has_battery, scenario.battery.capacity_kwh.sample(rng, n), 0.0)
    pop["battery_power_kw"] = np.where(has_battery, scenario.battery.power_kw.sample(rng, n), 0.0)

    rng = streams["ev"]
    has_ev = _owners(rng, n, pen.ev)
    pop["has_ev"] = has_ev
    pop["ev_charger_kw"] = np.where(has_ev, scenario.ev.charger_kw.sample(rng, n), 0.0)

    pop["has_flexible_load"] = _owners(streams["flexible_load"], n, pen.flexible_load)
    _draw_heat_pumps(pop, scenario, streams["heat_pump"])
    # exact counts per strategy (largest remainder), placed at random: the same seed, the same mix
    counts = largest_remainder(hh.strategy, n)
    names = np.array([name for name, count in counts.items() for _ in range(count)], dtype=object)
    pop["strategy"] = names[streams["strategies"].permutation(n)]
    pop["device_policy"] = hh.device_policy
    return community.with_manager(pop, scenario, feeder)


def _draw_heat_pumps(pop: pd.DataFrame, scenario: Scenario, rng: np.random.Generator) -> None:
    """Heat-pump owners and their parameters (columns of ``pop``; zeros for non-owners)."""
    n, hp = len(pop), scenario.heat_pump
    has = _owners(rng, n, scenario.penetration.heat_pump)
    pop["has_heat_pump"] = has
    for name in (
        "power_kw",
        "ua_kw_per_k",
        "heat_capacity_kwh_per_k",
        "tank_litres",
        "hot_water_kwh_per_day",
    ):
        pop[f"heat_pump_{name}"] = np.where(has, getattr(hp, name).sample(rng, n), 0.0)
    pop["heat_pump_three_phase"] = has & (rng.random(n) < hp.three_phase_share)


# share of the day's hot water drawn in each local hour (assumed: morning and evening peaks)
HOT_WATER_SHARE_BY_HOUR = (
    np.array([0, 0, 0, 0, 0, 2, 4, 12, 12, 6, 4, 4, 6, 4, 3, 3, 4, 6, 8, 8, 6, 4, 2, 2], dtype=float) / 100
)


def _add_heat_pumps(
    devices: list[Devices],
    scenario: Scenario,
    pop: pd.DataFrame,
    start: pd.Timestamp,
    profiles: "Profiles | None",
) -> None:
    """Each heat-pump household's unit, building and tank, with the run's outdoor temperature and draws.

    The outdoor temperature is the ``profiles``' (None: the scenario's weather, computed here).
    """
    if not pop.has_heat_pump.any():
        return
    hp = scenario.heat_pump
    times = pd.date_range(start, periods=scenario.n_intervals, freq=f"{scenario.interval_minutes}min")
    outdoor_c = outdoor_temperature_c(scenario, times) if profiles is None else profiles.outdoor_temperature_c
    share = HOT_WATER_SHARE_BY_HOUR[times.hour.to_numpy()]  # kW per kWh of daily draw
    for d, row in zip(devices, pop.itertuples(), strict=True):
        if not row.has_heat_pump:
            continue
        d.heat_pump = HeatPump(
            float(row.heat_pump_power_kw),
            float(row.heat_pump_ua_kw_per_k),
            float(row.heat_pump_heat_capacity_kwh_per_k),
            Band(hp.comfort_min_c, hp.comfort_max_c),
            Band(hp.tank_min_c, hp.tank_max_c),
            float(row.heat_pump_tank_litres) * 4.186 / 3600,  # water: 4.186 kJ/(kg K), 1 kg per litre
            outdoor_c,
            float(row.heat_pump_hot_water_kwh_per_day) * share,
            scenario.interval_minutes * 60,
            hp.space_sink_c,
            hp.water_sink_c,
            tuple(hp.cop_coefficients),  # type: ignore[arg-type]
            bool(row.heat_pump_three_phase),
        )


def build_devices(
    scenario: Scenario,
    pop: pd.DataFrame,
    start: pd.Timestamp,
    streams: dict[str, np.random.Generator],
    profiles: "Profiles | None" = None,
) -> list[Devices]:
    """Each household's devices, with EV stays and appliance windows laid out over the run.

    ``start`` is the run's first instant (local midnight); device times are
    seconds after it. The ``profiles``' outdoor temperature (None: the scenario's
    weather) sets the heat pumps' demand and COP. Days are calendar days of the site, so windows follow the
    local clock across daylight-saving changes.
    """
    days = scenario.days

    def seconds(day: int, hour: float) -> float:
        midnight = (start + pd.DateOffset(days=day)).normalize()
        return (midnight + pd.Timedelta(hours=hour) - start).total_seconds()

    devices = [Devices() for _ in range(len(pop))]
    for d, row in zip(devices, pop.itertuples(), strict=True):
        d.pv_kwp = float(row.pv_kwp)
        if scenario.pv.export_limit_fraction_of_kwp is not None and row.has_pv:
            d.export_limit_kw = scenario.pv.export_limit_fraction_of_kwp * d.pv_kwp
        if row.has_battery:
            b = scenario.battery
            d.battery = Battery(
                float(row.battery_capacity_kwh),
                float(row.battery_power_kw),
                b.round_trip_efficiency,
                b.soc_min,
                b.soc_max,
                b.soc_initial,
                b.degradation_cost_eur_per_kwh,
            )

    rng = streams["ev"]
    ev = scenario.ev
    for d, row in zip(devices, pop.itertuples(), strict=True):
        if not row.has_ev:
            continue
        # stays start the evening before the run, so the car is home at the first midnight
        arrive = ev.arrival_hour.sample(rng, days + 1)
        leave = ev.departure_hour.sample(rng, days + 1)
        energy = ev.energy_kwh.sample(rng, days + 1)
        sessions = [
            ChargingSession(seconds(day, arrive[i]), seconds(day, leave[i]), float(energy[i]))
            for i, day in enumerate(range(-1, days))
        ]
        sessions[0].delivered_kwh = _charged_before_start(sessions[0], float(row.ev_charger_kw), ev.charging)
        d.ev = EV(float(row.ev_charger_kw), sessions, ev.charging)

    _add_appliances(devices, scenario, pop, streams["flexible_load"], seconds)
    _add_heat_pumps(devices, scenario, pop, start, profiles)
    Fleet(devices)  # the devices' state as arrays across households; each device is a view of its row
    return devices


def three_phase(devices: list[Devices]) -> tuple[np.ndarray, np.ndarray]:
    """Whether each household's EV charger, and its heat pump, draws on all three phases."""
    ev3 = np.array([d.ev is not None and d.ev.three_phase for d in devices])
    hp3 = np.array([d.heat_pump is not None and d.heat_pump.three_phase for d in devices])
    return ev3, hp3


def connections(
    scenario: Scenario, pop: pd.DataFrame, devices: list[Devices], phase_col: np.ndarray, feeder: Feeder
) -> Connections:
    """Where every participant connects: bus, phase, and which devices or connections are three-phase."""
    ev3, hp3 = three_phase(devices)
    whole3 = community.three_phase(pop, scenario)
    return Connections(phase_col, ev3, feeder.bus_positions(pop.bus), hp3, whole3 if whole3.any() else None)


def _add_appliances(
    devices: list[Devices],
    scenario: Scenario,
    pop: pd.DataFrame,
    rng: np.random.Generator,
    seconds: Callable[[int, float], float],
) -> None:
    """Each flexible-load household's appliances, with one cycle window on each day it runs."""
    days = scenario.days
    interval_s = scenario.interval_minutes * 60
    for d, row in zip(devices, pop.itertuples(), strict=True):
        if not row.has_flexible_load:
            continue
        for i, spec in enumerate(scenario.flexible_load.appliances):
            runs = rng.random(days) < spec.probability_per_day
            cycles = []
            for day in np.flatnonzero(runs):
                open_s = seconds(int(day), spec.earliest_start_hour)
                close_s = seconds(int(day), spec.latest_finish_hour)
                first_start = np.ceil(open_s / interval_s) * interval_s
                if first_start + spec.duration_minutes * 60 > close_s:
                    raise ScenarioError(
                        f"scenario field 'flexible_load.appliances.{i}' ({spec.name}): no "
                        f"{scenario.interval_minutes}-minute boundary in its window "
                        f"{spec.earliest_start_hour}-{spec.latest_finish_hour} h "
                        f"lets a {spec.duration_minutes}-minute cycle finish in time; widen the window"
                    )
                cycles.append(ApplianceCycle(open_s, close_s))
            d.appliances.append(
                ShiftableAppliance(spec.name, spec.power_kw, spec.duration_minutes * 60, cycles)
            )


@dataclass(frozen=True)
class Profiles:
    """Each household's base load, reactive load and PV output per interval, (n, n_intervals)."""

    load_kw: np.ndarray
    load_kvar: np.ndarray
    pv_kw: np.ndarray
    clearness: np.ndarray  # the clear-sky index per interval
    outdoor_temperature_c: np.ndarray  # mid-interval air temperature


def draw_profiles(
    cfg: Scenario, pop: pd.DataFrame, times: pd.DatetimeIndex, streams: dict[str, np.random.Generator]
) -> Profiles:
    """Base load (BDEW H0 with noise) and PV output (clear sky times a weather index) of every household."""
    load_kw = base_load_kw(
        times,
        cfg.interval_minutes,
        pop.annual_consumption_kwh.to_numpy(),
        pop.profile_shift_minutes.to_numpy(),
        cfg.households.noise_sigma,
        cfg.households.noise_autocorrelation,
        streams["households"],
    )
    w = cfg.weather
    clearness = clear_sky_index(
        times,
        w.clear_day_probability,
        w.cloudy_day_mean_clearness,
        w.cloudy_variability,
        w.autocorrelation,
        streams["weather"],
    )
    outdoor_c = outdoor_temperature_c(cfg, times)
    pv_kw = np.zeros_like(load_kw)
    has_pv = pop.has_pv.to_numpy()
    if has_pv.any():
        pv_kw[has_pv] = pv_ac_kw(
            times,
            cfg.interval_minutes,
            cfg.site.latitude_deg,
            cfg.site.longitude_deg,
            cfg.site.annual_mean_temperature_c,
            clearness,
            pop.pv_kwp.to_numpy()[has_pv],
            pop.pv_tilt_deg.to_numpy()[has_pv],
            pop.pv_azimuth_deg.to_numpy()[has_pv],
            cfg.pv.inverter_ac_dc_ratio,
            cfg.pv.system_losses,
            cfg.pv.temperature_coefficient_per_k,
            outdoor_c,
        )
    # Households draw reactive power at a fixed power factor; PV inverters run at unity.
    load_kvar = load_kw * np.tan(np.arccos(cfg.households.power_factor))
    return Profiles(load_kw, load_kvar, pv_kw, clearness, outdoor_c)


def attack_targets(
    cfg: Scenario, pop: pd.DataFrame, feeder_name: str, rng: np.random.Generator
) -> np.ndarray:
    """Which households' demand reports the attack manipulates (never the community manager's)."""
    attack = cfg.attack
    names = pop.household.to_numpy()
    if attack.kind != "demand":
        return np.zeros(len(pop), dtype=bool)
    if attack.households:
        unknown = sorted(set(attack.households) - set(names))
        if unknown:
            raise ValueError(
                f"scenario field 'attack.households' names households {unknown} that feeder "
                f"{feeder_name!r} does not have; its households are {list(names[:5])}..."
            )
        return np.isin(names, attack.households)
    # drawn among the households only (the manager's row is the last): a manager changes nobody's draw
    households = np.flatnonzero(~community.is_manager(pop))
    n = len(households)
    chosen = np.zeros(len(pop), dtype=bool)
    chosen[households[rng.permutation(n)[: int(round(attack.share * n))]]] = True
    return chosen
