"""Set-up of a Model: the parts it is built from, each from the scenario (no state of its own).

The Model's ``__init__`` reads as a list of these calls; keeping them here keeps
``model/model.py`` the orchestrator of the interval loop.
"""

import gc
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
from lemgrid.agents.strategies import LEARNING_FILE_VERSION, make_strategy
from lemgrid.grid.congestion import CongestionLog, PhaseRatings
from lemgrid.grid.feeders import Feeder
from lemgrid.grid.lindist import LinDist3Flow
from lemgrid.grid.metrics import VoltageQuality
from lemgrid.grid.state import PowerFlowSolver, as_slice
from lemgrid.grid.topology import Tree
from lemgrid.model import community, prices
from lemgrid.model.constraints import Limits
from lemgrid.model.day_ahead import DayAhead, Outlook, forecast_profiles
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.foresight import foreseen_prices
from lemgrid.model.grid_step import Network, RunMeasures
from lemgrid.model.interval import Connections, PowerFlowError
from lemgrid.model.market import Mechanism
from lemgrid.model.observe import Forecaster
from lemgrid.model.prices import TimeOfUseWindow
from lemgrid.model.pricing import ClearingOptions, MarketContext, make_clearing
from lemgrid.model.record import Output
from lemgrid.model.recorder import Recorder
from lemgrid.model.scenario import Scenario, ScenarioError
from lemgrid.model.tariffs import NetworkTariff


def times(cfg: Scenario) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The start of every interval, local (the site's time zone) and as naive UTC for the tables."""
    local = pd.date_range(
        pd.Timestamp(cfg.start, tz=zoneinfo.ZoneInfo(cfg.site.timezone)),
        periods=cfg.n_intervals,
        freq=f"{cfg.interval_minutes}min",
    )
    return local, local.tz_convert("UTC").tz_localize(None).to_numpy()


def zones(cfg: Scenario, pop: pd.DataFrame, tree: Callable[[], Tree]) -> np.ndarray:
    """Each participant's zone: by the feeder's topology for a zonal design or fee, else all in zone 0.

    The zones split the households; the community manager joins the zone its battery sits in.
    """
    zoned = cfg.market.pricing == "zonal" or cfg.tariff.kind == "zonal"
    counted = ~community.is_manager(pop)
    return tree().zones(cfg.market.zonal.n_zones, counted) if zoned else np.zeros(len(pop), int)


def add_households(
    model: mesa.Model, cfg: Scenario, pop: pd.DataFrame, devices: list[Devices], rng: np.random.Generator
) -> None:
    """One Household agent per population row, with its devices, strategy and device policy."""
    strategy_rngs = rng.spawn(len(pop))
    manager = community.is_manager(pop)
    for row, owned, rng_h in zip(pop.itertuples(), devices, strategy_rngs, strict=True):
        if manager[row.Index]:
            community.add_manager(model, cfg, row, rng_h)
            continue
        strategy = make_strategy(str(row.strategy), cfg.strategies, rng_h)
        policy = DEVICE_POLICIES[strategy.device_policy or str(row.device_policy)](cfg.strategies)
        Household(
            model, int(row.Index), str(row.household), int(row.bus), str(row.phase), strategy, policy, owned
        )


def p2p_preference(
    cfg: Scenario,
    pop: pd.DataFrame,
    distance_ohm: np.ndarray,
    tariff: NetworkTariff,
    rng: np.random.Generator,
) -> np.ndarray:
    """[buyer, seller] preferences for bilateral P2P (EUR/kWh).

    A premium for green sellers, weighted by the buyer's own taste (drawn from a
    child of ``rng``), minus a penalty per ohm of distance and any pair fee.
    """
    p2p = cfg.market.p2p
    green = pop.has_pv.to_numpy()
    weight = p2p.green_weight.sample(
        rng.spawn(1)[0], len(pop)
    )  # a child stream: the market's own draws stay as they were
    preference = p2p.green_premium_eur_per_kwh * weight[:, None] * green[None, :].astype(float)
    preference = preference - p2p.distance_penalty_eur_per_kwh_per_ohm * distance_ohm
    if tariff.pair_fee_eur_per_kwh is not None:  # a fee paid per pair counts too
        preference = preference - tariff.pair_fee_eur_per_kwh
    return preference


def make_mechanism(
    cfg: Scenario, pop: pd.DataFrame, rng: np.random.Generator, preference: "Any", households: "Any" = ()
) -> Mechanism:
    """The clearing mechanism of the scenario's pricing design.

    ``preference``: a callable giving the P2P preferences; ``households``: their strategies re-quote in a CDA.
    """
    market = cfg.market
    n = len(pop)
    context = MarketContext(
        rng=rng,
        zone=pop.zone.to_numpy(),
        preference_eur_per_kwh=preference() if market.clearing_mechanism == "p2p" else np.zeros((n, n)),
        retail_price_eur_per_kwh=market.retail_price_eur_per_kwh,
        feed_in_tariff_eur_per_kwh=market.feed_in_tariff_eur_per_kwh,
        traders=[h.strategy for h in sorted(households, key=lambda h: h.index)],
    )
    options = ClearingOptions(
        market.community.pricing,
        market.zonal.inter_zone_capacity_kwh,
        market.pay_as_clear_k,
        market.cda.rounds,
    )
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
        as_slice(feeder.lv_bus_positions),
        cfg.grid.v_min_pu,
        cfg.grid.v_max_pu,
        cfg.grid.line_loading_limit_percent,
        PhaseRatings.of(feeder),
    )


def measures(cfg: Scenario, feeder: Feeder, pop: pd.DataFrame, congested_lines: np.ndarray) -> RunMeasures:
    """What the grid stage accumulates: voltage quality, lines ever congested, a log of congested elements.

    The voltage quality counts the households only: the community manager is no customer.
    """
    customers = np.flatnonzero(~community.is_manager(pop))
    quality = VoltageQuality(len(customers), cfg.grid.v_min_pu, cfg.grid.v_max_pu)
    log = CongestionLog.for_feeder(feeder, cfg.grid.line_loading_limit_percent)
    return RunMeasures(quality, congested_lines, log, customers)


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
    if cfg.bidding.day_ahead:
        tables.append("day_ahead_trades")
    if cfg.market.pricing == "zonal":
        tables.append("zone_prices")
    if mode != "none":
        tables.append("bus_voltages")
    recorder = Recorder(out_dir, tables)
    recorder.write_json("scenario.json", cfg.to_json())
    pop.to_parquet(out_dir / "population.parquet", index=False)
    return recorder, output


def save_learning(households: Any, path: str | Path) -> None:
    """Write every household's learning state (by name and strategy) to a versioned JSON file."""
    state = {h.name: {"strategy": h.strategy.name, "state": h.strategy.state()} for h in households}
    Path(path).write_text(json.dumps({"lemgrid_learning": LEARNING_FILE_VERSION, "households": state}))


def load_learning(households: Any, path: str | Path) -> None:
    """Continue from :func:`save_learning`'s file; a household saved under another strategy is an error."""
    field = f"scenario field 'strategies.learning_file' = {str(path)!r}"
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{field}: cannot read it: {exc}") from None
    entries = learning_entries(saved, field)
    for h in households:
        entry = entries.get(h.name)
        if entry is None:
            continue
        if entry["strategy"] != h.strategy.name:
            raise ScenarioError(
                f"{field}: household {h.name!r} was saved with strategy {entry['strategy']!r} but trades "
                f"with {h.strategy.name!r} here; allowed: a file saved by a run with the same strategies"
            )
        try:
            h.strategy.load_state(entry["state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(
                f"{field}: household {h.name!r}: its {entry['strategy']} state cannot be loaded ({exc!r})"
            ) from None


def learning_entries(saved: Any, field: str) -> dict[str, dict[str, Any]]:
    """The per-household entries of a learning file, or a :class:`ScenarioError` naming what is wrong."""
    not_one = f"{field}: not a learning file written by Model.save_learning"
    if not isinstance(saved, dict):
        raise ScenarioError(f"{not_one} (a JSON mapping)")
    version = saved.get("lemgrid_learning")
    if version is None and saved and all(isinstance(v, dict) for v in saved.values()):
        raise ScenarioError(
            f"{field}: written by an older lemgrid (no 'lemgrid_learning' version); "
            f"allowed: version {LEARNING_FILE_VERSION}, written by Model.save_learning of this lemgrid"
        )
    if version != LEARNING_FILE_VERSION:
        if version is None:
            raise ScenarioError(f"{not_one} (a JSON mapping with 'lemgrid_learning' and 'households')")
        raise ScenarioError(
            f"{field}: learning-file version {version!r}; allowed: version {LEARNING_FILE_VERSION}"
        )
    entries = saved.get("households")
    if not isinstance(entries, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("strategy"), str) and isinstance(e.get("state"), dict)
        for e in entries.values()
    ):
        raise ScenarioError(f"{not_one} ('households': name -> {{strategy, state}})")
    return entries


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


def forecasting(
    cfg: Scenario, model: Any, foreseen: np.ndarray | None, model_class: Callable[..., Any]
) -> tuple[PriceForecast, Forecaster, DayAhead | None]:
    """The local-price forecast, the LP optimisers' forecaster and, if asked for, the day-ahead stage.

    ``model`` gives the profiles, the tariff, the retailer and the mechanism. The
    forecaster and the day-ahead stage see the households' load and PV forecasts
    (the true profiles with the scenario's forecast error). With the ``perfect``
    forecast and no ``foreseen`` prices, runs of ``model_class(cfg, foreseen_prices=...)``
    find them (:mod:`model.foresight`).
    """
    retailer, bidding = model.retailer, cfg.bidding
    retail, feed_in = retailer.retail_price_eur_per_kwh, retailer.feed_in_tariff_eur_per_kwh
    if bidding.forecast == "perfect" and foreseen is None:
        run = lambda prices: cleared_prices(model_class(cfg, foreseen_prices=prices))  # noqa: E731
        foreseen = foreseen_prices(run, (retail + feed_in) / 2, bidding.foresight_passes)
    per_day = 1440 // cfg.interval_minutes
    charge = model.tariff.import_charge_eur_per_kwh
    prices = PriceForecast(bidding.forecast, retail, feed_in, per_day, bidding.ema_weight, foreseen, charge)
    load, pv = forecast_profiles(model.load_kw, model.pv_kw, bidding, cfg.seed)
    forecaster = Forecaster.of(cfg, load, pv, model.tariff, prices)
    if not bidding.day_ahead:
        return prices, forecaster, None
    outlook = Outlook(load, pv, retail, feed_in, cfg.interval_minutes * 60, per_day, charge)
    return prices, forecaster, DayAhead(outlook, model.mechanism, prices, bidding)


def cleared_prices(model: Any) -> np.ndarray:
    """Run ``model`` to its end; the mean local price of every interval (NaN without local trade)."""
    while model.running:
        model.step()
    return model.interval_rows.column("mean_local_price_eur_per_kwh")


def freeze_built_state() -> None:
    """Keep what was built (feeder, agents, profiles: alive all run) out of the cyclic GC's sweeps.

    At 1,022 households the GC's time per interval fell from 25 to 8 ms. Objects frozen
    before (models dropped unfinished: a Reset in the browser app, a gym episode cut
    short) are unfrozen and collected first; ``Model.finalize`` unfreezes.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
