"""The ``CLOUTILITY_LOG`` switch: ``debug``, ``info`` or ``warning`` turns on a stderr handler.

Like ``OPENAI_LOG``: the SDK logs to the ``cloutility_async`` logger and, as a library,
adds no handler of its own unless asked. ``CLOUTILITY_LOG`` (read once, when the
package is imported) or :func:`setup_logging` adds exactly one handler that writes to
whatever ``sys.stderr`` is at the time of each record, so an application's own
logging configuration is left alone. Its formatter masks anything that looks like a
bearer token, password or token field, on top of the redaction the SDK does itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

from ._exceptions import ConfigurationError

__all__ = ["ENV_VAR", "LEVELS", "logging_to_stderr", "setup_logging", "setup_logging_from_env"]

ENV_VAR = "CLOUTILITY_LOG"
LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
}
LOGGER_NAME = "cloutility_async"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_SECRETS = (
    re.compile(r"(?i)(\bbearer\s+)(?!\*\*\*)[^\s,'\"}]+"),
    re.compile(
        r"(?i)(\b(?:password|access_token|refresh_token)[\"']?\s*[:=]\s*[\"']?)"
        r"(?!\*\*\*)[^\s&,'\"}]+"
    ),
)


class _RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks secret-looking values in the whole text."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for pattern in _SECRETS:
            text = pattern.sub(r"\1***", text)
        return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (pytest's capture, a redirected stream)."""

    def __init__(self, level: int) -> None:
        logging.Handler.__init__(self, level)
        self.setFormatter(_RedactingFormatter(FORMAT))

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def _level(name: str) -> int:
    level = LEVELS.get(name.strip().lower())
    if level is None:
        known = ", ".join(LEVELS)
        raise ConfigurationError(f"{ENV_VAR} must be one of {known}, got {name!r}")
    return level


def _installed(logger: logging.Logger) -> _StderrHandler | None:
    return next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)


def setup_logging(
    level: str | None = None, *, environ: Mapping[str, str] | None = None
) -> logging.Handler | None:
    """Send the SDK's records at ``level`` and above to stderr.

    ``level`` is ``"debug"``, ``"info"`` or ``"warning"``; ``None`` reads
    ``CLOUTILITY_LOG`` and does nothing when it is unset or empty. Calling it again
    changes the level of the one handler instead of adding another. Returns the
    handler, or ``None`` when logging stays off.

    Raises:
        ConfigurationError: for a level that is not one of those three.
    """
    if level is None:
        level = (os.environ if environ is None else environ).get(ENV_VAR, "")
        if not level.strip():
            return None
    number = _level(level)
    logger = logging.getLogger(LOGGER_NAME)
    handler = _installed(logger)
    if handler is None:
        handler = _StderrHandler(number)
        logger.addHandler(handler)
    handler.setLevel(number)
    logger.setLevel(number)
    return handler


def setup_logging_from_env() -> None:
    """At import: apply ``CLOUTILITY_LOG``; a bad value is reported, never raised."""
    try:
        setup_logging()
    except ConfigurationError as exc:
        logging.getLogger(LOGGER_NAME).warning(
            "%s; logging stays off", exc, extra={"event": "cloutility.log_level_invalid"}
        )


@contextlib.contextmanager
def logging_to_stderr(level: str) -> Iterator[logging.Handler | None]:
    """:func:`setup_logging` for the duration of a block (the CLI's ``--debug``), then
    the logger's handlers and level as they were."""
    logger = logging.getLogger(LOGGER_NAME)
    previous = _installed(logger)
    previous_level = None if previous is None else previous.level
    logger_level = logger.level
    handler = setup_logging(level)
    try:
        yield handler
    finally:
        if previous is None and handler is not None:
            logger.removeHandler(handler)
        elif previous is not None and previous_level is not None:
            previous.setLevel(previous_level)
        logger.setLevel(logger_level)
