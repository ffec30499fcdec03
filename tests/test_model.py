"""The Mesa model: default run, clock, agents on the feeder's phases, failures."""

import gc
import weakref
from pathlib import Path

import pandapower.networks as pn
import pandas as pd
import pytest

from lemgrid.agents.household import Household
from lemgrid.model import Model, PowerFlowError
from tests.helpers import hourly, run_to_end


def test_default_model_runs_ten_steps() -> None:
    model = Model()
    for _ in range(10):
        model.step()
    assert model.interval == 10
    assert model.env.now == 10 * 15 * 60  # SimPy keeps time in seconds
    assert model.last_grid is not None and model.last_grid.converged
    assert len(model.interval_rows) == 10 and model.running


def test_a_model_dropped_before_its_end_is_collected() -> None:
    """A model freezes its state out of the GC; one dropped unfinished (a reset) must still be freed."""
    first = Model()
    first.step()
    dropped = weakref.ref(first)
    del first
    second = Model()  # the browser app's Reset, a gym episode's reset
    gc.collect()
    assert dropped() is None
    second.finalize()
    assert gc.get_freeze_count() == 0


def test_households_sit_on_the_buses_and_phases_of_the_feeder_data() -> None:
    model = Model(hourly())
    original = pn.ieee_european_lv_asymmetric("on_peak_566").asymmetric_load
    expected = {
        row.name: (
            row.bus,
            "abc"[[row.p_a_mw, row.p_b_mw, row.p_c_mw].index(max(row.p_a_mw, row.p_b_mw, row.p_c_mw))],
        )
        for row in original.itertuples()
    }
    households = list(model.agents_by_type[Household])
    assert len(households) == 55
    assert {h.name: (h.bus, h.phase) for h in households} == expected


def test_phase_override_moves_the_household() -> None:
    model = Model(hourly(**{"feeder.phase_overrides.LOAD1": "c"}))
    assert model.population.set_index("household").loc["LOAD1", "phase"] == "c"


def test_stepping_past_the_end_is_an_error() -> None:
    model = Model(hourly(**{"interval_minutes": 720}))
    model.step()
    model.step()
    assert not model.running
    with pytest.raises(RuntimeError, match="all 2 intervals"):
        model.step()


def test_nonconvergence_is_recorded_and_the_run_continues(tmp_path: Path) -> None:
    model = run_to_end(hourly(**{"grid.max_iterations": 1, "interval_minutes": 360}), tmp_path)
    intervals = pd.read_parquet(tmp_path / "intervals.parquet")
    assert len(intervals) == 4
    assert not intervals.converged.any()
    assert intervals.power_flow_error.str.contains("did not converge").all()
    assert intervals.n_buses_outside_limits.isna().all()  # null, not a made-up count
    assert model.summary is not None and model.summary["intervals_not_converged"] == 4


def test_nonconvergence_can_abort_and_keeps_what_was_done(tmp_path: Path) -> None:
    scenario = hourly(**{"grid.max_iterations": 1, "grid.on_nonconvergence": "abort"})
    model = Model(scenario, out_dir=tmp_path)
    with pytest.raises(PowerFlowError, match="interval 0"):
        model.step()
    intervals = pd.read_parquet(tmp_path / "intervals.parquet")
    assert len(intervals) == 1 and not intervals.converged[0]
    assert (tmp_path / "summary.json").exists()
