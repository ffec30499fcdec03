"""Checks of a scenario against the data it names, before a run starts.

The scenario schema checks each value on its own; these checks need the
feeder or a file the scenario points to: the feeder is a radial LV network,
the attacked households exist, there are no more zones than households, and
the learning file can be read, the DSO's flexibility market watches elements of the
feeder and has bid curves to buy from, and the community manager runs without DSO
cuts it would undo. ``lemgrid run`` and ``lemgrid sweep`` call
:func:`check_before_run` before any work, so a bad input is a one-line error
and never a failed run or a traceback.
"""

import json
from pathlib import Path

from lemgrid.grid.feeders import Feeder
from lemgrid.model.build import learning_entries
from lemgrid.model.flexibility import element_index, unknown_elements
from lemgrid.model.population import feeder_for
from lemgrid.model.scenario import Scenario, ScenarioError


def check_before_run(scenario: Scenario) -> Feeder:
    """Raise a :class:`ScenarioError` (field, value, rule) if ``scenario`` cannot run; returns its feeder."""
    feeder = feeder_for(scenario)  # a user's feeder is validated as it is read
    names = set(feeder.households.household.astype(str))
    n = len(names)
    attack = scenario.attack
    unknown = sorted(set(attack.households) - names)
    if attack.kind == "demand" and unknown:
        raise ScenarioError(
            f"scenario field 'attack.households' = {unknown}: feeder {scenario.feeder.name!r} has no such "
            f"households; it has {n}, e.g. {sorted(names)[:3]}"
        )
    zoned = scenario.market.pricing == "zonal" or scenario.tariff.kind == "zonal"
    if zoned and scenario.market.zonal.n_zones > n:
        raise ScenarioError(
            f"scenario field 'market.zonal.n_zones' = {scenario.market.zonal.n_zones}: more zones than the "
            f"{n} households of feeder {scenario.feeder.name!r}; at most {n}"
        )
    _check_flexibility(scenario, feeder)
    _check_community_alone(scenario)
    if scenario.strategies.learning_file is not None:
        _check_learning_file(scenario.strategies.learning_file, scenario)
    return feeder


def _check_flexibility(scenario: Scenario, feeder: Feeder) -> None:
    flex = scenario.dso.flexibility
    if not flex.enabled:
        return
    if scenario.bidding.mode != "curves":
        raise ScenarioError(
            "scenario field 'dso.flexibility.enabled' = true needs bidding.mode: curves (households offer "
            f"flexibility from their bid curves), got bidding.mode: {scenario.bidding.mode!r}"
        )
    unknown = unknown_elements(feeder, flex.elements)
    if unknown:
        known = sorted(element_index(feeder))
        raise ScenarioError(
            f"scenario field 'dso.flexibility.elements' = {unknown}: feeder {scenario.feeder.name!r} has "
            "no such line or transformer; allowed: a line's or transformer's name or 'line <index>' / "
            f"'trafo <index>', e.g. {known[:3]}"
        )


def _check_community_alone(scenario: Scenario) -> None:
    """A re-dispatching manager would undo the DSO's cuts and purchases; a seller needs the market."""
    community = scenario.community
    if not community.enabled:
        return
    mode = scenario.market.constraint_mode
    flexibility = scenario.dso.flexibility.enabled
    if community.objective == "sell_flexibility":
        if not flexibility:
            raise ScenarioError(
                "scenario field 'community.objective' = 'sell_flexibility' without a DSO flexibility market: "
                "the manager would have nobody to sell to; allowed: dso.flexibility.enabled: true, or "
                "objective self_consumption or peak_shaving"
            )
        return  # it delivers what the DSO bought and takes its cuts like a household: no re-dispatch
    acting = [f"market.constraint_mode: {mode}"] if mode != "none" else []
    if flexibility:
        acting.append("dso.flexibility.enabled: true")
    if acting:
        raise ScenarioError(
            f"scenario field 'community.enabled' = true with {' and '.join(acting)}: the community manager "
            f"({community.objective}) re-dispatches its battery after the DSO's cuts and bought flexibility "
            "and would undo them; allowed: market.constraint_mode: none, and a DSO flexibility market only "
            "with community.objective: sell_flexibility"
        )


def _check_learning_file(path: str, scenario: Scenario) -> None:
    field = f"scenario field 'strategies.learning_file' = {path!r}"
    try:
        saved = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ScenarioError(f"{field}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ScenarioError(f"{field}: not a learning file written by Model.save_learning ({exc})") from None
    entries = learning_entries(saved, field)
    mix = [k for k, share in scenario.households.strategy.items() if share > 0]
    if len(mix) == 1:  # one strategy for all: every saved household must have learnt it
        (name,) = mix
        other = sorted({e["strategy"] for e in entries.values()} - {name})
        if other:
            raise ScenarioError(
                f"{field}: saved by households trading with {other}, but every household here trades "
                f"with {name!r}; allowed: a file saved by a run with the same strategies"
            )


__all__ = ["check_before_run"]
