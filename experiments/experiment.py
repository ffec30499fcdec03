"""Experiment files: a base scenario, the axes to sweep and the seeds, expanded into validated runs.

An experiment is a YAML file::

    name: pricing_designs           # results go to results/<name>/
    description: what it asks
    base_file: my_scenario.yaml     # optional, relative to the experiment file
    base:                           # scenario keys on top of base_file (or the defaults)
      days: 2
      grid: {solver: power_grid_model}
    axes:                           # crossed: every combination
      market.pricing: [uniform, zonal]
      penetration.pv: [0.4, 0.8]
    zip:                            # combined element-wise (equal lengths), then crossed with the axes
      market.pricing: [uniform, heterogeneous]
      market.mechanism: [pay_as_clear, p2p]
    seeds: 3                        # or a list: [1, 7, 42]
    baseline: {market.pricing: uniform}   # the reference of the report's paired differences
    metrics: [peak_feeder_import_kw]      # optional: the report's headline metrics (default: all)
    analyses: [hosting_capacity]          # optional: study analyses the report adds

Any scenario key can be an axis. Every run is resolved and validated before
anything runs; a bad key or value is reported with the run's axis values.

Each combination is compared with its *reference*: the same combination with
the baseline's keys set to the baseline's values (so ``baseline:
{market.pricing: uniform}`` in a sweep over pricing and PV penetration
compares zonal with uniform at each penetration). Without a baseline the
reference is the first combination.
"""

import copy
import itertools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lemgrid.model.scenario import Scenario, ScenarioError, apply_override, build_scenario, set_key


class ExperimentError(ValueError):
    """An experiment file that cannot run; the message says what and where."""


class Experiment(BaseModel):
    """A validated experiment definition (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=80)
    description: str = ""
    base_file: str | None = None
    base: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: int | list[int] = 3
    baseline: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list)
    analyses: list[str] = Field(default_factory=list)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        from lemgrid.model.metrics import report_metrics

        known = report_metrics()
        unknown = [m for m in v if m not in known]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; available: {', '.join(known)}")
        return v

    @field_validator("analyses")
    @classmethod
    def _known_analyses(cls, v: list[str]) -> list[str]:
        from lemgrid.experiments.analyses import ANALYSES

        unknown = [a for a in v if a not in ANALYSES]
        if unknown:
            raise ValueError(f"unknown analyses {unknown}; available: {', '.join(ANALYSES)}")
        return v

    @field_validator("axes", "zip")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"axis {key!r} has no values")
            if key in ("seed", "name"):
                raise ValueError(
                    f"{key!r} cannot be an axis: use 'seeds' for seeds; the name is the experiment's"
                )
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and not 1 <= v <= 10_000:
            raise ValueError(f"must be a count between 1 and 10000 or a list of seeds, got {v}")
        if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError(f"must be distinct seeds >= 0, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Experiment":
        lengths = {len(values) for values in self.zip.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in self.zip.items())
            raise ValueError(f"'zip' lists must have equal lengths, got {sizes}")
        both = sorted(set(self.axes) & set(self.zip))
        if both:
            raise ValueError(f"keys {both} are in both 'axes' and 'zip'")
        swept = {**self.axes, **self.zip}
        for key, value in self.baseline.items():
            if key not in swept:
                raise ValueError(f"baseline key {key!r} is not swept; swept keys: {sorted(swept)}")
            if value not in swept[key]:
                raise ValueError(f"baseline {key}={value!r} is not one of the swept values {swept[key]}")
        combinations = self.combinations()
        for combination in combinations:
            if self.reference_of(combination) not in combinations:
                raise ValueError(
                    f"baseline {self.baseline} gives {combination} a reference that is not swept; "
                    f"name every zipped key in the baseline: {sorted(self.zip)}"
                )
        return self

    @property
    def seed_list(self) -> list[int]:
        """The seeds every combination runs with."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def swept_keys(self) -> list[str]:
        """The scenario keys that vary, in file order (axes, then zip)."""
        return [*self.axes, *self.zip]

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of swept values (without the seed)."""
        zipped = list(zip(*self.zip.values(), strict=True)) if self.zip else [()]
        out = []
        for crossed in itertools.product(*self.axes.values()):
            for z in zipped:
                out.append(
                    {**dict(zip(self.axes, crossed, strict=True)), **dict(zip(self.zip, z, strict=True))}
                )
        return out

    def label(self, combination: dict[str, Any]) -> str:
        """A short name for a combination in tables and figures, e.g. ``pv=0.3, ev=0.2, heterogeneous``.

        Text values stand alone, numbers get their key's last part, strategy
        mixes read ``zip 0.5 + q_learning 0.5``; a zipped key is left out when
        the other zipped keys already tell the combinations apart.
        """
        keys = self._label_keys()

        def show(key: str, value: Any) -> str:
            if isinstance(value, str):
                return value
            if isinstance(value, dict):
                return " + ".join(
                    f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}" for k, v in value.items()
                )
            return f"{key.split('.')[-1]}={value}"

        return ", ".join(show(k, combination[k]) for k in keys) or "base"

    def _label_keys(self) -> list[str]:
        zipped = list(self.zip)
        for key in reversed(list(self.zip)):
            rest = [k for k in zipped if k != key]
            rows = list(zip(*(self.zip[k] for k in rest), strict=True)) if rest else []
            if rest and len({json.dumps(r, sort_keys=True) for r in rows}) == len(self.zip[key]):
                zipped = rest
        return [*self.axes, *zipped]

    def reference_of(self, combination: dict[str, Any]) -> dict[str, Any]:
        """The combination ``combination`` is compared with (see the module docstring)."""
        return {**combination, **(self.baseline or self.combinations()[0])}


@dataclass(frozen=True)
class Run:
    """One run of an experiment: its swept values, seed, resolved scenario and folder."""

    params: dict[str, Any]
    seed: int
    scenario: Scenario
    folder: Path

    @property
    def run_id(self) -> str:
        """The hash of the resolved scenario (with its name): finished runs are recognised by it."""
        return self.scenario.run_id()


def shipped_experiment(path: str | Path) -> Path:
    """``path`` itself if it exists, else the experiment file of that name shipped in the package.

    ``pricing_designs.yaml``, ``experiments/pricing_designs.yaml`` and
    ``studies/1_pricing_congestion.yaml`` name shipped files (the suffix may be left out).
    """
    path = Path(path)
    if path.exists():
        return path
    shipped = Path(str(resources.files("lemgrid.experiments")))
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("experiments",) else path
    for candidate in (shipped / relative, shipped / relative.with_suffix(".yaml")):
        if candidate.is_file():
            return candidate
    return path


def load_experiment(
    path: str | Path, overrides: list[str] | None = None, seeds: int | None = None
) -> tuple[Experiment, dict[str, Any]]:
    """Read and validate an experiment file; returns it with its resolved base scenario data.

    ``overrides`` (``key=value``, as ``lemgrid run --set``) change the base
    scenario and ``seeds`` the seed count, e.g. to run a study at full size;
    both are recorded in the returned experiment. A path that does not exist
    is looked up among the experiments shipped with lemgrid (see
    :func:`shipped_experiment`), so ``studies/1_pricing_congestion.yaml`` works
    from any folder.
    """
    path = shipped_experiment(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ExperimentError(f"cannot read experiment file: {exc}") from None
    except yaml.YAMLError as exc:
        raise ExperimentError(f"experiment file {path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ExperimentError(f"experiment file {path}: must hold a mapping of keys")
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            what = e["msg"].removeprefix("Value error, ")
            where = f"experiment field {'.'.join(str(p) for p in e['loc'])!r}: " if e["loc"] else ""
            lines.append(f"  {where}{what}")
        problems = "\n".join(lines)
        raise ExperimentError(f"invalid experiment file {path}:\n{problems}") from None
    base: dict[str, Any] = {}
    if experiment.base_file is not None:
        base_path = path.parent / experiment.base_file
        try:
            base = yaml.safe_load(base_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ExperimentError(f"experiment {experiment.name!r}: base_file {base_path}: {exc}") from None
    _merge(base, experiment.base, f"experiment {experiment.name!r} base")
    changed: dict[str, Any] = {}
    for item in overrides or []:
        key = item.partition("=")[0].strip()
        if key in experiment.swept_keys:
            raise ExperimentError(f"override {item!r}: {key!r} is swept by the experiment; edit its axis")
        try:
            apply_override(base, item)
        except ScenarioError as exc:
            raise ExperimentError(str(exc)) from None
        changed[key] = _get(base, key)
    if seeds is not None:
        try:
            experiment = Experiment.model_validate({**experiment.model_dump(), "seeds": seeds})
        except ValidationError as exc:
            raise ExperimentError(f"seeds: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    if changed:
        experiment = experiment.model_copy(update={"base": {**experiment.base, **changed}})
    return experiment, base


def _get(data: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def _merge(data: dict[str, Any], update: dict[str, Any], source: str, prefix: str = "") -> None:
    """Merge nested (or dotted) keys of ``update`` into ``data``, section by section."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and "dist" not in value:  # a section, not a distribution
            _merge(data, value, source, f"{dotted}.")
        else:
            set_key(data, dotted, copy.deepcopy(value), source)


def _slug(value: Any) -> str:
    """A folder-safe rendering of an axis value."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9_.,:+-]", "_", text)[:60]


def expand(experiment: Experiment, base: dict[str, Any], results: Path) -> list[Run]:
    """Every run of the experiment, each resolved and validated.

    Raises:
        ExperimentError: listing every combination whose scenario is invalid, with its axis values.
    """
    runs, problems = [], []
    for combination in experiment.combinations():
        for seed in experiment.seed_list:
            data = copy.deepcopy(base)
            label = ", ".join(f"{k}={v!r}" for k, v in combination.items()) or "(no axes)"
            try:
                for key, value in combination.items():
                    set_key(data, key, copy.deepcopy(value), f"axis {key!r}")
                data["seed"] = seed
                data["name"] = experiment.name
                scenario = build_scenario(data)
            except ScenarioError as exc:
                message = f"  run {label}: {str(exc).replace('invalid scenario:', '').strip()}"
                if message not in problems:
                    problems.append(message)
                continue
            folder = results.joinpath(*(f"{k}={_slug(v)}" for k, v in combination.items()), f"seed={seed}")
            runs.append(Run(combination, seed, scenario, folder))
    if problems:
        shown = "\n".join(problems[:10]) + (
            f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise ExperimentError(f"experiment {experiment.name!r} has invalid runs:\n{shown}")
    return runs
