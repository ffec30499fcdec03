"""Run one scenario to completion and report what it did."""

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from lemgrid.experiments.progress import ProgressBar
from lemgrid.model import Model, Scenario, ScenarioError

# ``lemgrid run`` and sweeps solve with power-grid-model unless the scenario names grid.solver:
# it agrees with runpp_3ph (the scenario default and the tests' reference) to about 1e-5 p.u.
# on the IEEE EU LV feeder (README, Feeders and solvers) and is about 20x faster per interval.
RUN_SOLVER = "power_grid_model"


def with_run_solver(scenario: Scenario) -> Scenario:
    """``scenario`` solved by :data:`RUN_SOLVER` unless it (file, --set or axis) names ``grid.solver``."""
    if "solver" in scenario.grid.model_fields_set:
        return scenario
    grid = scenario.grid.model_copy(update={"solver": RUN_SOLVER})
    return scenario.model_copy(update={"grid": grid})


def run_scenario(
    scenario: Scenario, out_dir: str | Path, progress: TextIO | None = sys.stderr
) -> dict[str, Any]:
    """Simulate every interval of ``scenario``, write its files to ``out_dir`` and return the summary.

    Interrupted (Ctrl-C), it still closes the files of the intervals done, so
    nothing computed is lost, and then re-raises.
    """
    try:
        model = Model(scenario, out_dir=out_dir)
    except ValueError as exc:  # the model's own input checks: a bad input, not a failed run
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(str(exc)) from exc
    bar = ProgressBar(scenario.n_intervals, "intervals", progress)
    try:
        while model.running:
            model.step()
            bar.update(model.interval)
    except KeyboardInterrupt:
        model.finalize()
        raise
    except OSError:
        remove_temporary(Path(out_dir))
        raise
    finally:
        bar.close()
    assert model.summary is not None
    return model.summary


def remove_temporary(folder: Path) -> None:
    """Delete the half-written ``*.tmp`` files a failed write leaves in ``folder``."""
    for tmp in folder.glob("*.tmp"):
        tmp.unlink(missing_ok=True)


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write and delete a probe file in it, so a read-only disk fails before any work.

    Raises:
        OSError: naming the folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".lemgrid-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    finally:
        probe.unlink(missing_ok=True)


def format_summary(summary: dict[str, Any]) -> str:
    """A readable table of the headline numbers of a run."""

    def num(value: Any, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    def per_phase(values: dict[str, float | None], fmt: str) -> str:
        return "  ".join(f"{p}={num(v, fmt)}" for p, v in values.items())

    rows = [
        (
            "intervals simulated",
            f"{summary['intervals']} of {summary['intervals_planned']} ({summary['season']})",
        ),
        ("power flows not converged", str(summary["intervals_not_converged"])),
        (
            "consumption (base / EV / appliances)",
            f"{summary['consumption_kwh']:.1f} kWh ({summary['base_load_kwh']:.1f} / "
            f"{summary['ev_kwh']:.1f} / {summary['appliance_kwh']:.1f})",
        ),
        (
            "heat pumps (below comfort band / tank band)",
            f"{summary['heat_pump_kwh']:.1f} kWh ({summary['comfort_violation_kh']:.2f} / "
            f"{summary['tank_violation_kh']:.2f} K h)",
        ),
        ("PV generation (curtailed)", f"{summary['pv_kwh']:.1f} kWh ({summary['pv_curtailed_kwh']:.1f})"),
        (
            "battery charged / discharged",
            f"{summary['battery_charged_kwh']:.1f} / {summary['battery_discharged_kwh']:.1f} kWh",
        ),
        (
            "EV energy unmet at departure",
            f"{summary['ev_unmet_kwh']:.2f} kWh over {summary['ev_sessions_ended']} stays",
        ),
        ("traded locally", f"{summary['local_traded_kwh']:.1f} kWh"),
        ("mean local price", num(summary["mean_clearing_price_eur_per_kwh"], ".4f") + " EUR/kWh"),
        ("self-sufficiency", num(summary["self_sufficiency"], ".1%")),
        ("self-consumption", num(summary["self_consumption"], ".1%")),
        (
            "feeder import / export",
            f"{summary['feeder_import_kwh']:.1f} / {summary['feeder_export_kwh']:.1f} kWh",
        ),
        (
            "peak import / export",
            f"{num(summary['peak_feeder_import_kw'], '.1f')} / "
            f"{num(summary['peak_feeder_export_kw'], '.1f')} kW",
        ),
        ("losses", f"{summary['losses_kwh']:.2f} kWh"),
        ("min voltage", per_phase(summary["vm_min_pu"], ".4f") + " p.u."),
        ("max voltage", per_phase(summary["vm_max_pu"], ".4f") + " p.u."),
        ("intervals with voltage violation", str(summary["intervals_with_voltage_violation"])),
        ("customer-minutes outside limits", f"{summary['customer_minutes_outside_limits']:.0f}"),
        ("EN 50160 compliant households", num(summary["en50160_compliant_share"], ".0%")),
        (
            "smallest headroom (over-V / under-V / thermal)",
            f"{num(summary['min_overvoltage_headroom_pu'], '.4f')} / "
            f"{num(summary['min_undervoltage_headroom_pu'], '.4f')} p.u. / "
            f"{num(summary['min_thermal_headroom_percent'], '.1f')} %",
        ),
        (
            "max VUF / PVUR / LVUR",
            f"{num(summary['vuf_max_percent'], '.3f')} / {num(summary['pvur_max_percent'], '.3f')} / "
            f"{num(summary['lvur_max_percent'], '.3f')} %",
        ),
        ("max transformer loading", per_phase(summary["trafo_loading_max_percent"], ".1f") + " %"),
        ("max line loading", num(summary["line_loading_max_percent"], ".1f") + " %"),
        ("household bills", f"{summary['household_bills_eur']:.2f} EUR"),
        (
            "DSO network fees (cost recovery)",
            f"{summary['dso_revenue_eur']:.2f} EUR ({num(summary['dso_cost_recovery'], '.1%')})",
        ),
        (
            "curtailed by the DSO (export / import)",
            f"{summary['curtailed_export_kwh']:.1f} / {summary['curtailed_import_kwh']:.1f} kWh, "
            f"worth {summary['curtailment_cost_eur']:.2f} EUR",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)
