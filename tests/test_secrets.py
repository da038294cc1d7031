"""No secret is reachable from any error: chains, attributes, tracebacks with locals, logs.

Error reporters (Sentry, structlog, ``traceback`` with ``capture_locals``) walk an
exception's ``__cause__``/``__context__`` chain, its attributes and the locals of
its frames. Every error kind the SDK raises during grants, refreshes, dropped
connections and timeouts is walked here, over real sockets with the default
transports (aiohttp on asyncio, the h11 one on trio), and none of the password,
the access tokens or the refresh token may turn up. Every secret carries the
marker ``SECRET``, so a partial or re-encoded copy is found too.
"""

from __future__ import annotations

import logging
import traceback
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import anyio
import pytest

from cloutility_async import (
    APIError,
    AuthenticationError,
    ClientStateError,
    Cloutility,
    CloutilityError,
    DecodeError,
    ServerError,
    TransportError,
)
from tests.rawserver import DROP, STALL, Action, RawServer, Received, Reply, wait_until

pytestmark = pytest.mark.anyio

MARKER = "SECRET"
PASSWORD = "pw-SECRET-7f3a9c"
REFRESH = "rt-SECRET-e29c"
CLIENT_ID = "5b0c7d4e-0000-4000-8000-000000000001"
ORIGIN = "https://app.example"


def access_token(n: int) -> str:
    return f"at-{MARKER}-{n}-b41d"


# -- what the portal does wrong ------------------------------------------------------


def _quoting(form: dict[str, str]) -> str:
    return f"refused password={form.get('password')} refresh={form.get('refresh_token')}"


GRANT_FAULTS: dict[str, Callable[[dict[str, str], int], Action]] = {
    # A refusal that quotes what was sent, as a careless server might.
    "refused": lambda form, n: Reply.json(
        {"error": "invalid_grant", "error_description": _quoting(form)}, 400
    ),
    "error500": lambda form, n: Reply(
        500, _quoting(form).encode(), (("Content-Type", "text/html"),)
    ),
    "drop": lambda form, n: DROP,
    "stall": lambda form, n: STALL,
    "no-access-token": lambda form, n: Reply.json({"refresh_token": REFRESH, "expires_in": 299}),
    "truncated": lambda form, n: Reply(
        200, f'{{"access_token": "{access_token(n)}", "refresh_token": "{REFRESH}"'.encode()
    ),
    "bad-expires-in": lambda form, n: Reply.json(
        {"access_token": access_token(n), "refresh_token": REFRESH, "expires_in": "soon"}
    ),
    "bad-gzip": lambda form, n: Reply(
        200,
        b"\x1f\x8b\x08\x00" + f'{{"access_token": "{access_token(n)}"}}'.encode(),
        (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
    ),
    "deep-json": lambda form, n: Reply(200, b"[" * 100_000 + access_token(n).encode()),
    "header-breaking-token": lambda form, n: Reply.json(
        {"access_token": f"{access_token(n)}\r\nX-Evil: 1", "refresh_token": REFRESH}
    ),
}


class Portal:
    """OAuth plus a few routes; grants from number ``fault_from`` on answer ``grant_fault``."""

    def __init__(
        self,
        *,
        grant_fault: str | None = None,
        fault_from: int = 0,
        routes: Mapping[str, Callable[[Portal, Received], Action]] | None = None,
        lifetime: float = 299,
    ) -> None:
        self.grant_fault = grant_fault
        self.fault_from = fault_from
        self.routes = dict(routes or {})
        self.lifetime = lifetime
        self.grants = 0

    async def __call__(self, request: Received) -> Action:
        path = request.path.removeprefix("/v1/")
        if path == "oauth":
            n = self.grants
            self.grants += 1
            if self.grant_fault is not None and n >= self.fault_from:
                return GRANT_FAULTS[self.grant_fault](request.form(), n)
            return Reply.json(
                {
                    "access_token": access_token(n),
                    "token_type": "bearer",
                    "expires_in": self.lifetime,
                    "refresh_token": REFRESH,
                }
            )
        route = self.routes.get(path)
        return route(self, request) if route else Reply.json("1.0")


def refuse_the_first_token(portal: Portal, request: Received) -> Action:
    """401 for the login's token, so the client must renew it (a refresh grant)."""
    if request.headers.get("authorization") == f"Bearer {access_token(0)}":
        return Reply.json({"message": "Authorization has been denied for this request."}, 401)
    return Reply.json("1.0")


def echo_authorization(status: int) -> Callable[[Portal, Received], Action]:
    def route(portal: Portal, request: Received) -> Action:
        return Reply.json({"message": f"denied: {request.headers.get('authorization')}"}, status)

    return route


# -- what the caller does ------------------------------------------------------------


async def enter(api: Cloutility) -> None:
    async with api:
        pass


async def get_version(api: Cloutility) -> None:
    async with api:
        await api.full_version()


async def create_consumer(api: Cloutility) -> None:
    async with api:
        await api.bunit(22).create_consumer(name="x")


async def get_within_deadline(api: Cloutility) -> None:
    async with api:
        with anyio.fail_after(0.3):
            await api.full_version()


async def enter_within_deadline(api: Cloutility) -> None:
    with anyio.fail_after(0.3):
        async with api:
            pass


async def close_from_another_task_while_in_flight(api: Cloutility) -> None:
    async def close_soon() -> None:
        await anyio.sleep(0.2)
        await api.aclose()

    async with api:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(close_soon)
            try:
                await api.full_version()
            except ClientStateError as exc:
                failure = exc
        assert failure is not None
        raise failure


Scenario = tuple[dict[str, Any], Callable[[Cloutility], Awaitable[None]], type[BaseException]]

_GRANT_ERRORS: dict[str, type[BaseException]] = {
    "refused": AuthenticationError,
    "error500": ServerError,
    "drop": TransportError,
    "stall": TransportError,
}

SCENARIOS: dict[str, Scenario] = {
    **{
        f"login-{fault}": (
            {"grant_fault": fault},
            enter,
            _GRANT_ERRORS.get(fault, DecodeError),
        )
        for fault in GRANT_FAULTS
    },
    **{
        f"refresh-{fault}": (
            {
                "grant_fault": fault,
                "fault_from": 1,
                "routes": {"fullVersion": refuse_the_first_token},
            },
            get_version,
            _GRANT_ERRORS.get(fault, DecodeError),
        )
        for fault in GRANT_FAULTS
    },
    "get-dropped": ({"routes": {"fullVersion": lambda p, r: DROP}}, get_version, TransportError),
    "post-dropped": (
        {"routes": {"bunits/22/consumers": lambda p, r: DROP}},
        create_consumer,
        TransportError,
    ),
    "get-timed-out": ({"routes": {"fullVersion": lambda p, r: STALL}}, get_version, TransportError),
    "401-quoting-the-bearer": (
        {"routes": {"fullVersion": echo_authorization(401)}},
        get_version,
        AuthenticationError,
    ),
    "500-quoting-the-bearer": (
        {"routes": {"fullVersion": echo_authorization(500)}},
        get_version,
        ServerError,
    ),
    "callers-deadline-on-a-request": (
        {"routes": {"fullVersion": lambda p, r: STALL}},
        get_within_deadline,
        TimeoutError,
    ),
    "callers-deadline-on-the-login": (
        {"grant_fault": "stall"},
        enter_within_deadline,
        TimeoutError,
    ),
    "closed-while-in-flight": (
        {"routes": {"fullVersion": lambda p, r: STALL}},
        close_from_another_task_while_in_flight,
        ClientStateError,
    ),
}


# -- the walk ------------------------------------------------------------------------

_OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
)


def _children(obj: object) -> Iterator[object]:
    if isinstance(obj, BaseException):
        yield obj.__cause__
        yield obj.__context__
        yield from obj.args
        yield from getattr(obj, "__notes__", ())
        yield from getattr(obj, "exceptions", ())
    if isinstance(obj, Mapping):
        for key in list(obj):
            yield key
            yield obj[key]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        yield from state.values()
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if isinstance(slot, str) and slot not in ("__dict__", "__weakref__"):
                yield getattr(obj, slot, None)


def reachable_texts(error: BaseException, *, with_locals: bool = True) -> Iterator[str]:
    """Every text an error reporter can get from ``error``.

    The object graph from the exception (chain, args, notes, attributes,
    items; objects followed through their attributes and slots), then the
    formatted tracebacks, plain and (``with_locals``) with the locals of every frame.
    """
    seen: set[int] = set()
    pending: list[tuple[object, int]] = [(error, 0)]
    while pending and len(seen) < 50_000:
        obj, depth = pending.pop()
        if obj is None or id(obj) in seen or isinstance(obj, _OPAQUE) or depth > 12:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield obj
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            yield bytes(obj).decode("latin-1")
            continue
        if isinstance(obj, (int, float, complex)):
            continue
        try:
            yield repr(obj)
            yield str(obj)
        except Exception as exc:  # a broken repr is not our concern here
            yield type(exc).__name__
        pending.extend((child, depth + 1) for child in _children(obj))
    yield "".join(traceback.format_exception(error))
    if with_locals:
        yield "".join(
            traceback.TracebackException.from_exception(error, capture_locals=True).format()
        )


def client_for(server: RawServer, **options: Any) -> Cloutility:
    return Cloutility(
        client_id=CLIENT_ID,
        origin=ORIGIN,
        username="alice",
        password=PASSWORD,
        base_url=server.base_url,
        **options,
    )


async def run(scenario: Scenario) -> tuple[BaseException, RawServer]:
    """Run a scenario against the raw portal; the error it raised and the server."""
    options, action, _ = scenario
    async with RawServer(Portal(**options)) as server:
        deadline_is_the_callers = action in (get_within_deadline, enter_within_deadline)
        api = client_for(
            server, timeout=30 if deadline_is_the_callers else 0.5, max_retries=1, backoff_base=0
        )
        try:
            await action(api)
        except Exception as exc:
            return exc, server
    raise AssertionError("the scenario raised nothing")


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_no_secret_is_reachable_from_the_error(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole chain, attributes and tracebacks (with locals) of the error hold no secret."""
    caplog.set_level(logging.DEBUG)
    error, server = await run(SCENARIOS[name])
    expected = SCENARIOS[name][2]
    assert isinstance(error, expected), repr(error)
    if isinstance(error, CloutilityError):
        assert error.__cause__ is None
        assert error.__context__ is None
        assert error.method is not None
        assert error.url is not None
        assert error.url.startswith(server.base_url)
    if isinstance(error, APIError):
        assert error.status is not None
    leaks = [text for text in reachable_texts(error) if MARKER in text]
    assert not leaks, f"{name}: a secret is reachable from {error!r}: {leaks[0][:2000]}"
    assert MARKER not in caplog.text


async def test_the_portal_quoting_secrets_is_redacted_not_dropped() -> None:
    """A refused grant still says what the server said, with the secrets as ***."""
    error, _ = await run(SCENARIOS["login-refused"])
    assert isinstance(error, AuthenticationError)
    assert error.message == "refused password=*** refresh=None"
    assert error.error == "invalid_grant"
    assert error.status == 400


@pytest.mark.parametrize("fault", ["refused", "truncated", "drop"])
async def test_failed_proactive_refreshes_log_no_secret(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The refresher logs each failed renewal (WARNING), never with a secret in it."""
    caplog.set_level(logging.DEBUG)
    portal = Portal(grant_fault=fault, fault_from=1, lifetime=1.0)
    async with RawServer(portal) as server, client_for(server, timeout=0.5, max_retries=0):
        assert await wait_until(lambda: "token_refresh_failed" in caplog.text)
    assert "cloutility.token_refresh_failed" in caplog.text
    assert MARKER not in caplog.text
