"""A followed link's credentials (``?access_token=``, ``refresh_token``, ``password``...)
are sent, but never reachable from the error a request to it raises.

Portal links may be signed with a token in their query. The request goes out with
the link as it is; the error of any failure on it (its ``url``, message, args,
str and repr, chain, attributes, headers, notes and formatted traceback: the
walk of ``test_secrets``) reads the value ``REDACTED``, as the log records do,
and so does the repr of the proxy made of the link.

Unlike the bearer token, a link is held by the caller's own frames (and, while
it is sent, by the SDK's, as the URL it sends): a traceback formatted with the
locals of every frame shows it, as it shows any of the caller's variables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from cloutility_async import (
    APIError,
    ClientStateError,
    Cloutility,
    CloutilityError,
    DecodeError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
)
from tests.rawserver import DROP, STALL, Action, RawServer, Received, Reply
from tests.test_secrets import MARKER, Portal, client_for, reachable_texts

pytestmark = pytest.mark.anyio

# Every query name the log records redact that a link could carry a credential in.
SECRET_QUERY = (
    "access_token=at-SECRET-link",
    "refresh_token=rt-SECRET-link",
    "password=pw-SECRET-link",
    "X-Amz-Signature=sig-SECRET-link",
)
QUERY = "&".join(("view=full", *SECRET_QUERY))


def quoting_the_target(status: int) -> Callable[[Portal, Received], Action]:
    """An error whose message (and a header) repeat the request's target, secrets and all."""

    def route(portal: Portal, request: Received) -> Action:
        body = Reply.json({"message": f"nothing at {request.target}"}, status).body
        headers = (("Content-Type", "application/json"), ("Content-Location", request.target))
        return Reply(status, body, headers)

    return route


ROUTES: dict[str, tuple[Callable[[Portal, Received], Action], type[CloutilityError]]] = {
    "404-quoting-the-link": (quoting_the_target(404), NotFoundError),
    "500-quoting-the-link": (quoting_the_target(500), ServerError),
    "418-unmapped-status": (quoting_the_target(418), APIError),
    "dropped": (lambda p, r: DROP, TransportError),
    "timed-out": (lambda p, r: STALL, RequestTimeoutError),
    "not-json": (lambda p, r: Reply(200, b"<html>" + r.target.encode()), DecodeError),
    "wrong-shape": (lambda p, r: Reply.json([r.target]), DecodeError),
}


async def get_link(api: Cloutility, link: str) -> None:
    async with api:
        await api.ref(link).get()


async def close_while_in_flight(api: Cloutility, link: str) -> None:
    async def close_soon() -> None:
        await anyio.sleep(0.2)
        await api.aclose()

    async with api:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(close_soon)
            try:
                await api.ref(link).get()
            except ClientStateError as exc:
                failure = exc
        assert failure is not None
        raise failure


async def run(
    route: Callable[[Portal, Received], Action],
    action: Callable[[Cloutility, str], Awaitable[None]] = get_link,
    link: Callable[[str], str] = lambda base: f"{base}me?{QUERY}",
) -> tuple[BaseException, RawServer]:
    async with RawServer(Portal(routes={"me": route})) as server:
        api = client_for(server, timeout=0.5, max_retries=1, backoff_base=0)
        try:
            await action(api, link(server.base_url))
        except Exception as exc:
            return exc, server
    raise AssertionError("the link's request raised nothing")


def assert_nothing_secret_reachable(error: BaseException) -> None:
    leaks = [text for text in reachable_texts(error, with_locals=False) if MARKER in text]
    assert not leaks, f"a link's secret is reachable from {error!r}: {leaks[0][:2000]}"


def assert_redacted_url(error: CloutilityError, base: str) -> None:
    assert error.url is not None
    assert error.url.startswith(f"{base}me?view=full&")
    for pair in SECRET_QUERY:
        name = pair.partition("=")[0]
        assert f"{name}=REDACTED" in error.url


@pytest.mark.parametrize("name", list(ROUTES))
async def test_an_error_on_a_signed_link_holds_no_secret_of_it(name: str) -> None:
    """Status, network, timeout and decode errors name the link with its secrets REDACTED."""
    route, expected = ROUTES[name]
    error, server = await run(route)
    assert type(error) is expected, repr(error)
    assert isinstance(error, CloutilityError)
    assert_redacted_url(error, server.base_url)
    assert "access_token=REDACTED" in str(error)
    assert_nothing_secret_reachable(error)
    # ... while the request went out with the link as it was given.
    sent = server.requests_to("/v1/me")
    assert sent
    assert all(r.target.endswith(QUERY) for r in sent)


async def test_closing_under_a_signed_links_request_names_it_redacted() -> None:
    """The ClientStateError of a client closed under the request names the link REDACTED."""
    error, server = await run(lambda p, r: STALL, close_while_in_flight)
    assert isinstance(error, ClientStateError), repr(error)
    assert_redacted_url(error, server.base_url)
    assert_nothing_secret_reachable(error)


@pytest.mark.parametrize(
    "link",
    [
        lambda base: f"http://elsewhere.example/v1/me?{QUERY}",
        lambda base: f"{base}../me?{QUERY}",
        lambda base: f"{base}me/./x?{QUERY}",
    ],
    ids=["another-origin", "outside-the-base", "dot-segments"],
)
async def test_a_refused_signed_link_is_named_redacted(link: Callable[[str], str]) -> None:
    """The ValidationError of a link the SDK will not follow quotes it REDACTED."""

    async def follow(api: Cloutility, url: str) -> None:
        async with api:
            api.ref(url)

    error, server = await run(lambda p, r: Reply.json({}), follow, link)
    assert isinstance(error, ValidationError), repr(error)
    assert "access_token=REDACTED" in str(error)
    assert_nothing_secret_reachable(error)
    assert not server.requests_to("/me")


async def test_a_proxy_of_a_signed_link_reprs_it_redacted() -> None:
    """The repr of ``api.ref(link)`` names the link REDACTED; its href is the link itself."""
    async with RawServer(Portal()) as server, client_for(server) as api:
        ref = api.ref(f"{server.base_url}me?{QUERY}")
        assert repr(ref).startswith(f"<ResourceRef {server.base_url}me?view=full&access_token=RED")
        assert MARKER not in repr(ref)
        assert str(ref.href).endswith(QUERY)


def test_a_model_with_a_signed_href_reprs_it_redacted() -> None:
    """A model's repr shows a credential in its href's query REDACTED; the href is kept."""
    from cloutility_async import User

    href = "https://h.example/v1/me?access_token=at-SECRET-2&view=full"
    user = User(href=href, name="x?password=pw-SECRET-3")
    assert repr(user) == (
        "User(href='https://h.example/v1/me?access_token=REDACTED&view=full',"
        " name='x?password=REDACTED')"
    )
    assert user.href == href


def test_an_error_made_with_a_signed_url_keeps_it_redacted() -> None:
    """Any error built with a URL (a user's subclass, the SDK's own) reads it redacted, and
    the link's secret values are masked in its message and server message too."""
    link = "https://h.example/v1/me?access_token=at-SECRET-1&a=b"
    errors: list[Any] = [
        CloutilityError(f"failed at {link}", method="GET", url=link, server_message=link),
        NotFoundError("gone", method="GET", url=link, status=404, headers=None),
    ]
    for error in errors:
        assert error.url == "https://h.example/v1/me?access_token=REDACTED&a=b"
        assert_nothing_secret_reachable(error)
    assert errors[0].message == "failed at https://h.example/v1/me?access_token=REDACTED&a=b"


@pytest.mark.parametrize(
    "path", ["bunits/22", "bunits/22/consumers/408", "bunits/22/consumers/408/node", "timezones/5"]
)
async def test_a_signed_link_to_a_route_of_ids_is_sent_with_its_query(path: str) -> None:
    """The proxy of a business unit's, consumer's, node's or time zone's link keeps the
    link's query: its href is the link, not one rebuilt from the ids in its path."""
    portal = Portal(routes={path: lambda p, r: Reply.json({"id": 5})})
    async with RawServer(portal) as server, client_for(server) as api:
        ref = api.ref(f"{server.base_url}{path}?{QUERY}")
        assert str(ref.href) == f"{server.base_url}{path}?{QUERY}"
        await ref.get()
    [sent] = server.requests_to(path)
    assert sent.target == f"/v1/{path}?{QUERY}"
