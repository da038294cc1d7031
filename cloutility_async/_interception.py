"""Is a mocking library intercepting httpx right now (respx, pytest-httpx)?

Such libraries patch httpx's own transport (pytest-httpx) or httpcore's connection
pool under it (respx).  The aiohttp transport the client uses by default on asyncio
goes around both, so a test that mocks with ``respx.mock`` would pass on trio and
reach the network on asyncio.  While one is active the client picks httpx's
transport instead, so the mock sees every request on both backends.

httpcore is never imported here: it imports trio whenever trio is installed
(about a third of ``import cloutility_async``), and a library that patches it
has imported it already.
"""

from __future__ import annotations

import sys

import httpx

__all__ = ["httpx_is_intercepted"]


def httpx_is_intercepted() -> bool:
    """True while something has replaced httpx's or httpcore's async request method."""
    transport = httpx.AsyncHTTPTransport.handle_async_request
    if getattr(transport, "__module__", None) != "httpx._transports.default":
        return True
    httpcore = sys.modules.get("httpcore")
    if httpcore is None:  # not imported yet, so not patched either
        return False
    pool = httpcore.AsyncConnectionPool.handle_async_request
    return getattr(pool, "__module__", None) != "httpcore._async.connection_pool"
