"""Type-check user code the way a user would: ``mypy --strict`` over snippets, in one run.

``python_blocks`` pulls the Python code blocks out of a Markdown file. A block
that awaits at its top level is a fragment of an ``async`` function: it is
checked as the body of ``async def _example(api: Cloutility) -> None`` (so it
may use an open client ``api`` and must import everything else it uses). A
block preceded by ``<!-- typecheck: skip -->`` is left out (keep that rare).
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import mypy.api

ROOT = Path(__file__).resolve().parent.parent
SKIP_MARK = "<!-- typecheck: skip -->"
# Pages whose blocks lean on names an earlier block of the page defined, so they are not
# checked (nor run) one by one: the lead's page, until its blocks import what they use.
UNCHECKED_PAGES = frozenset({"docs/concepts/retries.md"})
_FENCE = re.compile(
    r"^(?P<mark><!-- typecheck: \w+ -->\n)?```python\n(?P<code>.*?)^```$", re.M | re.S
)
_FRAGMENT_HEAD = (
    "from cloutility_async import Cloutility as _Cloutility\n\n\n"
    "async def _example(api: _Cloutility) -> None:\n"
)


@attrs.frozen
class Snippet:
    """Code to check, where it came from, and how many lines were added in front of it."""

    name: str  # the module name it is checked as
    origin: str  # "README.md:120", for messages
    code: str
    offset: int = 0  # lines of the wrapper before the block's first line

    def source_line(self, line: int) -> int:
        """The line of the Markdown file that line ``line`` of the checked module is."""
        return int(self.origin.rsplit(":", 1)[1]) + line - self.offset - 1


def python_blocks(path: Path) -> Iterator[Snippet]:
    """Every Python block of a Markdown file, fragments wrapped as an async function body."""
    text = path.read_text(encoding="utf-8")
    stem = re.sub(r"\W", "_", path.stem.lower())
    for number, match in enumerate(_FENCE.finditer(text)):
        if match["mark"] == SKIP_MARK + "\n":
            continue
        first = text.count("\n", 0, match.start("code")) + 1
        code = match["code"]
        snippet = Snippet(f"{stem}_block_{number}", f"{path.name}:{first}", code)
        if _awaits_at_top_level(code):
            wrapped = _FRAGMENT_HEAD + textwrap.indent(code, "    ")
            snippet = attrs.evolve(snippet, code=wrapped, offset=_FRAGMENT_HEAD.count("\n"))
        yield snippet


def _awaits_at_top_level(code: str) -> bool:
    # Compiled, not only parsed: "await outside function" is a compiler error.
    try:
        compile(code, "<block>", "exec", dont_inherit=True)
    except SyntaxError:
        compile(code, "<block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        return True
    return False


def python_files(folder: Path) -> Iterator[Snippet]:
    """Every Python file of ``folder`` (the examples), as it is, under its own module name
    (``test_app.py`` imports ``app``)."""
    for path in sorted(folder.glob("*.py")):
        yield Snippet(path.stem, f"{folder.name}/{path.name}:1", path.read_text(encoding="utf-8"))


def run_mypy(snippets: Iterable[Snippet], folder: Path) -> dict[str, list[str]]:
    """``mypy --strict`` over every snippet at once: its messages, by snippet name.

    The project's own configuration applies (``python_version``, overrides),
    so the snippets are checked as they would be on the oldest Python we support.
    """
    by_file = {}
    for snippet in snippets:
        path = folder / f"{snippet.name}.py"
        path.write_text(snippet.code, encoding="utf-8")
        by_file[path.name] = snippet
    stdout, stderr, status = mypy.api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--show-error-codes",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *(str(folder / name) for name in by_file),
        ]
    )
    if status == 2:  # mypy itself failed (a crash or a bad option), not the snippets
        raise RuntimeError(stderr or stdout)
    messages: dict[str, list[str]] = {snippet.name: [] for snippet in by_file.values()}
    for line in stdout.splitlines():
        file_name, _, rest = line.partition(":")
        snippet = by_file.get(Path(file_name).name)
        if snippet is None:
            raise AssertionError(f"mypy reported outside the snippets: {line}")
        number, _, message = rest.partition(":")
        where = snippet.origin.rsplit(":", 1)[0]
        messages[snippet.name].append(
            f"{where}:{snippet.source_line(int(number))}:{message}" if number.isdigit() else line
        )
    return messages
