"""The DSO agent: collects the network fees and curtails what would break the grid's limits."""

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from mesa import Model


class DSO(mesa.Agent):
    """The distribution system operator of the feeder.

    It is paid the network tariff's fees and enforces limits through the
    market's constraint mode (:mod:`model.constraints`). Its revenue is
    compared with the network's cost over the simulated time.

    Attributes:
        revenue_eur: network fees received so far.
        network_cost_eur_per_year: what the feeder costs the DSO per year.
        curtailed_export_kwh, curtailed_import_kwh: energy the constraint mode has cut so far.
    """

    def __init__(self, model: "Model", network_cost_eur_per_year: float) -> None:
        super().__init__(model)
        self.network_cost_eur_per_year = network_cost_eur_per_year
        self.revenue_eur = 0.0
        self.curtailed_export_kwh = 0.0
        self.curtailed_import_kwh = 0.0

    def cost_recovery(self, hours: float) -> float | None:
        """Revenue over the network's cost for ``hours`` of operation (None if the network costs nothing)."""
        cost = self.network_cost_eur_per_year * hours / 8760
        return self.revenue_eur / cost if cost > 0 else None
