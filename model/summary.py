"""Run-level summary metrics, computed from the per-interval rows by the registry in :mod:`model.metrics`.

Definitions (also in the README):
- consumption: base load plus EV charging plus appliance cycles (battery
  charging is storage, not consumption);
- self-sufficiency: share of the households' consumption not imported from
  the retailer, ``1 - retail_import / consumption``;
- self-consumption: share of PV generation not exported to the retailer,
  ``1 - retail_export / pv``;
- peak feeder import/export: extreme substation exchange over all intervals;
- customer-minutes outside limits: households whose supply voltage (their
  phase at their bus) is outside the limits, times minutes;
- EN 50160 compliant share: households whose every week passes the check in
  :class:`grid.metrics.VoltageQuality`;
- VUF/PVUR 95th percentile: over the intervals, of each interval's highest
  value on the feeder (the distribution's tail without its single worst
  interval);
- congested hours: hours in which any line or a transformer phase is above
  its loading limit; congested line share: lines above their limit in at
  least one interval, over all lines;
- headrooms: the smallest distance to the voltage and thermal limits over the
  run (negative when a limit was violated): a hosting-capacity style margin;
- DSO cost recovery: network fees received over the network's cost for the
  simulated hours (``tariff.network_cost_eur_per_household_year``);
- curtailment cost: energy the constraint mode cut, valued at the limit
  prices of the households that gave it up (the welfare the limits cost).
"""

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lemgrid.agents.community import CommunityManager
from lemgrid.model.metrics import Run, summarise_run
from lemgrid.model.scenario import Scenario


def summarise(
    config: Scenario,
    rows: Sequence[dict[str, Any]],
    households: Iterable[Any],
    retailer_revenue_eur: float,
    dso: Any,
    ev_sessions: pd.DataFrame,
    voltage_quality: pd.DataFrame,
    congested_lines: np.ndarray,
) -> dict[str, Any]:
    """Headline numbers of a run (JSON-ready; None where a value does not exist).

    Each is an entry of :data:`model.metrics.RUN_METRICS`.
    """
    participants = list(households)
    bills = np.array([h.bill_eur for h in participants if not isinstance(h, CommunityManager)])
    manager_eur = sum(h.bill_eur for h in participants if isinstance(h, CommunityManager))
    manager_flexibility_eur = sum(h.flexibility_eur for h in participants if isinstance(h, CommunityManager))
    run = Run(
        config,
        rows,
        bills,
        retailer_revenue_eur,
        dso,
        ev_sessions,
        voltage_quality,
        congested_lines,
        manager_eur,
        manager_flexibility_eur,
    )
    return summarise_run(run)
