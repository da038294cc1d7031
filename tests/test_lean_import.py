"""Importing the SDK leaves httpx's command line (click, rich, pygments) unimported."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_does_not_load_httpx_command_line() -> None:
    """With click installed, import cloutility_async imports neither click nor rich."""
    import click  # installed with the test extras: the case that costs

    assert click
    done = run(
        """
        import sys
        import cloutility_async, httpx
        loaded = sorted(m for m in ("click", "rich", "pygments", "httpx._main") if m in sys.modules)
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_httpx_command_line_still_runs_after_the_sdk_imported_httpx() -> None:
    """httpx.main and a later import of httpx._main give httpx's real command line."""
    done = run(
        """
        import sys
        import cloutility_async, httpx
        import httpx._main
        assert httpx._main.__file__.endswith("_main.py"), httpx._main
        sys.argv = ["httpx", "--help"]
        httpx.main()
        """
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: httpx" in done.stdout


def test_an_sdk_imported_after_httpx_changes_nothing() -> None:
    """When httpx was imported first, its command-line module stays as httpx loaded it."""
    done = run(
        """
        import sys
        import httpx
        before = sys.modules.get("httpx._main")
        import cloutility_async
        assert sys.modules.get("httpx._main") is before
        assert httpx.main is before.main
        """
    )
    assert done.returncode == 0, done.stderr
