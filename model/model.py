"""The lemgrid Mesa model: one ``step()`` is one market interval, read as its stages.

``_run_interval`` is the loop: observe → decide → clear → dispatch → grid + DSO →
settle and learn → record, one module each under ``model/``. Each stage takes the
frozen :class:`~model.interval.Interval` and the previous stage's result; none
reads ``Model``. The DSO agent (:mod:`agents.dso`) owns the constraint mode, phase
switching and the inverter droops. SimPy's environment is the only clock.
"""

import gc
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from lemgrid.agents.dso import DSO, Controls
from lemgrid.agents.household import Household, Retailer
from lemgrid.agents.policies import Devices
from lemgrid.agents.strategies import Order
from lemgrid.grid.feeders import PHASES
from lemgrid.grid.metrics import IntervalMetrics
from lemgrid.grid.solver import make_solver
from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree
from lemgrid.model import build, community, population, run_tables
from lemgrid.model.bidding import clear_bids
from lemgrid.model.clear import Market
from lemgrid.model.constraints import Curtailment, Grid, make_constraint_method
from lemgrid.model.decide import decide
from lemgrid.model.dispatch import dispatch
from lemgrid.model.grid_step import grid_step
from lemgrid.model.interval import Interval, PowerFlowError
from lemgrid.model.interval_rows import IntervalRows
from lemgrid.model.market import ClearingResult
from lemgrid.model.metrics import interval_row
from lemgrid.model.observe import Attack, observe
from lemgrid.model.record import outcome, record
from lemgrid.model.scenario import Scenario
from lemgrid.model.settle import Billing, learn, settle_interval
from lemgrid.model.settlement import Settlement
from lemgrid.model.summary import summarise
from lemgrid.model.tariffs import RunClock, make_tariff

PHASES_TIMED = ("decide", "clear", "grid", "record")


class Model(mesa.Model):
    """A local energy market on a three-phase LV feeder, interval by interval.

    Args:
        scenario: what to simulate; ``None`` is the default scenario.
        rng: seed of the run; when given it replaces ``scenario.seed``.
        out_dir: where to write the run's files; ``None`` writes nothing.
        foreseen_prices: with ``bidding.forecast: perfect``, the local prices foreseen (None: found by runs).

    Attributes:
        config: the validated lemgrid scenario (``self.scenario`` is Mesa's own).
        feeder: the feeder the households are connected to.
        population: one row per household with its drawn parameters.
        load_kw, pv_kw: each household's base load and PV output per interval.
        dso: the DSO agent (constraint mode, phase switching, inverter droops, fees).
        timings: seconds spent in each phase of the loop so far.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        rng: int | None = None,
        out_dir: str | Path | None = None,
        foreseen_prices: np.ndarray | None = None,
    ) -> None:
        scenario = scenario or Scenario()
        if rng is not None:
            scenario = scenario.model_copy(update={"seed": int(rng)})
        super().__init__(rng=scenario.seed)
        self.config = scenario
        self.feeder = population.feeder_for(scenario)
        streams = population.random_streams(self.rng)
        self.population = population.draw_population(scenario, self.feeder, streams)
        self.population["zone"] = build.zones(scenario, self.population, lambda: self.tree)
        self._attacked = population.attack_targets(
            scenario, self.population, self.feeder.name, streams["attack"]
        )
        self.times, self._times_utc = build.times(scenario)
        self.retail_eur_per_kwh, self.feed_in_eur_per_kwh = build.retailer_prices(scenario, self.times)
        self.profiles = population.draw_profiles(scenario, self.population, self.times, streams)
        self.load_kw, self.pv_kw = self.profiles.load_kw, self.profiles.pv_kw
        devices = self._add_households(streams)
        self._add_market(streams, foreseen_prices)
        self._add_grid(devices)
        self.interval = 0
        self.last_price_eur_per_kwh: float | None = None
        self.last_orders: Sequence[Order] = []
        self.last_clearing: ClearingResult | None = None
        self.last_settlement: Settlement | None = None
        self.last_grid: GridState | None = None
        self.last_metrics: IntervalMetrics | None = None
        self.last_curtailment: Curtailment | None = None
        self.interval_rows = IntervalRows()  # by column: a year's rows in megabytes
        self.timings = dict.fromkeys(PHASES_TIMED, 0.0)
        self.summary: dict[str, Any] | None = None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.recorder, self._output = build.open_recorder(
            scenario, self.out_dir, self.population, self.feeder, self._where.bus_pos
        )
        self.env = simpy.Environment()
        self._interval_s = scenario.interval_minutes * 60
        # EV plug events first, so a car arriving on an interval boundary is plugged when the interval starts
        for owned in devices:
            if owned.ev is not None:
                self.env.process(owned.ev.process(self.env))
        self.env.process(self._market_cycle())
        build.freeze_built_state()

    def _add_households(self, streams: dict[str, np.random.Generator]) -> list[Devices]:
        """The households (devices, strategies, device policies) and the retailer."""
        cfg = self.config
        devices = population.build_devices(cfg, self.population, self.times[0], streams, self.profiles)
        build.add_households(self, cfg, self.population, devices, streams["strategies"])
        self.households = self.agents.select(agent_type=Household)  # the community manager too
        if cfg.strategies.learning_file is not None:
            self.load_learning(cfg.strategies.learning_file)
        self.last_supply_voltage_pu = np.full(len(self.population), np.nan)
        self.retailer = Retailer(self, self.retail_eur_per_kwh, self.feed_in_eur_per_kwh)
        return devices

    def _add_market(self, streams: dict[str, np.random.Generator], foreseen: np.ndarray | None) -> None:
        """The network tariff, the clearing mechanism, the attack, the forecasts and the day-ahead stage."""
        cfg, pop = self.config, self.population
        clock = RunClock(self.times, cfg.interval_hours)
        self.tariff = make_tariff(cfg.tariff, len(pop), clock, lambda: self.distance_ohm, pop.zone.to_numpy())
        preference = lambda: build.p2p_preference(cfg, pop, self.distance_ohm, self.tariff, streams["market"])  # noqa: E731
        self.mechanism = build.make_mechanism(cfg, pop, streams["market"], preference, self.households)
        self._attack = Attack.of(cfg.attack, self._attacked)
        self.price_forecast, self._forecaster, self.day_ahead = build.forecasting(cfg, self, foreseen, Model)

    def _add_grid(self, devices: list[Devices]) -> None:
        """The solver, the DSO agent (controls, constraint mode) and the stages' views of the feeder."""
        cfg, pop = self.config, self.population
        self.solver = make_solver(cfg.grid.solver, self.feeder, cfg.grid.max_iterations)
        self._phase_col = np.array([PHASES.index(p) for p in pop.phase])  # the DSO switches phases in it
        self._where = population.connections(cfg, pop, devices, self._phase_col, self.feeder)
        mode = cfg.market.constraint_mode
        grid = self._constraint_grid() if mode != "none" else None
        method = make_constraint_method(mode, grid, build.limits(cfg))  # type: ignore[arg-type]
        cost = cfg.tariff.network_cost_eur_per_household_year * int((~community.is_manager(pop)).sum())
        self.dso = DSO(self, cost, Controls.from_scenario(cfg.dso), method, self.solver)
        self._network = build.network(cfg, pop, self.feeder, self._where)
        self.congested_lines = np.zeros(self.feeder.n_lines, dtype=bool)  # ever above the limit
        self._measures = build.measures(cfg, self.feeder, pop, self.congested_lines)
        self.voltage_quality = self._measures.voltage_quality  # the households' (not the manager's)
        self._market = Market(self.mechanism, self.dso, list(self.households), self._where)
        self._billing = Billing(
            self.tariff, cfg.market.loss_allocation, self.solver, lambda: self.tree, self._where
        )

    @cached_property
    def tree(self) -> Tree:
        """The feeder's radial structure (built on first use)."""
        return Tree(self.feeder)

    @cached_property
    def distance_ohm(self) -> np.ndarray:
        """Electrical distance between every two households' buses, [i, j] in ohm."""
        return self.tree.distance_ohm(self.tree.household_bus, self.tree.household_bus)

    def _constraint_grid(self) -> Grid:
        """What the constraint modes know of the feeder (LinDist3Flow around the no-load voltages)."""
        lindist = build.lindist(self.solver, self.tree, self._phase_col)
        return Grid(self.solver, lindist, self.feeder.lv_bus_positions, self.feeder.bus_ids, self._phase_col)

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
        iv, households, tic = self._interval(), self._market.households, time.perf_counter()
        observed = observe(households, iv, self._forecaster, self._attack)
        decided = decide(households, observed, iv.hours)
        toc = self._lap("decide", tic)
        decided, cleared, plans = clear_bids(
            decided, iv, self._market, self.price_forecast, self.config.bidding, self._attack, self.day_ahead
        )
        _, columns = dispatch(households, plans, cleared.cut, iv)
        toc = self._lap("clear", toc)
        grid = grid_step(columns, iv, self.dso, households, self._network, self._measures)
        toc = self._lap("grid", toc)
        settled = settle_interval(grid, cleared, iv, households, self._billing)
        actions = learn(households, observed.observations, settled, cleared)
        self._book(iv, cleared, settled)
        toc = self._lap("clear", toc)
        cfg = self.config.grid
        out = outcome(
            iv, self._times_utc[iv.k], decided, cleared, grid, settled, actions, cfg.v_min_pu, cfg.v_max_pu
        )
        self.last_orders, self.last_curtailment = decided.orders, cleared.cut
        self.last_grid, self.last_metrics = grid.operated.state, grid.metrics
        self.last_supply_voltage_pu = out.columns["vm_pu"]
        self.interval_rows.append(row := interval_row(out))
        if self.recorder is not None:
            record(self.recorder, out, row, self._output)
        self._lap("record", toc)
        self._end_interval(iv.k, grid.operated.state)

    def _interval(self) -> Interval:
        """The frozen input of the coming interval."""
        k, cfg = self.interval, self.config
        return Interval(
            k,
            float(self.env.now),
            float(self.env.now + self._interval_s),
            cfg.interval_hours,
            1440 // cfg.interval_minutes,
            self.load_kw[:, k],
            self.pv_kw[:, k],
            self.profiles.load_kvar[:, k],
            self._attack.price_signal(k),
            float(self.retail_eur_per_kwh[k]),
            float(self.feed_in_eur_per_kwh[k]),
            self.last_price_eur_per_kwh,
            self.last_supply_voltage_pu,
            float(self.tariff.import_charge_eur_per_kwh[k]),
        )

    def _book(self, iv: Interval, cleared: Any, settled: Any) -> None:
        """The retailer's and the DSO's money, the DSO's curtailed energy, the last local price."""
        settlement, cut = settled.settlement, cleared.cut
        self.retailer.revenue_eur += settlement.retailer_revenue_eur
        self.dso.collect(settlement.network_revenue_eur, cut.export_kw, cut.import_kw, iv.hours)
        if cleared.clearing.mean_price_eur_per_kwh is not None:
            self.last_price_eur_per_kwh = cleared.clearing.mean_price_eur_per_kwh
        self.last_clearing, self.last_settlement = cleared.clearing, settlement

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

    def save_learning(self, path: str | Path) -> None:
        """Write every household's learning state (by name and strategy) to a JSON file."""
        build.save_learning(self.households, path)

    def load_learning(self, path: str | Path) -> None:
        """Continue from :meth:`save_learning`'s file (households whose strategy differs keep theirs)."""
        build.load_learning(self.households, path)

    def finalize(self) -> dict[str, Any]:
        """Summarise the run so far and, with an output folder, close its files.

        Called automatically after the last interval (or an abort); call it
        yourself to stop a run early. Returns the summary.
        """
        gc.unfreeze()  # a sweep's worker runs the next model: let this one's cycles be collected
        tables = self.end_of_run_tables()
        self.summary = summarise(
            self.config,
            self.interval_rows,
            self.households,
            self.retailer.revenue_eur,
            self.dso,
            tables["ev_sessions"],
            tables["voltage_quality"],
            self.congested_lines,
        )
        if self.recorder is not None and not self.recorder.closed:
            run_tables.close(self.recorder, tables, self.summary, self.timings)
        return self.summary

    def end_of_run_tables(self) -> dict[str, pd.DataFrame]:
        """EV sessions, appliance cycles and the EN 50160 check so far, by table name."""
        run_s = self.config.n_intervals * self._interval_s
        return run_tables.end_of_run(self.households, self.times[0], self.env.now, run_s, self._measures)
