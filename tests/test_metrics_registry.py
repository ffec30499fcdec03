"""The metric registry is the one definition: recorder, summary, experiments and README follow it."""

from pathlib import Path

import numpy as np
import pandas as pd
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
