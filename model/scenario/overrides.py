"""``key.path=value`` overrides and dotted keys in nested scenario data."""

from typing import Any

from lemgrid.model.scenario._base import ScenarioError
from lemgrid.model.scenario.strict_yaml import parse_yaml


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``a.b.c=value`` in nested ``data``; the value is parsed as YAML (``7`` is an int)."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ScenarioError(
            f"override {item!r}: must look like key.path=value, e.g. market.mechanism=pay_as_clear"
        )
    source = f"override {item!r}"
    set_key(data, key.strip(), parse_yaml(raw, f"{source}: value") if raw.strip() else "", source)


def set_key(data: dict[str, Any], key: str, value: Any, source: str) -> None:
    """Set the dotted ``key`` (``a.b.c``) in nested ``data``; ``source`` names the input in errors."""
    node = data
    parts = key.split(".")
    if not all(parts):
        raise ScenarioError(f"{source}: key {key!r} has an empty part; write e.g. market.mechanism")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{source}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value
