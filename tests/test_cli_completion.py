"""``cloutility completion bash|zsh|fish``: each script completes in its real shell."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cloutility_async.cli import main


@pytest.fixture
def script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> object:
    def write(shell: str) -> Path:
        assert main(["completion", shell]) == 0
        path = tmp_path / ("_cloutility" if shell == "zsh" else f"cloutility.{shell}")
        path.write_text(capsys.readouterr().out)
        return path

    return write


def bash_complete(script: Path, line: str, cwd: Path) -> list[str]:
    """What bash's completion function offers for ``line`` (the cursor at its end)."""
    words = line.split(" ")
    program = (
        f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _cloutility; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=cwd,
    )
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_options_choices_and_files(script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Commands, a command's options, an option's choices, and file names for FILE."""
    path = script("bash")
    (tmp_path / "audit.csv").write_text("")
    assert bash_complete(path, "cloutility au", tmp_path) == ["audit"]
    assert bash_complete(path, "cloutility audit --for", tmp_path) == ["--format"]
    assert bash_complete(path, "cloutility audit --format ", tmp_path) == ["table", "json", "csv"]
    assert bash_complete(path, "cloutility bunits --format j", tmp_path) == ["json"]
    assert bash_complete(path, "cloutility audit -o aud", tmp_path) == ["audit.csv"]
    assert bash_complete(path, "cloutility completion ", tmp_path) == ["bash", "zsh", "fish"]
    assert "--debug" in bash_complete(path, "cloutility consumers --", tmp_path)
    assert bash_complete(path, "cloutility audit --since ", tmp_path) == []  # a number


def fish_complete(script: Path, line: str) -> list[str]:
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [entry.split("\t")[0] for entry in done.stdout.splitlines()]


def test_fish_completes_commands_options_and_choices(script) -> None:  # type: ignore[no-untyped-def]
    """fish's own ``complete -C`` resolves the generated rules."""
    assert shutil.which("fish"), "fish is needed (.ci/run installs it)"
    path = script("fish")
    assert fish_complete(path, "cloutility au") == ["audit"]
    assert fish_complete(path, "cloutility audit --for") == ["--format"]
    assert sorted(fish_complete(path, "cloutility audit --format ")) == ["csv", "json", "table"]
    assert sorted(fish_complete(path, "cloutility completion ")) == ["bash", "fish", "zsh"]


class Zsh:
    """An interactive ``zsh -f`` in a pseudo-terminal, with compinit and a ``compadd``
    wrapper that writes every candidate the completion system adds to a file."""

    PROMPT = "zsh-ready> "

    def __init__(self, fpath: Path) -> None:
        self.hits = fpath / "hits"
        master, slave = pty.openpty()
        env = {"PATH": os.environ["PATH"], "HOME": str(fpath), "TERM": "dumb"}
        self.process = subprocess.Popen(
            ["zsh", "-f", "-i"], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=fpath
        )
        os.close(slave)
        self.master = master
        self.screen = ""
        self.type(f"PS1='{self.PROMPT}'; fpath=({fpath} $fpath); autoload -U compinit\n")
        self.type("compinit -u -D\n")
        self.type(
            'compadd() { local -a hits; builtin compadd -O hits "$@"; '
            f'print -rl -- $hits >> {self.hits}; builtin compadd "$@" }}; print REA""DY\n'
        )
        self.wait_for("READY")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, text: str) -> None:
        """Read the terminal until ``text`` shows up (the shell is idle again)."""
        deadline = time.monotonic() + 30
        while text not in self.screen:
            assert time.monotonic() < deadline, self.screen[-2000:]
            if select.select([self.master], [], [], 0.1)[0]:
                self.screen += os.read(self.master, 65536).decode(errors="replace")
        self.screen = self.screen[self.screen.index(text) + len(text) :]

    def complete(self, line: str, expect: str) -> list[str]:
        """Type ``line`` and Tab; the candidates, once ``expect`` is among them."""
        self.hits.write_text("")
        self.type(line + "\t")
        deadline = time.monotonic() + 30
        found: list[str] = []
        while expect not in found and time.monotonic() < deadline:
            time.sleep(0.05)
            found = [hit for hit in self.hits.read_text().splitlines() if hit]
        self.type("\x15")  # Ctrl-U: kill the whole line, ready for the next one
        self.type('print DO""NE\n')
        self.wait_for("DONE")
        return found

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self.master)


def test_zsh_completes_commands_options_and_choices(script) -> None:  # type: ignore[no-untyped-def]
    """The ``#compdef`` script, found on ``fpath`` by ``compinit`` as zsh users install it."""
    assert shutil.which("zsh"), "zsh is needed (.ci/run installs it)"
    path = script("zsh")
    shell = Zsh(path.parent)
    try:
        assert "audit" in shell.complete("cloutility au", "audit")
        assert "--format" in shell.complete("cloutility audit --for", "--format")
        formats = shell.complete("cloutility audit --format ", "table")
        assert {"table", "json", "csv"} <= set(formats)
        assert {"bash", "zsh", "fish"} <= set(shell.complete("cloutility completion ", "zsh"))
    finally:
        shell.close()
