"""The metric registry is the one definition: recorder, summary, experiments and README follow it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lemgrid.model.metrics import INTERVAL_METRICS, RUN_METRICS, readme_table
from lemgrid.model.recorder import SCHEMAS, Recorder
from tests.helpers import hourly, run_to_end

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"


def test_the_intervals_schema_is_the_registry() -> None:
    assert SCHEMAS["intervals"].names == [m.name for m in INTERVAL_METRICS]
    assert len({m.name for m in INTERVAL_METRICS}) == len(INTERVAL_METRICS)
    assert len({m.name for m in RUN_METRICS}) == len(RUN_METRICS)


def test_a_column_the_schema_lacks_is_refused_not_dropped(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, ["curtailments"])
    block = {"interval": 0, "household": np.array(["a"]), "export_kwh": 1.0, "import_kwh": 0.0, "reason": "x"}
    with pytest.raises(KeyError, match="not in its schema"):
        recorder.add("curtailments", {**block, "new_column_kwh": 1.0})
    with pytest.raises(KeyError, match="missing"):
        recorder.add("curtailments", {k: v for k, v in block.items() if k != "reason"})


def test_the_recorder_writes_scalars_arrays_and_nulls_row_for_row(tmp_path: Path) -> None:
    """Blocks mix scalars (repeated to the block) and arrays; None and NaN become nulls, ints stay exact."""
    recorder = Recorder(tmp_path, ["curtailments", "zone_prices"], flush_every=2)
    recorder.add(
        "curtailments",
        {
            "interval": 7,
            "household": np.array(["a", "b"]),
            "export_kwh": 1.5,
            "import_kwh": np.array([0.0, 2.0]),
            "reason": "voltage",
        },
    )
    recorder.add(
        "zone_prices", {"interval": 7, "zone": np.array([0, 1]), "price_eur_per_kwh": np.array([0.2, np.nan])}
    )
    recorder.end_interval()
    recorder.add(
        "curtailments",
        {
            "interval": np.array([8]),
            "household": "c",
            "export_kwh": np.array([0.25]),
            "import_kwh": 0.0,
            "reason": np.array([None], dtype=object),
        },
    )
    recorder.add(
        "zone_prices", {"interval": 8, "zone": np.array([None], dtype=object), "price_eur_per_kwh": 0.3}
    )
    recorder.end_interval()  # flushes both intervals
    recorder.close()
    cuts = pd.read_parquet(tmp_path / "curtailments.parquet")
    assert cuts.interval.tolist() == [7, 7, 8] and cuts.household.tolist() == ["a", "b", "c"]
    assert cuts.export_kwh.tolist() == [1.5, 1.5, 0.25] and cuts.import_kwh.tolist() == [0.0, 2.0, 0.0]
    assert cuts.reason.tolist() == ["voltage", "voltage", None]
    zones = pd.read_parquet(tmp_path / "zone_prices.parquet")
    assert zones.interval.tolist() == [7, 7, 8]
    assert zones.zone.tolist()[:2] == [0, 1] and pd.isna(zones.zone.iloc[2])
    assert zones.price_eur_per_kwh.iloc[0] == 0.2 and pd.isna(zones.price_eur_per_kwh.iloc[1])
    assert zones.price_eur_per_kwh.iloc[2] == 0.3
    # the text columns are dictionary-encoded, the numbers plain (trying a dictionary on them cost time)
    chunks = pq.ParquetFile(tmp_path / "curtailments.parquet").metadata.row_group(0)
    encoded = {chunks.column(i).path_in_schema: chunks.column(i).encodings for i in range(chunks.num_columns)}
    assert {name for name, codes in encoded.items() if "RLE_DICTIONARY" in codes} == {"household", "reason"}


def test_the_readme_metric_table_is_the_registry() -> None:
    text = README.read_text()
    assert START in text and END in text, "README's Metrics section lost its generated table"
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == readme_table(), (
        "regenerate it: python -c 'from lemgrid.model.metrics import readme_table; print(readme_table())'"
    )


def test_the_summary_has_every_run_metric_and_the_price_spread_is_the_trades(tmp_path: Path) -> None:
    """The README's "Add a metric" example, computed independently from trades.parquet."""
    scenario = hourly(
        **{
            "grid.solver": "power_grid_model",
            "penetration.pv": 0.6,
            "market.pricing": "heterogeneous",
            "market.mechanism": "p2p",
        }
    )
    model = run_to_end(scenario, tmp_path)
    assert set(model.summary) == {m.name for m in RUN_METRICS}
    trades = pd.read_parquet(tmp_path / "trades.parquet")
    intervals = pd.read_parquet(tmp_path / "intervals.parquet").set_index("interval")
    delivered = trades[trades.energy_kwh > 0].groupby("interval").price_eur_per_kwh
    spread = delivered.max() - delivered.min()
    assert len(spread) > 0
    np.testing.assert_allclose(
        intervals.local_price_spread_eur_per_kwh.loc[spread.index], spread, rtol=0, atol=1e-15
    )
    assert intervals.local_price_spread_eur_per_kwh.drop(spread.index).isna().all()
    assert model.summary["mean_local_price_spread_eur_per_kwh"] == pytest.approx(spread.mean())
