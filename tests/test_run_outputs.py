"""A real day's results checked against conservation laws and a fresh pandapower run."""

import copy
import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from lemgrid.grid.metrics import pvur_percent
from lemgrid.model import Model, Scenario
from tests.helpers import TABLES, assert_money_balances


def test_run_writes_every_file(day_run: tuple[Model, Path], day_tables: dict[str, pd.DataFrame]) -> None:
    model, out = day_run
    for name in TABLES:
        assert (out / f"{name}.parquet").exists()
    assert not list(out.glob("*.tmp"))
    assert Scenario.from_json((out / "scenario.json").read_text()) == model.config
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intervals"] == 96 and summary["intervals_not_converged"] == 0
    assert summary == model.summary
    assert len(day_tables["intervals"]) == 96
    assert len(day_tables["households"]) == 96 * 55
    assert len(day_tables["bus_voltages"]) == 96 * 907 * 3
    assert len(day_tables["trades"]) > 0  # a June day with PV has local trade


def test_energy_balance_every_interval(day_tables: dict[str, pd.DataFrame]) -> None:
    """Household injections + power from the substation = line and transformer losses."""
    iv = day_tables["intervals"]
    hh = day_tables["households"]
    injection = hh.groupby("interval").net_injection_kw.sum().to_numpy()
    np.testing.assert_allclose(injection, iv.household_injection_kw, rtol=0, atol=1e-9)
    mismatch = iv.household_injection_kw + iv.feeder_import_kw - iv.losses_kw
    # Tolerance: 0.1 % of the households' gross power. pandapower's branch results do not
    # close Kirchhoff's current law exactly at load buses (measured on this day: at most
    # 0.041 % of gross power, 13 W); see README, "Energy balance".
    gross_kw = hh.assign(p=hh.net_injection_kw.abs()).groupby("interval").p.sum().to_numpy()
    assert (mismatch.abs() <= 1e-3 * gross_kw).all(), (mismatch.abs() / gross_kw).max()
    assert (iv.losses_kw > 0).all()


def test_household_energy_is_fully_settled(day_tables: dict[str, pd.DataFrame]) -> None:
    hh = day_tables["households"]
    delivered = hh.sold_local_kwh + hh.sold_retail_kwh - hh.bought_local_kwh - hh.bought_retail_kwh
    np.testing.assert_allclose(delivered, hh.net_injection_kw * 0.25, atol=1e-12)
    devices = hh.pv_kw + hh.battery_kw + hh.ev_kw + hh.appliance_kw + hh.heat_pump_kw
    np.testing.assert_allclose(hh.net_injection_kw, devices - hh.base_load_kw, atol=1e-12)
    per_phase = hh.net_injection_a_kw + hh.net_injection_b_kw + hh.net_injection_c_kw
    np.testing.assert_allclose(per_phase, hh.net_injection_kw, atol=1e-12)


def test_money_balance_every_interval(day_tables: dict[str, pd.DataFrame]) -> None:
    """Buyers' payments = sellers' receipts locally; households' retail payments = retailer revenue."""
    assert_money_balances(
        day_tables["households"], day_tables["trades"], day_tables["intervals"].set_index("interval")
    )


def test_no_trade_outside_the_retail_band(day_tables: dict[str, pd.DataFrame]) -> None:
    trades = day_tables["trades"]
    assert trades.price_eur_per_kwh.between(0.08, 0.30).all()


def test_recorded_voltages_equal_a_fresh_runpp_3ph(day_tables: dict[str, pd.DataFrame]) -> None:
    """Rebuild the injections of a random interval from households.parquet and solve from scratch."""
    hh = day_tables["households"]
    interval = int(np.random.default_rng(11).choice(hh.interval.unique()))
    rows = hh[hh.interval == interval].set_index("household")
    net = pn.ieee_european_lv_asymmetric("on_peak_566")
    net.trafo["tap_dependency_table"] = False
    net.trafo["mag0_percent"] = 1e8  # lemgrid's documented change to the transformer (grid/feeders.py)
    loads = net.asymmetric_load
    for col in ("p_a_mw", "p_b_mw", "p_c_mw", "q_a_mvar", "q_b_mvar", "q_c_mvar"):
        loads[col] = 0.0
    for i, load in loads.iterrows():
        row = rows.loc[load["name"]]
        for phase in "abc":
            loads.loc[i, f"p_{phase}_mw"] = -row[f"net_injection_{phase}_kw"] / 1000
        loads.loc[i, f"q_{row.phase}_mvar"] = -row.q_injection_kvar / 1000
    pp.runpp_3ph(net, tolerance_mva=1e-10)
    recorded = day_tables["bus_voltages"]
    recorded = recorded[recorded.interval == interval].pivot(index="bus", columns="phase", values="vm_pu")
    fresh = net.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy()
    np.testing.assert_allclose(recorded[["a", "b", "c"]].to_numpy(), fresh, rtol=0, atol=1e-9)

    lv = net.bus.index[net.bus.vn_kv < 1]
    iv = day_tables["intervals"].set_index("interval").loc[interval]
    assert iv.vuf_max_percent == pytest.approx(net.res_bus_3ph.unbalance_percent[lv].max(), rel=1e-9)
    assert iv.pvur_max_percent == pytest.approx(pvur_percent(fresh[lv]).max(), rel=1e-9)
    assert iv.vm_max_a_pu == pytest.approx(net.res_bus_3ph.vm_a_pu[lv].max(), rel=1e-12)
    assert iv.trafo_loading_a_percent == pytest.approx(net.res_trafo_3ph.loading_a_percent[0], rel=1e-9)
    assert iv.line_loading_max_percent == pytest.approx(net.res_line_3ph.loading_percent.max(), rel=1e-9)
    assert iv.feeder_import_kw == pytest.approx(
        net.res_ext_grid_3ph[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy().sum() * 1000, rel=1e-9
    )


def test_summary_matches_the_tables(day_run: tuple[Model, Path], day_tables: dict[str, pd.DataFrame]) -> None:
    model, _ = day_run
    s = model.summary
    assert s is not None
    iv = day_tables["intervals"]
    hh = day_tables["households"]
    assert s["local_traded_kwh"] == pytest.approx(day_tables["trades"].energy_kwh.sum())
    assert s["household_bills_eur"] == pytest.approx(hh.bill_eur.sum())
    assert s["retailer_revenue_eur"] == pytest.approx(iv.retailer_revenue_eur.sum())
    assert s["losses_kwh"] == pytest.approx(iv.losses_kw.sum() * 0.25)
    assert s["pv_kwh"] == pytest.approx(hh.pv_kw.sum() * 0.25)
    consumption = (hh.base_load_kw - hh.ev_kw - hh.appliance_kw - hh.heat_pump_kw).sum() * 0.25
    assert s["consumption_kwh"] == pytest.approx(consumption)
    assert s["heat_pump_kwh"] == pytest.approx(-hh.heat_pump_kw.sum() * 0.25)
    assert s["comfort_violation_kh"] == pytest.approx(hh.comfort_violation_kh.sum())
    assert s["self_sufficiency"] == pytest.approx(1 - hh.bought_retail_kwh.sum() / consumption)
    assert s["peak_feeder_import_kw"] == pytest.approx(iv.feeder_import_kw.max())
    assert s["vm_max_pu"]["b"] == pytest.approx(iv.vm_max_b_pu.max())
    volume = day_tables["trades"].energy_kwh
    assert s["mean_clearing_price_eur_per_kwh"] == pytest.approx(
        (volume * day_tables["trades"].price_eur_per_kwh).sum() / volume.sum()
    )


def test_population_is_heterogeneous(day_tables: dict[str, pd.DataFrame]) -> None:
    pop = day_tables["population"]
    assert pop.has_pv.sum() == round(0.6 * 55)
    assert pop.annual_consumption_kwh.nunique() == 55
    loads = day_tables["households"].pivot(index="interval", columns="household", values="base_load_kw")
    corr = np.corrcoef(loads.to_numpy().T)
    assert corr[np.triu_indices(55, 1)].max() < 0.99  # every household has its own trace


def test_no_pv_penetration_means_no_pv_and_no_local_sellers(tmp_path: Path) -> None:
    from tests.helpers import hourly, run_to_end

    model = run_to_end(hourly(**{"penetration.pv": 0}), tmp_path)
    hh = pd.read_parquet(tmp_path / "households.parquet")
    assert (hh.pv_kw == 0).all()
    assert model.summary is not None and model.summary["local_traded_kwh"] == 0.0
    assert copy.deepcopy(model.summary["mean_clearing_price_eur_per_kwh"]) is None


def test_customer_voltages_and_voltage_quality(
    day_run: tuple[Model, Path], day_tables: dict[str, pd.DataFrame]
) -> None:
    model, out = day_run
    hh = day_tables["households"]
    buses = hh.household.map(day_tables["population"].set_index("household").bus)
    bv = day_tables["bus_voltages"].set_index(["interval", "bus", "phase"]).vm_pu
    expected = bv.loc[list(zip(hh.interval, buses, hh.phase, strict=True))].to_numpy()
    np.testing.assert_allclose(hh.vm_pu, expected, rtol=0, atol=0)
    outside = ((hh.vm_pu < 0.9) | (hh.vm_pu > 1.1)).sum() * 15
    assert model.summary is not None
    assert model.summary["customer_minutes_outside_limits"] == outside
    vq = pd.read_parquet(out / "voltage_quality.parquet")
    assert len(vq) == 55 and (vq.windows_10min == 144).all()  # one day = 144 ten-minute windows
    assert vq.max_pu.max() <= hh.vm_pu.max() + 1e-12 and vq.min_pu.min() >= hh.vm_pu.min() - 1e-12
    iv = day_tables["intervals"]
    assert model.summary["min_overvoltage_headroom_pu"] == pytest.approx(
        1.1 - iv[[f"vm_max_{p}_pu" for p in "abc"]].max().max()
    )
