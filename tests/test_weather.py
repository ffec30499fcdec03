"""Weather and seasons: the outdoor temperature (model or CSV), its effect on PV, and the season of a run."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.agents.profiles import ambient_temperature_c, pv_ac_kw
from lemgrid.model import Model, Scenario
from lemgrid.model.weather import WeatherError, outdoor_temperature_c, read_temperature_csv, season


def local_times(day: str, n: int = 96, minutes: int = 15) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(day, tz="Europe/London"), periods=n, freq=f"{minutes}min")


def write_csv(path: Path, stamps: list[str], values: list[str]) -> Path:
    path.write_text(
        "timestamp,temperature_c\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, values, strict=True))
    )
    return path


def hours_utc(first: str, n: int) -> list[str]:
    return [t.isoformat() for t in pd.date_range(pd.Timestamp(first, tz="UTC"), periods=n, freq="h")]


def test_the_default_model_is_the_one_pv_always_used() -> None:
    """Mid-January at 03:00 and mid-July at 15:00: 10 -/+ 7 (season) -/+ 4 (day), to the cosine's rounding."""
    times = pd.DatetimeIndex(
        [
            pd.Timestamp("2026-01-14 03:00", tz="Europe/London"),
            pd.Timestamp("2026-07-15 15:00", tz="Europe/London"),
        ]
    )
    t = ambient_temperature_c(times, 10.0, 53.48)
    assert t[1] == pytest.approx(10 + 7 + 4, abs=1e-9)  # day 196, 15:00: both cosines at +1
    assert t[0] == pytest.approx(10 - 7 * 0.99996 - 4, abs=1e-3)  # day 14: half a year from day 196
    cfg = Scenario()
    starts = local_times("2026-06-01")
    mid = starts + pd.Timedelta(minutes=7.5)
    np.testing.assert_array_equal(outdoor_temperature_c(cfg, starts), ambient_temperature_c(mid, 10.0, 53.48))


def test_a_csv_is_interpolated_to_the_interval_midpoints(tmp_path: Path) -> None:
    stamps = hours_utc("2026-01-05T00:00", 26)
    path = write_csv(tmp_path / "t.csv", stamps, [str(float(i)) for i in range(26)])  # 0, 1, 2, ... deg C
    times = pd.date_range(pd.Timestamp("2026-01-05", tz="UTC"), periods=96, freq="15min") + pd.Timedelta(
        minutes=7.5
    )
    got = read_temperature_csv(path, times)
    np.testing.assert_allclose(got, np.arange(96) * 0.25 + 0.125, atol=1e-12)  # linear between the hours


@pytest.mark.parametrize(
    ("stamps", "values", "needles"),
    [
        (
            hours_utc("2026-01-05T00:00", 30)[:5] + hours_utc("2026-01-05T06:00", 25),
            ["1"] * 30,
            ["row 7", "gaps"],
        ),
        (hours_utc("2026-01-05T00:00", 30), ["1"] * 10 + ["nan"] + ["1"] * 19, ["row 12", "'nan'"]),
        (hours_utc("2026-01-05T00:00", 30), ["1"] * 10 + [""] + ["1"] * 19, ["row 12", "empty"]),
        ([s[:19] for s in hours_utc("2026-01-05T00:00", 30)], ["1"] * 30, ["row 2", "no time zone"]),
        (hours_utc("2026-01-05T00:00", 12), ["1"] * 12, ["covers", "the run needs"]),
        (hours_utc("2026-01-05T00:00", 30), ["1"] * 29 + ["99"], ["row 31", "between -60 and 60"]),
    ],
    ids=["gap", "NaN", "empty cell", "no time zone", "too short", "out of range"],
)
def test_bad_temperature_files_name_the_file_and_row(
    tmp_path: Path, stamps: list[str], values: list[str], needles: list[str]
) -> None:
    path = write_csv(tmp_path / "bad.csv", stamps, values)
    times = pd.date_range(pd.Timestamp("2026-01-05", tz="UTC"), periods=96, freq="15min")
    with pytest.raises(WeatherError) as err:
        read_temperature_csv(path, times)
    assert "bad.csv" in str(err.value)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_pv_derates_by_its_coefficient_on_cell_temperature() -> None:
    """30 K warmer air is 30 K warmer cells (Faiman), so DC power drops by 0.4 %/K x 30 K of P_stc G/1000."""
    starts = local_times("2026-06-01")

    def output(temp_c: float, coefficient: float = -0.004) -> np.ndarray:
        return pv_ac_kw(
            starts,
            15,
            53.48,
            -2.24,
            10.0,
            np.ones(96),
            np.array([4.0]),
            np.array([35.0]),
            np.array([180.0]),
            2.0,  # no inverter clipping
            0.0,
            coefficient,
            np.full(96, temp_c),
        )[0]

    cold, warm, no_coefficient = (
        output(0.0),
        output(30.0),
        output(0.0, 0.0),
    )  # PVWatts: P_stc G/1000 (1 + g dTc)
    sunny = no_coefficient > 0.1
    np.testing.assert_allclose((cold - warm)[sunny] / no_coefficient[sunny], 0.004 * 30, rtol=1e-9)


def test_a_csv_drives_the_run(tmp_path: Path) -> None:
    """A constant -5 deg C file: the heat pumps see -5 deg C in every interval."""
    path = write_csv(tmp_path / "t.csv", hours_utc("2026-01-04T23:00", 30), ["-5"] * 30)
    cfg = Scenario.load(
        None,
        [
            "start=2026-01-05",
            "interval_minutes=60",
            f"weather.temperature_file={path}",
            "penetration.heat_pump=0.2",
        ],
    )
    model = Model(cfg)
    np.testing.assert_array_equal(model.profiles.outdoor_temperature_c, np.full(24, -5.0))
    pump = next(h.devices.heat_pump for h in model.households if h.devices.heat_pump is not None)
    np.testing.assert_array_equal(pump.outdoor_c, np.full(24, -5.0))


@pytest.mark.parametrize(
    ("start", "days", "latitude", "expected"),
    [
        ("2026-01-05", 7, 53.5, "winter"),
        ("2026-06-01", 1, 53.5, "summer"),
        ("2026-06-01", 1, -33.9, "winter"),
        ("2026-04-10", 3, 53.5, "spring"),
        ("2026-11-28", 7, 53.5, "winter"),  # the middle day is 1 December
        ("2026-01-01", 365, 53.5, "year"),
    ],
)
def test_season_of_a_run(start: str, days: int, latitude: float, expected: str) -> None:
    assert season(dt.date.fromisoformat(start), days, latitude) == expected
