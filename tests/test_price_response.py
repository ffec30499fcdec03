"""Households respond to local prices: with bid curves the market design moves the devices and the grid."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.model import Model
from tests.helpers import hourly

DEVICES = {
    "days": 2,
    "grid.solver": "power_grid_model",
    "penetration.pv": 0.6,
    "penetration.battery": 0.3,
    "penetration.ev": 0.3,
    "penetration.flexible_load": 0.5,
}
DESIGNS = {
    "fixed": {"bidding.mode": "fixed"},
    "retail_only": {"bidding.mode": "curves", "market.pricing": "retail_only"},
    "uniform": {"bidding.mode": "curves"},
    "heterogeneous": {"bidding.mode": "curves", "market.pricing": "heterogeneous", "market.mechanism": "p2p"},
}


@pytest.fixture(scope="module")
def runs() -> dict[str, Model]:
    out = {}
    for name, keys in DESIGNS.items():
        model = Model(hourly(**DEVICES, **keys))
        while model.running:
            model.step()
        out[name] = model
    return out


def _rows(model: Model) -> pd.DataFrame:
    return pd.DataFrame(model.interval_rows)


@pytest.mark.parametrize(
    ("a", "b"), [("retail_only", "uniform"), ("uniform", "heterogeneous"), ("fixed", "uniform")]
)
def test_device_dispatch_differs_between_designs(runs, a, b):
    for device in ("battery_kw", "ev_kw", "appliance_kw"):
        assert np.abs(_rows(runs[a])[device] - _rows(runs[b])[device]).max() > 0.1, device


def test_the_local_price_varies_with_the_communitys_surplus(runs):
    rows = _rows(runs["uniform"])
    traded = rows[rows.local_volume_kwh > 0]
    assert traded.clearing_price_eur_per_kwh.std() >= 0.02
    net_export = traded.household_injection_kw
    assert np.corrcoef(traded.clearing_price_eur_per_kwh, net_export)[0, 1] <= -0.5


def test_flexible_energy_moves_to_cheaper_intervals_without_unmet_ev_energy():
    # a time-of-use retail price is an exogenous signal: EVs and appliances with slack should shift toward its
    # cheap hours, and every car should still leave with its energy
    runs = {}
    for mode in ("fixed", "curves"):
        model = Model(hourly(**DEVICES, **{"prices.retail": "time_of_use", "bidding.mode": mode}))
        while model.running:
            model.step()
        runs[mode] = model

    def cost_per_kwh(model: Model) -> float:
        rows = _rows(model)
        used = -(rows.ev_kw + rows.appliance_kw).to_numpy()
        return float((model.retail_eur_per_kwh * used).sum() / used.sum())

    assert cost_per_kwh(runs["curves"]) < cost_per_kwh(runs["fixed"]) - 0.01
    assert runs["curves"].summary["ev_unmet_kwh"] <= runs["fixed"].summary["ev_unmet_kwh"] + 1e-9


def test_without_a_market_batteries_serve_their_own_home_and_never_export(runs):
    # nobody buys a battery's offer above the feed-in tariff, so the feeder never exports more than the PV
    model = runs["retail_only"]
    rows = _rows(model)
    assert rows.local_volume_kwh.sum() == 0
    assert (rows.household_injection_kw <= rows.pv_kw + 1e-9).all()


@pytest.mark.slow  # over 20 s; runs in make test-slow
def test_lp_households_plan_against_the_local_price_forecast_and_bid_their_plan():
    keys = {**DEVICES, "penetration.battery": 1.0, "households.strategy": "lp_optimiser"}
    runs = {}
    for mode in ("fixed", "curves"):
        model = Model(hourly(**keys, **{"bidding.mode": mode}))
        while model.running:
            model.step()
        runs[mode] = model
    local = runs["curves"]._forecaster.local
    assert local is not None and runs["fixed"]._forecaster.local is None
    # the LP's plan (against local prices, at which it buys and sells alike) moves the batteries differently
    assert np.abs(_rows(runs["fixed"]).battery_kw - _rows(runs["curves"]).battery_kw).max() > 0.5


def test_without_local_trade_the_forecast_learns_the_retailers_price_on_the_traded_side(runs):
    # no local market: a kWh bought cost the retail price, a kWh sold earned the feed-in tariff;
    # yesterday's forecast must hold that, not a local price that never existed
    model = runs["retail_only"]
    rows = _rows(model)
    learnt = model.price_forecast.ahead(0, 24)  # the last day's 24 hourly slots
    injection = rows.household_injection_kw.to_numpy()[-24:]
    clear = np.abs(injection) > 0.1
    expected = np.where(injection < 0, model.retail_eur_per_kwh[-24:], model.feed_in_eur_per_kwh[-24:])
    np.testing.assert_array_equal(learnt[clear], expected[clear])
    assert (injection > 0.1).any() and (injection < -0.1).any()
