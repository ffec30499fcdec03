"""Network tariffs on hand-worked intervals, and the DSO's revenue in real runs."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.bids import BidCurve
from lemgrid.agents.device_curves import base_step, ev_steps
from lemgrid.agents.devices.ev import EV, ChargingSession
from lemgrid.model import Model
from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.observe import Forecaster
from lemgrid.model.scenario import Tariff
from lemgrid.model.settlement import settle
from lemgrid.model.tariffs import (
    Capacity,
    Congestion,
    DynamicImportCharge,
    ImportCharge,
    LossCharge,
    PairFee,
    RunClock,
    TariffInputs,
    Volumetric,
    daily_capacity_eur,
    make_tariff,
)
from lemgrid.model.trades import Trade
from tests.helpers import hourly, run_to_end


def _inputs(trades, bought_retail=None, net=None, state=None, sens=None, interval=0) -> TariffInputs:
    n = 4
    return TariffInputs(
        interval=interval,
        trades=trades,
        bought_retail_kwh=np.zeros(n) if bought_retail is None else np.asarray(bought_retail, float),
        net_kwh=np.zeros(n) if net is None else np.asarray(net, float),
        state=SimpleNamespace(converged=True) if state is None else state,  # type: ignore[arg-type]
        sensitivities=lambda: sens,  # type: ignore[arg-type,return-value]
    )


def test_volumetric_charges_imports_and_the_buyer_of_local_energy() -> None:
    fees = Volumetric(4, 0.08, 0.02).fees(_inputs([Trade(0, 2, 1.5, 0.2)], bought_retail=[1.0, 2.0, 0, 0]))
    np.testing.assert_allclose(fees.household_eur, [0.08 + 0.03, 0.16, 0, 0])
    np.testing.assert_allclose(fees.trade_eur, [0.03])


def test_capacity_fees_bill_each_days_peak_a_share_of_the_rate() -> None:
    tariff = Capacity(4, 5.0, "household", billing_days=2, interval_hours=6.0)  # 4 intervals a day
    imports_kw = [[1, 0, 0, 0], [3, 1, 0, 0], [2, 4, 0, 0], [3, 1, 0, 0], [2, 0, 0, 0]]
    paid = [
        tariff.fees(_inputs([], net=-np.array(kw) * 6.0, interval=k)).household_eur
        for k, kw in enumerate(imports_kw)
    ]
    # day 0: peaks 3 and 4 kW, each billed half the rate (one of 2 days of the period)
    np.testing.assert_allclose(sum(paid[:4]), [5.0 * 3 / 2, 5.0 * 4 / 2, 0, 0])
    np.testing.assert_allclose(sum(paid[:2]), [5.0 * 3 / 2, 5.0 * 1 / 2, 0, 0])  # the peak so far
    np.testing.assert_allclose(paid[4], [5.0 * 2 / 2, 0, 0, 0])  # a new day starts from zero
    assert tariff.forecast_peak_so_far_kw(0) == 2.0 and tariff.forecast_peak_eur_per_kw == 2.5
    community = Capacity(4, 5.0, "community", billing_days=1, interval_hours=6.0)
    fees = [
        community.fees(_inputs([], net=-np.array(kw) * 6.0, interval=k)).household_eur
        for k, kw in enumerate(imports_kw[:4])
    ]
    # community peak: 1, 4, 6, 6 kW -> due 5, 20, 30, 30; interval 2's growth shared 2:4
    np.testing.assert_allclose(sum(fees).sum(), 5.0 * 6)
    np.testing.assert_allclose(fees[2], [(30 - 20) * 2 / 6, (30 - 20) * 4 / 6, 0, 0])


def test_capacity_charge_of_a_one_day_run_is_its_share_of_a_30_day_period() -> None:
    # hand-worked: one household importing 2 kW all day, 5 EUR/kW per 30-day period:
    # 5 * 2 kW * 1/30 = 0.3333 EUR, not the whole period's 10 EUR
    tariff = Capacity(1, 5.0, "household", billing_days=30, interval_hours=0.25)
    day = sum(
        tariff.fees(
            TariffInputs(k, [], np.zeros(1), np.array([-0.5]), SimpleNamespace(converged=True), lambda: None)  # type: ignore[arg-type]
        ).household_eur[0]
        for k in range(96)
    )
    assert day == pytest.approx(1 / 3)
    assert daily_capacity_eur(5.0, 2.0, 30) * 30 == pytest.approx(10.0)  # 30 such days: rate * peak


@pytest.mark.slow  # a 30-day run (hourly)
def test_capacity_cost_recovery_of_one_day_is_within_5_percent_of_30_days(tmp_path) -> None:
    recovery = {}
    for days in (1, 30):
        scenario = hourly(**{"grid.solver": "power_grid_model", "tariff.kind": "capacity", "days": days})
        recovery[days] = run_to_end(scenario, tmp_path / str(days)).summary["dso_cost_recovery"]
    # billing the 30 days' single highest peak gave 23.9 % against 40.1 % (15-min intervals)
    assert recovery[1] == pytest.approx(recovery[30], rel=0.05)


def test_distance_and_zonal_fees_are_zero_for_colocated_or_same_zone_parties() -> None:
    distance = np.array([[0, 0.1, 0.0, 0.2], [0.1, 0, 0.1, 0.3], [0.0, 0.1, 0, 0.2], [0.2, 0.3, 0.2, 0]])
    tariff = PairFee("distance", 0.2 * distance)
    fees = tariff.fees(_inputs([Trade(0, 2, 1.0, 0.2), Trade(0, 3, 2.0, 0.2)]))  # 0 and 2 share a bus
    np.testing.assert_allclose(fees.trade_eur, [0.0, 2.0 * 0.2 * 0.2])
    np.testing.assert_allclose(fees.household_eur, [0.04, 0, 0, 0.04])  # split buyer / seller
    zone = np.array([0, 0, 1, 1])
    clock = RunClock(pd.date_range("2026-01-12", periods=4, freq="15min", tz="Europe/London"), 0.25)
    zonal = make_tariff(Tariff(kind="zonal"), 4, clock, lambda: distance, zone)
    fees = zonal.fees(_inputs([Trade(0, 1, 1.0, 0.2), Trade(0, 3, 1.0, 0.2)]))
    np.testing.assert_allclose(fees.trade_eur, [0.0, 0.02])


def test_congestion_charges_only_flow_added_on_congested_branches() -> None:
    state = SimpleNamespace(
        converged=True,
        line_loading_percent=np.array([95.0, 50.0]),
        line_p_from_kw=np.array([-30.0, 10.0]),  # line 0 congested, power flowing against its from-side
        trafo_loading_percent=np.array([[40.0, 40.0, 40.0]]),
        trafo_p_hv_kw=np.array([-20.0]),
    )
    sens = SimpleNamespace(
        ptdf_line=np.array([[-1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]),
        ptdf_trafo=np.zeros((4, 1)),
    )
    trades = [Trade(buyer=1, seller=0, energy_kwh=2.0, price_eur_per_kwh=0.2), Trade(0, 1, 1.0, 0.2)]
    fees = Congestion(4, 0.05, 80.0).fees(_inputs(trades, state=state, sens=sens))
    # 0 -> 1 adds 1 kW per kW on line 0 in its flow's direction; 1 -> 0 relieves it
    np.testing.assert_allclose(fees.trade_eur, [0.05 * 2.0 * 1.0, 0.0])


def test_loss_charge_follows_the_loss_sensitivities() -> None:
    sens = SimpleNamespace(plsf=np.array([0.05, -0.01, 0.02, 0.0]))
    fees = LossCharge(4, 0.10).fees(_inputs([Trade(1, 0, 2.0, 0.2), Trade(0, 1, 1.0, 0.2)], sens=sens))
    np.testing.assert_allclose(
        fees.trade_eur, [0.10 * 2.0 * 0.06, 0.10 * 1.0 * -0.06]
    )  # the second, a credit


@pytest.mark.parametrize(
    "tariff",
    [
        {"tariff.kind": "volumetric"},
        {"tariff.kind": "capacity", "tariff.billing_days": 1},
        {"tariff.kind": "capacity", "tariff.capacity_level": "community"},
        {"tariff.kind": "distance"},
        {"tariff.kind": "zonal"},
        {"tariff.kind": "congestion", "tariff.congestion_threshold_percent": 5},
        {"tariff.kind": "loss"},
        {"tariff.kind": "time_of_use", "bidding.mode": "curves", "market.pricing": "retail_only"},
        {
            "tariff.kind": "dynamic",
            "days": 2,
            "tariff.dynamic_threshold_percent": 5,
            "bidding.mode": "curves",
        },
    ],
)
def test_dso_revenue_is_the_sum_of_the_fees_charged(tariff: dict, tmp_path) -> None:
    scenario = hourly(**{"grid.solver": "power_grid_model", "penetration.pv": 0.6, **tariff})
    model = run_to_end(scenario, tmp_path)
    households = pd.read_parquet(tmp_path / "households.parquet")
    intervals = pd.read_parquet(tmp_path / "intervals.parquet")
    trades = pd.read_parquet(tmp_path / "trades.parquet")
    fees = households.network_fee_eur.sum()
    assert abs(fees) > 1e-3  # the tariff charged something
    assert model.summary["dso_revenue_eur"] == pytest.approx(fees, rel=1e-9)
    assert intervals.network_fees_eur.sum() == pytest.approx(fees, rel=1e-9)
    per_trade = scenario.tariff.kind in ("distance", "zonal", "congestion", "loss")
    if per_trade:  # every per-trade fee is split between its parties: the two sides add up
        assert trades.network_fee_eur.sum() == pytest.approx(fees, rel=1e-9)
    # bills include the fees; the money is conserved between households, retailer and DSO
    bills = households.bill_eur.sum()
    assert bills == pytest.approx(model.summary["retailer_revenue_eur"] + fees, rel=1e-9)
    expected = 200.0 * 55 * scenario.days / 365
    assert model.summary["dso_cost_recovery"] == pytest.approx(fees / expected)


def test_every_tariff_kind_of_the_scenario_has_a_builder_and_no_builder_lacks_a_kind() -> None:
    from lemgrid.model.scenario import TARIFF_KINDS
    from lemgrid.model.tariffs import TARIFFS

    assert set(TARIFFS) == set(TARIFF_KINDS)


def _state(loading_percent: float, converged: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        converged=converged,
        line_loading_percent=np.array([loading_percent / 2, loading_percent]),
        trafo_loading_percent=np.array([[10.0, 20.0, 30.0]]),
    )


def test_a_time_of_use_network_charge_is_known_ahead_and_billed_on_retail_imports() -> None:
    times = pd.date_range("2026-01-12", periods=24, freq="1h", tz="Europe/London")
    cfg = Tariff(
        kind="time_of_use",
        import_eur_per_kwh=0.05,
        network_time_of_use=[{"start_hour": 17, "end_hour": 21, "price_eur_per_kwh": 0.25}],
    )
    tariff = make_tariff(cfg, 4, RunClock(times, 1.0), lambda: np.zeros((4, 4)), np.zeros(4))
    np.testing.assert_allclose(
        tariff.import_charge_eur_per_kwh[[0, 16, 17, 20, 21]], [0.05, 0.05, 0.25, 0.25, 0.05]
    )
    fees = tariff.fees(_inputs([Trade(0, 1, 1.0, 0.2)], bought_retail=[2.0, 0, 1.0, 0], interval=18))
    np.testing.assert_allclose(fees.household_eur, [0.50, 0, 0.25, 0])  # local trades pay nothing


def test_the_dynamic_charge_surcharges_the_intervals_the_last_days_loaded_above_the_threshold() -> None:
    # 4 intervals a day; loading measured day 0: 50, 95, 120, 80 %; day 1: 95, 50, 50, 50 %
    tariff = DynamicImportCharge(2, 12, 4, 0.05, 0.20, 90.0, memory_days=1)
    np.testing.assert_allclose(tariff.import_charge_eur_per_kwh, 0.05)  # no measurements, no surcharge
    loading = [50, 95, 120, 80, 95, 50, 50, 50]
    for k in range(4):
        tariff.fees(_inputs([], bought_retail=[1.0, 0], state=_state(loading[k]), interval=k))
    day1 = [0.05, 0.25, 0.25, 0.05]
    np.testing.assert_allclose(tariff.import_charge_eur_per_kwh[4:8], day1)  # published at midnight
    np.testing.assert_allclose(tariff.import_charge_eur_per_kwh[8:], day1)  # repeated until the next one
    paid = [
        tariff.fees(_inputs([], bought_retail=[1.0, 2.0], state=_state(loading[k]), interval=k)).household_eur
        for k in range(4, 8)
    ]
    np.testing.assert_allclose(sum(paid), [sum(day1), 2 * sum(day1)])
    np.testing.assert_allclose(
        tariff.import_charge_eur_per_kwh[8:], [0.25, 0.05, 0.05, 0.05]
    )  # memory: 1 day
    two_days = DynamicImportCharge(2, 12, 4, 0.0, 0.20, 90.0, memory_days=2)
    for k in range(8):  # day 1's interval 3 fails: the DSO forecasts it from day 0 alone
        two_days.fees(_inputs([], state=_state(loading[k], converged=k != 7), interval=k))
    np.testing.assert_allclose(two_days.import_charge_eur_per_kwh[8:], [0.20, 0.20, 0.20, 0.0])


def test_a_network_charge_moves_an_ev_out_of_the_charged_hours_and_bills_as_by_hand() -> None:
    # Two households, four 1-hour intervals, retail 0.30, feed-in 0.08, a network charge of 0.20
    # in the last two.
    # A: an EV (4 kW charger) plugged 0-4 h needing 8 kWh; B: a 1 kW base load.
    # The forecast (retail midpoint 0.19 plus the published charge) makes the EV's second-cheapest slot cost
    # 0.39 >= 0.30 at hours 0 and 1, so it charges then; without the charge it waits (willingness 0.19)
    # until its deadline forces 4 kW at hours 2 and 3.
    def run(charge: np.ndarray) -> tuple[list[float], np.ndarray, float]:
        tariff = ImportCharge(2, charge)
        forecast = PriceForecast(
            "retail_midpoint", np.full(4, 0.30), np.full(4, 0.08), 4, network_eur_per_kwh=charge
        )
        ev = EV(4.0, [ChargingSession(0.0, 4 * 3600.0, 8.0)], charging="deadline")
        ev_kw, bills, dso = [], np.zeros(2), 0.0
        for k in range(4):
            t0, t1 = k * 3600.0, (k + 1) * 3600.0
            import_price = 0.30 + tariff.import_charge_eur_per_kwh[k]
            curves = [
                BidCurve(
                    [*base_step(0.0), *ev_steps(ev, t0, t1, forecast.ahead(k + 1, 3))], import_price, 0.08
                ),
                BidCurve(base_step(1.0), import_price, 0.08),
            ]
            # retail_only: the retailer serves each household's fallback purchase
            bought = np.array(
                [sum(o.kwh for o in c.orders(1.0) if o.retail_fallback and o.side == "buy") for c in curves]
            )
            ev_kw.append(-ev.dispatch(-curves[0].dispatch(bought[0]).get("ev", 0.0), t0, t1))
            settlement = settle(-bought, [], 0.30, 0.08)
            fees = tariff.fees(
                _inputs([], bought_retail=settlement.bought_retail_kwh, interval=k)
            ).household_eur
            bills += settlement.retail_payment_eur + fees[:2]
            dso += float(fees.sum())
        return ev_kw, bills, dso

    flat, flat_bills, flat_dso = run(np.zeros(4))
    assert flat == pytest.approx([0, 0, 4, 4]) and flat_dso == 0
    np.testing.assert_allclose(flat_bills, [8 * 0.30, 4 * 0.30])
    moved, bills, dso = run(np.array([0, 0, 0.20, 0.20]))
    assert moved == pytest.approx([4, 4, 0, 0])
    np.testing.assert_allclose(bills, [8 * 0.30, 4 * 0.30 + 2 * 0.20])  # only B's base load pays the charge
    assert dso == pytest.approx(0.40)
    assert bills.sum() == pytest.approx(12 * 0.30 + dso)  # the retailer's 3.60 and the DSO's 0.40


def test_the_lp_forecast_values_an_import_at_the_retail_price_plus_the_published_charge() -> None:
    tariff = ImportCharge(1, np.array([0.0, 0.1, 0.2, 0.3]))
    forecaster = Forecaster(
        np.ones((1, 4)), np.zeros((1, 4)), 3, 4, tariff, np.full(4, 0.30), np.full(4, 0.08), None
    )
    iv = SimpleNamespace(k=1, price_signal=1.0, hours=1.0)
    forecast = forecaster(0, iv)  # type: ignore[arg-type]
    np.testing.assert_allclose(forecast.buy_eur_per_kwh, [0.40, 0.50, 0.60])
    np.testing.assert_allclose(forecast.sell_eur_per_kwh, [0.08, 0.08, 0.08])


@pytest.mark.slow  # two 2-day runs: about 70 s on the shared machine
def test_households_move_ev_charging_out_of_a_network_charges_hours_in_a_run() -> None:
    keys = {"days": 2, "grid.solver": "power_grid_model", "penetration.ev": 0.8, "bidding.mode": "curves"}
    keys |= {"market.pricing": "retail_only", "tariff.import_eur_per_kwh": 0.0}
    window = "[{start_hour: 17, end_hour: 24, price_eur_per_kwh: 0.30}]"
    evening_kwh = {}
    for kind in ("none", "time_of_use"):
        model = Model(hourly(**keys, **{"tariff.kind": kind, "tariff.network_time_of_use": window}))
        while model.running:
            model.step()
        rows = pd.DataFrame(model.interval_rows)
        evening = pd.DatetimeIndex(model.times).hour >= 17
        evening_kwh[kind] = -rows.ev_kw[evening].sum()
        assert model.end_of_run_tables()["ev_sessions"].unmet_kwh.dropna().sum() == 0  # moved, not dropped
        if kind == "time_of_use":  # the DSO collected the charge on the evening's retail imports
            due = 0.30 * rows.retail_import_kwh[evening].sum()
            assert model.summary["dso_revenue_eur"] == pytest.approx(due)
    assert evening_kwh["time_of_use"] < 0.5 * evening_kwh["none"]
