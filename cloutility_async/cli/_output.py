"""Output: JSON Lines and CSV writers that stream, rich tables, and atomic files."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .._models import SimpleBusinessUnit
from ._audit import AuditRow

__all__ = [
    "AUDIT_COLUMNS",
    "Cell",
    "Column",
    "CsvWriter",
    "FittedTable",
    "JsonLinesWriter",
    "RowWriter",
    "atomic_output",
    "audit_rows",
    "bunit_tree",
    "fit_table",
    "make_writer",
    "plain_console",
    "print_table",
    "terminal_width",
    "wants_color",
]


class RowWriter(Protocol):
    def write(self, row: Mapping[str, Any]) -> None: ...


class JsonLinesWriter:
    """One JSON object a line, flushed at once so a pipe sees each row as it comes."""

    def __init__(self, stream: TextIO, fields: Sequence[str]) -> None:
        self._stream = stream
        self._fields = fields

    def write(self, row: Mapping[str, Any]) -> None:
        record = {name: row.get(name) for name in self._fields}
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()


class CsvWriter:
    """A header, then one line a row: empty for null, true/false, lists joined by "; "."""

    def __init__(self, stream: TextIO, fields: Sequence[str]) -> None:
        self._stream = stream
        self._fields = fields
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(fields)
        stream.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow([_csv_cell(row.get(name)) for name in self._fields])
        self._stream.flush()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value)
    return str(value)


def make_writer(kind: str, stream: TextIO, fields: Sequence[str]) -> RowWriter:
    if kind == "json":
        return JsonLinesWriter(stream, fields)
    if kind == "csv":
        return CsvWriter(stream, fields)
    raise ValueError(f"no streaming writer for {kind!r}")


@contextlib.contextmanager
def atomic_output(path: Path | None) -> Iterator[TextIO]:
    """``path`` opened for writing through a temporary file in the same directory,
    renamed over ``path`` only when the block succeeds (any exception, Ctrl-C
    included, removes it and leaves ``path`` as it was). ``None``: standard output."""
    if path is None:
        yield sys.stdout
        return
    tmp: Path | None = None
    try:
        # A Ctrl-C between creating the file and knowing its name would leak it: SIGINT
        # waits until `tmp` is set, and is then raised inside this `try`.
        with _sigint_deferred():
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmp = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back for the block, then deliver it as soon as the block ends.

    Python runs signal handlers in the main thread, whichever thread the kernel gave
    the signal to, so the handler itself is swapped (a signal mask would not do: any
    other thread, a served simulator's for one, still takes the signal). A Ctrl-C
    that arrived meanwhile goes to the handler that was in place (KeyboardInterrupt,
    or asyncio's or trio's own).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[FrameType | None] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(frame)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, caught[0])
        elif caught and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _mode_for(path: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets the umask's default."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def wants_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal; never with ``NO_COLOR``; in a pipe too with ``FORCE_COLOR``
    (https://no-color.org, https://force-color.org; ``NO_COLOR`` wins)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    return _isatty(stream) and env.get("TERM", "").lower() not in ("dumb", "unknown")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width(stream: TextIO, environ: Mapping[str, str] | None = None) -> int | None:
    """The width to fit tables to: ``COLUMNS`` when set, else the terminal's; ``None``
    (no limit: every row on one line) for a pipe or file without ``COLUMNS``."""
    env = os.environ if environ is None else environ
    columns = env.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not _isatty(stream):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def plain_console(stream: TextIO, width: int | None = None) -> Console:
    """A console for ``stream``: colour as :func:`wants_color` says, and no escape
    code at all without colour (``NO_COLOR``, pipes). ``width`` defaults to the
    terminal's; in a pipe, lines are never wrapped."""
    color = wants_color(stream)
    return Console(
        file=stream,
        width=width or terminal_width(stream) or 10_000,
        color_system=("auto" if _isatty(stream) else "standard") if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        soft_wrap=False,
        emoji=False,
        markup=False,
    )


@dataclasses.dataclass(frozen=True)
class Column:
    """A table column. Its cells wrap only between words and never below their
    longest word, so no value (a number, a name) is ever split; a column that does
    not ``wrap`` (times, numbers) keeps each cell on one line. ``drop`` ranks the
    columns hidden first when even that does not fit (0: always shown)."""

    title: str
    justify: JustifyMethod = "left"
    wrap: bool = True
    drop: int = 0


Cell = str | Text


def _text(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


@dataclasses.dataclass(frozen=True)
class FittedTable:
    """A table laid out for a width, and the titles of the columns it had to hide."""

    table: Table
    width: int
    hidden: tuple[str, ...]


def _new_table(columns: Sequence[Column], widths: Sequence[int | None]) -> Table:
    out = Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for column, width in zip(columns, widths, strict=True):
        out.add_column(
            column.title,
            justify=column.justify,
            vertical="top",
            width=width,
            overflow="fold",  # reached only when even the narrowest layout cannot fit
        )
    return out


def _overhead(count: int) -> int:
    """Cells of borders and padding of a table of ``count`` columns."""
    probe = _new_table([Column(str(i)) for i in range(count)], [1] * count)
    console = Console(width=10_000, file=io.StringIO())
    return Measurement.get(console, console.options, probe).maximum - count


def fit_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None
) -> FittedTable:
    """Lay ``rows`` out in ``width`` cells (``None``: as wide as the longest row).

    Each column gets at least its longest word (the header's included) and the whole
    of every cell that is a single word, such as a number; the rest of the width goes
    to the columns that can use it. Columns are hidden in ``drop`` order until the
    minimum layout fits.
    """
    shown = list(range(len(columns)))
    while True:
        lows, highs = [], []
        for index in shown:
            cells = [_text(row[index]) for row in rows]
            header = columns[index].title
            low = _longest_word if columns[index].wrap else _longest_line
            lows.append(max([_longest_word(header), *(low(c) for c in cells)]))
            highs.append(max([cell_len(header), *(_longest_line(c) for c in cells)]))
        overhead = _overhead(len(shown))
        droppable = [i for i in shown if columns[i].drop > 0]
        if width is None or sum(lows) + overhead <= width or not droppable:
            break
        shown.remove(max(droppable, key=lambda i: columns[i].drop))
    widths = [max(w, 1) for w in highs]
    if width is not None and sum(widths) + overhead > width:
        widths = _share(lows, highs, width - overhead)
    table = _new_table([columns[i] for i in shown], widths)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    hidden = tuple(c.title for i, c in enumerate(columns) if i not in shown)
    return FittedTable(table, sum(widths) + overhead, hidden)


def _share(lows: list[int], highs: list[int], room: int) -> list[int]:
    """Column widths from their minimums, the spare room shared in proportion to what
    each could still use."""
    widths = [max(low, 1) for low in lows]
    spare = room - sum(widths)
    wants = [high - width for high, width in zip(highs, widths, strict=True)]
    total = sum(wants)
    if spare <= 0 or total <= 0:
        return widths
    extra = [spare * want // total for want in wants]
    leftover = spare - sum(extra)
    for index in sorted(range(len(wants)), key=lambda i: wants[i] - extra[i], reverse=True):
        if leftover <= 0:
            break
        if extra[index] < wants[index]:
            extra[index] += 1
            leftover -= 1
    return [width + add for width, add in zip(widths, extra, strict=True)]


def print_table(
    stream: TextIO, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> tuple[str, ...]:
    """Print ``rows`` fitted to ``stream`` (see :func:`terminal_width`); returns the
    titles of the columns left out."""
    fitted = fit_table(columns, rows, terminal_width(stream))
    plain_console(stream, width=fitted.width).print(fitted.table)
    return fitted.hidden


AUDIT_COLUMNS = (
    Column("Business unit"),
    Column("Consumer"),
    Column("Node", drop=3),
    Column("Active", "center", wrap=False),
    Column("Last backup (UTC)", wrap=False),
    Column("Storage (MB)", "right", wrap=False),
    Column("Jobs", "right", wrap=False, drop=1),
    Column("Failed", "right", wrap=False),
    Column("Warnings", "right", wrap=False, drop=2),
    Column("Error"),
)


def audit_rows(rows: Iterable[AuditRow]) -> tuple[Sequence[Column], list[list[Cell]]]:
    """The audit's columns and cells, sorted by business unit and consumer name (the
    Error column only when some row has an error)."""
    ordered = sorted(
        rows,
        key=lambda r: ((r.bunit_name or "").casefold(), (r.consumer_name or "").casefold()),
    )
    width = len(AUDIT_COLUMNS) if any(r.error for r in ordered) else len(AUDIT_COLUMNS) - 1
    return AUDIT_COLUMNS[:width], [_audit_cells(row)[:width] for row in ordered]


def _audit_cells(row: AuditRow) -> list[str | Text]:
    if not row.has_node:
        active = Text("no node" if row.error is None else "", style="dim")
    else:
        active = Text("yes", style="green") if row.node_activated else Text("no", style="yellow")
    last: str | Text = ""
    if row.last_backup is not None:
        last = _short_time(row.last_backup)
    elif row.node_activated and row.error is None:
        last = Text("none", style="red")
    failed = Text(str(row.jobs_failed), style="red" if row.jobs_failed else "")
    return [
        row.bunit_name or "",
        row.consumer_name or "",
        row.node_name or "",
        active,
        last,
        "" if row.storage_mb is None else f"{row.storage_mb:,.1f}",
        str(row.jobs_total),
        failed,
        "" if row.warnings is None else str(row.warnings),
        Text(row.error or "", style="red"),
    ]


def _short_time(moment: dt.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M")


def bunit_tree(root: SimpleBusinessUnit) -> Tree:
    """The business-unit tree: ``name (id)`` per unit."""

    def label(unit: SimpleBusinessUnit) -> Text:
        text = Text(unit.name or "(no name)", style="bold")
        text.append(f"  {unit.id}", style="dim")
        return text

    tree = Tree(label(root))
    stack = [(root, tree)]
    while stack:
        unit, branch = stack.pop()
        for child in unit.business_units:
            stack.append((child, branch.add(label(child))))
    return tree
