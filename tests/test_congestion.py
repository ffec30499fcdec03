"""Which elements congest and when: the congestion log, the run's table and what ``lemgrid run`` prints."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lemgrid.grid import load_feeder
from lemgrid.grid.congestion import CongestionLog, describe_congestion
from lemgrid.model import Scenario
from tests.helpers import run_to_end

PRESET = Path(__file__).parents[1] / "experiments" / "presets" / "congested_suburb_ev_winter.yaml"

START = pd.Timestamp("2026-01-12", tz="Europe/Berlin")


def test_consecutive_intervals_above_the_limit_are_one_episode() -> None:
    log = CongestionLog(
        line_ids=np.array([10, 11]),
        line_names=np.array(["head", "tail"]),
        trafo_ids=np.array([0]),
        trafo_names=np.array(["T1"]),
        line_limit_percent=100.0,
    )
    line = [[90, 50], [120, 50], [130, 101], [80, np.nan], [110, 50]]
    trafo_b = [50, 99, 105, 100, 50]
    for k, (ln, tb) in enumerate(zip(line, trafo_b, strict=True)):
        log.add(k * 3600.0, (k + 1) * 3600.0, np.array(ln, float), np.array([[0.0, tb, 0.0]]))
    t = log.table(START)
    # line 10: 01:00-03:00 (2 h, up to 130 %) and 04:00-05:00; line 11 and trafo phase b: 02:00-03:00
    assert list(zip(t.element, t["index"], t.phase, t.hours, t.max_loading_percent, strict=True)) == [
        ("line", 10, "", 2.0, 130.0),
        ("line", 11, "", 1.0, 101.0),
        ("trafo", 0, "b", 1.0, 105.0),
        ("line", 10, "", 1.0, 110.0),
    ]
    assert t.start.iloc[0] == pd.Timestamp("2026-01-12 01:00", tz="Europe/Berlin").tz_convert("UTC")
    text = describe_congestion(t, "Europe/Berlin")
    assert text.splitlines()[0] == "congestion: 3 elements"
    assert "line 10 (head): 3.00 h above the limit in 2 episodes, up to 130 %; Mon 12 Jan 01:00-03:00" in text


@pytest.fixture(scope="module")
def congested_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The congestion preset's first two days, hourly, every home with an EV."""
    out = tmp_path_factory.mktemp("congested")
    run_to_end(Scenario.load(PRESET, ["days=2", "interval_minutes=60", "penetration.ev=1.0"]), out)
    return out


def test_the_congestion_table_covers_exactly_the_congested_intervals(congested_day: Path) -> None:
    table = pd.read_parquet(congested_day / "congestion.parquet")
    rows = pd.read_parquet(congested_day / "intervals.parquet")
    trafo = rows[[f"trafo_loading_{p}_percent" for p in "abc"]].max(axis=1)
    congested = (rows.n_lines_overloaded > 0) | (trafo > 100)
    assert congested.sum() >= 2  # the day really congests
    covered = np.zeros(len(rows), dtype=bool)
    times = pd.to_datetime(rows.time, utc=True)
    for s, e in zip(table.start, table.end, strict=True):
        covered |= ((times >= s) & (times < e)).to_numpy()
    np.testing.assert_array_equal(covered, congested.to_numpy())
    # each line's highest loading in its episodes is the highest the interval rows saw
    lines = table[table.element == "line"]
    assert lines.max_loading_percent.max() == pytest.approx(rows.line_loading_max_percent.max())
    feeder = load_feeder("kerber_vorstadtnetz")
    assert set(lines["index"]) <= set(feeder.line_ids)
