"""Set-up of a Model: the parts it is built from, each from the scenario (no state of its own).

The Model's ``__init__`` reads as a list of these calls; keeping them here keeps
``model/model.py`` the orchestrator of the interval loop.
"""

import json
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from lemgrid.agents.household import Household
from lemgrid.agents.policies import DEVICE_POLICIES, Devices
from lemgrid.agents.strategies import make_strategy
from lemgrid.grid.congestion import CongestionLog
from lemgrid.grid.feeders import Feeder
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.metrics import VoltageQuality
from lemgrid.grid.state import PowerFlowSolver
from lemgrid.grid.topology import Tree
from lemgrid.model import prices
from lemgrid.model.constraints import Limits
from lemgrid.model.grid_step import Network, RunMeasures
from lemgrid.model.interval import Connections, PowerFlowError
from lemgrid.model.market import Mechanism
from lemgrid.model.prices import TimeOfUseWindow
from lemgrid.model.pricing import ClearingOptions, MarketContext, make_clearing
from lemgrid.model.record import Output
from lemgrid.model.recorder import Recorder
from lemgrid.model.scenario import Scenario
from lemgrid.model.tariffs import NetworkTariff


def times(cfg: Scenario) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The start of every interval, local (the site's time zone) and as naive UTC for the tables."""
    local = pd.date_range(
        pd.Timestamp(cfg.start, tz=zoneinfo.ZoneInfo(cfg.site.timezone)),
        periods=cfg.n_intervals,
        freq=f"{cfg.interval_minutes}min",
    )
    return local, local.tz_convert("UTC").tz_localize(None).to_numpy()


def zones(cfg: Scenario, n: int, tree: Callable[[], Tree]) -> np.ndarray:
    """Each household's zone: by the feeder's topology for a zonal design or fee, else all in zone 0."""
    zoned = cfg.market.pricing == "zonal" or cfg.tariff.kind == "zonal"
    return tree().zones(cfg.market.zonal.n_zones) if zoned else np.zeros(n, int)


def add_households(
    model: mesa.Model, cfg: Scenario, pop: pd.DataFrame, devices: list[Devices], rng: np.random.Generator
) -> None:
    """One Household agent per population row, with its devices, strategy and device policy."""
    strategy_rngs = rng.spawn(len(pop))
    for row, owned, rng_h in zip(pop.itertuples(), devices, strategy_rngs, strict=True):
        strategy = make_strategy(str(row.strategy), cfg.strategies, rng_h)
        policy = DEVICE_POLICIES[strategy.device_policy or str(row.device_policy)](cfg.strategies)
        Household(
            model, int(row.Index), str(row.household), int(row.bus), str(row.phase), strategy, policy, owned
        )


def p2p_preference(
    cfg: Scenario, pop: pd.DataFrame, distance_ohm: np.ndarray, tariff: NetworkTariff
) -> np.ndarray:
    """[buyer, seller] premium for green sellers minus a penalty per ohm of distance and any pair fee."""
    p2p = cfg.market.p2p
    green = pop.has_pv.to_numpy()
    preference = p2p.green_premium_eur_per_kwh * green[None, :].astype(float)
    preference = preference - p2p.distance_penalty_eur_per_kwh_per_ohm * distance_ohm
    if tariff.pair_fee_eur_per_kwh is not None:  # a fee paid per pair counts too
        preference = preference - tariff.pair_fee_eur_per_kwh
    return preference


def make_mechanism(
    cfg: Scenario, pop: pd.DataFrame, rng: np.random.Generator, preference: "Any"
) -> Mechanism:
    """The clearing mechanism of the scenario's pricing design (``preference``: a callable, used for p2p)."""
    market = cfg.market
    n = len(pop)
    context = MarketContext(
        rng=rng,
        zone=pop.zone.to_numpy(),
        preference_eur_per_kwh=preference() if market.clearing_mechanism == "p2p" else np.zeros((n, n)),
        retail_price_eur_per_kwh=market.retail_price_eur_per_kwh,
        feed_in_tariff_eur_per_kwh=market.feed_in_tariff_eur_per_kwh,
    )
    options = ClearingOptions(market.community.pricing, market.zonal.inter_zone_capacity_kwh)
    return make_clearing(market.pricing, market.clearing_mechanism, context, options)


def lindist(solver: PowerFlowSolver, tree: Tree, phase_col: np.ndarray) -> LinDist3Flow:
    """The LinDist3Flow model of the feeder around its no-load voltages."""
    zero = np.zeros((len(phase_col), 3))
    noload = solver.solve(zero, zero)
    if not noload.converged:
        raise PowerFlowError(f"the no-load power flow failed: {noload.error}")
    return LinDist3Flow(tree, phase_col, noload.vm_pu)


def limits(cfg: Scenario) -> Limits:
    """The limits the DSO enforces, and the margins its linear methods keep."""
    grid, market = cfg.grid, cfg.market
    return Limits(
        grid.v_min_pu,
        grid.v_max_pu,
        grid.line_loading_limit_percent,
        market.constraint_margin_pu,
        market.constraint_margin_percent,
    )


def network(cfg: Scenario, pop: pd.DataFrame, feeder: Feeder, where: Connections) -> Network:
    """The feeder as the grid stage sees it."""
    return Network(
        where,
        pop.phase_switchable.to_numpy(),
        pop.pv_kwp.to_numpy() * cfg.pv.inverter_ac_dc_ratio,
        feeder.lv_bus_positions,
        cfg.grid.v_min_pu,
        cfg.grid.v_max_pu,
        cfg.grid.line_loading_limit_percent,
    )


def measures(
    cfg: Scenario, feeder: Feeder, quality: VoltageQuality, congested_lines: np.ndarray
) -> RunMeasures:
    """What the grid stage accumulates over the run, with an empty log of congested elements."""
    return RunMeasures(
        quality, congested_lines, CongestionLog.for_feeder(feeder, cfg.grid.line_loading_limit_percent)
    )


def open_recorder(
    cfg: Scenario, out_dir: Path | None, pop: pd.DataFrame, feeder: Feeder, household_bus_pos: np.ndarray
) -> tuple[Recorder | None, Output]:
    """The recorder for the run's tables (None without an output folder) and what it writes besides rows."""
    mode = cfg.output.bus_voltages
    recorded = {"all": np.arange(len(feeder.bus_ids)), "households": np.unique(household_bus_pos)}
    output = Output(pop.household.to_numpy(), feeder.bus_ids, recorded.get(mode, np.array([], dtype=int)))
    if out_dir is None:
        return None, output
    tables = ["intervals", "households", "trades", "curtailments"]
    if cfg.market.pricing == "zonal":
        tables.append("zone_prices")
    if mode != "none":
        tables.append("bus_voltages")
    recorder = Recorder(out_dir, tables)
    recorder.write_json("scenario.json", cfg.to_json())
    pop.to_parquet(out_dir / "population.parquet", index=False)
    return recorder, output


def save_learning(households: Any, path: str | Path) -> None:
    """Write every household's learning state (by name and strategy) to a JSON file."""
    state = {h.name: {"strategy": h.strategy.name, "state": h.strategy.state()} for h in households}
    Path(path).write_text(json.dumps(state))


def load_learning(households: Any, path: str | Path) -> None:
    """Continue from :func:`save_learning`'s file (households whose strategy differs keep theirs)."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"scenario field 'strategies.learning_file' = {str(path)!r}: cannot read it: {exc}"
        ) from None
    for h in households:
        entry = saved.get(h.name)
        if entry is not None and entry.get("strategy") == h.strategy.name:
            h.strategy.load_state(entry["state"])


def retailer_prices(cfg: Scenario, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """The retail price and feed-in tariff per interval of the run (scenario section ``prices``)."""
    p, m = cfg.prices, cfg.market
    windows = [TimeOfUseWindow(w.start_hour, w.end_hour, w.price_eur_per_kwh) for w in p.time_of_use]
    return prices.retailer_prices(
        p.retail,
        p.feed_in,
        m.retail_price_eur_per_kwh,
        m.feed_in_tariff_eur_per_kwh,
        windows,
        p.retail_adder_eur_per_kwh,
        p.feed_in_adder_eur_per_kwh,
        p.wholesale_file,
        times,
    )
