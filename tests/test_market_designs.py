"""Pricing designs, mechanisms and false-data attacks in whole runs."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.model import Model, Scenario
from tests.helpers import hourly, run_to_end
from tests.test_constraints import SUNNY

DESIGNS = [
    ("uniform", "pay_as_clear"),
    ("uniform", "community"),
    ("heterogeneous", "pay_as_bid"),
    ("heterogeneous", "continuous_double_auction"),
    ("heterogeneous", "p2p"),
    ("zonal", "pay_as_clear"),
    ("retail_only", "none"),
]


@pytest.fixture(scope="module")
def design_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[Model, pd.DataFrame]]:
    runs = {}
    for design, mechanism in DESIGNS:
        out = tmp_path_factory.mktemp(f"{design}_{mechanism}")
        scenario = hourly(
            **{
                "grid.solver": "power_grid_model",
                "penetration.pv": 0.5,
                "market.pricing": design,
                "market.mechanism": mechanism,
            }
        )
        runs[design, mechanism] = run_to_end(scenario, out), out
    return runs


def test_truthful_households_trade_the_same_volume_under_every_design(design_runs) -> None:
    # truthful bids are all at the retail price and asks at the feed-in tariff: every mechanism
    # matches min(supply, demand) each hour; the designs differ in price and pairing only
    volumes = {k: m.summary["local_traded_kwh"] for k, (m, _) in design_runs.items() if k[0] != "retail_only"}
    reference = volumes["uniform", "pay_as_clear"]
    assert reference > 1
    assert all(v == pytest.approx(reference, rel=1e-9) for v in volumes.values()), volumes
    prices = {k: m.summary["mean_clearing_price_eur_per_kwh"] for k, (m, _) in design_runs.items()}
    # pay-as-clear prices inside the equilibrium interval: with every bid at 0.30 and every ask at
    # 0.08, the long side keeps a residual, which pins the price to its own quote: 0.30 in an hour
    # short of local energy, 0.08 in an hour with surplus
    intervals = pd.read_parquet(design_runs["uniform", "pay_as_clear"][1] / "intervals.parquet")
    cleared = intervals.clearing_price_eur_per_kwh.dropna()
    assert set(cleared.round(12)) == {0.08, 0.30}
    assert prices["heterogeneous", "pay_as_bid"] == pytest.approx(0.19)  # every pair's midpoint
    assert 0.08 <= prices["uniform", "community"] < 0.19  # SDR: surplus hours price near the feed-in tariff
    assert prices["heterogeneous", "continuous_double_auction"] != pytest.approx(0.19)  # resting quotes


def test_retail_only_trades_nothing_and_bills_at_the_retailers_prices(design_runs) -> None:
    model, out = design_runs["retail_only", "none"]
    assert model.summary["local_traded_kwh"] == 0
    assert model.summary["mean_clearing_price_eur_per_kwh"] is None
    hh = pd.read_parquet(out / "households.parquet")
    # no tariff: each bill is the retail import at 0.30 minus the export at 0.08, interval by interval
    expected = 0.30 * hh.bought_retail_kwh - 0.08 * hh.sold_retail_kwh
    assert np.allclose(hh.bill_eur, expected)
    net_kwh = hh.net_injection_kw  # hourly intervals: kW = kWh
    assert np.allclose(hh.sold_retail_kwh - hh.bought_retail_kwh, net_kwh, atol=1e-9)
    # truthful households do not react to prices: the grid sees exactly what it sees with a market
    uniform = design_runs["uniform", "pay_as_clear"][0].summary
    assert model.summary["losses_kwh"] == pytest.approx(uniform["losses_kwh"], rel=1e-12)
    assert model.summary["household_bills_eur"] > uniform["household_bills_eur"] + 1


def test_p2p_buyers_trade_with_closer_sellers(design_runs) -> None:
    def mean_distance(key: tuple[str, str]) -> float:
        model, out = design_runs[key]
        trades = pd.read_parquet(out / "trades.parquet")
        index = {name: i for i, name in enumerate(model.population.household)}
        d = model.distance_ohm[trades.buyer.map(index), trades.seller.map(index)]
        return float((d * trades.energy_kwh).sum() / trades.energy_kwh.sum())

    # the same volume, but P2P's distance penalty pairs neighbours (pay-as-bid pairs by book order)
    assert mean_distance(("heterogeneous", "p2p")) < 0.8 * mean_distance(("heterogeneous", "pay_as_bid"))


def test_zonal_design_records_a_price_per_zone(design_runs) -> None:
    model, out = design_runs["zonal", "pay_as_clear"]
    zones = pd.read_parquet(out / "zone_prices.parquet")
    assert sorted(zones.zone.unique()) == [0, 1, 2]
    assert sorted(model.population.zone.unique()) == [0, 1, 2]
    population = pd.read_parquet(out / "population.parquet")
    assert (population.zone.to_numpy() == model.population.zone.to_numpy()).all()
    intervals = pd.read_parquet(out / "intervals.parquet")
    assert intervals.clearing_price_eur_per_kwh.isna().all()  # no single price under zonal design
    assert intervals.mean_local_price_eur_per_kwh.notna().any()


def test_demand_report_attack_blinds_the_dso(tmp_path) -> None:
    constrained = {**SUNNY, "market.constraint_mode": "sensitivity"}
    honest = run_to_end(hourly(**constrained), tmp_path / "honest").summary
    attacked_model = run_to_end(
        hourly(**constrained, **{"attack.kind": "demand", "attack.share": 0.5, "attack.factor": 0.3}),
        tmp_path / "attacked",
    )
    attacked = attacked_model.summary
    # measured: the honest DSO keeps every bus within limits; told 30 % of half the households'
    # exports, it curtails too little and overvoltage returns
    assert honest["intervals_with_voltage_violation"] == 0
    assert attacked["intervals_with_voltage_violation"] > 0
    assert attacked["curtailed_export_kwh"] < honest["curtailed_export_kwh"]
    hh = pd.read_parquet(tmp_path / "attacked" / "households.parquet")
    victims = set(attacked_model.population.household[attacked_model._attacked])
    assert len(victims) == 28  # round(0.5 * 55)
    lied = hh[hh.household.isin(victims) & (hh.net_injection_kw.abs() > 1e-6)]
    np.testing.assert_allclose(
        lied.reported_net_kwh, 0.3 * (lied.net_injection_kw + lied.curtailed_export_kwh)
    )


def test_price_signal_attack_moves_prices_not_these_households(tmp_path) -> None:
    base = {"grid.solver": "power_grid_model", "penetration.pv": 0.5}
    honest = run_to_end(hourly(**base), tmp_path / "honest")
    attacked = run_to_end(
        hourly(**base, **{"attack.kind": "price", "attack.factor": 0.5, "attack.start_interval": 12}),
        tmp_path / "attacked",
    )
    a = pd.read_parquet(tmp_path / "attacked" / "intervals.parquet")
    h = pd.read_parquet(tmp_path / "honest" / "intervals.parquet")
    traded = a.local_volume_kwh > 0
    before, after = traded & (a.interval < 12), traded & (a.interval >= 12)
    assert after.any() and before.any()
    # truthful bids at the retail price, asks at the feed-in tariff: the uniform price is one of the two
    assert set(a.clearing_price_eur_per_kwh[before].round(12)) <= {0.08, 0.30}
    np.testing.assert_allclose(a.clearing_price_eur_per_kwh[after], 0.5 * h.clearing_price_eur_per_kwh[after])
    # truthful price-takers with self-consumption devices do not react to prices: the grid is the
    # same (a price-responsive strategy is what turns this attack into a grid impact)
    np.testing.assert_allclose(a.vm_max_a_pu, h.vm_max_a_pu)
    # money moves from sellers to buyers: half the local price on every kWh traded after the attack
    paid = {
        run: pd.read_parquet(tmp_path / run / "households.parquet").query("interval >= 12")
        for run in ("honest", "attacked")
    }
    shift = (
        paid["attacked"].local_payment_eur.clip(upper=0).sum()
        - paid["honest"].local_payment_eur.clip(upper=0).sum()
    )
    np.testing.assert_allclose(a.local_volume_kwh, h.local_volume_kwh)
    expected = (0.5 * h.clearing_price_eur_per_kwh[after] * a.local_volume_kwh[after]).sum()
    assert expected > 0.01
    assert shift == pytest.approx(expected)
    assert attacked.summary["household_bills_eur"] == pytest.approx(honest.summary["household_bills_eur"])


def test_unknown_attacked_household_is_named() -> None:
    with pytest.raises(ValueError, match=r"attack.households' names households \['LOAD999'\]"):
        Model(hourly(**{"attack.kind": "demand", "attack.households": '["LOAD999"]'}))


def test_p2p_prices_differ_across_pairs_in_the_default_experiment(tmp_path) -> None:
    # the default experiment's base (pricing_designs.yaml) on one day, one seed: P2P against uniform
    base = {
        "days": 1,
        "grid.solver": "power_grid_model",
        "penetration.pv": 0.6,
        "penetration.battery": 0.3,
        "penetration.ev": 0.3,
        "penetration.flexible_load": 0.5,
        "bidding.mode": "curves",
        "market.zonal.inter_zone_capacity_kwh": 0,
    }
    runs = {}
    for design, mechanism in (("uniform", "pay_as_clear"), ("heterogeneous", "p2p")):
        overrides = [
            f"{k}={v}" for k, v in {**base, "market.pricing": design, "market.mechanism": mechanism}.items()
        ]
        model = run_to_end(Scenario.load(None, overrides), tmp_path / design)
        runs[design] = (model, pd.read_parquet(tmp_path / design / "trades.parquet"))
    trades = runs["heterogeneous"][1]
    pairs = trades.groupby(["interval", "buyer", "seller"]).price_eur_per_kwh.mean().reset_index()
    several = pairs.groupby("interval").filter(lambda g: len(g) > 1)
    spread = several.groupby("interval").price_eur_per_kwh.agg(lambda p: p.max() - p.min())
    assert len(spread) > 10
    # every interval with several trading pairs prices them differently (preferences differ by pair)
    assert (spread > 1e-6).all(), spread.describe()
    p2p, uniform = (runs[d][0].summary for d in ("heterogeneous", "uniform"))
    differs_in_price = (
        abs(p2p["mean_clearing_price_eur_per_kwh"] - uniform["mean_clearing_price_eur_per_kwh"]) > 0.005
    )
    differs_in_volume = (
        abs(p2p["local_traded_kwh"] - uniform["local_traded_kwh"]) > 0.01 * uniform["local_traded_kwh"]
    )
    assert differs_in_price or differs_in_volume, (p2p, uniform)
