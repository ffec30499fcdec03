"""The model reads as its loop: a short orchestrator, and no long function anywhere under model/."""

import ast
from pathlib import Path

MODEL = Path(__file__).parents[1] / "model"
MAX_FUNCTION_LINES = 60
MAX_MODEL_LINES = 300


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(MODEL.parent)}:{node.lineno} {node.name} "
        f"({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_under_model_is_longer_than_60_lines() -> None:
    modules = sorted(MODEL.rglob("*.py"))
    assert modules
    long = [f for path in modules for f in _long_functions(path)]
    assert not long, long


def test_the_model_module_is_a_short_orchestrator() -> None:
    lines = len((MODEL / "model.py").read_text().splitlines())
    assert lines <= MAX_MODEL_LINES, f"model/model.py has {lines} lines (at most {MAX_MODEL_LINES})"


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    module = tmp_path / "model" / "m.py"
    module.parent.mkdir()
    module.write_text(f"def f() -> None:\n{body}\n")
    assert _long_functions.__code__  # the helper is the one the tests use
    tree = ast.parse(module.read_text())
    (f,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert f.end_lineno - f.lineno + 1 == MAX_FUNCTION_LINES + 1
