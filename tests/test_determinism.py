"""Same scenario and seed: identical files, byte for byte. Another seed: different results."""

from pathlib import Path

from tests.helpers import hourly, run_to_end

TABLES = ["intervals", "households", "trades", "bus_voltages", "population"]


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    scenario = hourly()
    run_to_end(scenario, tmp_path / "one")
    run_to_end(scenario, tmp_path / "two")
    run_to_end(scenario.model_copy(update={"seed": scenario.seed + 1}), tmp_path / "three")
    for name in TABLES:
        one = (tmp_path / "one" / f"{name}.parquet").read_bytes()
        assert one == (tmp_path / "two" / f"{name}.parquet").read_bytes(), name
    for name in ("summary.json", "scenario.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    for name in ("intervals", "households", "population"):
        assert (tmp_path / "one" / f"{name}.parquet").read_bytes() != (
            tmp_path / "three" / f"{name}.parquet"
        ).read_bytes(), name
