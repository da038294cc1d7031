"""The subcommands that talk to the portal, each ``async (args, settings) -> exit code``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .._client import Cloutility
from .._models import SimpleBusinessUnit
from .._version import __version__
from ._audit import (
    FIELDS,
    Audit,
    AuditRow,
    ListedConsumer,
    get_tree,
    iso,
    list_consumers,
)
from ._config import Settings
from ._output import atomic_output, audit_table, bunit_tree, make_writer, plain_console, table

__all__ = ["COMMANDS"]

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def _client(args: argparse.Namespace, settings: Settings) -> Cloutility:
    kwargs = settings.client_kwargs()
    if args.concurrency is not None:
        kwargs["max_concurrency"] = args.concurrency
    return Cloutility(**kwargs)


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- version -------------------------------------------------------------------------------


async def version(args: argparse.Namespace, settings: Settings) -> int:
    async with _client(args, settings) as api:
        portal = await api.full_version()
    sys.stdout.write(f"cloutility-async {__version__}\nportal {portal}\n")
    return 0


# -- bunits --------------------------------------------------------------------------------


def _tree_json(unit: SimpleBusinessUnit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "name": unit.name,
        "business_units": [_tree_json(child) for child in unit.business_units],
    }


async def bunits(args: argparse.Namespace, settings: Settings) -> int:
    async with _client(args, settings) as api:
        tree = await get_tree(api, args.bunit)
    if args.format == "json":
        sys.stdout.write(json.dumps(_tree_json(tree), ensure_ascii=False, indent=2) + "\n")
    else:
        plain_console(sys.stdout).print(bunit_tree(tree))
    return 0


# -- consumers -----------------------------------------------------------------------------

CONSUMER_FIELDS = ("bunit_id", "bunit_name", "consumer_id", "consumer_name", "state", "created")
CONSUMER_COLUMNS = (
    ("Business unit", "left"),
    ("ID", "right"),
    ("Consumer", "left"),
    ("State", "left"),
    ("Created (UTC)", "left"),
    ("Error", "left"),
)


def _consumer_row(listed: ListedConsumer) -> dict[str, Any]:
    consumer = listed.consumer
    state = None if consumer is None else consumer.data_source_state
    created = None if consumer is None else consumer.created_date
    return {
        "bunit_id": listed.unit.id,
        "bunit_name": listed.unit.name,
        "consumer_id": None if consumer is None else consumer.id,
        "consumer_name": None if consumer is None else consumer.name,
        "state": None if state is None else state.name,
        "created": None if created is None else iso(created),
        "error": listed.error,
    }


def _consumers_table(rows: list[dict[str, Any]]) -> Table:
    rows.sort(key=lambda r: (str(r["bunit_name"]).casefold(), r["consumer_id"] or 0))
    width = len(CONSUMER_COLUMNS) - (0 if any(r["error"] for r in rows) else 1)
    cells = (
        [
            str(r["bunit_name"] or ""),
            "" if r["consumer_id"] is None else str(r["consumer_id"]),
            str(r["consumer_name"] or ""),
            str(r["state"] or ""),
            str(r["created"] or "").replace("T", " ").rstrip("Z"),
            str(r["error"] or ""),
        ][:width]
        for r in rows
    )
    return table(CONSUMER_COLUMNS[:width], cells)


async def consumers(args: argparse.Namespace, settings: Settings) -> int:
    """Every consumer of the tree (or of --bunit and its descendants)."""
    failures = 0
    async with _client(args, settings) as api:
        tree = await get_tree(api, args.bunit)
        with atomic_output(args.output) as stream:
            rows: list[dict[str, Any]] = []
            fields = (*CONSUMER_FIELDS, "error")
            writer = None if args.format == "table" else make_writer(args.format, stream, fields)
            listing = list_consumers(api, tree, args.concurrency)
            async with contextlib.aclosing(listing) as listed_consumers:
                async for listed in listed_consumers:
                    row = _consumer_row(listed)
                    failures += listed.error is not None
                    if writer is None:
                        rows.append(row)
                    else:
                        writer.write(row)
            if writer is None:
                plain_console(stream).print(_consumers_table(rows))
    return 1 if failures else 0


# -- audit ---------------------------------------------------------------------------------


class _ProgressBar:
    """A live progress bar on a terminal's stderr (a no-op elsewhere)."""

    def __init__(self, enabled: bool, *, stdout_is_terminal: bool) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if not enabled:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("consumers"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            # Rows written to a terminal's stdout go above the bar; a pipe is left alone.
            redirect_stdout=stdout_is_terminal,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task("Auditing", total=None)

    def __enter__(self) -> _ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, audit: Audit) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=audit.discovered or None, completed=audit.done)


async def audit(args: argparse.Namespace, settings: Settings) -> int:
    to_stdout = args.output is None
    bar = _ProgressBar(
        sys.stderr.isatty() and not args.quiet,
        stdout_is_terminal=to_stdout and args.format != "table" and sys.stdout.isatty(),
    )
    async with _client(args, settings) as api:
        run = Audit(
            api,
            root=args.bunit,
            since=dt.timedelta(hours=args.since),
            concurrency=args.concurrency,
            on_progress=bar.update,
        )
        with atomic_output(args.output) as stream:
            if args.format == "table":
                rows: list[AuditRow] = []
                with bar:
                    async with contextlib.aclosing(run.rows()) as stream_rows:
                        rows.extend([row async for row in stream_rows])
                plain_console(stream).print(audit_table(rows))
            else:
                with bar:
                    writer = make_writer(args.format, sys.stdout if to_stdout else stream, FIELDS)
                    async with contextlib.aclosing(run.rows()) as stream_rows:
                        async for row in stream_rows:
                            writer.write(row.as_dict())
    if not args.quiet:
        _err(run.summary.line())
    return 1 if run.summary.errors else 0


COMMANDS: dict[str, Command] = {
    "version": version,
    "bunits": bunits,
    "consumers": consumers,
    "audit": audit,
}
