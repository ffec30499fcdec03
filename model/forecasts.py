"""Local-price forecasts: what households expect the local price to be in the coming intervals.

Kinds (``forecast.price``):

- ``yesterday``: the price cleared at the same time the day before;
- ``ema``: an exponential average of the prices cleared at that time of day
  (weight ``forecast.ema_weight`` on the newest day);
- ``retail_midpoint``: no learning, the midpoint of the retail price and the
  feed-in tariff of that interval (what a uniform auction of price-takers clears at);
- ``perfect``: the prices the run will clear, for upper-bound studies. The
  model finds them by repeated runs (:mod:`model.foresight`): each run
  foresees the prices the previous one cleared, starting from ``retail_midpoint``.

The learning kinds learn the price each interval's marginal kWh changed hands
at (:func:`model.bidding.marginal_price`): the local price, or without local
trade the retailer's price on the side the households traded with it (retail
if they bought, feed-in if they sold), which is what a kWh then really cost or
earned. A time of day not yet seen falls back to ``retail_midpoint``, so
every kind has a value for every interval; the retailer's prices over the run
are known in advance (a tariff is published).

A network tariff's import charge (:mod:`model.tariffs`, kinds ``time_of_use``
and ``dynamic``) is added to every kind's forecast as far as it is published:
the kinds learn the energy price, the charge is known, not learnt.
"""

from collections.abc import Callable

import numpy as np

FORECAST_KINDS = ("yesterday", "ema", "retail_midpoint", "perfect")


class PriceForecast:
    """Forecasts of the local price per interval of the run, updated as prices clear.

    Args:
        kind: one of :data:`FORECAST_KINDS`.
        retail_eur_per_kwh, feed_in_eur_per_kwh: the retailer's prices for every interval of the run.
        intervals_per_day: intervals in a day.
        ema_weight: weight of the newest day in ``ema``.
        foreseen_eur_per_kwh: ``perfect``: the local price of every interval of the run (NaN: no trade).
        network_eur_per_kwh: the network import charge published for every interval of the run
            (the tariff's array, read at each forecast: a dynamic tariff fills it as it publishes).
    """

    def __init__(
        self,
        kind: str,
        retail_eur_per_kwh: np.ndarray,
        feed_in_eur_per_kwh: np.ndarray,
        intervals_per_day: int,
        ema_weight: float = 0.5,
        foreseen_eur_per_kwh: np.ndarray | None = None,
        network_eur_per_kwh: np.ndarray | None = None,
    ) -> None:
        if kind not in FORECAST_KINDS:
            raise ValueError(f"forecast kind {kind!r} does not exist; allowed: {', '.join(FORECAST_KINDS)}")
        if (kind == "perfect") != (foreseen_eur_per_kwh is not None):
            raise ValueError("the 'perfect' forecast, and only it, needs the prices it foresees")
        self.kind = kind
        self.retail_eur_per_kwh = np.asarray(retail_eur_per_kwh)
        self.feed_in_eur_per_kwh = np.asarray(feed_in_eur_per_kwh)
        self.midpoint = (self.retail_eur_per_kwh + self.feed_in_eur_per_kwh) / 2
        self.per_day = intervals_per_day
        self.weight = ema_weight
        self._by_time_of_day = np.full(intervals_per_day, np.nan)
        self._update: Callable[[int, float], None] = {
            "yesterday": self._yesterday,
            "ema": self._ema,
            "retail_midpoint": self._ignore,
            "perfect": self._ignore,
        }[kind]
        self._foreseen = foreseen_eur_per_kwh
        self._network = network_eur_per_kwh

    def observe(self, k: int, price_eur_per_kwh: float | None) -> None:
        """The price interval ``k`` cleared at (None or NaN: nothing to learn)."""
        if price_eur_per_kwh is not None and np.isfinite(price_eur_per_kwh):
            self._update(k % self.per_day, float(price_eur_per_kwh))

    def _yesterday(self, slot: int, price: float) -> None:
        self._by_time_of_day[slot] = price

    def _ema(self, slot: int, price: float) -> None:
        old = self._by_time_of_day[slot]
        self._by_time_of_day[slot] = price if np.isnan(old) else self.weight * price + (1 - self.weight) * old

    def _ignore(self, slot: int, price: float) -> None:
        """``retail_midpoint`` and ``perfect`` learn nothing."""

    def ahead(self, k: int, n: int) -> np.ndarray:
        """The forecast for intervals ``k .. k+n-1``.

        Past the end of the run the days repeat: a household does not know the run
        ends, so its horizon never runs out (else every EV would charge its whole
        remaining need in the last interval).
        """
        idx = np.arange(k, k + n)
        last = len(self.midpoint) - 1
        inside = idx.copy()
        beyond = inside > last  # the same time of day on the run's last day with it
        inside[beyond] -= self.per_day * np.ceil((inside[beyond] - last) / self.per_day).astype(int)
        inside = np.where(inside < 0, last, inside)
        if self._foreseen is not None:
            learnt = self._foreseen[inside]
        else:
            learnt = self._by_time_of_day[idx % self.per_day]
        energy = np.where(np.isnan(learnt), self.midpoint[inside], learnt)
        return energy if self._network is None else energy + self._network[inside]
