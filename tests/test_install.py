"""The README's test command installs ``.[test]`` and runs ``pytest``: that extra must bring
every third-party module the tests (and the benchmarks they run) import."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
SCANNED = (ROOT / "tests", ROOT / "benchmarks")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _local_names() -> set[str]:
    """Modules and packages that live in the scanned folders (imported via sys.path)."""
    names = {"tests", "cloutility_async"}
    for folder in SCANNED:
        names |= {path.stem for path in folder.rglob("*.py")}
        names |= {path.name for path in folder.rglob("*") if path.is_dir()}
    return names


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in the scanned files, with where."""
    local = _local_names()
    found: dict[str, set[str]] = {}
    for folder in SCANNED:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _requirements(distribution: str, extras: frozenset[str]) -> Iterator[Requirement]:
    """The requirements of an installed distribution that apply here with ``extras``."""
    for line in metadata.requires(distribution) or ():
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
            yield requirement


def installed_by(extra: str) -> set[str]:
    """The (normalised) names of every distribution ``pip install .[extra]`` brings."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [("cloutility-async", frozenset({extra}))]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for requirement in _requirements(name, extras):
            try:
                metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                continue  # not installed here, so nothing here imports it
            todo.append((_normal(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_the_test_extra_installs_every_module_the_tests_import() -> None:
    """``pip install -e ".[test]" && pytest`` (the README) collects: no test imports a
    module only the ``dev`` extra brings (mypy was one: two modules failed to collect)."""
    provided = installed_by("test")
    by_module = metadata.packages_distributions()
    missing = {}
    for module, where in sorted(imported_modules().items()):
        distributions = {_normal(name) for name in by_module.get(module, ())}
        if not distributions:
            continue  # not installed here: imported only under a version check (exceptiongroup)
        if not distributions & provided:
            missing[module] = sorted(where)
    assert not missing, f"add to the [test] extra of pyproject.toml: {missing}"


def test_the_scan_sees_the_imports_it_must() -> None:
    """The check above looks where the imports are: respx in the tests, aiohttp in the
    benchmarks, and it resolves what the test extra brings through cloutility-async[...]."""
    modules = imported_modules()
    assert {"respx", "aiohttp", "pytest"} <= set(modules)
    assert any(where.startswith("benchmarks") for where in modules["aiohttp"])
    assert {"respx", "pytest", "uvicorn", "rich", "httpx"} <= installed_by("test")
    assert "ruff" not in installed_by("test")


def programs_looked_up() -> set[str]:
    """The programs the tests (and the benchmarks they run) find with ``shutil.which``."""
    found = set()
    for folder in SCANNED:
        for path in folder.rglob("*.py"):
            found |= set(re.findall(r"""shutil\.which\(["']([\w.-]+)["']\)""", path.read_text()))
    return found


def test_the_readme_names_every_program_the_tests_start() -> None:
    """Next to its test command the README lists the system's programs the tests need (a
    new machine without them saw failures the README never mentioned)."""
    programs = programs_looked_up()
    assert {"redis-server", "tmux", "valgrind"} <= programs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    note = readme[readme.index("The tests also start programs of the system") :]
    note = note[: note.index("\n\n")]
    assert {program for program in programs if f"`{program}`" not in note} == set()
    assert f"apt-get install {' '.join(sorted(programs, key=note.index))}" in note.replace(
        "\n", " "
    )
