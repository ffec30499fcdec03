"""The lemgrid Mesa model: one ``step()`` is one market interval, read as its stages.

``_run_interval`` is the loop: observe (:mod:`model.observe`) → decide
(:mod:`model.decide`) → clear (:mod:`model.clear`) → dispatch
(:mod:`model.dispatch`) → grid + DSO (:mod:`model.grid_step`) → settle and
learn (:mod:`model.settle`) → record (:mod:`model.record`). Each stage takes
the frozen :class:`~model.interval.Interval` and the previous stage's result
and returns its own; none reads ``Model``. The DSO agent (:mod:`agents.dso`)
owns the constraint mode, phase switching and the inverter droops; the model
only asks it. SimPy's environment is the only clock: ``step()`` advances it
by one interval.
"""

import json
import time
import zoneinfo
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from lemgrid.agents.dso import DSO, Controls
from lemgrid.agents.household import Household, Retailer
from lemgrid.agents.policies import DEVICE_POLICIES
from lemgrid.agents.strategies import Order, make_strategy
from lemgrid.grid.feeders import PHASES
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.metrics import IntervalMetrics, VoltageQuality
from lemgrid.grid.solver import make_solver
from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree
from lemgrid.model import run_tables
from lemgrid.model.bidding import bid, clear_curves
from lemgrid.model.clear import Market, clear
from lemgrid.model.constraints import Curtailment, Grid, Limits, make_constraint_method
from lemgrid.model.decide import decide
from lemgrid.model.dispatch import dispatch
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.grid_step import Network, RunMeasures, grid_step
from lemgrid.model.interval import Connections, Interval
from lemgrid.model.market import ClearingResult
from lemgrid.model.metrics import interval_row
from lemgrid.model.observe import Attack, Forecaster, observe
from lemgrid.model.population import (
    attack_targets,
    build_devices,
    draw_population,
    draw_profiles,
    feeder_for,
    random_streams,
)
from lemgrid.model.pricing import ClearingOptions, MarketContext, make_clearing
from lemgrid.model.record import Outcome, Output, record
from lemgrid.model.recorder import Recorder
from lemgrid.model.scenario import Scenario
from lemgrid.model.settle import Billing, learn, settle_interval
from lemgrid.model.settlement import Settlement
from lemgrid.model.summary import summarise
from lemgrid.model.tariffs import make_tariff

PHASES_TIMED = ("decide", "clear", "grid", "record")


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
        dso: the DSO agent (constraint mode, phase switching, inverter droops, fees).
        timings: seconds spent in each phase of the loop so far.
    """

    def __init__(
        self, scenario: Scenario | None = None, *, rng: int | None = None, out_dir: str | Path | None = None
    ) -> None:
        scenario = scenario or Scenario()
        if rng is not None:
            scenario = scenario.model_copy(update={"seed": int(rng)})
        super().__init__(rng=scenario.seed)
        self.config = scenario
        self.feeder = feeder_for(scenario)
        streams = random_streams(self.rng)
        self.population = draw_population(scenario, self.feeder, streams)
        zoned = scenario.market.pricing == "zonal" or scenario.tariff.kind == "zonal"
        n = len(self.population)
        self.population["zone"] = (
            self.tree.zones(scenario.market.zonal.n_zones) if zoned else np.zeros(n, int)
        )
        self._attacked = attack_targets(scenario, self.population, self.feeder.name, streams["attack"])
        self.times = pd.date_range(
            pd.Timestamp(scenario.start, tz=zoneinfo.ZoneInfo(scenario.site.timezone)),
            periods=scenario.n_intervals,
            freq=f"{scenario.interval_minutes}min",
        )
        self._times_utc = self.times.tz_convert("UTC").tz_localize(None).to_numpy()
        self.profiles = draw_profiles(scenario, self.population, self.times, streams)
        self.load_kw, self.pv_kw = self.profiles.load_kw, self.profiles.pv_kw
        devices = self._add_households(streams)
        self._add_market(streams)
        self._add_grid(devices)
        self.interval = 0
        self.last_price_eur_per_kwh: float | None = None
        self.last_orders: list[Order] = []
        self.last_clearing: ClearingResult | None = None
        self.last_settlement: Settlement | None = None
        self.last_grid: GridState | None = None
        self.last_metrics: IntervalMetrics | None = None
        self.last_curtailment: Curtailment | None = None
        self.interval_rows: list[dict[str, Any]] = []
        self.timings = dict.fromkeys(PHASES_TIMED, 0.0)
        self.summary: dict[str, Any] | None = None
        self._open_recorder(out_dir)
        self.env = simpy.Environment()
        self._interval_s = scenario.interval_minutes * 60
        # EV plug events first, so a car arriving on an interval boundary is plugged when the interval starts
        for owned in devices:
            if owned.ev is not None:
                self.env.process(owned.ev.process(self.env))
        self.env.process(self._market_cycle())

    # --- set-up ---------------------------------------------------------------------------

    def _add_households(self, streams: dict[str, np.random.Generator]) -> list[Any]:
        """One Household agent per population row, with its devices, strategy and device policy."""
        cfg = self.config
        devices = build_devices(cfg, self.population, self.times[0], streams)
        strategy_rngs = streams["strategies"].spawn(len(self.population))
        for row, owned, rng_h in zip(self.population.itertuples(), devices, strategy_rngs, strict=True):
            strategy = make_strategy(str(row.strategy), cfg.strategies, rng_h)
            policy = DEVICE_POLICIES[strategy.device_policy or str(row.device_policy)](cfg.strategies)
            Household(
                self,
                int(row.Index),
                str(row.household),
                int(row.bus),
                str(row.phase),
                strategy,
                policy,
                owned,
            )
        self.households = self.agents_by_type[Household]
        if cfg.strategies.learning_file is not None:
            self.load_learning(cfg.strategies.learning_file)
        self.last_supply_voltage_pu = np.full(len(self.population), np.nan)
        self.retailer = Retailer(
            self, cfg.market.retail_price_eur_per_kwh, cfg.market.feed_in_tariff_eur_per_kwh
        )
        return devices

    def _add_market(self, streams: dict[str, np.random.Generator]) -> None:
        """The network tariff, the clearing mechanism and the attack on market data."""
        cfg, market = self.config, self.config.market
        n = len(self.population)
        zone = self.population.zone.to_numpy()
        self.tariff = make_tariff(cfg.tariff, n, cfg.interval_hours, lambda: self.distance_ohm, zone)
        preference = self._p2p_preference() if market.clearing_mechanism == "p2p" else np.zeros((n, n))
        context = MarketContext(
            streams["market"],
            zone,
            preference,
            market.retail_price_eur_per_kwh,
            market.feed_in_tariff_eur_per_kwh,
        )
        options = ClearingOptions(market.community.pricing, market.zonal.inter_zone_capacity_kwh)
        self.mechanism = make_clearing(market.pricing, market.clearing_mechanism, context, options)
        attack = cfg.attack
        self._attack = Attack(attack.kind, attack.factor, attack.start_interval, self._attacked)
        horizon = max(1, round(cfg.strategies.lp_horizon_hours / cfg.interval_hours))
        self._forecaster = Forecaster(self.load_kw, self.pv_kw, horizon, cfg.n_intervals, self.tariff)
        self.price_forecast = PriceForecast(
            cfg.bidding.forecast,
            np.full(cfg.n_intervals, cfg.market.retail_price_eur_per_kwh),
            np.full(cfg.n_intervals, cfg.market.feed_in_tariff_eur_per_kwh),
            1440 // cfg.interval_minutes,
            cfg.bidding.ema_weight,
        )

    def _add_grid(self, devices: list[Any]) -> None:
        """The solver, the DSO agent with its controls and constraint mode, and the stages' views of the feeder."""
        cfg, grid, market = self.config, self.config.grid, self.config.market
        self.solver = make_solver(grid.solver, self.feeder, grid.max_iterations)
        phase_col = np.array([PHASES.index(p) for p in self.population.phase])
        ev3 = np.array([d.ev is not None and d.ev.three_phase for d in devices])
        self._where = Connections(phase_col, ev3, self.feeder.bus_positions(self.population.bus))
        self._phase_col = phase_col
        limits = Limits(
            grid.v_min_pu,
            grid.v_max_pu,
            grid.line_loading_limit_percent,
            market.constraint_margin_pu,
            market.constraint_margin_percent,
        )
        constrained = market.constraint_mode != "none"
        method = make_constraint_method(
            market.constraint_mode, self._constraint_grid() if constrained else None, limits
        )  # type: ignore[arg-type]
        n = len(self.population)
        cost = cfg.tariff.network_cost_eur_per_household_year * n
        self.dso = DSO(self, cost, Controls.from_scenario(cfg.dso), method, self.solver)
        self.constraint_method = method
        self._network = Network(
            self._where,
            self.population.phase_switchable.to_numpy(),
            self.population.pv_kwp.to_numpy() * cfg.pv.inverter_ac_dc_ratio,
            self.feeder.lv_bus_positions,
            grid.v_min_pu,
            grid.v_max_pu,
            grid.line_loading_limit_percent,
        )
        self.voltage_quality = VoltageQuality(n, grid.v_min_pu, grid.v_max_pu)
        self.congested_lines = np.zeros(self.feeder.n_lines, dtype=bool)  # ever above the limit
        self._measures = RunMeasures(self.voltage_quality, self.congested_lines)
        self._market = Market(self.mechanism, self.dso, list(self.households), self._where)
        self._billing = Billing(
            self.tariff, market.loss_allocation, self.solver, lambda: self.tree, phase_col
        )

    def _open_recorder(self, out_dir: str | Path | None) -> None:
        """With an output folder: the recorder for the run's tables, the scenario and the population."""
        cfg = self.config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.recorder: Recorder | None = None
        mode = cfg.output.bus_voltages
        bus_pos = {"all": np.arange(len(self.feeder.bus_ids)), "households": np.unique(self._where.bus_pos)}
        self._output = Output(
            self.population.household.to_numpy(),
            self.feeder.bus_ids,
            bus_pos.get(mode, np.array([], dtype=int)),
        )
        if self.out_dir is None:
            return
        tables = ["intervals", "households", "trades", "curtailments"]
        tables += ["zone_prices"] if cfg.market.pricing == "zonal" else []
        tables += ["bus_voltages"] if mode != "none" else []
        self.recorder = Recorder(self.out_dir, tables)
        self.recorder.write_json("scenario.json", cfg.to_json())
        self.population.to_parquet(self.out_dir / "population.parquet", index=False)

    @cached_property
    def tree(self) -> Tree:
        """The feeder's radial structure (built on first use)."""
        return Tree(self.feeder)

    @cached_property
    def distance_ohm(self) -> np.ndarray:
        """Electrical distance between every two households' buses, [i, j] in ohm."""
        return self.tree.distance_ohm(self.tree.household_bus, self.tree.household_bus)

    @cached_property
    def lindist(self) -> LinDist3Flow:
        """The LinDist3Flow model of the feeder around its no-load voltages."""
        zero = np.zeros((len(self.population), 3))
        noload = self.solver.solve(zero, zero)
        if not noload.converged:
            raise PowerFlowError(f"the no-load power flow failed: {noload.error}")
        return LinDist3Flow(self.tree, self._phase_col, noload.vm_pu)

    def _constraint_grid(self) -> Grid:
        return Grid(
            self.solver, self.lindist, self.feeder.lv_bus_positions, self.feeder.bus_ids, self._phase_col
        )

    def _p2p_preference(self) -> np.ndarray:
        """[buyer, seller] premium for green sellers minus a penalty per ohm of distance and any pair fee."""
        p2p = self.config.market.p2p
        green = self.population.has_pv.to_numpy()
        preference = p2p.green_premium_eur_per_kwh * green[None, :].astype(float)
        preference = preference - p2p.distance_penalty_eur_per_kwh_per_ohm * self.distance_ohm
        if self.tariff.pair_fee_eur_per_kwh is not None:  # a fee paid per pair counts too
            preference = preference - self.tariff.pair_fee_eur_per_kwh
        return preference

    # --- the clock and one interval -------------------------------------------------------

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

    def _run_interval(self) -> None:
        iv, households, tic = self._interval(), self.households, time.perf_counter()
        observed = observe(households, iv, self._forecaster, self._attack)
        decided = decide(households, observed, iv.hours)
        bids = None
        if self.config.bidding.mode == "curves":
            bids = bid(households, decided.orders, iv, self.price_forecast, self.config.bidding)
        toc = self._lap("decide", tic)
        if bids is None:
            cleared, plans = clear(decided, iv, self._market), decided.plans
        else:
            cleared, plans = clear_curves(bids, decided, iv, self._market)
            decided = replace(decided, orders=bids.orders)
        self.price_forecast.observe(iv.k, cleared.clearing.mean_price_eur_per_kwh)
        _, columns = dispatch(households, plans, cleared.cut, iv)
        toc = self._lap("clear", toc)
        grid = grid_step(columns, iv, self.dso, households, self._network, self._measures)
        toc = self._lap("grid", toc)
        settled = settle_interval(grid, cleared, iv, households, self._billing)
        actions = learn(households, observed.observations, settled, cleared)
        self._book(iv, cleared, settled)
        toc = self._lap("clear", toc)
        cut = cleared.cut
        columns = {
            **settled.columns,
            "action": actions,
            "reported_net_kwh": decided.reported_kwh,
            "curtailed_export_kwh": cut.export_kw * iv.hours,
            "curtailed_import_kwh": cut.import_kw * iv.hours,
        }
        grid_cfg = self.config.grid
        out = Outcome(
            iv.k,
            self._times_utc[iv.k],
            iv.hours,
            cleared,
            grid,
            settled,
            columns,
            grid_cfg.v_min_pu,
            grid_cfg.v_max_pu,
        )
        self.last_orders, self.last_curtailment = decided.orders, cut
        self.last_grid, self.last_metrics = grid.operated.state, grid.metrics
        self.last_supply_voltage_pu = columns["vm_pu"]
        self._record(out)
        self._lap("record", toc)
        self._end_interval(iv.k, grid.operated.state)

    def _interval(self) -> Interval:
        """The frozen input of the coming interval."""
        k, cfg = self.interval, self.config
        t0_s = float(self.env.now)
        return Interval(
            k,
            t0_s,
            float(self.env.now + self._interval_s),
            cfg.interval_hours,
            1440 // cfg.interval_minutes,
            self.load_kw[:, k],
            self.pv_kw[:, k],
            self.profiles.load_kvar[:, k],
            self._attack.price_signal(k),
            cfg.market.retail_price_eur_per_kwh,
            cfg.market.feed_in_tariff_eur_per_kwh,
            self.last_price_eur_per_kwh,
            self.last_supply_voltage_pu,
        )

    def _book(self, iv: Interval, cleared: Any, settled: Any) -> None:
        """The retailer's and the DSO's money, the DSO's curtailed energy, the last local price."""
        settlement, cut = settled.settlement, cleared.cut
        self.retailer.revenue_eur += settlement.retailer_revenue_eur
        self.dso.collect(
            settlement.network_revenue_eur,
            float(cut.export_kw.sum() * iv.hours),
            float(cut.import_kw.sum() * iv.hours),
        )
        if cleared.clearing.mean_price_eur_per_kwh is not None:
            self.last_price_eur_per_kwh = cleared.clearing.mean_price_eur_per_kwh
        self.last_clearing, self.last_settlement = cleared.clearing, settlement

    def _record(self, out: Outcome) -> None:
        row = interval_row(out)
        self.interval_rows.append(row)
        if self.recorder is not None:
            record(self.recorder, out, row, self._output)

    def _end_interval(self, k: int, state: GridState) -> None:
        self.interval += 1
        if not state.converged and self.config.grid.on_nonconvergence == "abort":
            self.running = False
            self.finalize()
            raise PowerFlowError(
                f"interval {k} ({self.times[k]}): {state.error}; stopped because "
                f"grid.on_nonconvergence='abort' (results so far are written)"
            )
        if self.interval == self.config.n_intervals:
            self.running = False
            self.finalize()

    def _lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[phase] += now - since
        return now

    # --- learning state and the end -------------------------------------------------------

    def save_learning(self, path: str | Path) -> None:
        """Write every household's learning state (by name and strategy) to a JSON file."""
        state = {h.name: {"strategy": h.strategy.name, "state": h.strategy.state()} for h in self.households}
        Path(path).write_text(json.dumps(state))

    def load_learning(self, path: str | Path) -> None:
        """Continue from :meth:`save_learning`'s file (households whose strategy differs keep theirs)."""
        try:
            saved = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"scenario field 'strategies.learning_file' = {str(path)!r}: cannot read it: {exc}"
            ) from None
        for h in self.households:
            entry = saved.get(h.name)
            if entry is not None and entry.get("strategy") == h.strategy.name:
                h.strategy.load_state(entry["state"])

    def finalize(self) -> dict[str, Any]:
        """Summarise the run so far and, with an output folder, close its files.

        Called automatically after the last interval (or an abort); call it
        yourself to stop a run early. Returns the summary.
        """
        ev_sessions, voltage_quality = self.ev_sessions(), self.voltage_quality_table()
        self.summary = summarise(
            self.config,
            self.interval_rows,
            self.households,
            self.retailer.revenue_eur,
            self.dso,
            ev_sessions,
            voltage_quality,
            self.congested_lines,
        )
        if self.recorder is not None and not self.recorder.closed:
            self.recorder.write_frame("ev_sessions", ev_sessions)
            self.recorder.write_frame("appliance_cycles", self.appliance_cycles())
            self.recorder.write_frame("voltage_quality", voltage_quality)
            self.recorder.close()
            self.recorder.write_json("summary.json", self.summary)
            self.recorder.write_json("timings.json", {k: round(v, 6) for k, v in self.timings.items()})
        return self.summary

    def voltage_quality_table(self) -> pd.DataFrame:
        """EN 50160 check per household and week, with customer-minutes outside limits over the run."""
        return run_tables.voltage_quality_table(self.voltage_quality, self.population.household.to_numpy())

    def ev_sessions(self) -> pd.DataFrame:
        """Every EV stay: needed, delivered and unmet energy (unmet is null while the car is still home)."""
        return run_tables.ev_sessions(
            self.households, self.times[0], self.env.now, self.config.n_intervals * self._interval_s
        )

    def appliance_cycles(self) -> pd.DataFrame:
        """Every appliance cycle: window, start, energy served (shortfall null while the window is open)."""
        return run_tables.appliance_cycles(self.households, self.times[0], self.env.now)
