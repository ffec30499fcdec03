"""Perfect foresight of the local price (``bidding.forecast: perfect``), found by repeated runs.

A household with perfect foresight bids knowing the price every coming
interval will clear at. But the prices depend on the bids, so the prices a
run foresees must be the prices that run clears: a fixed point. lemgrid
looks for it by iteration: the first run foresees the retail/feed-in
midpoint, each further run foresees the prices the run before it cleared (an
interval without local trade foresees the midpoint), up to
``bidding.foresight_passes`` runs or until no price moves by more than
``FORESIGHT_TOLERANCE``. Price-responsive households can make the iteration
cycle (a cheap hour foreseen draws the flexible demand that makes it dear);
the run's ``price_forecast_mae_eur_per_kwh`` says how far its foresight
missed, so an upper-bound study states how perfect its foresight was.
"""

from collections.abc import Callable

import numpy as np

FORESIGHT_TOLERANCE = 1e-6  # EUR/kWh


def foreseen_prices(
    run: Callable[[np.ndarray], np.ndarray], midpoint_eur_per_kwh: np.ndarray, passes: int
) -> np.ndarray:
    """The prices the final run foresees; ``run(foreseen)`` gives the prices a run foreseeing them clears."""
    foreseen = np.asarray(midpoint_eur_per_kwh, dtype=float)
    for _ in range(passes - 1):
        cleared = run(foreseen)
        new = np.where(np.isnan(cleared), midpoint_eur_per_kwh, cleared)
        done = np.abs(new - foreseen).max() <= FORESIGHT_TOLERANCE
        foreseen = new
        if done:
            break
    return foreseen
