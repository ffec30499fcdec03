"""lemgrid installs as one import namespace, lemgrid.*, and ships its experiment files."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_the_wheel_holds_one_namespace_and_the_study_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("lemgrid-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"lemgrid"}
    studies = [n for n in names if n.startswith("lemgrid/experiments/studies/") and n.endswith(".yaml")]
    assert len(studies) == len(list((ROOT / "experiments" / "studies").glob("*.yaml"))) == 13
    assert "lemgrid/experiments/pricing_designs.yaml" in names
    assert "lemgrid/experiments/heat_pumps_winter.yaml" in names
    assert "lemgrid/experiments/presets/congested_suburb_ev_winter.yaml" in names
    assert {f"lemgrid/grid/data/simbench_{g}.json" for g in ("rural1", "semiurb4", "urban6")} <= set(names)


def test_outside_the_checkout_lemgrid_imports_and_bare_names_do_not(tmp_path: Path) -> None:
    code = "import lemgrid.grid, lemgrid.model\ntry:\n    import grid\nexcept ImportError:\n    print('ok')"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"


def test_a_shipped_experiment_is_found_by_name_from_any_folder(tmp_path: Path) -> None:
    from lemgrid.experiments.experiment import shipped_experiment

    assert shipped_experiment("studies/8_attacks").is_file()
    assert shipped_experiment("pricing_designs.yaml").name == "pricing_designs.yaml"
