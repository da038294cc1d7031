"""A token file shared by the processes of one host (``uvicorn --workers N``).

The grant lock is an exclusive ``flock`` on ``<path>.lock``, tried without
blocking and retried with backoff, so a waiting client never blocks its event
loop and the lock goes away with a process that dies holding it. Saving
writes a temporary file (mode 0600) beside the token file and renames it over
the old one, so a reader sees the old token or the new one, never half of one.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread

from .._exceptions import ConfigurationError
from .._token import Token
from ._base import decode_token, poll_until, replaceable

if sys.platform != "win32":
    import fcntl
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FileTokenStore"]

# The lock files whose grant lock the current task holds: its saves are already exclusive.
_held: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "cloutility_file_locks_held", default=frozenset()
)


class FileTokenStore:
    """Keeps the token in a file (mode 0600) that clients on one host share.

    ``path`` is the token file; its directory is created (mode 0700) if
    missing, and ``<path>.lock`` is the grant lock. Use one file per client ID
    and user. Needs POSIX file locks (Linux, macOS, the BSDs).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if sys.platform == "win32":
            raise ConfigurationError("FileTokenStore needs POSIX file locks (fcntl)")
        from pathlib import Path  # with urllib.parse: not at import (5 ms)

        self.path = Path(path).expanduser().absolute()
        if not self.path.name:
            raise ConfigurationError(f"FileTokenStore needs a file path, got {path!r}")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    async def load(self) -> Token | None:
        """The token in the file, or None if there is none (or it is not a token)."""
        raw = await anyio.to_thread.run_sync(self._read)
        return decode_token(raw, str(self.path))

    async def save(self, token: Token, *, replaces: Token | None) -> bool:
        """Write ``token`` (atomically, mode 0600) unless the file holds another than
        ``replaces``; under the lock file, so processes on this host take turns."""
        if str(self.lock_path) in _held.get():
            return await anyio.to_thread.run_sync(self._save, token, replaces)
        async with self._locked():
            return await anyio.to_thread.run_sync(self._save, token, replaces)

    @asynccontextmanager
    async def grant_lock(self) -> AsyncIterator[None]:
        """Hold the lock file (``flock``) while this process renews the token."""
        async with self._locked():
            reset = _held.set(_held.get() | {str(self.lock_path)})
            try:
                yield
            finally:
                _held.reset(reset)

    # -- internals -------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        fd = await anyio.to_thread.run_sync(self._open_lock_file)
        try:

            async def attempt() -> bool:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # never blocks
                except BlockingIOError:
                    return False
                return True

            await poll_until(attempt)
            yield
        finally:
            os.close(fd)  # releases the lock, if taken

    def _open_lock_file(self) -> int:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _save(self, token: Token, replaces: Token | None) -> bool:
        if not replaceable(decode_token(self._read(), str(self.path)), replaces):
            return False
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600, whatever the umask.
        import tempfile  # with shutil, bz2, lzma: not at import (4 ms)

        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(token.to_json().encode())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            from pathlib import Path

            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)
        return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (a crash right after it keeps the new token)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
