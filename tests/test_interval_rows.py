"""Interval rows packed by column read back exactly as they were appended, and summarise the same."""

import numpy as np
import pandas as pd

from lemgrid.model.interval_rows import CHUNK, IntervalRows
from lemgrid.model.metrics import Run, summarise_run
from tests.helpers import hourly, run_to_end


def _exact(value: object) -> object:
    """A value with its float bits spelled out, so NaN and -0.0 compare exactly."""
    return (type(value), float(value).hex()) if isinstance(value, float) else (type(value), value)


def test_rows_read_back_bit_for_bit_across_packed_chunks() -> None:
    rng = np.random.default_rng(3)
    rows = [
        {
            "interval": k,
            "price": None if k % 7 == 0 else float(rng.normal()),  # a column with None stays as given
            "v": float(rng.normal()) if k % 5 else (float("nan") if k % 2 else -0.0),
            "np": np.float64(rng.normal()),
            "converged": bool(k % 11),
            "error": None if k % 11 else "diverged",
        }
        for k in range(2 * CHUNK + 17)
    ]
    packed = IntervalRows()
    for row in rows:
        packed.append(row)
    assert len(packed) == len(rows)
    for got, want in zip(packed, rows, strict=True):
        assert {k: _exact(v) for k, v in got.items()} == {k: _exact(v) for k, v in want.items()}
    assert packed[-1]["interval"] == len(rows) - 1 and packed[CHUNK]["interval"] == CHUNK
    assert [r["interval"] for r in packed[CHUNK - 2 : CHUNK + 3]] == list(range(CHUNK - 2, CHUNK + 3))
    for name in ("price", "v", "np", "converged"):
        want = np.array([r[name] for r in rows], dtype=float)
        assert packed.column(name).tobytes() == want.tobytes()
    assert pd.DataFrame(packed).equals(pd.DataFrame(list(packed)))


def test_a_run_summarises_the_same_from_packed_rows_as_from_dicts() -> None:
    model = run_to_end(hourly(**{"days": 5, "grid.solver": "power_grid_model", "penetration.battery": 0.5}))
    assert len(model.interval_rows) == 120 > CHUNK
    tables = model.end_of_run_tables()
    args = (model.households, model.retailer.revenue_eur, model.dso, tables["ev_sessions"])
    bills = np.array([h.bill_eur for h in args[0]])
    rest = (tables["voltage_quality"], model.congested_lines)
    packed = summarise_run(Run(model.config, model.interval_rows, bills, *args[1:], *rest))
    plain = summarise_run(Run(model.config, list(model.interval_rows), bills, *args[1:], *rest))
    assert packed == plain and packed == model.summary
