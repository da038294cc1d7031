"""Issue 15's size limits: no module of the package over 600 lines, no function over 60.

A file or function past them does several jobs; split it by job rather than raise
the limit (benchmarks and tests are exempt, where a table reads better).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cloutility_async"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    """Every Python file of the package, the simulator and the CLI included."""
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_modules_to_measure() -> None:
    """The walk finds the package (a wrong path would make the other tests pass vacuously)."""
    names = {path.name for path in modules()}
    assert {"_client.py", "_transport.py", "__init__.py"} <= names


def test_no_module_is_over_600_lines() -> None:
    """Each module holds one concern, small enough to read whole."""
    too_long = {
        str(path.relative_to(PACKAGE)): lines
        for path in modules()
        if (lines := path.read_text().count("\n")) > MAX_FILE_LINES
    }
    assert too_long == {}


def test_no_function_is_over_60_lines() -> None:
    """A function that does one thing fits a screen."""
    too_long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = length
    assert too_long == {}
