"""Helpers shared by the benchmarks: the simulator server, machine facts, process metrics.

Nothing here imports ``cloutility_async``: the raw-client workers use these helpers
too, and their peak memory must not include the SDK.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RESULTS_DIR = ROOT / "results"
TICKS = os.sysconf("SC_CLK_TCK")

# Environment variables that carry the simulator's credentials to a worker process
# (never written to a results file).
ENV_KEYS = {
    "client_id": "CLOUTILITY_CLIENT_ID",
    "origin": "CLOUTILITY_ORIGIN",
    "username": "CLOUTILITY_USERNAME",
    "password": "CLOUTILITY_PASSWORD",
}


class Server:
    """A simulator served by ``python -m cloutility_async.testing serve`` in its own process."""

    def __init__(self, process: subprocess.Popen[str], base_url: str, details: dict[str, str]):
        self.process = process
        self.base_url = base_url
        self._details = details  # client_id, origin, username, password

    def __repr__(self) -> str:  # never shows the password
        return f"<Server {self.base_url} pid={self.process.pid}>"

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self) -> dict[str, str]:
        """The environment a worker needs to log in (credentials only in the environment)."""
        env = dict(os.environ)
        env.update({ENV_KEYS[k]: v for k, v in self._details.items()})
        env["CLOUTILITY_BASE_URL"] = self.base_url
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        return env

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        root = self.base_url.split("/v1/", 1)[0]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{root}/_bench/{path}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **config: Any) -> Any:
        """Change ``latency_ms``, ``include_oauth`` or ``token_lifetime`` at run time."""
        return self._control("config", config)

    def stats(self) -> Any:
        """The simulator's counters (grants, requests by route, statuses)."""
        return self._control("stats")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    *,
    consumers: int,
    latency_ms: float = 0.0,
    token_lifetime: float | None = None,
    include_oauth: bool = False,
    seed: int = 0,
) -> Server:
    """Start the simulator (``_simserver.py``: the ``serve`` CLI plus control routes) on a
    free loopback port in its own process; return once it prints ``READY``."""
    args = [
        sys.executable,
        str(ROOT / "_simserver.py"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--consumers",
        str(consumers),
        "--latency-ms",
        str(latency_ms),
        "--seed",
        str(seed),
    ]
    if token_lifetime is not None:
        args += ["--token-lifetime", str(token_lifetime)]
    if include_oauth:
        args.append("--include-oauth")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert process.stdout is not None
    details: dict[str, str] = {}
    labels = {
        "client ID:": "client_id",
        "origin:": "origin",
        "username:": "username",
        "password:": "password",
    }
    for line in process.stdout:
        text = line.strip()
        for label, key in labels.items():
            if text.startswith(label):
                details[key] = text[len(label) :].strip()
        if text.startswith("READY "):
            return Server(process, text.split(" ", 1)[1].strip(), details)
    process.kill()
    raise RuntimeError("the simulator exited before printing READY")


# -- process metrics ------------------------------------------------------------------------


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_mb() -> float:
    """The current resident set size (VmRSS) of this process, in MB."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """The peak resident set size (VmHWM) of this process, in MB."""
    return _status_kb("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the machine ----------------------------------------------------------------------------


def _lscpu_model() -> str:
    """``lscpu``'s model name (``/proc/cpuinfo``'s when lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version_of(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def machine() -> dict[str, Any]:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 0
    versions = {}
    for name in ("aiohttp", "httpx", "requests", "anyio", "cattrs", "attrs", "trio", "orjson",
                 "click"):  # fmt: skip
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    return {
        "cpu_model": _lscpu_model(),
        "cores": cores,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "valgrind": _version_of(["valgrind", "--version"]),
        "libraries": versions,
    }


def git_revision(
    tree: Path = REPO, paths: Sequence[str] = ("cloutility_async", "benchmarks")
) -> dict[str, Any]:
    """The commit checked out in ``tree`` and whether ``paths`` differ from it there
    (results files aside)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tree), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        subject = git("log", "-1", "--format=%s")
        sdk_commit = git("log", "-1", "--format=%H", "--", "cloutility_async")
        changed = git("status", "--porcelain", "--", *paths)
        dirty = any("benchmarks/results/" not in line for line in changed.splitlines())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "subject": None, "dirty": None, "sdk_commit": None}
    # The last commit that changed the SDK: the code measured, whatever came after it.
    return {"commit": commit, "subject": subject, "dirty": dirty, "sdk_commit": sdk_commit}
