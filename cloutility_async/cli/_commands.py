"""The subcommands that talk to the portal, each ``async (args, settings) -> exit code``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
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

from .._client import Cloutility
from .._models import SimpleBusinessUnit
from . import version_line
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
from ._output import (
    Cell,
    Column,
    atomic_output,
    audit_rows,
    bunit_tree,
    make_writer,
    plain_console,
    print_table,
    wants_color,
)

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


def _hidden_note(hidden: Sequence[str]) -> None:
    """Say which columns a narrow terminal left out, and how to see them."""
    if hidden:
        names = ", ".join(hidden)
        _err(f"Not shown at this width: {names} (see --format csv).")


# -- version -------------------------------------------------------------------------------


async def version(args: argparse.Namespace, settings: Settings) -> int:
    async with _client(args, settings) as api:
        portal = await api.full_version()
    sys.stdout.write(f"{version_line()}\nportal {portal}\n")
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
    Column("Business unit"),
    Column("ID", "right", wrap=False),
    Column("Consumer"),
    Column("State", drop=1),
    Column("Created (UTC)", wrap=False, drop=2),
    Column("Error"),
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


def _consumers_table(rows: list[dict[str, Any]]) -> tuple[Sequence[Column], list[Sequence[Cell]]]:
    rows.sort(key=lambda r: (str(r["bunit_name"]).casefold(), r["consumer_id"] or 0))
    width = len(CONSUMER_COLUMNS) - (0 if any(r["error"] for r in rows) else 1)
    cells: list[Sequence[Cell]] = [
        [
            str(r["bunit_name"] or ""),
            "" if r["consumer_id"] is None else str(r["consumer_id"]),
            str(r["consumer_name"] or ""),
            str(r["state"] or ""),
            str(r["created"] or "").replace("T", " ").rstrip("Z"),
            str(r["error"] or ""),
        ][:width]
        for r in rows
    ]
    return CONSUMER_COLUMNS[:width], cells


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
                _hidden_note(print_table(stream, *_consumers_table(rows)))
    return 1 if failures else 0


# -- audit ---------------------------------------------------------------------------------


class _ProgressBar:
    """A live progress bar on a terminal's stderr (a no-op elsewhere): consumers
    listed (a count), then audited out of a total known before the first starts."""

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
            TextColumn("{task.fields[what]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            # Rows written to a terminal's stdout go above the bar; a pipe is left alone.
            redirect_stdout=stdout_is_terminal,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task("Listing", total=None, what="consumers")

    def __enter__(self) -> _ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, audit: Audit) -> None:
        if self._progress is None or self._task is None:
            return
        if audit.total is None:  # listing: how many there are is not known yet
            self._progress.update(self._task, completed=audit.discovered)
        else:
            self._progress.update(
                self._task,
                description="Auditing",
                total=audit.total,
                completed=audit.done,
                what="consumers",
            )


async def audit(args: argparse.Namespace, settings: Settings) -> int:
    to_stdout = args.output is None
    hidden: Sequence[str] = ()
    bar = _ProgressBar(
        # A live bar needs cursor movement: not under NO_COLOR, nor between --debug lines.
        sys.stderr.isatty() and wants_color(sys.stderr) and not (args.quiet or args.debug),
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
                hidden = print_table(stream, *audit_rows(rows))
            else:
                with bar:
                    writer = make_writer(args.format, sys.stdout if to_stdout else stream, FIELDS)
                    async with contextlib.aclosing(run.rows()) as stream_rows:
                        async for row in stream_rows:
                            writer.write(row.as_dict())
    if not args.quiet:
        if args.format == "table":
            _hidden_note(hidden)
        _err(run.summary.line())
    return 1 if run.summary.errors else 0


COMMANDS: dict[str, Command] = {
    "version": version,
    "bunits": bunits,
    "consumers": consumers,
    "audit": audit,
}
