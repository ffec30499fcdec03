"""The lemgrid Mesa model: one ``step()`` is one market interval followed by a power flow.

Per interval: observe the households' load, PV and device flexibility; each
device policy plans its devices, each household reports its expected position
and its strategy places orders (and may run its battery differently); clear
the local market under the constraint mode (the DSO may cut exports and
imports first, or curtail trades after); the devices run as planned less any
cut; the DSO may switch phases; every household's injection goes on its bus
and phase and the three-phase power flow runs (with PV inverter droops, if
on); measure; settle what the meters saw (the retailer takes the rest, the
DSO its network fees), allocate the losses and pass rewards back; record.
Settlement comes after the grid step (DESIGN.md lists it before) because
inverter droops can curtail PV, and households are paid for what was metered.
SimPy's environment is the only clock: ``step()`` advances it by one interval.
"""

import json
import time
import zoneinfo
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import simpy

from lemgrid.agents.dso import DSO
from lemgrid.agents.household import Household, Retailer
from lemgrid.agents.policies import DEVICE_POLICIES, DevicePlan, Forecast
from lemgrid.agents.profiles import base_load_kw, clear_sky_index, pv_ac_kw
from lemgrid.agents.strategies import Decision, Feedback, Observation, Order, make_strategy
from lemgrid.grid.controls import Droop, choose_phase_switches, solve_with_inverters
from lemgrid.grid.feeders import PHASES
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.losses import allocate_losses
from lemgrid.grid.metrics import IntervalMetrics, VoltageQuality, interval_metrics
from lemgrid.grid.sensitivity import Sensitivities, one_hot, sensitivities
from lemgrid.grid.solver import make_solver
from lemgrid.grid.state import GridState
from lemgrid.grid.topology import Tree
from lemgrid.model.constraints import Curtailment, Grid, Limits, Request, make_constraint_method
from lemgrid.model.market import ClearingResult, Trade
from lemgrid.model.population import build_devices, draw_population, feeder_for, random_streams
from lemgrid.model.pricing import ClearingOptions, MarketContext, make_clearing
from lemgrid.model.recorder import Recorder
from lemgrid.model.scenario import Scenario
from lemgrid.model.settlement import Settlement, settle
from lemgrid.model.summary import summarise
from lemgrid.model.tariffs import Capacity, PairFee, TariffInputs, make_tariff

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


class _Lazy:
    """A value computed on first use (sensitivities only some tariffs and allocations need)."""

    def __init__(self, compute: Callable[[], Sensitivities]) -> None:
        self._compute = compute
        self._value: Sensitivities | None = None

    def get(self) -> Sensitivities:
        if self._value is None:
            self._value = self._compute()
        return self._value


def _apply_cut(plan: DevicePlan, export_kw: float, import_kw: float) -> None:
    """Change a plan by the DSO's cuts: export by curtailing PV, import by less battery, then EV, charging."""
    if export_kw > 0:
        plan.pv_curtailed_kw += export_kw
        plan.pv_kw -= export_kw
    if import_kw > 0:
        from_battery = min(import_kw, max(-plan.battery_kw, 0.0))
        plan.battery_kw += from_battery
        plan.ev_kw += min(import_kw - from_battery, max(-plan.ev_kw, 0.0))


def _cut_orders(orders: list[Order], cut: Curtailment, hours: float) -> list[Order]:
    """Orders less each household's cut (sell orders by its export cut, buy orders by its import cut)."""
    left = {("sell", h): x * hours for h, x in enumerate(cut.export_kw) if x > 0}
    left.update({("buy", h): x * hours for h, x in enumerate(cut.import_kw) if x > 0})
    out = []
    for o in orders:
        key = (o.side, o.household)
        take = min(left.get(key, 0.0), o.energy_kwh)
        if take > 0:
            left[key] -= take
        if o.energy_kwh - take > 1e-9:
            out.append(Order(o.household, o.side, o.energy_kwh - take, o.price_eur_per_kwh))
    return out


def _cut_trades(
    trades: list[Trade], cut: Curtailment, hours: float
) -> tuple[list[Trade], dict[int, tuple[float, str]]]:
    """Trades less the cuts: a household's cut reduces its local trades pro rata, then its retail exchange.

    Returns the delivered trades (same order, possibly zero energy) and, per curtailed
    trade position, the energy cut and the reason.
    """
    energy = np.array([t.energy_kwh for t in trades])
    cut_by: dict[int, tuple[float, str]] = {}
    for side, cuts in (("seller", cut.export_kw), ("buyer", cut.import_kw)):
        for h in np.flatnonzero(cuts > 0):
            mine = [i for i, t in enumerate(trades) if getattr(t, side) == h]
            total = energy[mine].sum()
            if total <= 0:
                continue
            share = min(cuts[h] * hours / total, 1.0)
            for i in mine:
                amount = energy[i] * share
                energy[i] -= amount
                before = cut_by.get(i, (0.0, ""))[0]
                cut_by[i] = (before + amount, cut.reason[h])
    delivered = [
        Trade(t.buyer, t.seller, float(e), t.price_eur_per_kwh) for t, e in zip(trades, energy, strict=True)
    ]
    return delivered, cut_by


def _trade_losses(trades: list[Trade], household_kwh: np.ndarray, settlement: Settlement) -> np.ndarray:
    """Each trade's share of the allocated losses.

    A household's allocation is spread over all its exchanges (local trades and the
    retailer) in proportion to energy; a trade carries its buyer's and seller's parts.
    """
    exchanged = (
        settlement.bought_local_kwh
        + settlement.sold_local_kwh
        + settlement.bought_retail_kwh
        + settlement.sold_retail_kwh
    )
    per_kwh = np.divide(household_kwh, exchanged, out=np.zeros_like(household_kwh), where=exchanged > 0)
    return np.array([t.energy_kwh * (per_kwh[t.buyer] + per_kwh[t.seller]) for t in trades])


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
        zoned = scenario.market.pricing == "zonal" or scenario.tariff.kind == "zonal"
        self.population["zone"] = (
            self.tree.zones(scenario.market.zonal.n_zones) if zoned else np.zeros(len(self.population), int)
        )
        self._attacked = self._attack_targets(streams["attack"])
        self.times = pd.date_range(
            pd.Timestamp(scenario.start, tz=zoneinfo.ZoneInfo(scenario.site.timezone)),
            periods=scenario.n_intervals,
            freq=f"{scenario.interval_minutes}min",
        )
        self._times_utc = self.times.tz_convert("UTC").tz_localize(None).to_numpy()
        self._make_profiles(streams)
        self._phase_col = np.array([PHASES.index(p) for p in self.population.phase])

        devices = build_devices(scenario, self.population, self.times[0], streams)
        strategy_rngs = streams["strategies"].spawn(len(self.population))
        for row, owned, rng_h in zip(self.population.itertuples(), devices, strategy_rngs, strict=True):
            strategy = make_strategy(str(row.strategy), scenario.strategies, rng_h)
            Household(
                self,
                int(row.Index),
                str(row.household),
                int(row.bus),
                str(row.phase),
                strategy,
                DEVICE_POLICIES[strategy.device_policy or str(row.device_policy)](scenario.strategies),
                owned,
            )
        self.households = self.agents_by_type[Household]
        if scenario.strategies.learning_file is not None:
            self.load_learning(scenario.strategies.learning_file)
        self._horizon = max(1, round(scenario.strategies.lp_horizon_hours / scenario.interval_hours))
        self.last_supply_voltage_pu = np.full(len(self.population), np.nan)
        self._ev_three_phase = np.array([d.ev is not None and d.ev.three_phase for d in devices])
        self.retailer = Retailer(
            self,
            scenario.market.retail_price_eur_per_kwh,
            scenario.market.feed_in_tariff_eur_per_kwh,
        )

        market = scenario.market
        n = len(self.population)
        self.tariff = make_tariff(
            scenario.tariff,
            n,
            scenario.interval_hours,
            lambda: self.distance_ohm,
            self.population.zone.to_numpy(),
        )
        self.mechanism = make_clearing(
            market.pricing,
            market.clearing_mechanism,
            MarketContext(
                rng=streams["market"],
                zone=self.population.zone.to_numpy(),
                preference_eur_per_kwh=self._p2p_preference()
                if market.clearing_mechanism == "p2p"
                else np.zeros((n, n)),
                retail_price_eur_per_kwh=market.retail_price_eur_per_kwh,
                feed_in_tariff_eur_per_kwh=market.feed_in_tariff_eur_per_kwh,
            ),
            ClearingOptions(market.community.pricing, market.zonal.inter_zone_capacity_kwh),
        )
        self.dso = DSO(self, scenario.tariff.network_cost_eur_per_household_year * n)
        self.solver = make_solver(scenario.grid.solver, self.feeder, scenario.grid.max_iterations)
        self._lv_bus_pos = self.feeder.net.bus.index.get_indexer(self.feeder.lv_buses)
        self._bus_ids = self.feeder.net.bus.index.to_numpy()
        self.congested_lines = np.zeros(len(self.feeder.net.line), dtype=bool)  # ever above the limit
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
        self.constraint_method = make_constraint_method(
            market.constraint_mode,
            self._constraint_grid() if market.constraint_mode != "none" else None,  # type: ignore[arg-type]
            Limits(
                scenario.grid.v_min_pu,
                scenario.grid.v_max_pu,
                scenario.grid.line_loading_limit_percent,
                market.constraint_margin_pu,
                market.constraint_margin_percent,
            ),
        )

        self.interval = 0
        self.last_price_eur_per_kwh: float | None = None
        self.last_orders: list[Order] = []
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
            tables = ["intervals", "households", "trades", "curtailments"]
            if market.pricing == "zonal":
                tables.append("zone_prices")
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
        return Grid(self.solver, self.lindist, self._lv_bus_pos, self._bus_ids, self._phase_col)

    def _p2p_preference(self) -> np.ndarray:
        """[buyer, seller] premium for green sellers minus a penalty per ohm of distance and any pair fee."""
        p2p = self.config.market.p2p
        green = self.population.has_pv.to_numpy()
        preference = p2p.green_premium_eur_per_kwh * green[None, :].astype(float)
        preference = preference - p2p.distance_penalty_eur_per_kwh_per_ohm * self.distance_ohm
        if isinstance(self.tariff, PairFee):  # a distance or zonal fee is paid per pair: it counts too
            preference = preference - self.tariff.eur_per_kwh
        return preference

    def _attack_targets(self, rng: np.random.Generator) -> np.ndarray:
        """Which households' demand reports the attack manipulates."""
        attack = self.config.attack
        n = len(self.population)
        names = self.population.household.to_numpy()
        if attack.kind != "demand":
            return np.zeros(n, dtype=bool)
        if attack.households:
            unknown = sorted(set(attack.households) - set(names))
            if unknown:
                raise ValueError(
                    f"scenario field 'attack.households' names households {unknown} that feeder "
                    f"{self.feeder.name!r} does not have; its households are {list(names[:5])}..."
                )
            return np.isin(names, attack.households)
        chosen = np.zeros(n, dtype=bool)
        chosen[rng.permutation(n)[: int(round(attack.share * n))]] = True
        return chosen

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
        hours = cfg.interval_hours
        t0_s, t1_s = float(self.env.now), float(self.env.now + self._interval_s)
        tic = time.perf_counter()

        # observe + plan devices + report + decide orders (a strategy may change its battery)
        base_kw = self.load_kw[:, k]
        pv_kw = self.pv_kw[:, k]
        reported_signal = self._price_signal(k)
        plans = [
            h.plan(
                float(base_kw[h.index]),
                float(pv_kw[h.index]),
                t0_s,
                t1_s,
                self._forecast(h.index, k, reported_signal) if h.policy.needs_forecast else None,
            )
            for h in self.households
        ]
        planned_kw = np.array([p.net_kw(float(base_kw[i])) for i, p in enumerate(plans)])
        reported_kwh = self._reports(k, planned_kw * hours)
        per_day = 1440 // cfg.interval_minutes
        observations = []
        for h in self.households:
            battery = h.devices.battery
            flex = battery.flexibility(hours) if battery is not None else None
            observations.append(
                Observation(
                    household=h.index,
                    interval=k,
                    net_energy_kwh=float(reported_kwh[h.index]),
                    retail_price_eur_per_kwh=market.retail_price_eur_per_kwh * reported_signal,
                    feed_in_tariff_eur_per_kwh=market.feed_in_tariff_eur_per_kwh * reported_signal,
                    last_price_eur_per_kwh=None
                    if self.last_price_eur_per_kwh is None
                    else self.last_price_eur_per_kwh * reported_signal,
                    interval_of_day=k % per_day,
                    intervals_per_day=per_day,
                    hours=hours,
                    battery_soc=None if battery is None else battery.soc,
                    battery_planned_kw=plans[h.index].battery_kw,
                    battery_min_kw=0.0 if flex is None else flex.p_min_kw,
                    battery_max_kw=0.0 if flex is None else flex.p_max_kw,
                    voltage_pu=None
                    if np.isnan(self.last_supply_voltage_pu[h.index])
                    else float(self.last_supply_voltage_pu[h.index]),
                )
            )
        decisions: list[Decision] = [h.decide(observations[h.index]) for h in self.households]
        orders: list[Order] = [o for d in decisions for o in d.orders]
        for h, decision in zip(self.households, decisions, strict=True):
            if decision.battery_kw is not None and h.devices.battery is not None:
                plan = plans[h.index]
                before = plan.battery_kw
                plan.battery_kw = h.devices.battery.flexibility(hours).clip(decision.battery_kw)
                planned_kw[h.index] += plan.battery_kw - before
                reported_kwh[h.index] += (plan.battery_kw - before) * hours
        toc = self._lap("decide", tic)

        # clear under the constraint mode, then the devices run as planned (less any cuts)
        clearing, cut, trade_cuts = self._clear(
            orders, plans, planned_kw, reported_kwh / hours, k, t0_s, t1_s
        )
        for h, plan in zip(self.households, plans, strict=True):
            _apply_cut(plan, float(cut.export_kw[h.index]), float(cut.import_kw[h.index]))
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
        self.congested_lines |= state.line_loading_percent > cfg.grid.line_loading_limit_percent
        dispatch["vm_pu"] = customer_vm
        self.last_supply_voltage_pu = customer_vm
        self._last_vuf_percent = metrics.vuf_max_percent
        toc = self._lap("grid", toc)

        # settle what the meters saw with the retailer's prices and the network fees, reward
        net_kwh = dispatch["net_injection_kw"] * hours
        trades = clearing.trades
        measured = _Lazy(lambda: sensitivities(self.solver, p_kw, q_kvar, one_hot(self._phase_col)))
        settlement = settle(
            net_kwh, trades, market.retail_price_eur_per_kwh, market.feed_in_tariff_eur_per_kwh
        )
        fees = self.tariff.fees(
            TariffInputs(k, trades, settlement.bought_retail_kwh, net_kwh, state, measured.get)
        )
        settlement = settlement.with_network_fees(fees.household_eur)
        losses_kw = (
            allocate_losses(
                market.loss_allocation,
                dispatch["net_injection_kw"],
                state,
                lambda: self.tree,
                lambda: measured.get().plsf,
            )
            if state.converged
            else np.full(len(net_kwh), np.nan)
        )
        dispatch["loss_allocation_kwh"] = losses_kw * hours
        retailer_only_bill = np.where(
            net_kwh < 0,
            -net_kwh * market.retail_price_eur_per_kwh,
            -net_kwh * market.feed_in_tariff_eur_per_kwh,
        )
        wear = dispatch["battery_wear_eur"] = np.array(
            [
                h.devices.battery.degradation_cost_eur(d.battery_kw, hours) if h.devices.battery else 0.0
                for h, d in zip(self.households, done, strict=True)
            ]
        )
        reward = retailer_only_bill - settlement.bill_eur - wear
        dispatch["reward_eur"] = reward
        bills = settlement.bill_eur
        traded = settlement.bought_local_kwh + settlement.sold_local_kwh
        for household in self.households:
            i = household.index
            household.bill_eur += float(bills[i])
            household.learn(
                observations[i], Feedback(float(reward[i]), float(traded[i]), clearing.mean_price_eur_per_kwh)
            )
        dispatch["action"] = np.array([h.strategy.last_action for h in self.households], dtype=object)
        self.retailer.revenue_eur += settlement.retailer_revenue_eur
        self.dso.revenue_eur += settlement.network_revenue_eur
        self.dso.curtailed_export_kwh += float(cut.export_kw.sum() * hours)
        self.dso.curtailed_import_kwh += float(cut.import_kw.sum() * hours)
        if clearing.mean_price_eur_per_kwh is not None:
            self.last_price_eur_per_kwh = clearing.mean_price_eur_per_kwh
        toc = self._lap("clear", toc)

        self.last_orders = orders
        self.last_clearing, self.last_settlement = clearing, settlement
        self.last_grid, self.last_metrics = state, metrics
        self.last_curtailment = cut
        dispatch["reported_net_kwh"] = reported_kwh
        dispatch["curtailed_export_kwh"] = cut.export_kw * hours
        dispatch["curtailed_import_kwh"] = cut.import_kw * hours
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
            cut,
            trade_cuts,
            fees.trade_eur,
            _trade_losses(trades, dispatch["loss_allocation_kwh"], settlement),
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

    def _price_signal(self, k: int) -> float:
        """The factor on every price the households see (the price attack)."""
        attack = self.config.attack
        return attack.factor if attack.kind == "price" and k >= attack.start_interval else 1.0

    def _reports(self, k: int, planned_kwh: np.ndarray) -> np.ndarray:
        """What the households report as their expected net energy (the demand attack)."""
        attack = self.config.attack
        if attack.kind == "demand" and k >= attack.start_interval:
            return np.where(self._attacked, planned_kwh * attack.factor, planned_kwh)
        return planned_kwh.copy()

    def _forecast(self, i: int, k: int, signal: float) -> Forecast:
        """Household ``i``'s forecast from interval ``k`` over the strategies' LP horizon.

        Its own load and PV (perfect foresight), the retailer's prices as the
        price signal shows them plus a volumetric import fee, and a household-level
        capacity tariff's price with the peak billed so far in the period.
        """
        end = min(k + self._horizon, self.config.n_intervals)
        n = end - k
        market, tariff = self.config.market, self.config.tariff
        fee = tariff.import_eur_per_kwh if tariff.kind == "volumetric" else 0.0
        peak = self.tariff if isinstance(self.tariff, Capacity) and self.tariff.level == "household" else None
        return Forecast(
            load_kw=self.load_kw[i, k:end],
            pv_kw=self.pv_kw[i, k:end],
            buy_eur_per_kwh=np.full(n, market.retail_price_eur_per_kwh * signal + fee),
            sell_eur_per_kwh=np.full(n, market.feed_in_tariff_eur_per_kwh * signal),
            hours=self.config.interval_hours,
            peak_eur_per_kw=0.0 if peak is None else peak.rate,
            peak_so_far_kw=0.0 if peak is None else float(peak.peak_kw[i]),
        )

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

    def _injections(self, net_kw: np.ndarray, ev_kw: np.ndarray) -> np.ndarray:
        """(n, 3) active injections: the net on the household's phase, 3-phase chargers split evenly."""
        rows = np.arange(len(net_kw))
        ev3 = np.where(self._ev_three_phase, ev_kw, 0.0)
        p = np.zeros((len(rows), 3))
        p[rows, self._phase_col] = net_kw - ev3
        return p + ev3[:, None] / 3

    def _clear(
        self,
        orders: list[Order],
        plans: list[DevicePlan],
        planned_kw: np.ndarray,
        reported_kw: np.ndarray,
        k: int,
        t0_s: float,
        t1_s: float,
    ) -> tuple[ClearingResult, Curtailment, dict[int, tuple[float, str]]]:
        """Clear the market under the constraint mode; returns the clearing, the cuts and the trades' cuts.

        ``post_check`` clears first and then curtails trades (``trade_cuts``: trade
        position -> curtailed kWh and reason); ``sensitivity`` and ``opf`` curtail the
        orders before clearing.
        """
        method = self.constraint_method
        n = len(plans)
        if method.mode == "none":
            return self.mechanism.clear(orders), Curtailment.nothing(n), {}
        hours = self.config.interval_hours
        ev_kw = np.array([p.ev_kw for p in plans])
        battery_kw = np.array([p.battery_kw for p in plans])
        # an EV can charge less down to what its deadline still needs
        ev_reducible = np.array(
            [
                max(h.devices.ev.flexibility(t0_s, t1_s).p_max_kw - plans[h.index].ev_kw, 0.0)
                if h.devices.ev is not None
                else 0.0
                for h in self.households
            ]
        )
        export_flex = np.clip(np.minimum(planned_kw, [p.pv_kw for p in plans]), 0, None)
        import_flex = np.clip(np.minimum(-planned_kw, np.clip(-battery_kw, 0, None) + ev_reducible), 0, None)
        market = self.config.market
        export_cost = np.full(n, market.feed_in_tariff_eur_per_kwh)
        import_cost = np.full(n, market.retail_price_eur_per_kwh)
        for o in orders:
            (export_cost if o.side == "sell" else import_cost)[o.household] = o.price_eur_per_kwh
        # a cut of PV or battery lands on the household's phase; of a three-phase charger, on all three
        own_phase = one_hot(self._phase_col)
        battery_share = np.divide(
            np.minimum(np.clip(-battery_kw, 0, None), import_flex),
            import_flex,
            out=np.ones(n),
            where=import_flex > 0,
        )
        ev_split = np.where(self._ev_three_phase[:, None], 1 / 3, own_phase)
        request = Request(
            p_kw=self._injections(reported_kw, ev_kw),
            q_kvar=self._reactive(k),
            export_flex_kw=export_flex,
            import_flex_kw=import_flex,
            export_cost=export_cost,
            import_cost=import_cost,
            export_direction=own_phase,
            import_direction=battery_share[:, None] * own_phase + (1 - battery_share[:, None]) * ev_split,
        )
        if method.mode == "post_check":
            clearing = self.mechanism.clear(orders)
            cut = method.curtail(request).valued(request, hours)
            trades, trade_cuts = _cut_trades(clearing.trades, cut, hours)
            clearing = ClearingResult(trades, clearing.price_eur_per_kwh, clearing.zone_prices)
            return clearing, cut, trade_cuts
        cut = method.curtail(request).valued(request, hours)
        return self.mechanism.clear(_cut_orders(orders, cut, hours)), cut, {}

    def _reactive(self, k: int) -> np.ndarray:
        """(n, 3) reactive injections of the households' loads (PV at unity power factor)."""
        q = np.zeros((len(self._phase_col), 3))
        q[np.arange(len(q)), self._phase_col] = -self.load_kvar[:, k]
        return q

    def _grid_step(
        self, dispatch: dict[str, np.ndarray], k: int
    ) -> tuple[GridState, np.ndarray, np.ndarray, int]:
        """Per-phase injections on the feeder, solved (with inverter droop control if enabled)."""
        rows = np.arange(len(self._phase_col))
        # everything but PV: PV's share is set (and maybe curtailed) by the inverters below
        p_other = self._injections(dispatch["net_injection_kw"] - dispatch["pv_kw"], dispatch["ev_kw"])
        q_other = self._reactive(k)
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
        cut: Curtailment,
        trade_cuts: dict[int, tuple[float, str]],
        trade_fees_eur: np.ndarray,
        trade_losses_kwh: np.ndarray,
    ) -> None:
        names = self.population.household.to_numpy()
        hours = self.config.interval_hours
        cfg_grid = self.config.grid
        row: dict[str, Any] = {
            "interval": k,
            "time": self._times_utc[k],
            "clearing_price_eur_per_kwh": np.nan
            if clearing.price_eur_per_kwh is None
            else clearing.price_eur_per_kwh,
            "mean_local_price_eur_per_kwh": np.nan
            if clearing.mean_price_eur_per_kwh is None
            else clearing.mean_price_eur_per_kwh,
            "local_volume_kwh": clearing.volume_kwh,
            "n_trades": sum(t.energy_kwh > 0 for t in clearing.trades),
            "network_fees_eur": settlement.network_revenue_eur,
            "curtailed_export_kwh": float(cut.export_kw.sum() * hours),
            "curtailed_import_kwh": float(cut.import_kw.sum() * hours),
            "curtailment_cost_eur": cut.cost_eur,
            "constraint_power_flows": cut.power_flows,
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
                "network_fee_eur": settlement.network_fee_eur,
                "bill_eur": settlement.bill_eur,
            },
        )
        trades = clearing.trades
        if trades:
            rec.add(
                "trades",
                {
                    "interval": k,
                    "buyer": names[[t.buyer for t in trades]],
                    "seller": names[[t.seller for t in trades]],
                    "energy_kwh": np.array([t.energy_kwh for t in trades]),
                    "price_eur_per_kwh": np.array([t.price_eur_per_kwh for t in trades]),
                    "network_fee_eur": trade_fees_eur,
                    "loss_allocation_kwh": trade_losses_kwh,
                    "curtailed_kwh": np.array([trade_cuts.get(i, (0.0, ""))[0] for i in range(len(trades))]),
                    "curtailment_reason": np.array(
                        [trade_cuts.get(i, (0.0, ""))[1] for i in range(len(trades))], dtype=object
                    ),
                },
            )
        cut_households = np.flatnonzero((cut.export_kw > 0) | (cut.import_kw > 0))
        if len(cut_households):
            rec.add(
                "curtailments",
                {
                    "interval": k,
                    "household": names[cut_households],
                    "export_kwh": cut.export_kw[cut_households] * hours,
                    "import_kwh": cut.import_kw[cut_households] * hours,
                    "reason": np.array([cut.reason[h] for h in cut_households], dtype=object),
                },
            )
        if clearing.zone_prices and "zone_prices" in rec.tables:
            zones = sorted(clearing.zone_prices)
            rec.add(
                "zone_prices",
                {
                    "interval": k,
                    "zone": np.array(zones),
                    "price_eur_per_kwh": np.array(
                        [
                            np.nan if clearing.zone_prices[z] is None else clearing.zone_prices[z]
                            for z in zones
                        ]
                    ),
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
