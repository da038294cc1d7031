"""H11Transport at the edges a bulk run meets: many files open, a read without a timeout.

Both backends, against the loopback server of ``tests.rawserver``.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx
import pytest

from cloutility_async._h11_transport import H11Transport
from tests.rawserver import RawServer, Received, Reply

pytestmark = pytest.mark.anyio


async def ok(received: Received) -> Reply:
    return Reply(body=b"ok")


@contextmanager
def files_open(count: int) -> Iterator[None]:
    """``count`` descriptors more in use (the soft limit raised for them), so that every
    socket opened meanwhile has a number above them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(count)]
    try:
        yield
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_connection_numbered_above_1024_is_reused() -> None:
    """``select`` refuses descriptors from 1024 on: a process with many files open (a
    server, a run of 1,000 in flight) must still keep its connections alive."""
    with files_open(1100):
        async with (
            RawServer(ok) as server,
            httpx.AsyncClient(transport=H11Transport(), base_url=server.base_url) as client,
        ):
            for _ in range(3):
                assert (await client.get("x")).content == b"ok"
    assert server.connections == 1


async def test_no_read_timeout_is_not_the_write_timeout() -> None:
    """``read=None`` with a write timeout: a slow answer is waited for; the write's
    deadline ends with the write."""

    async def slow(received: Received) -> Reply:
        await anyio.sleep(0.3)
        return Reply(body=b"late")

    timeout = httpx.Timeout(5.0, write=0.1, read=None)
    async with (
        RawServer(slow) as server,
        httpx.AsyncClient(
            transport=H11Transport(), base_url=server.base_url, timeout=timeout
        ) as client,
    ):
        assert (await client.get("x")).content == b"late"
