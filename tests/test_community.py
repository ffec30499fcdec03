"""The community manager and its battery: threshold and metrics by hand, dispatch, balances, pairing."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.community import MANAGER_NAME, CommunityManager, peak_threshold_kw
from lemgrid.model import Model
from lemgrid.model.interval import Connections, injections
from lemgrid.model.metrics import RUN_METRICS, Run
from tests.helpers import assert_money_balances, hourly, run_to_end
from tests.test_bad_inputs import QUICK, refused

PGM = {"grid.solver": "power_grid_model"}  # these runs check the manager, not the flow
MANAGER = {"community.enabled": "true", **PGM}


def _metric(name: str, run: Run) -> float:
    return next(m for m in RUN_METRICS if m.name == name).aggregate(run)


def test_the_peak_threshold_holds_the_batterys_energy_by_hand() -> None:
    """Forecast import 10, 30, 50, 20 kW for an hour each; 30 kWh shave 50 -> 25 and 30 -> 25 (25 + 5 = 30).

    With at most 20 kW of power the 50 kW hour cannot go below 30 kW, so shaving lower buys no peak:
    T = 30, holding only the 20 kWh that hour takes.
    """
    forecast = np.array([10.0, 30.0, 50.0, 20.0])
    assert peak_threshold_kw(forecast, 30.0, 1.0, 100.0) == pytest.approx(25.0, abs=1e-9)
    assert peak_threshold_kw(forecast, 30.0, 1.0, 20.0) == pytest.approx(30.0, abs=1e-9)
    # 10 kWh: only the 50 kW hour, shaved to 40 kW
    assert peak_threshold_kw(forecast, 10.0, 1.0, 20.0) == pytest.approx(40.0, abs=1e-9)
    # more energy than every interval can take at full power: the peak less the power
    assert peak_threshold_kw(forecast, 1000.0, 1.0, 5.0) == pytest.approx(45.0)
    # half-hour intervals: 30 kWh are 60 kW-intervals; above T < 20 three intervals count,
    # (30 - T) + (50 - T) + (20 - T) = 60 gives T = 40/3
    assert peak_threshold_kw(forecast, 30.0, 0.5, 100.0) == pytest.approx(40 / 3, abs=1e-9)


def test_community_self_consumption_and_sufficiency_by_hand() -> None:
    """Two hours: 10 kW PV and 6 kW load (net +4), then 0 PV and 6 kW load (net -6).

    Netted per hour the community exports 4 kWh of its 10 kWh PV (self-consumption 0.6)
    and imports 6 kWh of its 12 kWh consumption (self-sufficiency 0.5).
    """
    zero = {"ev_kw": 0.0, "appliance_kw": 0.0, "heat_pump_kw": 0.0}
    rows = [
        {"household_injection_kw": 4.0, "pv_kw": 10.0, "base_load_kw": 6.0, **zero},
        {"household_injection_kw": -6.0, "pv_kw": 0.0, "base_load_kw": 6.0, **zero},
    ]
    config = SimpleNamespace(interval_hours=1.0)
    run = Run(config, rows, np.zeros(2), 0.0, None, None, None, np.zeros(0))
    assert _metric("community_self_consumption", run) == pytest.approx(0.6)
    assert _metric("community_self_sufficiency", run) == pytest.approx(0.5)


def test_a_three_phase_connection_splits_its_whole_net_evenly() -> None:
    """The community battery (row 1, listed on phase a) discharging 6 kW gives 2 kW to each phase."""
    where = Connections(
        np.array([0, 0]), np.array([False, False]), np.array([3, 7]), None, np.array([False, True])
    )
    p = injections(np.array([-1.5, 6.0]), np.zeros(2), where)
    np.testing.assert_allclose(p, [[-1.5, 0.0, 0.0], [2.0, 2.0, 2.0]])


def test_the_manager_leaves_every_household_as_it_was() -> None:
    """Its row comes last: every household keeps its place, draws, load, PV and devices."""
    plain, managed = Model(hourly(**PGM)), Model(hourly(**MANAGER))
    n = len(plain.population)
    assert len(managed.population) == n + 1
    assert managed.population.household.iloc[-1] == MANAGER_NAME
    pd.testing.assert_frame_equal(
        managed.population.iloc[:n].drop(columns="community_manager"), plain.population
    )
    np.testing.assert_array_equal(managed.load_kw[:n], plain.load_kw)
    np.testing.assert_array_equal(managed.pv_kw[:n], plain.pv_kw)
    assert not managed.load_kw[n].any() and not managed.pv_kw[n].any()
    manager = list(managed.households)[-1]
    assert isinstance(manager, CommunityManager) and manager.index == n
    # the default bus: the transformer's low-voltage side
    assert manager.bus == int(managed.feeder.net.trafo.lv_bus.iloc[0])


def test_self_consumption_battery_absorbs_what_the_community_would_exchange(tmp_path: Path) -> None:
    """Fixed bids (households follow their plans): the battery takes the others' net, up to its 20 kW.

    A battery too large to fill or empty in a day (5 MWh at 50 %) isolates the power limit.
    """
    big = {"community.battery.capacity_kwh": 5000, "community.battery.power_kw": 20}
    model = run_to_end(hourly(**MANAGER, **big, **{"bidding.mode": "fixed", "penetration.pv": 0.8}), tmp_path)
    hh = pd.read_parquet(tmp_path / "households.parquet")
    mine = hh[hh.household == MANAGER_NAME].set_index("interval")
    others = hh[hh.household != MANAGER_NAME].groupby("interval").net_injection_kw.sum()
    np.testing.assert_allclose(mine.battery_kw, np.clip(-others, -20.0, 20.0), atol=1e-9)
    assert (mine.battery_kw < 0).any() and (mine.battery_kw > 0).any()  # charged from PV, discharged at night
    s = model.summary
    assert s is not None
    plain = run_to_end(hourly(**PGM, **{"bidding.mode": "fixed", "penetration.pv": 0.8})).summary
    assert plain is not None
    assert s["community_self_consumption"] > plain["community_self_consumption"]
    assert s["community_self_sufficiency"] > plain["community_self_sufficiency"]


def test_balances_hold_every_interval_with_the_community_battery(tmp_path: Path) -> None:
    """Bid curves (the default): money and energy balance with the manager as a market participant."""
    model = run_to_end(hourly(**MANAGER, **{"penetration.pv": 0.8}), tmp_path)
    tables = {n: pd.read_parquet(tmp_path / f"{n}.parquet") for n in ("households", "trades", "intervals")}
    hh, iv = tables["households"], tables["intervals"].set_index("interval")
    assert_money_balances(hh, tables["trades"], iv)
    mine = hh[hh.household == MANAGER_NAME]
    assert (mine.battery_kw.abs() > 0).any()
    assert ((mine.bought_local_kwh + mine.sold_local_kwh) > 0).any()  # it trades locally
    # energy: participants' injections + substation import = losses (0.1 % of gross power, as for households)
    injection = hh.groupby("interval").net_injection_kw.sum()
    np.testing.assert_allclose(injection, iv.household_injection_kw, atol=1e-9)
    mismatch = iv.household_injection_kw + iv.feeder_import_kw - iv.losses_kw
    gross_kw = hh.assign(p=hh.net_injection_kw.abs()).groupby("interval").p.sum()
    assert (mismatch.abs() <= 1e-3 * gross_kw).all()
    per_phase = mine.net_injection_a_kw + mine.net_injection_b_kw + mine.net_injection_c_kw
    np.testing.assert_allclose(per_phase, mine.net_injection_kw, atol=1e-12)
    np.testing.assert_allclose(mine.net_injection_a_kw, mine.net_injection_kw / 3, atol=1e-12)
    # the manager's bill is its settled money, not a household's
    s = model.summary
    assert s is not None
    assert s["community_manager_bill_eur"] == pytest.approx(mine.bill_eur.sum(), abs=1e-9)
    paid = mine.local_payment_eur + mine.retail_payment_eur + mine.network_fee_eur
    np.testing.assert_allclose(mine.bill_eur, paid, atol=1e-12)
    households = hh[hh.household != MANAGER_NAME]
    assert s["household_bills_eur"] == pytest.approx(households.bill_eur.sum(), abs=1e-9)
    assert s["mean_household_bill_eur"] == pytest.approx(
        households.groupby("household").bill_eur.sum().mean()
    )


def test_peak_shaving_lowers_the_feeder_peak_once_it_has_a_day_of_history() -> None:
    """Two winter days, fixed bids: on day 2 the threshold knows yesterday's EV demand and holds the evening.

    On day 1 the forecast holds only base load and PV (no device history), so the threshold sits low and
    the battery runs empty before the EVs' evening peak: shaving is weaker there, by construction.
    """
    winter = {"start": "2026-01-15", "days": 2, "penetration.ev": 0.5, "bidding.mode": "fixed"}
    battery = {"community.objective": "peak_shaving", "community.battery.capacity_kwh": 150}
    plain = run_to_end(hourly(**winter, **PGM))
    shaved = run_to_end(hourly(**winter, **MANAGER, **battery, **{"community.battery.power_kw": 40}))
    day2 = [np.array([r["feeder_import_kw"] for r in m.interval_rows[24:]]) for m in (plain, shaved)]
    assert day2[1].max() < day2[0].max() - 20
    assert list(shaved.households)[-1].threshold_kw >= 0


BAD = {
    "battery on a bus that does not exist": (
        ["community.enabled=true", "community.battery.bus=99999"],
        ("'community.battery.bus' = 99999", "no low-voltage bus 99999", "LV bus indices"),
    ),
    "zero capacity": (
        ["community.battery.capacity_kwh=0"],
        ("'community.battery.capacity_kwh' = 0", "greater than 0"),
    ),
    "negative power": (
        ["community.battery.power_kw=-5"],
        ("'community.battery.power_kw' = -5", "greater than 0"),
    ),
    "efficiency above one": (
        ["community.battery.round_trip_efficiency=1.2"],
        ("'community.battery.round_trip_efficiency' = 1.2", "less than or equal to 1"),
    ),
    "efficiency of zero": (
        ["community.battery.round_trip_efficiency=0"],
        ("'community.battery.round_trip_efficiency' = 0", "greater than 0"),
    ),
    "unknown objective": (
        ["community.objective=arbitrage"],
        ("'community.objective' = 'arbitrage'", "'self_consumption', 'peak_shaving' or 'sell_flexibility'"),
    ),
    "a self-consumption manager beside the DSO's flexibility market": (
        ["community.enabled=true", "dso.flexibility.enabled=true"],
        ("'community.enabled' = true", "dso.flexibility.enabled: true", "only with community.objective"),
    ),
    "a flexibility seller without the DSO's market": (
        ["community.enabled=true", "community.objective=sell_flexibility"],
        ("'community.objective' = 'sell_flexibility'", "nobody to sell to", "dso.flexibility.enabled: true"),
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_community_input_is_refused(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sets, needles = BAD[case]
    args = ["run", "--quiet", "--out", str(tmp_path / "out"), *QUICK]
    for item in sets:
        args += ["--set", item]
    refused(capsys, args, *needles)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
