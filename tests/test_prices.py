"""Retail price signals (time-of-use, indexed on wholesale), wholesale CSV checks, price forecasts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.model.forecasts import PriceForecast
from lemgrid.model.prices import (
    PriceSeriesError,
    TimeOfUseWindow,
    indexed,
    model_wholesale_eur_per_mwh,
    read_wholesale_csv,
    time_of_use,
)

TIMES = pd.date_range("2026-06-01", periods=48, freq="30min", tz="Europe/Berlin")


def test_time_of_use_windows_by_local_clock_time_with_a_window_past_midnight():
    windows = [TimeOfUseWindow(17, 21, 0.40), TimeOfUseWindow(22, 6, 0.20)]
    price = time_of_use(TIMES, 0.30, windows)
    assert price[TIMES.hour == 18].tolist() == [0.40, 0.40]
    assert price[TIMES.hour == 3].tolist() == [0.20, 0.20]
    assert price[TIMES.hour == 12].tolist() == [0.30, 0.30]


def test_the_modelled_wholesale_price_has_an_evening_peak_a_solar_valley_and_a_dearer_winter():
    june = pd.date_range("2026-06-15", periods=24, freq="h", tz="Europe/Berlin")
    january = pd.date_range("2026-01-15", periods=24, freq="h", tz="Europe/Berlin")
    s, w = model_wholesale_eur_per_mwh(june), model_wholesale_eur_per_mwh(january)
    assert s.argmax() == 19 and s.argmin() == 13
    assert w.mean() > s.mean() + 20
    assert s[13] < s[8] < s[19]
    assert indexed(np.array([100.0]), 0.2)[0] == pytest.approx(0.3)


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text("timestamp,price_eur_per_mwh\n" + "\n".join(rows) + "\n")
    return path


def _hours(n: int, start: str = "2026-06-01T00:00:00+02:00") -> list[str]:
    return [t.isoformat() for t in pd.date_range(start, periods=n, freq="h")]


def test_a_good_csv_gives_each_interval_its_hours_price(tmp_path):
    path = _csv(tmp_path, [f"{t},{i}" for i, t in enumerate(_hours(24))])
    price = read_wholesale_csv(path, TIMES)
    assert price[:4].tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [f"{t},{'nan' if i == 5 else 50}" for i, t in enumerate(_hours(24))],
            "row 7: price_eur_per_mwh 'nan'",
        ),
        ([f"{t},{'inf' if i == 5 else 50}" for i, t in enumerate(_hours(24))], "not a finite number"),
        ([f"{t},50" for i, t in enumerate(_hours(24)) if i != 9], "rows must be hourly"),
        ([f"{t},50" for t in _hours(24)[:10] + _hours(24)[9:]], "repeats"),
        ([f"{t},50" for t in _hours(12)], "the run needs"),
        ([f"2026-06-01T{h:02d}:00:00,50" for h in range(24)], "no time zone"),
    ],
)
def test_a_bad_csv_is_named_with_its_row_and_rule(tmp_path, rows, message):
    with pytest.raises(PriceSeriesError, match=message):
        read_wholesale_csv(_csv(tmp_path, rows), TIMES)


def test_forecasts_fall_back_to_the_retail_midpoint_and_learn_by_time_of_day():
    retail, feed_in = np.full(8, 0.30), np.full(8, 0.10)
    for kind, expected in (("yesterday", 0.12), ("ema", 0.5 * 0.12 + 0.5 * 0.16), ("retail_midpoint", 0.20)):
        f = PriceForecast(kind, retail, feed_in, intervals_per_day=4)
        assert f.ahead(0, 4).tolist() == pytest.approx([0.2] * 4)
        f.observe(1, 0.16)
        f.observe(5, 0.12)  # the same time one day later
        f.observe(2, None)  # no local trade: nothing learnt
        assert f.ahead(5, 2).tolist() == pytest.approx([expected, 0.2])
    with pytest.raises(ValueError, match="allowed: yesterday, ema, retail_midpoint"):
        PriceForecast("crystal_ball", retail, feed_in, 4)


def test_households_pay_the_time_of_use_price_of_their_interval():
    from lemgrid.model import Model

    from .helpers import hourly

    model = Model(hourly(**{"grid.solver": "power_grid_model", "prices.retail": "time_of_use"}))
    paid, expected = [], []
    while model.running:
        k = model.interval
        model.step()
        s = model.last_settlement
        paid.append(float(s.retail_payment_eur.sum()))
        expected.append(
            float(s.bought_retail_kwh.sum() * model.retail_eur_per_kwh[k] - s.sold_retail_kwh.sum() * 0.08)
        )
    hours = model.times.hour
    assert model.retail_eur_per_kwh[hours == 18].tolist() == [0.40]
    assert model.retail_eur_per_kwh[hours == 3].tolist() == [0.22]
    np.testing.assert_allclose(paid, expected, atol=1e-9)


def test_a_bad_wholesale_file_is_one_clear_error_from_the_command_line(tmp_path):
    import subprocess
    import sys

    path = _csv(tmp_path, [f"{t},{'x' if i == 3 else 50}" for i, t in enumerate(_hours(48))])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lemgrid.experiments.cli",
            "run",
            "--set",
            "prices.retail=dynamic",
            "--set",
            f"prices.wholesale_file={path}",
            "--set",
            "interval_minutes=60",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert "row 5: price_eur_per_mwh 'x' is not a finite number" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_forecast_never_runs_out_at_the_end_of_the_run():
    retail, feed_in = np.array([0.3, 0.4, 0.3, 0.4, 0.3, 0.5]), np.full(6, 0.1)
    f = PriceForecast("retail_midpoint", retail, feed_in, intervals_per_day=2)
    # the days repeat past the run's end: interval 6 is like 4, interval 7 like 5
    assert f.ahead(4, 4).tolist() == pytest.approx([0.2, 0.3, 0.2, 0.3])
