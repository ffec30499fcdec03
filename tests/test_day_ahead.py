"""The day-ahead stage: batteries and EVs follow its schedule, the interval market clears the deviations,
and money and energy balance over both stages."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.model import Model
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.foresight import FORESIGHT_TOLERANCE, foreseen_prices
from tests.helpers import assert_money_balances, hourly, run_to_end

DEVICES = {"penetration.pv": 0.6, "penetration.battery": 0.5, "penetration.ev": 0.5}


def _day_ahead(**keys: object) -> dict[str, object]:
    return {**DEVICES, "bidding.day_ahead": "true", **keys}


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, dict[str, pd.DataFrame]]:
    """One hourly day with a day-ahead stage and forecast errors, with its tables."""
    out = tmp_path_factory.mktemp("day_ahead")
    keys = _day_ahead(**{"bidding.load_forecast_error": 0.2, "bidding.pv_forecast_error": 0.3})
    model = run_to_end(hourly(**keys, **{"penetration.flexible_load": 0.5}), out)
    tables = ("intervals", "households", "trades", "day_ahead_trades")
    return model, {t: pd.read_parquet(out / f"{t}.parquet") for t in tables}


def test_batteries_and_evs_follow_the_day_ahead_schedule(noisy) -> None:
    model, tables = noisy
    day = model.day_ahead.day
    assert day is not None and day.first == 0 and len(day.clearings) == 24
    hh = tables["households"]
    for device, scheduled in (("battery_kw", day.battery_kw), ("ev_kw", day.ev_kw)):
        done = hh.pivot(index="household", columns="interval", values=device)
        done = done.loc[model.population.household].to_numpy()
        np.testing.assert_allclose(done, scheduled, atol=1e-9, err_msg=device)
        assert np.abs(scheduled).max() > 1.0, f"{device}: the schedule never moves the device"
    assert model.summary["ev_unmet_kwh"] <= 1e-9


def test_both_stages_trade_and_are_recorded(noisy) -> None:
    model, tables = noisy
    iv, da = tables["intervals"], tables["day_ahead_trades"]
    np.testing.assert_allclose(
        da.groupby("interval").energy_kwh.sum(), iv.day_ahead_volume_kwh[iv.day_ahead_volume_kwh > 0]
    )
    assert iv.day_ahead_volume_kwh.sum() > 0 and iv.local_volume_kwh.sum() > 0
    assert model.summary["day_ahead_traded_kwh"] == pytest.approx(da.energy_kwh.sum())
    traded = iv[iv.day_ahead_volume_kwh > 0]
    volume_weighted = (da.energy_kwh * da.price_eur_per_kwh).groupby(da.interval).sum() / da.groupby(
        "interval"
    ).energy_kwh.sum()
    np.testing.assert_allclose(traded.day_ahead_price_eur_per_kwh, volume_weighted.to_numpy())
    assert da.price_eur_per_kwh.between(0.08, 0.30).all()


def test_money_and_energy_balance_over_both_stages(noisy) -> None:
    _, tables = noisy
    hh = tables["households"]
    trades = pd.concat([tables["trades"], tables["day_ahead_trades"]])
    assert_money_balances(hh, trades, tables["intervals"].set_index("interval"))
    # a household's metered energy is what it traded in both stages plus what the retailer took or gave
    delivered = hh.sold_local_kwh + hh.sold_retail_kwh - hh.bought_local_kwh - hh.bought_retail_kwh
    np.testing.assert_allclose(delivered, hh.net_injection_kw * 1.0, atol=1e-12)


def test_with_perfect_forecasts_the_interval_market_has_nothing_left_to_clear() -> None:
    # no appliances and no forecast error: the day-ahead curves are the real ones, so every household's
    # deviation is what the retailer already serves; a uniform auction finds no new trade
    model = run_to_end(hourly(**_day_ahead()))
    rows = pd.DataFrame(model.interval_rows)
    assert rows.day_ahead_volume_kwh.sum() > 10
    assert rows.local_volume_kwh.max() <= 1e-9
    # and forecast errors leave deviations for it
    noisy = run_to_end(hourly(**_day_ahead(**{"bidding.pv_forecast_error": 0.3})))
    assert pd.DataFrame(noisy.interval_rows).local_volume_kwh.sum() > 1.0


def test_forecast_errors_are_reproducible_and_zero_means_the_true_profiles() -> None:
    exact = Model(hourly(**DEVICES))
    assert exact._forecaster.load_kw is exact.load_kw and exact._forecaster.pv_kw is exact.pv_kw
    keys = {**DEVICES, "bidding.load_forecast_error": 0.1}
    a, b = Model(hourly(**keys)), Model(hourly(**keys))
    np.testing.assert_array_equal(a._forecaster.load_kw, b._forecaster.load_kw)
    error = a._forecaster.load_kw / a.load_kw - 1
    assert 0.08 < np.std(error[a.load_kw > 0]) < 0.12
    assert (a._forecaster.load_kw >= 0).all()


def test_foresight_iterates_to_the_prices_a_run_clears() -> None:
    midpoint = np.full(4, 0.19)
    # a run that clears halfway between what it foresees and 0.10 converges to 0.10
    found = foreseen_prices(lambda p: (p + 0.10) / 2, midpoint, passes=60)
    np.testing.assert_allclose(found, 0.10, atol=2 * FORESIGHT_TOLERANCE)
    # each run foresees what the run before it cleared; an interval without trade foresees the midpoint
    seen: list[np.ndarray] = []

    def cycling(p: np.ndarray) -> np.ndarray:
        seen.append(p)
        return np.array([0.30 if p[0] < 0.2 else 0.10, np.nan, 0.15, 0.15])

    found = foreseen_prices(cycling, midpoint, passes=3)
    assert len(seen) == 2
    np.testing.assert_allclose(seen[1], [0.30, 0.19, 0.15, 0.15])
    np.testing.assert_allclose(found, [0.10, 0.19, 0.15, 0.15])
    assert len(foreseen_prices(cycling, midpoint, passes=1)) == 4 and len(seen) == 2


def test_a_perfect_forecast_is_the_foreseen_price_and_the_midpoint_where_none() -> None:
    retail, feed_in = np.full(48, 0.30), np.full(48, 0.08)
    foreseen = np.linspace(0.1, 0.2, 48)
    foreseen[5] = np.nan
    f = PriceForecast("perfect", retail, feed_in, 24, foreseen_eur_per_kwh=foreseen)
    f.observe(3, 0.29)  # learns nothing
    np.testing.assert_allclose(f.ahead(3, 3), [foreseen[3], foreseen[4], 0.19])
    np.testing.assert_allclose(
        f.ahead(47, 2), [foreseen[47], foreseen[24]]
    )  # past the end the last day repeats
    with pytest.raises(ValueError, match="perfect"):
        PriceForecast("perfect", retail, feed_in, 24)


@pytest.mark.slow
def test_perfect_foresight_forecasts_the_local_price_better_than_yesterdays() -> None:
    keys = {**DEVICES, "days": 2}
    error = {
        passes: run_to_end(
            hourly(**keys, **{"bidding.forecast": "perfect", "bidding.foresight_passes": passes})
        ).summary["price_forecast_mae_eur_per_kwh"]
        for passes in (1, 4)
    }
    yesterday = run_to_end(hourly(**keys)).summary["price_forecast_mae_eur_per_kwh"]
    assert error[4] < yesterday and error[4] < error[1]


def test_the_day_ahead_market_prices_a_purchase_with_the_published_network_charge() -> None:
    """A buyer's alternative day-ahead is the retail price plus the network charge, as in the interval market.

    Two hourly intervals, retail 0.30, feed-in 0.08, a network charge of 0.20 in the second. A sells
    1 kW of PV (at any price down to the feed-in tariff), B needs 1 kW (at any price up to its
    retail alternative). Pay-as-clear (k = 0.5) prices the middle of the two: 0.08 + (0.30 - 0.08) / 2
    = 0.19 in the first hour, 0.08 + (0.50 - 0.08) / 2 = 0.29 in the second.
    """
    from lemgrid.agents.policies import Devices
    from lemgrid.model.day_ahead import DayAhead, Outlook
    from lemgrid.model.market import PayAsClear
    from lemgrid.model.scenario import Bidding

    retail, feed_in, charge = np.full(2, 0.30), np.full(2, 0.08), np.array([0.0, 0.20])
    load, pv = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])
    outlook = Outlook(load, pv, retail, feed_in, 3600.0, 2, charge)
    forecast = PriceForecast("retail_midpoint", retail, feed_in, 2, network_eur_per_kwh=charge)
    day = DayAhead(outlook, PayAsClear(), forecast, Bidding()).clear_day(0, 2, [Devices(), Devices()])
    assert [c.price_eur_per_kwh for c in day.clearings] == pytest.approx([0.19, 0.29])
    assert [sum(t.energy_kwh for t in c.trades) for c in day.clearings] == pytest.approx([1.0, 1.0])
