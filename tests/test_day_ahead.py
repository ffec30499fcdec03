"""The day-ahead stage: batteries and EVs follow its schedule, the interval market clears the deviations,
and money and energy balance over both stages."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.model import Model
from tests.helpers import hourly, run_to_end

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
    model, tables = noisy
    hh, iv = tables["households"], tables["intervals"].set_index("interval")
    per = hh.groupby("interval")
    np.testing.assert_allclose(per.local_payment_eur.sum(), 0.0, atol=1e-12)
    trades = pd.concat([tables["trades"], tables["day_ahead_trades"]])
    value = trades.energy_kwh * trades.price_eur_per_kwh
    owed = (
        pd.concat(
            [
                pd.DataFrame({"interval": trades.interval, "household": trades.buyer, "eur": value}),
                pd.DataFrame({"interval": trades.interval, "household": trades.seller, "eur": -value}),
            ]
        )
        .groupby(["interval", "household"])
        .eur.sum()
    )
    paid = hh.set_index(["interval", "household"]).local_payment_eur
    np.testing.assert_allclose(owed.reindex(paid.index, fill_value=0.0), paid, atol=1e-12)
    np.testing.assert_allclose(per.retail_payment_eur.sum(), iv.retailer_revenue_eur, atol=1e-12)
    # a household's metered energy is what it traded in both stages plus what the retailer took or gave
    delivered = hh.sold_local_kwh + hh.sold_retail_kwh - hh.bought_local_kwh - hh.bought_retail_kwh
    np.testing.assert_allclose(delivered, hh.net_injection_kw * 1.0, atol=1e-12)
    bought = trades.groupby("interval").energy_kwh.sum()
    np.testing.assert_allclose(per.bought_local_kwh.sum()[bought.index], bought, atol=1e-12)


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
