"""Where the command finds its connection settings: environment, a TOML file, a prompt.

Each setting comes from the ``CLOUTILITY_*`` environment variable when it is set
and not empty, else from the ``--config`` file. A missing password is asked for
on a terminal (``getpass``); it is never read from the command line.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ENV_VARS", "Settings", "load_settings"]

# Settings in the order a missing one is reported.
ENV_VARS = {
    "client_id": "CLOUTILITY_CLIENT_ID",
    "origin": "CLOUTILITY_ORIGIN",
    "username": "CLOUTILITY_USERNAME",
    "password": "CLOUTILITY_PASSWORD",
    "base_url": "CLOUTILITY_BASE_URL",
}
_REQUIRED = ("client_id", "origin", "username")
# Client options a config file may set besides the connection settings.
_NUMBER_KEYS = {"max_concurrency": int, "max_retries": int, "timeout": float}

Prompt = Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything needed to build a client; the password stays out of the repr."""

    client_id: str
    origin: str
    username: str
    password: str = dataclasses.field(repr=False)
    base_url: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Cloutility(...)``."""
        kwargs: dict[str, Any] = {
            "client_id": self.client_id,
            "origin": self.origin,
            "username": self.username,
            "password": self.password,
            **self.options,
        }
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return kwargs


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML file (top-level keys, or a ``[cloutility]`` table)."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    table = data.get("cloutility", data)
    if not isinstance(table, dict):
        raise ConfigurationError(f"config file {path}: [cloutility] must be a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ENV_VARS:
            if not isinstance(value, str):
                raise ConfigurationError(f"config file {path}: {key} must be a string")
            values[key] = value
        elif key in _NUMBER_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError(f"config file {path}: {key} must be a number")
            values[key] = value
        else:
            known = ", ".join([*ENV_VARS, *_NUMBER_KEYS])
            raise ConfigurationError(f"config file {path}: unknown key {key!r} (known: {known})")
    if "password" in values and _readable_by_others(path):
        sys.stderr.write(
            f"cloutility: warning: {path} holds a password and is readable by other users "
            f"(chmod 600 {path})\n"
        )
    return values


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.name == "posix" and bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def _tty_prompt(message: str) -> str:
    return getpass.getpass(message)


def load_settings(
    config: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = _tty_prompt,
    interactive: bool | None = None,
) -> Settings:
    """Settings from ``environ`` (default ``os.environ``), then ``config``, then a prompt.

    ``prompt`` asks for a missing password when ``interactive`` (default: stdin is
    a terminal). Raises ``ConfigurationError`` naming the first missing variable.
    """
    env = os.environ if environ is None else environ
    from_file = read_config_file(config) if config is not None else {}
    values: dict[str, Any] = {}
    for key, var in ENV_VARS.items():
        raw = env.get(var, "")
        value = raw if key == "password" else raw.strip()  # a password may end in a space
        if value.strip():
            values[key] = value
        elif key in from_file and from_file[key].strip():
            values[key] = from_file[key]
    where = f" or in {config}" if config is not None else " or in a --config file"
    for key in _REQUIRED:
        if key not in values:
            raise ConfigurationError(
                f"{ENV_VARS[key]} is not set (set it in the environment{where})"
            )
    if "password" not in values:
        if interactive is None:
            interactive = sys.stdin is not None and sys.stdin.isatty()
        if prompt is None or not interactive:
            raise ConfigurationError(
                f"{ENV_VARS['password']} is not set (set it in the environment{where}; "
                "on a terminal the password is asked for)"
            )
        values["password"] = prompt(f"Cloutility password for {values['username']}: ")
        if not values["password"]:
            raise ConfigurationError("no password given")
    options = {key: from_file[key] for key in _NUMBER_KEYS if key in from_file}
    return Settings(
        client_id=values["client_id"],
        origin=values["origin"],
        username=values["username"],
        password=values["password"],
        base_url=values.get("base_url"),
        options=options,
    )
