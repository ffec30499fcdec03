"""Settlement: who pays whom for one interval.

Local trades are paid at their price; whatever a household's metered net
energy differs from its local trades is settled with the retailer (imports at
the retail price, exports at the feed-in tariff); network fees
(:mod:`model.tariffs`) go to the DSO. Money is conserved: what buyers pay
locally, sellers receive; what households pay the retailer is the retailer's
revenue; what they pay in fees is the DSO's; what the DSO pays for flexibility
(:mod:`model.flexibility`) the households receive.
"""

from dataclasses import dataclass, replace

import numpy as np

from lemgrid.model.trades import Trade, trade_columns


@dataclass(frozen=True)
class Settlement:
    """Per-household energy and money of one interval (arrays of length n_households).

    Money is positive when the household pays.
    """

    bought_local_kwh: np.ndarray
    sold_local_kwh: np.ndarray
    bought_retail_kwh: np.ndarray
    sold_retail_kwh: np.ndarray
    local_payment_eur: np.ndarray
    retail_payment_eur: np.ndarray
    network_fee_eur: np.ndarray
    flexibility_eur: np.ndarray | None = None  # what the DSO pays for flexibility (negative: received)

    @property
    def bill_eur(self) -> np.ndarray:
        """Net payment of each household in the interval."""
        bill = self.local_payment_eur + self.retail_payment_eur + self.network_fee_eur
        return bill if self.flexibility_eur is None else bill + self.flexibility_eur

    def with_flexibility(self, paid_eur: np.ndarray) -> "Settlement":
        """The same settlement with what the DSO paid each household for flexibility."""
        return replace(self, flexibility_eur=-np.asarray(paid_eur, dtype=float))

    @property
    def network_revenue_eur(self) -> float:
        """What the DSO received in network fees."""
        return float(self.network_fee_eur.sum())

    def with_network_fees(self, fees_eur: np.ndarray) -> "Settlement":
        """The same settlement with each household's network fee."""
        return replace(self, network_fee_eur=np.asarray(fees_eur, dtype=float))

    @property
    def retailer_revenue_eur(self) -> float:
        """What the retailer received net of what it paid out."""
        return float(self.retail_payment_eur.sum())


def settle(
    net_energy_kwh: np.ndarray,
    trades: list[Trade],
    retail_price_eur_per_kwh: float,
    feed_in_tariff_eur_per_kwh: float,
) -> Settlement:
    """Settle one interval.

    Args:
        net_energy_kwh: each household's metered net export (import negative).
        trades: the interval's local trades.
        retail_price_eur_per_kwh: price of energy bought from the retailer.
        feed_in_tariff_eur_per_kwh: price the retailer pays for exported energy.

    """
    n = len(net_energy_kwh)
    buyer, seller, kwh, price = trade_columns(trades)
    # bincount adds the weights in trade order, as a loop of += would (bit for bit)
    bought = np.bincount(buyer, weights=kwh, minlength=n).astype(float, copy=False)
    sold = np.bincount(seller, weights=kwh, minlength=n).astype(float, copy=False)
    money = kwh * price
    if not np.isfinite(money).all():  # a mechanism's bug must stop the run, not turn bills NaN
        raise ValueError(f"a local trade has no finite value: {trades[int(np.argmin(np.isfinite(money)))]}")
    # the buyer pays, then the seller receives, trade by trade (np.add.at adds in index order, as += did)
    local_payment = np.zeros(n)
    np.add.at(
        local_payment, np.column_stack([buyer, seller]).ravel(), np.column_stack([money, -money]).ravel()
    )
    residual = net_energy_kwh - sold + bought  # what the retailer must absorb (+) or supply (-)
    sold_retail = np.clip(residual, 0.0, None)
    bought_retail = np.clip(-residual, 0.0, None)
    retail_payment = bought_retail * retail_price_eur_per_kwh - sold_retail * feed_in_tariff_eur_per_kwh
    return Settlement(bought, sold, bought_retail, sold_retail, local_payment, retail_payment, np.zeros(n))
