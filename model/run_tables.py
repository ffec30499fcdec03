"""The run's end-of-run tables: EV stays, appliance cycles and the EN 50160 check per household and week."""

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from lemgrid.grid.metrics import VoltageQuality
from lemgrid.model.grid_step import RunMeasures
from lemgrid.model.recorder import Recorder

EV_COLUMNS = [
    "household",
    "charger_kw",
    "three_phase",
    "arrival",
    "departure",
    "energy_needed_kwh",
    "delivered_kwh",
    "unmet_kwh",
    "feasible",
]
CYCLE_COLUMNS = [
    "household",
    "appliance",
    "window_start",
    "window_end",
    "started",
    "energy_kwh",
    "served_kwh",
    "shortfall_kwh",
]


def end_of_run(
    households: Iterable[Any],
    start: pd.Timestamp,
    end_s: float,
    run_s: float,
    measures: RunMeasures,
) -> dict[str, pd.DataFrame]:
    """The run's end-of-run tables by name: EV sessions, appliance cycles, voltage quality, congestion."""
    households = list(households)
    return {
        "ev_sessions": ev_sessions(households, start, end_s, run_s),
        "appliance_cycles": appliance_cycles(households, start, end_s),
        "voltage_quality": voltage_quality_table(
            measures.voltage_quality, np.array([h.name for h in households], dtype=object)[measures.customers]
        ),
        "learning_curves": learning_curves(households),
        "congestion": measures.congestion.table(start),
    }


def learning_curves(households: Iterable[Any]) -> pd.DataFrame:
    """Reward per simulated day per household (EUR): money gained against the retailer alone, less wear.

    One row per household and day, with the household's strategy, so a user can
    watch a learner's reward rise (or not) day by day.
    """
    rows = [
        (h.name, h.strategy.name, day, reward)
        for h in households
        for day, reward in enumerate(h.reward_by_day_eur)
    ]
    frame = pd.DataFrame(rows, columns=["household", "strategy", "day", "reward_eur"])
    return frame.astype({"household": object, "strategy": object, "day": "int32", "reward_eur": "float64"})


def close(
    recorder: Recorder, tables: dict[str, pd.DataFrame], summary: dict[str, Any], timings: dict[str, float]
) -> None:
    """Write the end-of-run tables, close the streamed ones, then write the summary and the timings."""
    for name, frame in tables.items():
        recorder.write_frame(name, frame)
    recorder.close()
    recorder.write_json("summary.json", summary)
    recorder.write_json("timings.json", {k: round(v, 6) for k, v in timings.items()})


def _timestamp(start: pd.Timestamp, seconds: float | None) -> pd.Timestamp | None:
    return None if seconds is None else (start + pd.Timedelta(seconds=seconds)).tz_convert("UTC")


def voltage_quality_table(quality: VoltageQuality, names: np.ndarray) -> pd.DataFrame:
    """EN 50160 check per household and week, with customer-minutes outside limits over the run."""
    frames = [
        pd.DataFrame(
            {
                "household": names,
                "week": week["week"],
                "complete_week": week["complete"],
                "windows_10min": week["windows"].astype(int),
                "share_within_10_percent": week["share_within_10_percent"],
                "min_pu": week["min_pu"],
                "max_pu": week["max_pu"],
                "en50160_compliant": week["compliant"],
                "minutes_outside_limits_in_run": quality.customer_minutes_outside,
            }
        )
        for week in quality.weekly()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def ev_sessions(households: Iterable[Any], start: pd.Timestamp, end_s: float, run_s: float) -> pd.DataFrame:
    """Every EV stay begun before ``end_s``: needed, delivered and unmet energy (unmet null while home)."""
    rows = []
    for h in households:
        ev = h.devices.ev
        if ev is None:
            continue
        for s in ev.sessions:
            if s.arrival_s >= end_s:
                continue
            plugged_h = (min(s.departure_s, run_s) - max(s.arrival_s, 0)) / 3600
            rows.append(
                {
                    "household": h.name,
                    "charger_kw": ev.charger_kw,
                    "three_phase": ev.three_phase,
                    "arrival": _timestamp(start, s.arrival_s),
                    "departure": _timestamp(start, s.departure_s),
                    "energy_needed_kwh": s.energy_needed_kwh,
                    "delivered_kwh": s.delivered_kwh,
                    "unmet_kwh": s.unmet_kwh,
                    "feasible": s.energy_needed_kwh <= ev.charger_kw * plugged_h + 1e-9,
                }
            )
    return pd.DataFrame(rows, columns=EV_COLUMNS)


def appliance_cycles(households: Iterable[Any], start: pd.Timestamp, end_s: float) -> pd.DataFrame:
    """Every appliance cycle opened before ``end_s``: energy served, shortfall (null if open)."""
    rows = []
    for h in households:
        for a in h.devices.appliances:
            for c in a.cycles:
                if c.window_start_s >= end_s:
                    continue
                closed = c.window_end_s <= end_s
                rows.append(
                    {
                        "household": h.name,
                        "appliance": a.name,
                        "window_start": _timestamp(start, c.window_start_s),
                        "window_end": _timestamp(start, c.window_end_s),
                        "started": _timestamp(start, c.started_s),
                        "energy_kwh": a.cycle_energy_kwh,
                        "served_kwh": c.served_kwh,
                        "shortfall_kwh": a.cycle_energy_kwh - c.served_kwh if closed else None,
                    }
                )
    return pd.DataFrame(rows, columns=CYCLE_COLUMNS)
