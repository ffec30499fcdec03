"""The lemgrid Mesa model: one ``step()`` is one market interval followed by a power flow.

Per interval: observe the households' load, PV and device flexibility; each
device policy plans its devices and each strategy places orders; clear the
local market; the devices run as planned; the DSO may switch phases; every
household's injection goes on its bus and phase and the three-phase power flow
runs (with PV inverter droops, if on); measure; settle what the meters saw
(the retailer takes the rest) and pass rewards back; record. Settlement comes
after the grid step (DESIGN.md lists it before) because inverter droops can
curtail PV, and households are paid for what was metered.
SimPy's environment is the only clock: ``step()`` advances it by one interval.
"""

import time
import zoneinfo
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from agents.household import Household, Retailer
from agents.policies import DEVICE_POLICIES, DevicePlan
from agents.profiles import base_load_kw, clear_sky_index, pv_ac_kw
from agents.strategies import STRATEGIES, Observation, Order
from grid.controls import Droop, choose_phase_switches, solve_with_inverters
from grid.feeders import PHASES
from grid.metrics import IntervalMetrics, VoltageQuality, interval_metrics
from grid.solver import make_solver
from grid.state import GridState
from model.market import ClearingResult, make_mechanism
from model.population import build_devices, draw_population, feeder_for, random_streams
from model.recorder import Recorder
from model.scenario import Scenario
from model.settlement import Settlement, settle
from model.summary import summarise

PHASES_TIMED = ("decide", "clear", "grid", "record")
_DEVICE_TOTALS = ("base_load_kw", "pv_kw", "pv_curtailed_kw", "battery_kw", "ev_kw", "appliance_kw")


def _stack(done: list[DevicePlan], base_load_kw: np.ndarray) -> dict[str, np.ndarray]:
    """Per-household columns of what the devices did in an interval."""
    pv = np.array([d.pv_kw for d in done])
    battery = np.array([d.battery_kw for d in done])
    ev = np.array([d.ev_kw for d in done])
    appliance = np.array([sum(d.appliance_kw) for d in done])
    return {
        "base_load_kw": base_load_kw.copy(),
        "pv_kw": pv,
        "pv_curtailed_kw": np.array([d.pv_curtailed_kw for d in done]),
        "battery_kw": battery,
        "ev_kw": ev,
        "appliance_kw": appliance,
        "net_injection_kw": np.array(
            [d.net_kw(float(b)) for d, b in zip(done, base_load_kw, strict=True)]
        ),  # one definition of the net position: DevicePlan.net_kw
    }


class PowerFlowError(RuntimeError):
    """A power flow failed and the scenario says to abort (``grid.on_nonconvergence=abort``)."""


class Model(mesa.Model):
    """A local energy market on a three-phase LV feeder, interval by interval.

    Args:
        scenario: what to simulate; ``None`` is the default scenario.
        rng: seed of the run; when given it replaces ``scenario.seed``.
        out_dir: where to write the run's files; ``None`` writes nothing.

    Attributes:
        config: the validated lemgrid scenario (``self.scenario`` is Mesa's own).
        feeder: the feeder the households are connected to.
        population: one row per household with its drawn parameters.
        load_kw, pv_kw: each household's base load and PV output per interval.
        timings: seconds spent in each phase of the loop so far.

    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        rng: int | None = None,
        out_dir: str | Path | None = None,
    ) -> None:
        scenario = scenario or Scenario()
        if rng is not None:
            scenario = scenario.model_copy(update={"seed": int(rng)})
        super().__init__(rng=scenario.seed)
        self.config = scenario
        self.feeder = feeder_for(scenario)
        streams = random_streams(self.rng)
        self.population = draw_population(scenario, self.feeder, streams)
        self.times = pd.date_range(
            pd.Timestamp(scenario.start, tz=zoneinfo.ZoneInfo(scenario.site.timezone)),
            periods=scenario.n_intervals,
            freq=f"{scenario.interval_minutes}min",
        )
        self._times_utc = self.times.tz_convert("UTC").tz_localize(None).to_numpy()
        self._make_profiles(streams)
        self._phase_col = np.array([PHASES.index(p) for p in self.population.phase])

        devices = build_devices(scenario, self.population, self.times[0], streams)
        for row, owned in zip(self.population.itertuples(), devices, strict=True):
            Household(
                self,
                int(row.Index),
                str(row.household),
                int(row.bus),
                str(row.phase),
                STRATEGIES[row.strategy](),
                DEVICE_POLICIES[row.device_policy](),
                owned,
            )
        self.households = self.agents_by_type[Household]
        self._ev_three_phase = np.array([d.ev is not None and d.ev.three_phase for d in devices])
        self.retailer = Retailer(
            self,
            scenario.market.retail_price_eur_per_kwh,
            scenario.market.feed_in_tariff_eur_per_kwh,
        )

        self.mechanism = make_mechanism(scenario.market.mechanism)
        self.solver = make_solver(scenario.grid.solver, self.feeder, scenario.grid.max_iterations)
        self._lv_bus_pos = self.feeder.net.bus.index.get_indexer(self.feeder.lv_buses)
        self._bus_ids = self.feeder.net.bus.index.to_numpy()
        self._recorded_bus_pos = self._bus_positions_to_record()
        self._household_bus_pos = self.feeder.net.bus.index.get_indexer(self.population.bus)
        self._inverter_kva = self.population.pv_kwp.to_numpy() * scenario.pv.inverter_ac_dc_ratio
        self._last_vuf_percent: float | None = None
        dso = scenario.dso
        self._volt_var = (
            Droop(tuple(dso.volt_var.v_pu), tuple(dso.volt_var.y)) if dso.volt_var.enabled else None
        )
        self._volt_watt = (
            Droop(tuple(dso.volt_watt.v_pu), tuple(dso.volt_watt.y)) if dso.volt_watt.enabled else None
        )
        self.voltage_quality = VoltageQuality(
            len(self.population), scenario.grid.v_min_pu, scenario.grid.v_max_pu
        )

        self.interval = 0
        self.last_price_eur_per_kwh: float | None = None
        self.last_clearing: ClearingResult | None = None
        self.last_settlement: Settlement | None = None
        self.last_grid: GridState | None = None
        self.last_metrics: IntervalMetrics | None = None
        self.interval_rows: list[dict[str, Any]] = []
        self.timings = dict.fromkeys(PHASES_TIMED, 0.0)
        self.summary: dict[str, Any] | None = None

        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.recorder: Recorder | None = None
        if self.out_dir is not None:
            tables = ["intervals", "households", "trades"]
            if scenario.output.bus_voltages != "none":
                tables.append("bus_voltages")
            self.recorder = Recorder(self.out_dir, tables)
            self.recorder.write_json("scenario.json", scenario.to_json())
            self.population.to_parquet(self.out_dir / "population.parquet", index=False)

        self.env = simpy.Environment()
        self._interval_s = scenario.interval_minutes * 60
        # EV plug events first, so a car arriving on an interval boundary is plugged when the interval starts
        for owned in devices:
            if owned.ev is not None:
                self.env.process(owned.ev.process(self.env))
        self.env.process(self._market_cycle())

    # --- set-up ---------------------------------------------------------------------------

    def _make_profiles(self, streams: dict[str, np.random.Generator]) -> None:
        cfg = self.config
        pop = self.population
        self.load_kw = base_load_kw(
            self.times,
            cfg.interval_minutes,
            pop.annual_consumption_kwh.to_numpy(),
            pop.profile_shift_minutes.to_numpy(),
            cfg.households.noise_sigma,
            cfg.households.noise_autocorrelation,
            streams["households"],
        )
        self.clearness = clear_sky_index(
            self.times,
            cfg.weather.clear_day_probability,
            cfg.weather.cloudy_day_mean_clearness,
            cfg.weather.cloudy_variability,
            cfg.weather.autocorrelation,
            streams["weather"],
        )
        self.pv_kw = np.zeros_like(self.load_kw)
        has_pv = pop.has_pv.to_numpy()
        if has_pv.any():
            self.pv_kw[has_pv] = pv_ac_kw(
                self.times,
                cfg.interval_minutes,
                cfg.site.latitude_deg,
                cfg.site.longitude_deg,
                cfg.site.annual_mean_temperature_c,
                self.clearness,
                pop.pv_kwp.to_numpy()[has_pv],
                pop.pv_tilt_deg.to_numpy()[has_pv],
                pop.pv_azimuth_deg.to_numpy()[has_pv],
                cfg.pv.inverter_ac_dc_ratio,
                cfg.pv.system_losses,
                cfg.pv.temperature_coefficient_per_k,
            )
        # Households draw reactive power at a fixed power factor; PV inverters run at unity.
        self.load_kvar = self.load_kw * np.tan(np.arccos(cfg.households.power_factor))

    def _bus_positions_to_record(self) -> np.ndarray:
        mode = self.config.output.bus_voltages
        if mode == "all":
            return np.arange(len(self._bus_ids))
        if mode == "households":
            return np.unique(self.feeder.net.bus.index.get_indexer(self.population.bus))
        return np.array([], dtype=int)

    # --- the clock ------------------------------------------------------------------------

    def _market_cycle(self):  # noqa: ANN202 - a SimPy process generator
        """SimPy process: one pass of the interval loop, then wait one interval."""
        while True:
            self._run_interval()
            yield self.env.timeout(self._interval_s)

    def step(self) -> None:
        """Advance the market and the grid by exactly one interval."""
        if self.interval >= self.config.n_intervals:
            raise RuntimeError(f"the run has ended: all {self.config.n_intervals} intervals are simulated")
        self.env.run(until=self.env.now + self._interval_s)

    # --- one interval ---------------------------------------------------------------------

    def _run_interval(self) -> None:
        k = self.interval
        cfg = self.config
        market = cfg.market
        t0_s, t1_s = float(self.env.now), float(self.env.now + self._interval_s)
        tic = time.perf_counter()

        # observe + plan devices + decide orders
        base_kw = self.load_kw[:, k]
        pv_kw = self.pv_kw[:, k]
        plans = [h.plan(float(base_kw[h.index]), float(pv_kw[h.index]), t0_s, t1_s) for h in self.households]
        planned_kwh = (
            np.array([p.net_kw(float(base_kw[i])) for i, p in enumerate(plans)]) * cfg.interval_hours
        )
        observations = [
            Observation(
                household=i,
                interval=k,
                net_energy_kwh=float(planned_kwh[i]),
                retail_price_eur_per_kwh=market.retail_price_eur_per_kwh,
                feed_in_tariff_eur_per_kwh=market.feed_in_tariff_eur_per_kwh,
                last_price_eur_per_kwh=self.last_price_eur_per_kwh,
            )
            for i in range(len(plans))
        ]
        orders: list[Order] = []
        for household in self.households:
            orders.extend(household.decide(observations[household.index]))
        toc = self._lap("decide", tic)

        # clear, then the devices run as planned
        clearing = self.mechanism.clear(orders)
        done = [h.dispatch(plans[h.index], t0_s, t1_s) for h in self.households]
        dispatch = _stack(done, base_kw)
        dispatch["battery_soc"] = np.array(
            [h.devices.battery.soc if h.devices.battery else np.nan for h in self.households]
        )
        toc = self._lap("clear", toc)

        # grid + measure: the DSO may first switch phases for the scheduled injections, and
        # PV inverters may curtail under droop control
        switches = self._switch_phases(dispatch)
        phases_used = self._phase_col.copy()
        state, p_kw, q_kvar, iterations = self._grid_step(dispatch, k)
        metrics = interval_metrics(
            state, self._lv_bus_pos, cfg.grid.v_min_pu, cfg.grid.v_max_pu, cfg.grid.line_loading_limit_percent
        )
        customer_vm = state.vm_pu[self._household_bus_pos, phases_used]
        self.voltage_quality.add(t0_s, t1_s, customer_vm)
        dispatch["vm_pu"] = customer_vm
        self._last_vuf_percent = metrics.vuf_max_percent
        toc = self._lap("grid", toc)

        # settle what the meters saw, reward
        net_kwh = dispatch["net_injection_kw"] * cfg.interval_hours
        settlement = settle(
            net_kwh, clearing.trades, market.retail_price_eur_per_kwh, market.feed_in_tariff_eur_per_kwh
        )
        retailer_only_bill = np.where(
            net_kwh < 0,
            -net_kwh * market.retail_price_eur_per_kwh,
            -net_kwh * market.feed_in_tariff_eur_per_kwh,
        )
        wear = dispatch["battery_wear_eur"] = np.array(
            [
                h.devices.battery.degradation_cost_eur(d.battery_kw, cfg.interval_hours)
                if h.devices.battery
                else 0.0
                for h, d in zip(self.households, done, strict=True)
            ]
        )
        reward = retailer_only_bill - settlement.bill_eur - wear
        bills = settlement.bill_eur
        for household in self.households:
            household.bill_eur += float(bills[household.index])
            household.learn(observations[household.index], float(reward[household.index]))
        self.retailer.revenue_eur += settlement.retailer_revenue_eur
        if clearing.price_eur_per_kwh is not None:
            self.last_price_eur_per_kwh = clearing.price_eur_per_kwh
        toc = self._lap("clear", toc)

        self.last_clearing, self.last_settlement = clearing, settlement
        self.last_grid, self.last_metrics = state, metrics
        self._record(
            k,
            dispatch,
            p_kw,
            q_kvar.sum(axis=1),
            phases_used,
            iterations,
            switches,
            clearing,
            settlement,
            state,
            metrics,
        )
        self._lap("record", toc)
        self.interval += 1

        if not state.converged and cfg.grid.on_nonconvergence == "abort":
            self.running = False
            self.finalize()
            raise PowerFlowError(
                f"interval {k} ({self.times[k]}): {state.error}; stopped because "
                f"grid.on_nonconvergence='abort' (results so far are written)"
            )
        if self.interval == cfg.n_intervals:
            self.running = False
            self.finalize()

    def _grid_step(
        self, dispatch: dict[str, np.ndarray], k: int
    ) -> tuple[GridState, np.ndarray, np.ndarray, int]:
        """Per-phase injections on the feeder, solved (with inverter droop control if enabled)."""
        rows = np.arange(len(self._phase_col))
        # single-phase parts on the household's phase, 3-phase chargers split evenly
        ev3 = np.where(self._ev_three_phase, dispatch["ev_kw"], 0.0)
        p_other = np.zeros((len(rows), 3))
        q_other = np.zeros((len(rows), 3))
        p_other[rows, self._phase_col] = dispatch["net_injection_kw"] - ev3 - dispatch["pv_kw"]
        p_other += ev3[:, None] / 3
        q_other[rows, self._phase_col] = -self.load_kvar[:, k]
        dso = self.config.dso
        pv = dispatch["pv_kw"]
        q_inverter = np.zeros_like(pv)
        iterations = 1
        inverter_control = self._volt_var is not None or self._volt_watt is not None
        if inverter_control:
            result = solve_with_inverters(
                self.solver,
                p_other,
                q_other,
                pv,
                self._inverter_kva,
                self._household_bus_pos,
                self._phase_col,
                self._volt_var,
                self._volt_watt,
                dso.inverter_max_iterations,
                dso.inverter_tolerance_kw,
            )
            state, q_inverter, iterations = result.state, result.q_kvar, result.iterations
            curtailed = pv - result.pv_kw
            dispatch["pv_kw"] = result.pv_kw
            dispatch["pv_curtailed_kw"] = dispatch["pv_curtailed_kw"] + curtailed
            dispatch["net_injection_kw"] = dispatch["net_injection_kw"] - curtailed
        p_kw = p_other.copy()
        q_kvar = q_other.copy()
        p_kw[rows, self._phase_col] += dispatch["pv_kw"]
        q_kvar[rows, self._phase_col] += q_inverter
        dispatch["inverter_q_kvar"] = q_inverter
        if not inverter_control:
            state = self.solver.solve(p_kw, q_kvar)
        return state, p_kw, q_kvar, iterations

    def _switch_phases(self, dispatch: dict[str, np.ndarray]) -> int:
        """DSO phase switching before delivery, on the interval's scheduled injections.

        It acts when the previous interval's VUF exceeded the trigger (and in the
        first interval, when nothing is known yet). Returns how many households moved.
        """
        switching = self.config.dso.phase_switching
        last = self._last_vuf_percent
        if not switching.enabled or (last is not None and not last > switching.vuf_trigger_percent):
            return 0
        ev3 = np.where(self._ev_three_phase, dispatch["ev_kw"], 0.0)
        moves = choose_phase_switches(
            dispatch["net_injection_kw"] - ev3,
            self._phase_col,
            self.population.phase_switchable.to_numpy(),
            switching.max_switches_per_interval,
        )
        for h, phase in moves:
            self._phase_col[h] = phase
        for household in self.households:
            household.phase = PHASES[self._phase_col[household.index]]
        return len(moves)

    def _lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[phase] += now - since
        return now

    def _record(
        self,
        k: int,
        dispatch: dict[str, np.ndarray],
        p_kw: np.ndarray,
        q_kvar: np.ndarray,
        phases_used: np.ndarray,
        inverter_iterations: int,
        phase_switches: int,
        clearing: ClearingResult,
        settlement: Settlement,
        state: GridState,
        m: IntervalMetrics,
    ) -> None:
        names = self.population.household.to_numpy()
        cfg_grid = self.config.grid
        row: dict[str, Any] = {
            "interval": k,
            "time": self._times_utc[k],
            "clearing_price_eur_per_kwh": np.nan
            if clearing.price_eur_per_kwh is None
            else clearing.price_eur_per_kwh,
            "local_volume_kwh": clearing.volume_kwh,
            "n_trades": len(clearing.trades),
            "retail_import_kwh": float(settlement.bought_retail_kwh.sum()),
            "retail_export_kwh": float(settlement.sold_retail_kwh.sum()),
            "retailer_revenue_eur": settlement.retailer_revenue_eur,
            **{f"{col}": float(dispatch[col].sum()) for col in _DEVICE_TOTALS},
            "household_injection_kw": float(dispatch["net_injection_kw"].sum()),
            "converged": state.converged,
            "power_flow_error": state.error,
            "inverter_iterations": inverter_iterations,
            "n_phase_switches": phase_switches,
            **{f"vm_min_{p}_pu": m.vm_min_pu[i] for i, p in enumerate(PHASES)},
            **{f"vm_max_{p}_pu": m.vm_max_pu[i] for i, p in enumerate(PHASES)},
            "vuf_max_percent": m.vuf_max_percent,
            "pvur_max_percent": m.pvur_max_percent,
            "lvur_max_percent": m.lvur_max_percent,
            "n_buses_outside_limits": m.n_buses_outside_limits,
            "n_customers_outside_limits": None
            if not state.converged
            else int(
                ((dispatch["vm_pu"] < cfg_grid.v_min_pu) | (dispatch["vm_pu"] > cfg_grid.v_max_pu)).sum()
            ),
            **{f"trafo_loading_{p}_percent": m.trafo_loading_percent[i] for i, p in enumerate(PHASES)},
            "trafo_unbalance_percent": m.trafo_unbalance_percent,
            "line_loading_max_percent": m.line_loading_max_percent,
            "n_lines_overloaded": m.n_lines_overloaded,
            "losses_kw": m.losses_kw,
            "feeder_import_kw": m.ext_grid_import_kw,
            "overvoltage_headroom_pu": m.overvoltage_headroom_pu,
            "undervoltage_headroom_pu": m.undervoltage_headroom_pu,
            "thermal_headroom_percent": m.thermal_headroom_percent,
        }
        self.interval_rows.append(row)
        if self.recorder is None:
            return
        rec = self.recorder
        rec.add("intervals", {key: np.array([value]) for key, value in row.items()})
        rec.add(
            "households",
            {
                "interval": k,
                "household": names,
                "phase": np.array(PHASES, dtype=object)[phases_used],
                **dispatch,
                **{f"net_injection_{p}_kw": p_kw[:, i] for i, p in enumerate(PHASES)},
                "q_injection_kvar": q_kvar,
                "bought_local_kwh": settlement.bought_local_kwh,
                "sold_local_kwh": settlement.sold_local_kwh,
                "bought_retail_kwh": settlement.bought_retail_kwh,
                "sold_retail_kwh": settlement.sold_retail_kwh,
                "local_payment_eur": settlement.local_payment_eur,
                "retail_payment_eur": settlement.retail_payment_eur,
                "bill_eur": settlement.bill_eur,
            },
        )
        if clearing.trades:
            rec.add(
                "trades",
                {
                    "interval": k,
                    "buyer": names[[t.buyer for t in clearing.trades]],
                    "seller": names[[t.seller for t in clearing.trades]],
                    "energy_kwh": np.array([t.energy_kwh for t in clearing.trades]),
                    "price_eur_per_kwh": np.array([t.price_eur_per_kwh for t in clearing.trades]),
                },
            )
        pos = self._recorded_bus_pos
        if len(pos):
            rec.add(
                "bus_voltages",
                {
                    "interval": k,
                    "bus": np.repeat(self._bus_ids[pos], 3),
                    "phase": np.tile(np.array(PHASES, dtype=object), len(pos)),
                    "vm_pu": state.vm_pu[pos].ravel(),
                    "va_degree": state.va_degree[pos].ravel(),
                },
            )
        rec.end_interval()

    # --- the end --------------------------------------------------------------------------

    def finalize(self) -> dict[str, Any]:
        """Summarise the run so far and, with an output folder, close its files.

        Called automatically after the last interval (or an abort); call it
        yourself to stop a run early. Returns the summary.
        """
        ev_sessions = self.ev_sessions()
        voltage_quality = self.voltage_quality_table()
        self.summary = summarise(
            self.config,
            self.interval_rows,
            self.households,
            self.retailer.revenue_eur,
            ev_sessions,
            voltage_quality,
        )
        if self.recorder is not None and not self.recorder.closed:
            self.recorder.write_frame("ev_sessions", ev_sessions)
            self.recorder.write_frame("appliance_cycles", self.appliance_cycles())
            self.recorder.write_frame("voltage_quality", voltage_quality)
            self.recorder.close()
            self.recorder.write_json("summary.json", self.summary)
            self.recorder.write_json("timings.json", {k: round(v, 6) for k, v in self.timings.items()})
        return self.summary

    def _timestamp(self, seconds: float | None) -> pd.Timestamp | None:
        return None if seconds is None else (self.times[0] + pd.Timedelta(seconds=seconds)).tz_convert("UTC")

    def voltage_quality_table(self) -> pd.DataFrame:
        """EN 50160 check per household and week, with customer-minutes outside limits over the run."""
        frames = [
            pd.DataFrame(
                {
                    "household": self.population.household.to_numpy(),
                    "week": week["week"],
                    "complete_week": week["complete"],
                    "windows_10min": week["windows"].astype(int),
                    "share_within_10_percent": week["share_within_10_percent"],
                    "min_pu": week["min_pu"],
                    "max_pu": week["max_pu"],
                    "en50160_compliant": week["compliant"],
                    "minutes_outside_limits_in_run": self.voltage_quality.customer_minutes_outside,
                }
            )
            for week in self.voltage_quality.weekly()
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def ev_sessions(self) -> pd.DataFrame:
        """Every EV stay: needed, delivered and unmet energy (unmet is null while the car is still home)."""
        rows = []
        end_s = self.env.now
        for h in self.households:
            ev = h.devices.ev
            if ev is None:
                continue
            for s in ev.sessions:
                if s.arrival_s >= end_s:
                    continue
                plugged_h = (
                    min(s.departure_s, self.config.n_intervals * self._interval_s) - max(s.arrival_s, 0)
                ) / 3600
                rows.append(
                    {
                        "household": h.name,
                        "charger_kw": ev.charger_kw,
                        "three_phase": ev.three_phase,
                        "arrival": self._timestamp(s.arrival_s),
                        "departure": self._timestamp(s.departure_s),
                        "energy_needed_kwh": s.energy_needed_kwh,
                        "delivered_kwh": s.delivered_kwh,
                        "unmet_kwh": s.unmet_kwh,
                        "feasible": s.energy_needed_kwh <= ev.charger_kw * plugged_h + 1e-9,
                    }
                )
        return pd.DataFrame(rows, columns=_EV_COLUMNS)

    def appliance_cycles(self) -> pd.DataFrame:
        """Every appliance cycle: window, start, energy served (shortfall null while the window is open)."""
        rows = []
        end_s = self.env.now
        for h in self.households:
            for a in h.devices.appliances:
                for c in a.cycles:
                    if c.window_start_s >= end_s:
                        continue
                    closed = c.window_end_s <= end_s
                    rows.append(
                        {
                            "household": h.name,
                            "appliance": a.name,
                            "window_start": self._timestamp(c.window_start_s),
                            "window_end": self._timestamp(c.window_end_s),
                            "started": self._timestamp(c.started_s),
                            "energy_kwh": a.cycle_energy_kwh,
                            "served_kwh": c.served_kwh,
                            "shortfall_kwh": a.cycle_energy_kwh - c.served_kwh if closed else None,
                        }
                    )
        return pd.DataFrame(rows, columns=_CYCLE_COLUMNS)


_EV_COLUMNS = [
    "household",
    "charger_kw",
    "three_phase",
    "arrival",
    "departure",
    "energy_needed_kwh",
    "delivered_kwh",
    "unmet_kwh",
    "feasible",
]
_CYCLE_COLUMNS = [
    "household",
    "appliance",
    "window_start",
    "window_end",
    "started",
    "energy_kwh",
    "served_kwh",
    "shortfall_kwh",
]
