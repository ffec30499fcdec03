"""The one YAML loader for every file and ``--set`` value lemgrid reads.

Strict where PyYAML is lenient: a key given twice in one mapping is an error
(PyYAML keeps the last), the file size and the expanded size of aliases are
bounded (a "billion laughs" file fails at once instead of hanging), recursive
aliases are refused, and bytes that are not UTF-8 text are named with their
offset. Every error is one line naming the input, where in it, and what is wrong.
"""

from pathlib import Path
from typing import Any

import yaml

from lemgrid.model.scenario._base import ScenarioError

MAX_YAML_BYTES = 1_000_000  # an experiment or scenario file is a few kB
MAX_YAML_NODES = 100_000  # values after expanding aliases


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and leaves dates as text for the schema to check."""

    # without the timestamp rule, 2026-02-30 reaches the schema as text and is named there
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *defaults': explicit keys may override merged ones
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (first on line {first.line + 1}); give each key once",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Number of values ``node`` stands for once every alias is expanded (linear in the file)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise yaml.composer.ComposerError(
            None, None, "an alias refers to a node that contains it (a recursive alias)", node.start_mark
        )
    open_nodes.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, open_nodes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, sizes, open_nodes) + _expanded_size(v, sizes, open_nodes)
    open_nodes.discard(key)
    sizes[key] = min(size, MAX_YAML_NODES + 1)
    if size > MAX_YAML_NODES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"aliases expand to more than {MAX_YAML_NODES} values (an alias bomb?); write the values out",
            node.start_mark,
        )
    return sizes[key]


def _one_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{' '.join(str(problem).split())}"


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text`` strictly; ``source`` names the input in the one-line :class:`ScenarioError`."""
    if "\x00" in text:
        raise ScenarioError(f"{source}: holds NUL bytes: a binary file, not YAML text")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {_one_line(exc)}") from None
    except (ValueError, TypeError) as exc:  # a constructor that rejects a value (a bad !!binary, say)
        raise ScenarioError(f"{source}: a value cannot be read: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to read") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, what: str) -> Any:
    """Read and strictly parse the YAML file ``path``; ``what`` says which input it is ("scenario file")."""
    path = Path(path)
    source = f"{what} {path}"
    try:
        if path.is_dir():
            raise ScenarioError(f"{source}: is a folder, not a YAML file")
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > MAX_YAML_BYTES:
        raise ScenarioError(f"{source}: larger than {MAX_YAML_BYTES} bytes; a YAML input is a few kB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 YAML"
        ) from None
    return parse_yaml(text.removeprefix("\ufeff"), source)


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """:func:`read_yaml_file` for a file that must hold a mapping of keys (an empty file is ``{}``)."""
    loaded = read_yaml_file(path, what)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ScenarioError(f"{what} {path}: must hold a mapping of keys, got a {type(loaded).__name__}")
    bad = [k for k in loaded if not isinstance(k, str)]
    if bad:
        raise ScenarioError(f"{what} {path}: keys must be text, got {bad[0]!r}")
    return loaded
