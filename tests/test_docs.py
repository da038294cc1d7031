"""The documentation: docstrings that the API reference renders, and the site's coverage."""

from __future__ import annotations

import csv
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typecheck import UNCHECKED_PAGES, Snippet, python_blocks

import cloutility_async
from cloutility_async import Cloutility, sync
from cloutility_async.cli import main
from cloutility_async.testing import FULL_VERSION, Simulator


def documented_args(doc: str) -> set[str]:
    """The names of a Google-style ``Args:`` section."""
    section = re.search(r"^Args:\n((?:(?: .*)?\n?)*)", doc, re.M)
    assert section, "no Args: section"
    return set(re.findall(r"^ {4}(\w+):", section.group(1), re.M))


def test_help_of_the_client_describes_every_constructor_argument() -> None:
    """``help(Cloutility)`` names and explains each keyword of ``Cloutility(...)``."""
    parameters = set(inspect.signature(Cloutility).parameters)
    assert documented_args(inspect.getdoc(Cloutility) or "") == parameters


def test_the_readme_options_table_has_a_row_per_constructor_argument() -> None:
    """README "Options" names each keyword of ``Cloutility(...)`` and nothing else (``hooks``
    had no row)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Options") : readme.index("### Retries")]
    named = set()
    for first_cell in re.findall(r"^\| (.+?) \|", section, re.M):
        named |= set(re.findall(r"`(\w+)`", first_cell))
    assert named - {"option"} == set(inspect.signature(Cloutility).parameters)


# -- the API reference covers every public name --------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:    .*\n)*)", re.M)


def public_modules() -> list[types.ModuleType]:
    """The package and every public module under it (the command line aside)."""
    found = [cloutility_async]
    for info in pkgutil.walk_packages(cloutility_async.__path__, "cloutility_async."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or parts[1] == "cli":
            continue
        found.append(importlib.import_module(info.name))
    return found


def directives() -> dict[str, str]:
    """Every ``::: target`` of the reference pages, with its options block."""
    found: dict[str, str] = {}
    for page in sorted((DOCS / "reference").glob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text()):
            found[match.group(1)] = match.group(2)
    return found


def resolve(target: str) -> object:
    """The object a directive names: a module, or a member of one."""
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError:
        module, _, name = target.rpartition(".")
        return getattr(importlib.import_module(module), name)


def test_the_public_modules_include_the_subpackages_users_import() -> None:
    """``testing`` and ``webhooks`` (and any public module added later) are checked."""
    names = {module.__name__ for module in public_modules()}
    assert {"cloutility_async.testing", "cloutility_async.webhooks"} <= names


def test_every_public_name_has_an_entry_in_the_api_reference() -> None:
    """Each name of each public ``__all__`` is rendered by a mkdocstrings directive: its
    own, or its module's with members shown."""
    entries = directives()
    missing = []
    for module in public_modules():
        whole = module.__name__ in entries and "members: false" not in entries[module.__name__]
        for name in getattr(module, "__all__", ()):
            if not whole and f"{module.__name__}.{name}" not in entries:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"add '::: NAME' lines to a page of docs/reference/ for: {missing}"


def test_every_directive_of_the_reference_names_something_that_exists() -> None:
    """No stale entry: each ``::: target`` imports."""
    entries = directives()
    assert len(entries) > 80
    for target in entries:
        resolve(target)


def test_what_a_class_inherits_from_an_undocumented_base_is_on_its_page() -> None:
    """A public member from a base the reference does not show (``BillingMixin``, the
    simulator's world mixins) is rendered with the class: its directive has
    ``inherited_members: true``."""
    entries = directives()
    shown = {id(resolve(target)) for target in entries}
    hidden = []
    for target, options in entries.items():
        cls = resolve(target)
        if not isinstance(cls, type) or "inherited_members: true" in options:
            continue
        for base in cls.__mro__[1:]:
            if id(base) in shown or not base.__module__.startswith("cloutility_async"):
                continue
            hidden += [f"{target}.{name}" for name in vars(base) if not name.startswith("_")]
    assert not hidden, f"add 'inherited_members: true' to the directives of: {hidden}"


def blocking_twin_lines() -> list[str]:
    """One line per class of ``cloutility_async.sync``: its methods that are the async
    class's own, called through the facade, each linked to the async method's entry."""
    lines = []
    for name in sync.__all__:
        cls = getattr(sync, name)
        if not isinstance(cls, type):
            continue
        twins = []
        for member in sorted(dir(cls)):
            static = inspect.getattr_static(cls, member)
            if member.startswith("_") or isinstance(static, (classmethod, staticmethod)):
                continue
            if hasattr(static, "__wrapped__") and not inspect.isfunction(static):
                twins.append(f"[`{member}`][cloutility_async.{name}.{member}]")
        if twins:
            lines.append(f"- `{name}`: {', '.join(twins)}")
    return lines


def test_the_sync_page_links_each_blocking_method_to_its_async_entry() -> None:
    """The facade's reference lists every method that is an async one without ``await``,
    each linked to the async entry (``mkdocs build --strict`` fails on a broken link)."""
    page = (DOCS / "reference" / "sync.md").read_text()
    listed = [line for line in page.splitlines() if line.startswith("- `")]
    assert listed == blocking_twin_lines(), "regenerate the list on docs/reference/sync.md"


def test_every_page_is_in_the_navigation() -> None:
    """``mkdocs.yml`` lists every page of ``docs/`` (an orphan page is unreachable)."""
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == set(re.findall(r": ([\w/.-]+\.md)$", nav, re.M))


# -- the pages' code runs ------------------------------------------------------------------

BLOCK = re.compile(r'^```(?:python|text|toml) title="([^"]+)"\n(.*?)^```$', re.M | re.S)


EXAMPLES = ROOT / "examples"
INCLUDE = re.compile(r'^--8<-- "examples/([\w.]+)"\n\Z')


def titled_blocks() -> dict[str, str]:
    """Every code block with a ``title="..."`` in the docs, by title; a block that includes
    a file of ``examples/`` (``--8<-- "examples/NAME"``) is that file's text."""
    found: dict[str, str] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for title, code in BLOCK.findall(page.read_text()):
            assert title not in found, f"two blocks titled {title}"
            include = INCLUDE.match(code)
            found[title] = (EXAMPLES / include.group(1)).read_text() if include else code
    return found


def included_examples() -> dict[str, str]:
    """The examples the pages include, each with the title of its block."""
    found: dict[str, str] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for title, code in BLOCK.findall(page.read_text()):
            include = INCLUDE.match(code)
            if include:
                assert include.group(1) not in found, f"{include.group(1)} is shown twice"
                found[include.group(1)] = title
    return found


# The examples the tests below run (the test_*.py ones, with app.py, under pytest).
RUN_HERE = {
    "quickstart.py",
    "hello.py",
    "bulk_audit.py",
    "nightly_audit.py",
    "billing.py",
    "app.py",
    "test_app.py",
    "test_report.py",
    "test_with_respx.py",
    "test_drift.py",
}


def test_every_example_is_a_recipe_shown_under_its_name_and_run_here() -> None:
    """Each file of ``examples/`` is the code block of a page (included, so page and file
    cannot drift apart), titled with its file name, and a test of this module runs it."""
    files = {path.name for path in EXAMPLES.glob("*.py")}
    shown = included_examples()
    assert set(shown) == files
    assert all(title == name for name, title in shown.items())
    assert files == RUN_HERE


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator()
    with sim.serve_in_thread() as base_url:
        yield sim, base_url


def portal_env(served: tuple[Simulator, str], **extra: str) -> dict[str, str]:
    """This process's environment, pointed at the served simulator."""
    sim, base_url = served
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUTILITY_")}
    env.update(sim.environment(base_url), **extra)
    return env


def run_python(
    directory: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``directory``, its output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_script(
    directory: Path, title: str, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The block titled ``title``, saved under that name and run."""
    (directory / title).write_text(titled_blocks()[title])
    return run_python(directory, title, *args, env=env)


# ``python -c RUN_MAIN script.py backend``: the script's main() on the backend given.
RUN_MAIN = (
    "import runpy, sys, anyio; anyio.run(runpy.run_path(sys.argv[1])['main'], backend=sys.argv[2])"
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_quickstart_script_runs(
    served: tuple[Simulator, str], tmp_path: Path, backend: str
) -> None:
    """``hello.py`` prints the portal's version and who it logged in as, on either backend."""
    (tmp_path / "hello.py").write_text(titled_blocks()["hello.py"])
    done = run_python(tmp_path, "-c", RUN_MAIN, "hello.py", backend, env=portal_env(served))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == FULL_VERSION
    assert done.stdout.splitlines()[1].startswith("logged in as ")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_in_process_quickstart_needs_no_portal(tmp_path: Path, backend: str) -> None:
    """``quickstart.py`` logs in to the in-process simulator, with no variable set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUTILITY_")}
    script = str(EXAMPLES / "quickstart.py")
    done = run_python(tmp_path, "-c", RUN_MAIN, script, backend, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Cloutility {FULL_VERSION}\n"


def test_the_cron_recipe_writes_a_row_per_consumer_through_the_blocking_facade(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    """``nightly_audit.py`` (``cloutility_async.sync``, the served simulator): a CSV row for
    every consumer, "no node" exactly where the portal has none, exit 1 as some need a look."""
    sim = served[0]
    (tmp_path / "reports").mkdir()
    done = run_script(tmp_path, "nightly_audit.py", "reports", env=portal_env(served))
    assert done.returncode == 1, done.stderr
    [report] = (tmp_path / "reports").glob("backup-audit-*.csv")
    with report.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    world = sim.world
    consumers = list(world.consumers_in_tree(world.root_id))
    assert sorted(row["consumer"] for row in rows) == sorted(c.name for c in consumers)
    no_node = {c.name for c in consumers if world.node(c.id) is None}
    assert no_node
    assert {row["consumer"] for row in rows if row["problem"] == "no node"} == no_node
    assert not any(row["problem"].startswith("error") for row in rows)
    problems = sum(1 for row in rows if row["problem"])
    assert re.fullmatch(
        rf"{re.escape(str(report.relative_to(tmp_path)))}: {problems} consumers need a look "
        r"\(\d+ requests\)\n",
        done.stdout,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_bulk_audit_recipe_runs_on_asyncio_and_trio(
    served: tuple[Simulator, str], tmp_path: Path, backend: str
) -> None:
    """``bulk_audit.py`` prints a line per consumer of the tree, on the backend given."""
    sim = served[0]
    done = run_script(tmp_path, "bulk_audit.py", backend, env=portal_env(served))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    world = sim.world
    names = sorted(c.name for c in world.consumers_in_tree(world.root_id))
    assert sorted(line.split("\t")[1] for line in lines) == names
    assert all(line.endswith(" failed") for line in lines)
    assert re.fullmatch(r"\d+ requests\n", done.stderr)


def test_the_traced_script_prints_a_client_span_under_the_application_span(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    """``traced.py``: the grant, the login's POST and the GET, the GET a child of ``report``."""
    done = run_script(tmp_path, "traced.py", env=portal_env(served))
    assert done.returncode == 0, done.stderr
    decoder, text, spans = json.JSONDecoder(), done.stdout.strip(), []
    while text:
        span, end = decoder.raw_decode(text)
        spans.append(span)
        text = text[end:].strip()
    by_name = {span["name"]: span for span in spans}
    assert sorted(by_name) == ["GET", "POST", "cloutility.token.grant", "report"]
    get, report = by_name["GET"], by_name["report"]
    assert get["kind"] == "SpanKind.CLIENT"
    assert get["parent_id"] == report["context"]["span_id"]
    assert get["attributes"]["http.response.status_code"] == 200
    assert get["attributes"]["url.full"].endswith("/me")


def test_the_billing_recipe_builds_its_app(served: tuple[Simulator, str], tmp_path: Path) -> None:
    """``billing.py`` imports and mounts the webhook under ``/baas-report``."""
    (tmp_path / "billing.py").write_text(titled_blocks()["billing.py"])
    probe = "import billing; print([route.path for route in billing.app.routes])"
    done = run_python(tmp_path, "-c", probe, env=portal_env(served, BILLING_SECRET="s3cret"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['/baas-report']\n"


def test_the_testing_recipes_pass_as_a_user_would_run_them(tmp_path: Path) -> None:
    """The recipes' test files (and the FastAPI app they test) pass under pytest, with the
    package's own plugin providing the fixtures."""
    blocks = titled_blocks()
    files = ["test_report.py", "test_with_respx.py", "test_drift.py", "app.py", "test_app.py"]
    for name in files:
        (tmp_path / name).write_text(blocks[name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUTILITY_")}
    done = run_python(
        tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"^(\d+) passed in ", done.stdout, re.M)
    assert summary, done.stdout
    assert int(summary.group(1)) >= 5  # once per anyio backend the plugin picks


def test_the_cli_page_shows_the_current_help(capsys: pytest.CaptureFixture[str]) -> None:
    """The ``--help`` texts on the CLI page are what the command prints (at 100 columns)."""
    blocks = {t: c for t, c in titled_blocks().items() if t.endswith("--help")}
    assert set(blocks) == {"cloutility --help", "cloutility audit --help"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "100")
        for title, text in blocks.items():
            assert main([*title.split()[1:]]) == 0
            assert capsys.readouterr().out == text, f"regenerate the {title!r} block"


# -- the fragments run ------------------------------------------------------------------------


def awaiting_fragments() -> list[Snippet]:
    """The blocks of the README and the pages that await at their top level: users paste
    them into a coroutine that has an open client ``api``."""
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    found = []
    for page in pages:
        where = page.relative_to(ROOT).as_posix()
        if where in UNCHECKED_PAGES:
            continue
        for snippet in python_blocks(page):
            if snippet.offset:  # wrapped as ``async def _example(api)``: it awaits
                line = snippet.origin.rsplit(":", 1)[1]
                found.append(Snippet(f"{where}:{line}", f"{where}:{line}", snippet.code))
    return found


def test_the_fragments_are_found() -> None:
    """The README's and the pages' fragments, each once (a test below runs each)."""
    names = [snippet.name for snippet in awaiting_fragments()]
    assert len(names) >= 15
    assert len(set(names)) == len(names)
    assert any(name.startswith("README.md:") for name in names)
    assert any(name.startswith("docs/quickstart.md:") for name in names)


@pytest.mark.anyio
@pytest.mark.parametrize("fragment", awaiting_fragments(), ids=lambda snippet: snippet.name)
async def test_every_awaiting_fragment_runs_against_the_simulator(
    fragment: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fragment runs as it is, given a client open on the simulator in-process (and
    the ``CLOUTILITY_*`` variables of a served one, for those that call ``from_env()``),
    in a folder holding the invoice file the billing fragments upload."""
    sim = Simulator()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "invoice-2024-01.pdf").write_bytes(b"%PDF-1.4 an invoice")
    namespace: dict[str, object] = {}
    exec(compile(fragment.code, fragment.origin, "exec"), namespace)
    run = namespace["_example"]
    assert callable(run)
    with sim.serve_in_thread() as base_url:
        for name, value in sim.environment(base_url).items():
            monkeypatch.setenv(name, value)
        async with Cloutility(**sim.client_options()) as api:
            await run(api)
