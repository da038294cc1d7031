"""An error's headers show that a credential was sent or set, never the credential.

``APIError.headers`` are the answer's headers, for the request id, ``Retry-After``
and the like. A session cookie the server sets (``Set-Cookie``), a ``Cookie`` or
``Authorization`` it echoes and a challenge's token (``WWW-Authenticate: Negotiate
<token>``) are credentials: the error keeps each header's name and masks its
value as the log records do (``session=***; Path=/``, ``Bearer ***``,
``Negotiate ***``), in the headers and anything reachable from the error (the walk
of ``test_secrets``: args, str, repr, chain, pickled copies). Over real sockets
with the default transports (aiohttp on asyncio, the h11 one on trio).
"""

from __future__ import annotations

import copy
import logging
import pickle

import httpx
import pytest

from cloutility_async import (
    APIError,
    AuthenticationError,
    Cloutility,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
)
from cloutility_async._records import redact_header, redact_headers
from tests.rawserver import RawServer, Received, Reply
from tests.test_secrets import MARKER, Portal, client_for, reachable_texts

pytestmark = pytest.mark.anyio

# What a careless (or a session-keeping) portal answers with, each value secret.
CREDENTIAL_HEADERS = (
    ("Set-Cookie", f"ASP.NET_SessionId=sid-{MARKER}-1; Path=/; HttpOnly"),
    ("Set-Cookie", f"refresh=rf-{MARKER}-2; Secure"),
    ("Cookie", f"a=ck-{MARKER}-3; b=ck-{MARKER}-4"),
    ("Authorization", f"Bearer echo-{MARKER}-5"),
    ("Proxy-Authorization", f"Basic px-{MARKER}-6"),
    ("WWW-Authenticate", f'Negotiate neg{MARKER}7+/==, Bearer realm="api", error="invalid_token"'),
    ("Proxy-Authenticate", f"NTLM ntlm{MARKER}8"),
)

MASKED = [
    ("set-cookie", "ASP.NET_SessionId=***; Path=/; HttpOnly"),
    ("set-cookie", "refresh=***; Secure"),
    ("cookie", "a=***; b=***"),
    ("authorization", "Bearer ***"),
    ("proxy-authorization", "Basic ***"),
    ("www-authenticate", 'Negotiate ***, Bearer realm="api", error="invalid_token"'),
    ("proxy-authenticate", "NTLM ***"),
]


def answering(status: int) -> Reply:
    return Reply(
        status,
        b'{"message": "no"}',
        (
            ("Content-Type", "application/json"),
            ("X-Request-Id", "req-1"),
            *CREDENTIAL_HEADERS,
        ),
    )


def assert_masked(error: APIError) -> None:
    items = error.headers.multi_items()
    assert [item for item in items if item[0] not in ("content-type", "x-request-id")][
        : len(MASKED)
    ] == MASKED
    assert error.request_id == "req-1"  # other headers are kept as they came
    leaks = [text for text in reachable_texts(error, with_locals=False) if MARKER in text]
    assert not leaks, f"a credential header is reachable from {error!r}: {leaks[0][:2000]}"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)],
)
async def test_an_api_errors_credential_headers_are_masked(
    status: int, expected: type[APIError], caplog: pytest.LogCaptureFixture
) -> None:
    """Status errors keep the names of credential headers, never their values."""
    caplog.set_level(logging.DEBUG)

    def route(portal: Portal, request: Received) -> Reply:
        return answering(status)

    async with (
        RawServer(Portal(routes={"fullVersion": route})) as server,
        client_for(server, max_retries=0) as api,
    ):
        with pytest.raises(APIError) as info:
            await api.full_version()
    assert type(info.value) is expected
    assert_masked(info.value)
    for clone in (pickle.loads(pickle.dumps(info.value)), copy.copy(info.value)):
        assert_masked(clone)
    assert MARKER not in caplog.text


async def test_a_server_errors_headers_are_masked_after_retries() -> None:
    """A 5xx that stays one through the retries: the last answer's headers, masked."""

    def route(portal: Portal, request: Received) -> Reply:
        return answering(503)

    async with (
        RawServer(Portal(routes={"fullVersion": route})) as server,
        client_for(server, max_retries=1, backoff_base=0) as api,
    ):
        with pytest.raises(ServerError) as info:
            await api.full_version()
    assert_masked(info.value)


async def test_a_refused_grants_credential_headers_are_masked() -> None:
    """The AuthenticationError of a refused login (a 400 re-raised) masks them too."""

    async def portal(request: Received) -> Reply:
        reply = answering(400)
        return Reply(400, b'{"error": "invalid_grant"}', reply.headers)

    async with RawServer(portal) as server:
        api: Cloutility = client_for(server, max_retries=0)
        with pytest.raises(AuthenticationError) as info:
            async with api:
                pass
    assert info.value.error == "invalid_grant"
    assert_masked(info.value)


def test_an_error_built_with_credential_headers_masks_them() -> None:
    """Any APIError built with headers (a user's subclass, a test's) masks them as made."""
    error = APIError("no", headers=httpx.Headers(CREDENTIAL_HEADERS), status=401)
    names = [name for name, _ in error.headers.multi_items()]
    assert names == [name.lower() for name, _ in CREDENTIAL_HEADERS]
    assert error.headers.multi_items() == MASKED
    assert MARKER not in repr(error.headers)
    assert all(MARKER not in str(arg) for arg in error.args)


def test_headers_without_credentials_are_kept_as_they_are() -> None:
    """The usual error's headers are the answer's own object, untouched (nothing to mask)."""
    headers = httpx.Headers({"X-Request-Id": "r", "WWW-Authenticate": 'Bearer realm="api"'})
    assert APIError("no", headers=headers).headers.multi_items() == headers.multi_items()
    plain = httpx.Headers({"X-Request-Id": "r", "Retry-After": "3"})
    assert APIError("no", headers=plain).headers is plain


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("authorization", "Bearer abc", "Bearer ***"),
        ("authorization", "opaque", "***"),
        ("cookie", "sid=1", "sid=***"),
        ("cookie", "sid=1;theme=dark", "sid=***; theme=***"),
        ("set-cookie", "sid=1; Path=/; Max-Age=60", "sid=***; Path=/; Max-Age=60"),
        ("set-cookie", "opaque", "***"),
        ("www-authenticate", "Negotiate YII=", "Negotiate ***"),
        ("www-authenticate", 'Basic realm="a, b c"', 'Basic realm="a, b c"'),
        ("www-authenticate", 'Bearer error="invalid_token"', 'Bearer error="invalid_token"'),
        ("x-request-id", "Bearer abc", "Bearer abc"),
    ],
)
def test_one_header_value_as_shown(name: str, value: str, shown: str) -> None:
    """The one rule errors and log records share: names kept, credentials masked."""
    assert redact_header(name, value) == shown
    assert redact_headers({name.title(): value}) == {name.title(): shown}


@pytest.mark.parametrize("cookie", [True, False])
async def test_a_non_ascii_header_keeps_the_error(cookie: bool) -> None:
    """A header value outside ASCII (Latin-1 on the wire, as HTTP allows), with or
    without a Set-Cookie to mask: the error is the API's, its headers rebuilt in the
    answer's encoding (the masking and the scrub of the bearer both re-encoded them as
    ASCII: a UnicodeEncodeError instead of the NotFoundError)."""
    set_cookie = (("Set-Cookie", f"sid=sid-{MARKER}; Path=/"),) if cookie else ()

    def route(portal: Portal, request: Received) -> Reply:
        return Reply(
            404,
            b'{"message": "no"}',
            (
                ("Content-Type", "application/json"),
                ("Content-Disposition", 'attachment; filename="r\u00e9sum\u00e9.csv"'),
                *set_cookie,
            ),
        )

    async with (
        RawServer(Portal(routes={"fullVersion": route})) as server,
        client_for(server, max_retries=0) as api,
    ):
        with pytest.raises(NotFoundError) as info:
            await api.full_version()
    headers = info.value.headers
    assert headers["content-disposition"] == 'attachment; filename="r\u00e9sum\u00e9.csv"'
    assert headers.get("set-cookie") == ("sid=***; Path=/" if cookie else None)
