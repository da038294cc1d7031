"""Output: JSON Lines and CSV writers that stream, rich tables, and atomic files."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .._models import SimpleBusinessUnit
from ._audit import AuditRow

__all__ = [
    "CsvWriter",
    "JsonLinesWriter",
    "RowWriter",
    "atomic_output",
    "audit_table",
    "bunit_tree",
    "make_writer",
    "plain_console",
    "table",
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
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _mode_for(path: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets the umask's default."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def plain_console(stream: TextIO) -> Console:
    """A console for ``stream``: its terminal width, or wide and colourless in a pipe."""
    terminal = stream.isatty()
    return Console(
        file=stream,
        width=None if terminal else 200,
        no_color=not terminal,
        highlight=False,
        soft_wrap=False,
    )


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[str | Text]]) -> Table:
    """A rich table; ``columns`` are (title, justify)."""
    out = Table(header_style="bold")
    for title, justify in columns:
        out.add_column(title, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        out.add_row(*row)
    return out


AUDIT_COLUMNS = (
    ("Business unit", "left"),
    ("Consumer", "left"),
    ("Node", "left"),
    ("Active", "center"),
    ("Last backup (UTC)", "left"),
    ("Storage (MB)", "right"),
    ("Jobs", "right"),
    ("Failed", "right"),
    ("Warnings", "right"),
    ("Error", "left"),
)


def audit_table(rows: Iterable[AuditRow]) -> Table:
    """The audit as a table, sorted by business unit and consumer name (the Error
    column only when some row has an error)."""
    ordered = sorted(
        rows,
        key=lambda r: ((r.bunit_name or "").casefold(), (r.consumer_name or "").casefold()),
    )
    width = len(AUDIT_COLUMNS) if any(r.error for r in ordered) else len(AUDIT_COLUMNS) - 1
    return table(AUDIT_COLUMNS[:width], (_audit_cells(row)[:width] for row in ordered))


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
