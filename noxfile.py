"""Developer sessions: `nox` runs the suite per backend, a minimal install, lint and types."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "tests_minimal", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True

# The modules that need nothing beyond the SDK's own dependencies and the test tools.
CORE_TESTS = [
    "tests/test_auth.py",
    "tests/test_client.py",
    "tests/test_converter.py",
    "tests/test_exported_members.py",
    "tests/test_minimal_install.py",
    "tests/test_models.py",
    "tests/test_resources.py",
    "tests/test_routes.py",
    "tests/test_transport.py",
]


@nox.session
@nox.parametrize("backend", ["asyncio", "trio"])
def tests(session: nox.Session, backend: str) -> None:
    """The whole test suite, every async test on one anyio backend (sync tests too)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env={"CLOUTILITY_TEST_BACKEND": backend})


@nox.session
def tests_minimal(session: nox.Session) -> None:
    """The SDK without any optional extra: only its own dependencies and the test tools."""
    session.install("-e", ".", "pytest", "respx", "trio")
    session.run("pytest", *CORE_TESTS, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "cloutility_async")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` (``nox -s docs -- serve`` to preview)."""
    session.install("-e", ".[docs]")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", "--site-dir", f"{session.create_tmp()}/site")
