"""The ``cloutility`` command in real pseudo-terminals: tmux renders what a person sees
(progress bar and all), Python's ``pty`` captures the raw bytes a terminal receives.

These run the installed command in subprocesses, so they are backend-independent by
design (the command's default backend, asyncio); ``tests/test_cli.py`` covers trio.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUMMARY = re.compile(
    r"Audited 40 consumers in 8 business units in [\d.]+ s: \d+ failed jobs?, "
    r"\d+ nodes? without backup in the last 24 h, 0 errors\."
)
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
COMMAND = [sys.executable, "-m", "cloutility_async.cli"]


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without the variables that change the command's looks."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLOUTILITY_LOG")
        and not k.startswith("CLOUTILITY_")
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def demo_truth() -> dict[str, dict[str, Any]]:
    """The demo audit's rows by consumer name, from ``--format json``."""
    done = subprocess.run(
        [*COMMAND, "audit", "--demo", "--format", "json", "-q"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 40
    return {row["consumer_name"]: row for row in rows}


class Tmux:
    """A private tmux server (its own socket) with one window of a given size."""

    def __init__(self, socket: Path, width: int, height: int) -> None:
        self.socket = socket
        self.width = width
        self.height = height

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            env=clean_environment(),  # the server's environment: no COLUMNS of ours
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def run(self, command: list[str], env: dict[str, str], timeout: float = 90) -> list[str]:
        """Run ``command`` in the window; the screen and its history, one row a line,
        rows the terminal wrapped joined back (``capture-pane -J``)."""
        script = " ".join(subprocess.list2cmdline([part]) for part in command)
        marker = "__cloutility_exit_"
        shell = f"{script}; echo {marker}$?; sleep 600"
        exports = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        self.tmux(
            "new-session", "-d", "-x", str(self.width), "-y", str(self.height), *exports, shell
        )
        deadline = time.monotonic() + timeout
        while True:
            screen = self.tmux("capture-pane", "-p", "-J", "-S", "-")
            if marker in screen:
                break
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
        lines = screen.rstrip("\n").splitlines()
        exit_line = next(line for line in lines if line.startswith(marker))
        assert exit_line == f"{marker}0", screen
        return [line.rstrip() for line in lines[: lines.index(exit_line)]]

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def tmux_window(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tmux]:
    assert shutil.which("tmux"), "tmux is needed (.ci/run installs it)"
    window = Tmux(tmp_path / "tmux.sock", request.param, 70)
    try:
        yield window
    finally:
        window.close()


def table_rows(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(header lines, body lines, lines after the table) of a rendered audit."""
    rule = next(i for i, line in enumerate(lines) if line.startswith("────"))
    end = next(
        i
        for i in range(rule + 1, len(lines))
        if not lines[i].strip() or "Audited" in lines[i] or lines[i].startswith("Not shown")
    )
    return lines[:rule], lines[rule + 1 : end], lines[end:]


@pytest.mark.parametrize("tmux_window", [80, 120], indirect=True, ids=["80-columns", "120-columns"])
def test_the_demo_audit_reads_well_in_a_terminal(
    tmux_window: Tmux, demo_truth: dict[str, dict[str, Any]]
) -> None:
    """At 80 and 120 columns: every line fits, no value is split, a row wraps only
    between the words of a name, and the summary line is whole."""
    lines = tmux_window.run([*COMMAND, "audit", "--demo"], clean_environment())
    header, body, after = table_rows(lines)
    assert all(len(line) <= tmux_window.width for line in header + body), "a line was too wide"
    assert sum(1 for line in after if SUMMARY.fullmatch(line)) == 1, after
    titles = " ".join(header).split()  # a title may wrap onto a second header line
    for word in [
        "Business",
        "unit",
        "Consumer",
        "Active",
        "Last",
        "backup",
        "(UTC)",
        "Storage",
        "(MB)",
        "Failed",
    ]:
        assert word in titles

    def names_in(line: str) -> list[str]:
        return [cell for cell in re.split(r" {2,}", line.strip()) if cell in demo_truth]

    starts = [i for i, line in enumerate(body) if names_in(line)]
    assert starts[0] == 0
    seen = set()
    for number, start in enumerate(starts):
        stop = starts[number + 1] if number + 1 < len(starts) else len(body)
        cells = re.split(r" {2,}", body[start].strip())
        [name] = set(names_in(body[start]))  # a node may be named as its consumer
        row = demo_truth[name]
        seen.add(name)
        if row["storage_mb"] is not None:
            assert f"{row['storage_mb']:,.1f}" in cells  # the whole number, in its row's line
        if row["last_backup"] is not None:
            assert any(TIME.match(cell) for cell in cells), cells
        # Continuation lines hold only the rest of the business unit's name, word by word.
        unit = " ".join([cells[0], *(body[i].strip() for i in range(start + 1, stop))])
        assert unit == row["bunit_name"], (unit, row["bunit_name"])
    assert seen == set(demo_truth)
    if tmux_window.width >= 120:
        assert len(starts) == len(body), "at 120 columns every row is one line high"
        assert "Node" in titles
        assert "Warnings" in titles
    else:
        assert "Not shown at this width: Node, Warnings (see --format csv)." in after


def run_in_pty(command: list[str], env: dict[str, str], width: int = 80) -> bytes:
    """Everything ``command`` writes to a pseudo-terminal of ``width`` columns (its
    stdin, stdout and stderr), as the terminal receives it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=30) == 0, b"".join(chunks)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return b"".join(chunks)


def test_no_color_writes_no_escape_code_to_a_terminal() -> None:
    """``NO_COLOR=1``: the terminal receives plain text (no colour, style or progress
    bar), while without it the same command does colour its output."""
    plain = run_in_pty([*COMMAND, "audit", "--demo"], clean_environment(NO_COLOR="1"))
    assert b"\x1b" not in plain
    text = plain.decode()
    assert "Business unit" in text
    assert SUMMARY.search(text)
    colored = run_in_pty([*COMMAND, "audit", "--demo"], clean_environment())
    assert b"\x1b[" in colored


def test_force_color_colours_a_pipe_and_no_color_wins() -> None:
    """``FORCE_COLOR=1`` keeps colour when piped; ``NO_COLOR`` overrides it."""

    def piped(**extra: str) -> str:
        done = subprocess.run(
            [*COMMAND, "audit", "--demo", "-q"],
            env=clean_environment(**extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    assert "\x1b[" not in piped()
    assert "\x1b[" in piped(FORCE_COLOR="1")
    assert "\x1b[" not in piped(FORCE_COLOR="1", NO_COLOR="1")


def test_a_piped_table_keeps_every_row_on_one_line(demo_truth: dict[str, dict[str, Any]]) -> None:
    """In a pipe the table is as wide as its longest row: every column, one line a row;
    ``COLUMNS`` fits it to a width instead."""
    done = subprocess.run(
        [*COMMAND, "audit", "--demo", "-q"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "Node" in lines[0]
    assert "Warnings" in lines[0]
    assert len(lines) == 2 + len(demo_truth)  # header, rule, one line per consumer
    narrow = subprocess.run(
        [*COMMAND, "audit", "--demo"],
        env=clean_environment(COLUMNS="80"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    assert "Not shown at this width: Node, Warnings" in narrow.stderr
