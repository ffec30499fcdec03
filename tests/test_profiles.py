"""Base-load and PV traces: physics limits, calendar and weather behave as documented."""

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.profiles import (
    base_load_kw,
    clear_sky_index,
    h0_kw_per_annual_kwh,
    lognormal_ar1,
    pv_ac_kw,
)

LONDON = "Europe/London"


def starts(day: str, n: int = 96, minutes: int = 15) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(day, tz=LONDON), periods=n, freq=f"{minutes}min")


def test_h0_integrates_to_one_kwh_per_annual_kwh() -> None:
    profile = h0_kw_per_annual_kwh(range(2026, 2027))
    assert profile.sum() * 0.25 == pytest.approx(1.0, rel=1e-12)
    assert len(profile) == 365 * 96


def test_base_load_over_a_year_matches_annual_consumption() -> None:
    rng = np.random.default_rng(0)
    # whole year 2026 in Europe/London, 1-hour intervals, no noise, no shift
    idx = pd.date_range(
        pd.Timestamp("2026-01-01", tz=LONDON),
        pd.Timestamp("2027-01-01", tz=LONDON),
        freq="60min",
        inclusive="left",
    )
    load = base_load_kw(idx, 60, np.array([3000.0, 4500.0]), np.array([0, 0]), 0.0, 0.5, rng)
    # DST: the 23-hour day in March and 25-hour day in October cancel out to within an hour's load
    np.testing.assert_allclose(load.sum(axis=1), [3000.0, 4500.0], rtol=2e-3)


def test_noise_has_mean_one_and_the_requested_spread() -> None:
    x = lognormal_ar1(np.random.default_rng(1), 200, 2000, 0.35, 0.7)
    assert x.mean() == pytest.approx(1.0, abs=0.01)
    assert np.log(x).std() == pytest.approx(0.35, rel=0.02)
    lag = np.corrcoef(np.log(x[:, :-1]).ravel(), np.log(x[:, 1:]).ravel())[0, 1]
    assert lag == pytest.approx(0.7, abs=0.02)


def test_shift_moves_the_daily_routine() -> None:
    rng = np.random.default_rng(2)
    idx = starts("2026-03-10")
    load = base_load_kw(idx, 15, np.array([3500.0, 3500.0]), np.array([0, 60]), 0.0, 0.0, rng)
    # a household one hour late has at t what the punctual one had at t + 1 h
    np.testing.assert_allclose(load[1, :-4], load[0, 4:], rtol=1e-12)


def pv(day: str, clearness: float | np.ndarray = 1.0, kwp: float = 4.0, ratio: float = 0.9) -> np.ndarray:
    idx = starts(day)
    k = np.broadcast_to(np.asarray(clearness, dtype=float), (len(idx),))
    return pv_ac_kw(
        idx,
        15,
        53.48,
        -2.24,
        10.0,
        k,
        np.array([kwp]),
        np.array([35.0]),
        np.array([180.0]),
        ratio,
        0.14,
        -0.004,
    )[0]


def test_pv_is_zero_at_night_and_within_the_inverter_rating() -> None:
    power = pv("2026-06-21")
    hours = starts("2026-06-21").hour
    assert (power[(hours < 3) | (hours >= 23)] == 0).all()
    assert power.min() >= 0 and power.max() <= 4.0 * 0.9 + 1e-12
    assert power.max() > 2.5  # a clear June noon near Manchester makes most of 4 kWp
    assert pv("2026-06-21", ratio=0.5).max() == pytest.approx(2.0)  # clipping at 2 kW AC


def test_pv_seasons_and_clouds() -> None:
    june_clear, dec_clear = pv("2026-06-21").sum() / 4, pv("2026-12-21").sum() / 4
    assert june_clear > 3 * dec_clear > 0
    assert pv("2026-06-21", 0.4).sum() < 0.5 * pv("2026-06-21").sum()
    # a clear June day yields 5 - 7 kWh per kWp at 53.5 deg N (PVGIS clear-sky order of magnitude)
    assert 5.0 < june_clear / 4.0 < 7.5


def test_clear_and_cloudy_days_differ() -> None:
    idx = pd.date_range(pd.Timestamp("2026-06-01", tz=LONDON), periods=96 * 60, freq="15min")
    k = clear_sky_index(idx, 0.5, 0.45, 0.25, 0.8, np.random.default_rng(4)).reshape(60, 96)
    daily = k.mean(axis=1)
    clear = daily > 0.9
    assert 15 < clear.sum() < 45  # about half the days are clear
    assert k[~clear].mean() == pytest.approx(0.45, abs=0.08)
    assert k[clear].std() < k[~clear].std()
    assert k.min() >= 0.05 and k.max() <= 1.1
