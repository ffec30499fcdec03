"""Who is simulated: each household's place on the feeder and its drawn parameters."""

import numpy as np
import pandas as pd

from grid.feeders import Feeder
from model.scenario import Scenario, ScenarioError


def draw_population(scenario: Scenario, feeder: Feeder, rng: np.random.Generator) -> pd.DataFrame:
    """One row per household: name, bus, phase, annual consumption, PV and strategy.

    Draws are made in a fixed order from ``rng`` so a seed reproduces the population.
    Which households own PV is an exact share (rounded) chosen at random.
    """
    pop = feeder.households.copy().reset_index(drop=True)
    unknown = sorted(set(scenario.feeder.phase_overrides) - set(pop.household))
    if unknown:
        raise ScenarioError(
            f"scenario field 'feeder.phase_overrides' names households {unknown} that feeder "
            f"{feeder.name!r} does not have; its households are "
            f"{pop.household.iloc[0]} ... {pop.household.iloc[-1]}"
        )
    for name, phase in scenario.feeder.phase_overrides.items():
        pop.loc[pop.household == name, "phase"] = phase
    n = len(pop)
    hh = scenario.households
    pop["annual_consumption_kwh"] = hh.annual_consumption_kwh.sample(rng, n)
    pop["profile_shift_minutes"] = rng.integers(
        -hh.profile_shift_max_minutes, hh.profile_shift_max_minutes + 1, n
    )
    n_pv = int(round(scenario.penetration.pv * n))
    has_pv = np.zeros(n, dtype=bool)
    has_pv[rng.choice(n, size=n_pv, replace=False)] = True
    pop["has_pv"] = has_pv
    pv = scenario.pv
    pop["pv_kwp"] = np.where(has_pv, pv.kwp.sample(rng, n), 0.0)
    pop["pv_tilt_deg"] = np.where(has_pv, pv.tilt_deg.sample(rng, n), np.nan)
    pop["pv_azimuth_deg"] = np.where(has_pv, pv.azimuth_deg.sample(rng, n), np.nan)
    pop["strategy"] = hh.strategy
    return pop
