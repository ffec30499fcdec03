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
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lemgrid.model.scenario import (
    Scenario,
    ScenarioError,
    apply_override,
    build_scenario,
    read_yaml_mapping,
    set_key,
)

# runs one experiment may ask for before it is refused (environment: LEMGRID_MAX_RUNS)
DEFAULT_MAX_RUNS = 10_000


def _no_repeats(what: str, values: list[Any]) -> None:
    seen: set[str] = set()
    for value in values:
        if _key(value) in seen:
            raise ValueError(f"{what} lists {value!r} twice; give each value once (a repeat is run twice)")
        seen.add(_key(value))


def max_runs() -> int:
    """The largest number of runs an experiment may expand to (``LEMGRID_MAX_RUNS``, default 10000)."""
    raw = os.environ.get("LEMGRID_MAX_RUNS", "")
    try:
        return int(raw) if raw else DEFAULT_MAX_RUNS
    except ValueError:
        raise ExperimentError(f"LEMGRID_MAX_RUNS={raw!r}: must be a whole number of runs") from None


def _key(value: Any) -> str:
    """A value's identity for comparisons (1 and 1.0 are equal, as YAML and Python see them)."""
    return json.dumps(value, sort_keys=True, default=str)


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
        for key, values in self.axes.items():
            _no_repeats(f"axis {key!r}", values)
        if self.zip:  # a zipped key may repeat a value; a whole zipped row may not
            rows = [dict(zip(self.zip, row, strict=True)) for row in zip(*self.zip.values(), strict=True)]
            _no_repeats(f"zip ({', '.join(self.zip)})", rows)
        both = sorted(set(self.axes) & set(self.zip))
        if both:
            raise ValueError(f"keys {both} are in both 'axes' and 'zip'")
        swept = {**self.axes, **self.zip}
        for key, value in self.baseline.items():
            if key not in swept:
                raise ValueError(f"baseline key {key!r} is not swept; swept keys: {sorted(swept)}")
            if value not in swept[key]:
                raise ValueError(f"baseline {key}={value!r} is not one of the swept values {swept[key]}")
        n_zip = len(next(iter(self.zip.values()))) if self.zip else 1
        n_runs = math.prod(len(v) for v in self.axes.values()) * n_zip * len(self.seed_list)
        if n_runs > max_runs():
            sizes = " x ".join(
                [*(f"{len(v)} {k}" for k, v in self.axes.items()), *([f"{n_zip} zipped"] if self.zip else [])]
            )
            raise ValueError(
                f"asks for {n_runs} runs ({sizes or '1 combination'} x {len(self.seed_list)} seeds), more "
                f"than the limit of {max_runs()}; sweep fewer values or set LEMGRID_MAX_RUNS"
            )
        combinations = self.combinations()
        present = {_key(c) for c in combinations}
        for combination in combinations:
            if _key(self.reference_of(combination)) not in present:
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

        Text values stand alone, numbers and flags get their key's last part (the last two
        where another key ends the same, e.g. ``community.enabled=True``), strategy
        mixes read ``zip 0.5 + q_learning 0.5``; a zipped key is left out when
        the other zipped keys already tell the combinations apart.
        """
        keys = self._label_keys()
        names = _short_names(keys)

        def show(key: str, value: Any) -> str:
            if isinstance(value, str):
                return value
            if isinstance(value, dict):
                return " + ".join(
                    f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}" for k, v in value.items()
                )
            return f"{names[key]}={value}"

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
        return {**combination, **(self.baseline or self.first_combination())}

    def first_combination(self) -> dict[str, Any]:
        """The first combination (the reference when there is no baseline), without expanding the rest."""
        return {key: values[0] for key, values in {**self.axes, **self.zip}.items()}


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
        raw = read_yaml_mapping(path, "experiment file")
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None
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
            base = read_yaml_mapping(base_path, f"experiment {experiment.name!r}: base_file")
        except ScenarioError as exc:
            raise ExperimentError(str(exc)) from None
    try:
        _merge(base, experiment.base, f"experiment {experiment.name!r} base")
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None
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


_SAFE = re.compile(r"[A-Za-z0-9_.,:+-]{1,60}")


def _slug(value: Any) -> str:
    """A folder-safe rendering of an axis value that no other value shares.

    A short, folder-safe value is its own name (``zonal``, ``0.4``); any other
    (long, with other characters, or a text that reads as a number) is a
    readable prefix and ``~`` plus a hash of the whole value, so two values
    with a long common prefix never share a folder.
    """
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    if _SAFE.fullmatch(text) and not (isinstance(value, str) and _reads_as_non_text(value)):
        return text
    digest = hashlib.sha256(_key(value).encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_.,:+-]', '_', text)[:40]}~{digest}"


def _reads_as_non_text(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), str)
    except ValueError:
        return False


def expand(experiment: Experiment, base: dict[str, Any], results: Path) -> list[Run]:
    """Every run of the experiment, each resolved and validated.

    Raises:
        ExperimentError: listing every combination whose scenario is invalid, with its axis values.
    """
    runs: list[Run] = []
    problems: dict[str, None] = {}  # ordered and linear: the same problem is told once
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
                problems.setdefault(message)
                continue
            folder = results.joinpath(*(f"{k}={_slug(v)}" for k, v in combination.items()), f"seed={seed}")
            runs.append(Run(combination, seed, scenario, folder))
    if problems:
        shown = "\n".join(list(problems)[:10]) + (
            f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise ExperimentError(f"experiment {experiment.name!r} has invalid runs:\n{shown}")
    return runs


def check_runs(runs: list[Run]) -> None:
    """Check each run against its feeder and files before a sweep starts (once per distinct set-up).

    Raises:
        ExperimentError: naming the run's axis values, the field, the value and what is allowed.
    """
    from lemgrid.model.checks import check_before_run  # loads feeders: only when a sweep runs

    seen: set[str] = set()
    for run in runs:
        s = run.scenario
        setup = _key(
            [
                s.feeder.model_dump(mode="json"),
                s.attack.model_dump(mode="json"),
                s.market.pricing,
                s.market.zonal.n_zones,
                s.tariff.kind,
                s.strategies.learning_file,
            ]
        )
        if setup in seen:
            continue
        seen.add(setup)
        try:
            check_before_run(s)
        except ScenarioError as exc:
            label = ", ".join(f"{k}={v!r}" for k, v in run.params.items()) or "(no axes)"
            raise ExperimentError(f"run {label}: {exc}") from None


def _short_names(keys: list[str]) -> dict[str, str]:
    """Each key's shortest dotted suffix that no other of ``keys`` ends with."""

    def suffix(key: str, parts: int) -> str:
        return ".".join(key.split(".")[-parts:])

    names = {}
    for key in keys:
        parts = 1
        while parts < key.count(".") + 1 and any(
            other != key and suffix(other, parts) == suffix(key, parts) for other in keys
        ):
            parts += 1
        names[key] = suffix(key, parts)
    return names
