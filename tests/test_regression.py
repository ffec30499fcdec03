"""The default experiment's results, column by column, are bit-identical to the recorded reference.

``tests/data/default_experiment_columns.json`` holds a hash of every column of
every Parquet table of every run of ``experiments/pricing_designs.yaml``
(15 runs), recorded on main before the interval loop was split into stages
(commit 4fc369a) and regenerated for issue 18, whose pay-as-clear price rule (inside
the equilibrium interval) and per-pair P2P prices change the local prices, the money
and P2P's pairing, and nothing else (every grid and device column kept its hash);
``tests/data/pricing_designs_fixed.yaml`` is that experiment file
with its bidding named (``bidding.mode: fixed``). A refactoring that changes any recorded value, even in the
last bit, fails here. Columns added later are not in the reference and are
not compared; a column or table that disappears fails. Regenerate the file
only when a change of results is intended, and say so in the commit.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "data" / "default_experiment_columns.json"


def column_hashes(results: Path) -> dict[str, dict[str, str]]:
    """{swept values, seed / table: {column: hash of its values}} for every run under ``results``."""
    out: dict[str, dict[str, str]] = {}
    for run_file in sorted(results.rglob("run.json")):
        run = json.loads(run_file.read_text())
        key = ",".join(f"{k}={v}" for k, v in sorted(run["params"].items())) + f",seed={run['seed']}"
        for table in sorted(run_file.parent.glob("*.parquet")):
            frame = pd.read_parquet(table)
            out[f"{key}/{table.stem}"] = {
                column: hashlib.sha256(
                    pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes()
                ).hexdigest()[:16]
                for column in frame.columns
            }
    return out


@pytest.mark.slow
def test_default_experiment_is_bit_identical_to_the_reference(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lemgrid.experiments.cli",
            "sweep",
            str(Path(__file__).parent / "data" / "pricing_designs_fixed.yaml"),
            "--results",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).parents[1],
    )
    reference = json.loads(REFERENCE.read_text())
    now = column_hashes(tmp_path)
    assert set(reference) <= set(now), sorted(set(reference) - set(now))[:5]
    changed = [
        f"{table}.{column}"
        for table, columns in reference.items()
        for column, digest in columns.items()
        if now[table].get(column) != digest
    ]
    assert not changed, f"{len(changed)} columns differ from the reference, e.g. {changed[:5]}"


def test_the_hashes_see_a_change_in_the_last_bit() -> None:
    a = pd.Series([0.1, 0.2])
    b = pd.Series([0.1, 0.2 + 2**-55])
    assert b[1] != a[1]
    digests = [pd.util.hash_pandas_object(s, index=False).to_numpy().tobytes() for s in (a, b)]
    assert digests[0] != digests[1]
