"""Importing the SDK leaves httpx (and the stdlib it brings) for its first use, and
httpx's command line (click, rich, pygments) unimported even then."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_does_not_load_httpx_command_line() -> None:
    """With click installed, neither the SDK nor httpx's first use imports click or rich."""
    import click  # installed with the test extras: the case that costs

    assert click
    done = run(
        """
        import sys
        import cloutility_async, httpx
        assert str(httpx.URL("https://h.example/v1/")) == "https://h.example/v1/"
        loaded = sorted(m for m in ("click", "rich", "pygments", "httpx._main") if m in sys.modules)
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("first", ["httpx.URL", "pass"], ids=["after-first-use", "as-first-use"])
def test_httpx_command_line_still_runs_after_the_sdk_imported_httpx(first: str) -> None:
    """httpx.main and a later import of httpx._main give httpx's real command line, also
    when ``import httpx._main`` is httpx's first use."""
    done = run(
        f"""
        import sys
        import cloutility_async, httpx
        {first}
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


LOADED_BY_HTTPX = (
    "httpx._client",
    "httpx._models",
    "httpcore",
    "urllib.request",
    "http.client",
    "http.cookiejar",
    "email.parser",
    "email.utils",
    "ssl",
)


def test_import_leaves_httpx_and_what_it_imports_for_first_use() -> None:
    """import cloutility_async runs none of httpx's code, nor urllib.request, http.client,
    email or ssl (40% of the import), and an ``import httpx`` after it is as free."""
    done = run(
        f"""
        import sys
        import cloutility_async, httpx
        import cloutility_async.webhooks, cloutility_async.otel
        print(sorted(m for m in {LOADED_BY_HTTPX!r} if m in sys.modules))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


RARE_PATHS = (
    "anyio.abc",  # the SDK's own modules name its classes only in annotations
    "anyio.streams.memory",
    "tempfile",  # FileTokenStore's save
    "shutil",
    "pathlib",  # FileTokenStore(path), an upload from a path
    "urllib.parse",  # a logged URL's query
    "secrets",  # RedisTokenStore's lock, an upload's boundary
    "hashlib",
    "random",  # retry and token-store jitter
    "difflib",  # a misspelt option's suggestion
    "csv",  # billing data
)


def test_import_leaves_the_modules_of_rare_paths_for_their_first_use() -> None:
    """The stdlib and anyio modules that only a store, an upload, a retry or a typo need
    are imported by that path, not by ``import cloutility_async``."""
    done = run(
        f"""
        import sys
        import cloutility_async
        print(sorted(m for m in {RARE_PATHS!r} if m in sys.modules))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_first_use_loads_httpx_whole_and_then_it_is_a_plain_module() -> None:
    """Any read of httpx after the SDK's import gets httpx itself: names, submodules,
    ``from httpx import``; once loaded it is an ordinary module."""
    done = run(
        """
        import sys, types
        import cloutility_async, httpx
        from httpx import AsyncClient, URL
        import httpx._urls
        assert type(httpx) is types.ModuleType, type(httpx)
        assert sys.modules["httpx"] is httpx and httpx.URL is URL is httpx._urls.URL
        assert AsyncClient.__module__ == "httpx" and httpx.__version__
        print(URL("https://h.example/a").path, "httpx._client" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["/a", "True"]


def test_a_submodule_imported_first_is_the_one_httpx_then_uses() -> None:
    """``from httpx._models import Response`` before any other use of httpx gives
    httpx's own ``Response`` (one module, not a second copy of it)."""
    done = run(
        """
        import cloutility_async
        from httpx._models import Response
        import httpx
        print(Response is httpx.Response, httpx._models.Response is Response)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_an_attribute_set_before_first_use_is_kept() -> None:
    """A name set on httpx before its first use is still set after httpx loads."""
    done = run(
        """
        import cloutility_async, httpx
        httpx.marker = "set early"
        print(httpx.URL("https://h.example/").host, httpx.marker)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["h.example", "set", "early"]


def test_threads_reading_httpx_while_it_loads_wait_for_the_whole_module() -> None:
    """Eight threads reading httpx at once all see it loaded, and it loads once."""
    done = run(
        """
        import sys, threading, time
        import cloutility_async, httpx
        lean = sys.modules["cloutility_async._lean_httpx"]
        runs = []
        real = lean._without_its_cli

        def slow_load(load):
            runs.append(1)
            time.sleep(0.2)  # the others arrive while it loads
            real(load)

        lean._without_its_cli = slow_load
        barrier, seen = threading.Barrier(8), []

        def read():
            barrier.wait()
            seen.append(str(httpx.URL("https://h.example/").copy_with(path="/x")))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(runs), len(seen), sorted(set(seen)))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 8 ['https://h.example/x']"


def test_a_client_works_when_httpx_is_first_used_by_it() -> None:
    """A client built right after the import loads httpx itself and sends through it."""
    done = run(
        """
        import httpx, cloutility_async

        def answer(request):
            if request.url.path.endswith("/oauth"):
                token = {"access_token": "a", "refresh_token": "r", "expires_in": 299}
                return httpx.Response(200, json=token)
            assert request.headers["authorization"] == "Bearer a"
            return httpx.Response(200, json="10.1")

        async def main():
            async with cloutility_async.Cloutility(
                client_id="c", origin="https://app.example", username="u", password="p",
                base_url="https://portal.example/v1/", transport=httpx.MockTransport(answer),
            ) as api:
                print(await api.full_version())

        import anyio
        anyio.run(main)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "10.1"


# A broken install: httpx's own ``import idna`` fails.
BREAK_IDNA = """
import sys

class Broken:
    def find_spec(self, name, path=None, target=None):
        if name == "idna":
            raise ModuleNotFoundError("No module named 'idna'", name="idna")

sys.meta_path.insert(0, Broken())
"""


def test_a_broken_httpx_fails_its_first_use_with_one_clear_error() -> None:
    """httpx's own import failing at the first use is an ImportError naming httpx and its
    cause, not chained under a second copy; a later use raises it again."""
    done = run(
        BREAK_IDNA
        + textwrap.dedent(
            """
        import cloutility_async
        options = dict(client_id="c", origin="https://h.example", username="u",
                       password="p", base_url="https://h.example/v1/")
        for _ in range(2):
            try:
                cloutility_async.Cloutility(**options)
            except ImportError as exc:
                print(exc)
                print(repr(exc.__cause__), exc.__context__ is exc.__cause__, exc.name)
                import traceback
                print("During handling" in "".join(traceback.format_exception(exc)))
            """
        )
    )
    assert done.returncode == 0, done.stderr
    message = (
        "cloutility_async needs httpx, and importing httpx failed:"
        " ModuleNotFoundError: No module named 'idna'"
    )
    cause = "ModuleNotFoundError(\"No module named 'idna'\") True httpx"
    assert done.stdout.splitlines() == [message, cause, "False"] * 2
