"""The import graph points one way: read from the modules' own import statements with ast."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "cloutility_async"


def module_name(path: Path) -> str:
    """``cloutility_async/testing/_app/_asgi.py`` -> ``cloutility_async.testing._app._asgi``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved (``TYPE_CHECKING`` ones too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # ``from . import _history`` imports the module ``<package>._history``; the
            # package itself, an ancestor of this module, is initialised already.
            if node.module or not node.level:
                found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def sdk_imports(path: Path) -> set[str]:
    """The ``cloutility_async`` modules a file imports (names that are not modules dropped)."""
    modules = {
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "__main__.py"
    }
    return {m for m in imported_modules(path) if m in modules}


SIMULATOR_FILES = sorted((PACKAGE / "testing").rglob("*.py"))


def test_the_import_reader_resolves_relative_imports() -> None:
    """The reader turns ``from .._world import World`` into the module it names."""
    asgi = PACKAGE / "testing" / "_app" / "_asgi.py"
    assert "cloutility_async.testing._world" in sdk_imports(asgi)
    assert "cloutility_async.testing._app._router" in sdk_imports(asgi)


@pytest.mark.parametrize("path", SIMULATOR_FILES, ids=lambda p: module_name(p))
def test_the_simulator_imports_nothing_from_the_sdk(path: Path) -> None:
    """testing/ never imports the SDK's private modules; only the pytest plugin imports
    the public ``cloutility_async`` (to build the client fixtures)."""
    outside = {m for m in sdk_imports(path) if not m.startswith("cloutility_async.testing")}
    allowed = {"cloutility_async"} if path.name == "pytest_plugin.py" else set()
    assert outside <= allowed, f"{module_name(path)} imports {sorted(outside - allowed)}"


def module_path(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else (PACKAGE / relative).with_suffix(".py")


def imported_closure(path: Path) -> set[str]:
    """Every SDK module ``path`` imports, directly or through the modules it imports."""
    seen: set[str] = set()
    todo = [path]
    while todo:
        for name in sdk_imports(todo.pop()) - seen:
            seen.add(name)
            todo.append(module_path(name))
    return seen


SENDING = {
    "cloutility_async._client",
    "cloutility_async._transport",
    "cloutility_async._aiohttp_transport",
    "cloutility_async._auth",
    "cloutility_async._resources",
}


def test_hypermedia_imports_nothing_that_sends() -> None:
    """_hypermedia.py (URLs, the route table, actions) reaches no module that sends."""
    reached = imported_closure(PACKAGE / "_hypermedia.py")
    assert "cloutility_async._models" in reached  # the reader sees its real imports
    assert not {m for m in reached if m in SENDING or m.startswith("cloutility_async._resources")}


RESOURCE_FILES = sorted((PACKAGE / "_resources").glob("*.py"))


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: module_name(p))
def test_no_resource_module_imports_the_client(path: Path) -> None:
    """Proxies see their client only through the port: no _resources module imports _client."""
    assert "cloutility_async._client" not in sdk_imports(path)


def test_auth_never_imports_the_transport() -> None:
    """The token manager sends through a callable it is given: _auth reaches no transport."""
    reached = imported_closure(PACKAGE / "_auth.py")
    assert "cloutility_async._stores" in reached  # the reader sees its real imports
    transports = {
        "cloutility_async._transport",
        "cloutility_async._aiohttp_transport",
        "cloutility_async._client",
    }
    assert not reached & transports


def test_importing_the_package_leaves_models_converter_and_httpcore_for_later() -> None:
    """``import cloutility_async`` loads no model class, no cattrs, no httpcore (nor trio
    through it) and no asyncio: most of its import time, all loaded on first use."""
    later = ("cloutility_async._models", "cloutility_async._converter._hooks", "cattrs")
    later += ("httpcore", "trio", "asyncio")
    code = (
        "import sys, cloutility_async; "
        f"print(sorted(m for m in sys.modules if m.startswith({later!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    use = "import cloutility_async as c; print(c.Consumer.__module__, c.Consumer(name='x').name)"
    done = subprocess.run([sys.executable, "-c", use], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["cloutility_async", "x"]
