"""Hooks and OpenTelemetry in real sessions against the simulator (and a respx portal for a
redirect), on asyncio and trio."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from fakeportal import FakePortal
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from recording import Recorder
from telemetry import Telemetry

from cloutility_async import (
    Cloutility,
    ConfigurationError,
    Hooks,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    SchemaDrift,
    TokenGranted,
    TokenRefused,
)
from cloutility_async.testing import Drift, Simulator

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc)


def drifting_simulator() -> tuple[Simulator, int, int]:
    """A simulator whose ``jobs/first`` is bogus, and a consumer (bunit, id) that has one."""
    sim = Simulator(now=NOW, drift=Drift(seed=1, rate=1.0, kinds=["first_job"]))
    world = sim.world
    consumer = next(
        c for c in world.consumers_in_tree(world.root_id) if world.first_job(c.id) is not None
    )
    return sim, consumer.bu_id, consumer.id


async def test_hooks_hear_the_grants_a_refusal_and_the_drift_of_a_session(
    anyio_backend: str,
) -> None:
    """Login, a 401 replayed with a refresh grant, a refused refresh then a password grant,
    and a drifted ``jobs/first``: each is one event, in order, without a secret."""
    sim, bunit, consumer = drifting_simulator()
    hooks = Recorder()
    async with Cloutility(**sim.client_options(), hooks=[hooks]) as api:
        sim.revoke_tokens()  # the next request is answered 401: renewed by refresh, replayed
        await api.me()
        sim.revoke_tokens(refresh_tokens=True)  # and now the refresh is refused too
        await api.me()
        await api.bunit(bunit).consumer(consumer).first_job()
        drifted = api.statistics().schema_drift
    grants = [
        (type(e).__name__, e.grant_type)  # type: ignore[attr-defined]
        for e in hooks.events
        if isinstance(e, (TokenGranted, TokenRefused))
    ]
    assert grants == [
        ("TokenGranted", "password"),
        ("TokenGranted", "refresh_token"),
        ("TokenRefused", "refresh_token"),
        ("TokenGranted", "password"),
    ]
    granted = hooks.of(TokenGranted)[0]
    assert isinstance(granted, TokenGranted)
    assert granted.expires_in == sim.token_lifetime
    assert granted.elapsed > 0
    [refused] = hooks.of(TokenRefused)
    assert isinstance(refused, TokenRefused)
    assert (refused.status, refused.error_type) == (400, "AuthenticationError")
    drift = hooks.of(SchemaDrift)
    assert drift
    assert {d.model for d in drift} == {"Job"}  # type: ignore[attr-defined]
    assert len(drift) == drifted
    secrets = [*sim.auth.tokens, *sim.auth.sessions, sim.password]
    text = repr(hooks.events)
    assert not [secret for secret in secrets if secret in text]


async def test_grants_become_spans_and_counters(anyio_backend: str, telemetry: Telemetry) -> None:
    """The OpenTelemetry SDK's in-memory exporter gets one span per grant, with its type."""
    from cloutility_async.otel import OpenTelemetryHooks

    sim = Simulator()
    hooks = OpenTelemetryHooks(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    async with Cloutility(**sim.client_options(), hooks=[hooks]) as api:
        sim.revoke_tokens()
        await api.me()
    grants = [s for s in telemetry.finished() if s.name == "cloutility.token.grant"]
    assert [dict(s.attributes or {}) for s in grants] == [
        {"cloutility.token.grant_type": "password"},
        {"cloutility.token.grant_type": "refresh_token"},
    ]
    counted = sorted(
        (str(a["cloutility.token.grant_type"]), v)
        for a, v in telemetry.points("cloutility.client.token.grants")
    )
    assert counted == [("password", 1), ("refresh_token", 1)]


async def test_a_failing_hook_never_breaks_the_session(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call still succeeds; the failure is logged once with its traceback."""

    class Broken(Hooks):
        def on_token_granted(self, details: TokenGranted) -> None:
            raise RuntimeError("bug in a hook")

    sim = Simulator()
    with caplog.at_level(logging.WARNING, "cloutility_async"):
        async with Cloutility(**sim.client_options(), hooks=[Broken()]) as api:
            for _ in range(2):
                sim.revoke_tokens()
                assert (await api.me()).href
    failures = [r for r in caplog.records if getattr(r, "event", None) == "cloutility.hook_failed"]
    assert len(failures) == 1
    assert sim.stats.grants == {"password": 1, "refresh_token": 2}


async def test_hooks_are_checked_before_any_request(anyio_backend: str) -> None:
    """A class instead of an instance is a ``ConfigurationError`` from the constructor."""
    sim = Simulator()
    with pytest.raises(ConfigurationError, match=r"pass Recorder\(\)"):
        Cloutility(**sim.client_options(), hooks=[Recorder])  # type: ignore[list-item]
    assert sim.stats.requests == {}


def timeline(events: list[object]) -> list[tuple[object, ...]]:
    """The events as short tuples; a run of drift events of one read is one entry."""
    out: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, RequestStarted):
            path = httpx.URL(event.url).path
            out.append(("started", event.method, path, event.attempt, event.resend))
        elif isinstance(event, RequestFinished):
            out.append(("finished", event.status, event.error_type))
        elif isinstance(event, RetryScheduled):
            out.append(("retry", event.retry, event.status, event.error_type))
        elif isinstance(event, TokenGranted):
            out.append(("granted", event.grant_type))
        elif isinstance(event, TokenRefused):
            out.append(("refused", event.grant_type))
        elif isinstance(event, SchemaDrift) and out[-1] != ("drift", event.model):
            out.append(("drift", event.model))
    return out


def assert_attempts_pair(events: list[object]) -> None:
    """Each attempt's end names its start; ids are unique; times are real."""
    started = [e for e in events if isinstance(e, RequestStarted)]
    finished = [e for e in events if isinstance(e, RequestFinished)]
    assert len({s.request_id for s in started}) == len(started)
    assert sorted(f.request.request_id for f in finished) == sorted(s.request_id for s in started)
    assert all(f.request in started and f.elapsed > 0 for f in finished)


async def session_with_every_event(
    api: Cloutility, sim: Simulator, bunit: int, consumer: int
) -> None:
    """A retried 503, a 401 replayed after a refresh, and a read with drift."""
    sim.faults.inject("GET /me", 503, times=1)
    await api.me()
    sim.revoke_tokens()
    await api.me()
    await api.bunit(bunit).consumer(consumer).first_job()


LOGIN = [
    ("started", "POST", "/v1/oauth", 1, None),
    ("finished", 200, None),
    ("granted", "password"),
]
RETRIED_503 = [
    ("started", "GET", "/v1/me", 1, None),
    ("finished", 503, None),
    ("retry", 1, 503, None),
    ("started", "GET", "/v1/me", 2, "retry"),
    ("finished", 200, None),
]
REPLAYED_401 = [
    ("started", "GET", "/v1/me", 1, None),
    ("finished", 401, None),
    ("started", "POST", "/v1/oauth", 1, None),
    ("finished", 200, None),
    ("granted", "refresh_token"),
    ("started", "GET", "/v1/me", 2, "replay_after_401"),
    ("finished", 200, None),
]


async def test_hooks_hear_every_event_of_a_session(anyio_backend: str) -> None:
    """Login, a retried 503, a 401 replay and a drifted read: every attempt started and
    finished, the retry, both grants and the drift, in the order they happened."""
    sim, bunit, consumer = drifting_simulator()
    hooks = Recorder()
    options = {**sim.client_options(), "backoff_base": 0.001}
    async with Cloutility(**options, hooks=[hooks]) as api:
        await session_with_every_event(api, sim, bunit, consumer)
    first_job = f"/v1/bunits/{bunit}/consumers/{consumer}/jobs/first"
    assert timeline(hooks.events) == [
        *LOGIN,
        *RETRIED_503,
        *REPLAYED_401,
        ("started", "GET", first_job, 1, None),
        ("finished", 200, None),
        ("drift", "Job"),
    ]
    assert_attempts_pair(hooks.events)
    [retry] = hooks.of(RetryScheduled)
    assert isinstance(retry, RetryScheduled)
    assert retry.url == "http://sim.test/v1/me"
    assert 0 <= retry.delay <= 0.002  # backoff_base * 2, full jitter
    started = hooks.of(RequestStarted)[0]
    assert isinstance(started, RequestStarted)
    assert (started.host, started.port) == ("sim.test", 80)
    secrets = [*sim.auth.tokens, *sim.auth.sessions, sim.password]
    assert not [secret for secret in secrets if secret in repr(hooks.events)]


async def test_a_dropped_connection_is_an_attempt_without_status_and_a_retry(
    anyio_backend: str,
) -> None:
    """Served on loopback: the failure's class names it, in the attempt's end and the retry.

    httpx's transport on both backends: aiohttp (asyncio's default) sends an idempotent
    request dropped on a reused connection once more by itself, so the SDK sees one attempt.
    """
    sim = Simulator()
    hooks = Recorder()
    with sim.serve_in_thread() as url:
        options = {
            **sim.client_options(url),
            "backoff_base": 0.001,
            "transport": httpx.AsyncHTTPTransport(),
        }
        async with Cloutility(**options, hooks=[hooks]) as api:
            sim.faults.inject("GET /me", drop=True)
            await api.me()
    assert timeline(hooks.events)[len(LOGIN) :] == [
        ("started", "GET", "/v1/me", 1, None),
        ("finished", None, "RemoteProtocolError"),
        ("retry", 1, None, "RemoteProtocolError"),
        ("started", "GET", "/v1/me", 2, "retry"),
        ("finished", 200, None),
    ]
    assert_attempts_pair(hooks.events)


async def test_a_cancelled_attempt_is_finished_as_cancelled(
    anyio_backend: str, telemetry: Telemetry
) -> None:
    """The hooks hear its end, and OpenTelemetry's span for it is ended, not left open."""
    sim = Simulator()
    hooks = Recorder()
    async with Cloutility(**sim.client_options(), hooks=[hooks, telemetry.hooks]) as api:
        sim.faults.latency_ms = 60_000
        with anyio.move_on_after(0.2) as scope:
            await api.me()
        sim.faults.latency_ms = 0
    assert scope.cancelled_caught
    assert timeline(hooks.events)[-1] == ("finished", None, "Cancelled")
    assert repr(telemetry.hooks) == "<OpenTelemetryHooks 0 spans open>"
    [span] = [s for s in telemetry.finished() if s.name == "GET"]
    assert span.attributes is not None
    assert span.attributes["error.type"] == "Cancelled"
    assert span.status.status_code == StatusCode.ERROR


async def test_a_hook_that_raises_everywhere_never_breaks_the_session(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries, replays and drift go on; each failing method is logged once."""

    class Broken(Recorder):
        """Hears each event, then raises."""

        def __init__(self) -> None:
            super().__init__()
            for name in ("on_request_started", "on_request_finished", "on_retry_scheduled",
                         "on_token_granted", "on_schema_drift"):  # fmt: skip
                setattr(self, name, self._failing(getattr(self, name)))

        def _failing(self, method: Callable[[Any], None]) -> Callable[[Any], None]:
            def fail(details: Any) -> None:
                method(details)
                raise RuntimeError("bug in a hook")

            return fail

    sim, bunit, consumer = drifting_simulator()
    broken, after = Broken(), Recorder()
    options = {**sim.client_options(), "backoff_base": 0.001}
    with caplog.at_level(logging.WARNING, "cloutility_async"):
        async with Cloutility(**options, hooks=[broken, after]) as api:
            await session_with_every_event(api, sim, bunit, consumer)
    assert broken.events == after.events  # every event reached both, in order
    failures = [r for r in caplog.records if getattr(r, "event", None) == "cloutility.hook_failed"]
    assert sorted(r.callback for r in failures) == [  # type: ignore[attr-defined]
        "on_request_finished",
        "on_request_started",
        "on_retry_scheduled",
        "on_schema_drift",
        "on_token_granted",
    ]


SIGNED_LINK = "http://sim.test/v1/me?access_token=leaked-by-a-link&view=full"


async def otel_session(telemetry: Telemetry) -> Simulator:
    """The session of every event, then a link with a credential in its query, traced."""
    sim, bunit, consumer = drifting_simulator()
    options = {**sim.client_options(), "backoff_base": 0.001}
    async with Cloutility(**options, hooks=[telemetry.hooks]) as api:
        await session_with_every_event(api, sim, bunit, consumer)
        await api.ref(SIGNED_LINK).get()
    return sim


def span_summary(span: ReadableSpan) -> tuple[object, ...]:
    attributes = dict(span.attributes or {})
    return (
        span.name,
        attributes.get("http.response.status_code"),
        attributes.get("http.request.resend_count"),
        attributes.get("error.type"),
    )


async def test_every_attempt_is_one_client_span_with_the_http_conventions(
    anyio_backend: str, telemetry: Telemetry
) -> None:
    """One CLIENT span per attempt the simulator answered, the grant spans between them,
    the stable HTTP attributes, and a redacted ``url.full``."""
    sim = await otel_session(telemetry)
    spans = telemetry.finished()
    client = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert len(client) == sum(sim.stats.statuses.values()) == 8  # faults and 401s included
    assert [span_summary(s) for s in spans] == [
        ("POST", 200, None, None),
        ("cloutility.token.grant", None, None, None),
        ("GET", 503, None, "503"),
        ("GET", 200, 1, None),
        ("GET", 401, None, "401"),
        ("POST", 200, None, None),
        ("cloutility.token.grant", None, None, None),
        ("GET", 200, 1, None),
        ("GET", 200, None, None),  # jobs/first
        ("GET", 200, None, None),  # the signed link
    ]
    replay = client[5]
    assert dict(replay.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": "http://sim.test/v1/me",
        "server.address": "sim.test",
        "server.port": 80,
        "http.response.status_code": 200,
        "http.request.resend_count": 1,
        "cloutility.resend_reason": "replay_after_401",
    }
    assert client[2].attributes is not None
    assert client[2].attributes["cloutility.resend_reason"] == "retry"
    assert client[-1].attributes is not None
    assert client[-1].attributes["url.full"] == (
        "http://sim.test/v1/me?access_token=REDACTED&view=full"
    )
    assert [s.status.status_code for s in client if s.attributes.get("error.type")] == [  # type: ignore[union-attr]
        StatusCode.ERROR,
        StatusCode.ERROR,
    ]
    # All of one trace's root: no span is left open or parented to another attempt.
    assert repr(telemetry.hooks) == "<OpenTelemetryHooks 0 spans open>"
    assert all(s.parent is None for s in spans)


async def test_requests_retries_and_grants_are_measured(
    anyio_backend: str, telemetry: Telemetry
) -> None:
    """The duration histogram counts every attempt; the counters count the retry and grants."""
    sim = await otel_session(telemetry)
    attempts = telemetry.points("http.client.request.duration")
    assert sum(count for _, count in attempts) == sum(sim.stats.statuses.values())
    by_status = {
        (a["http.request.method"], a.get("http.response.status_code")): n for a, n in attempts
    }
    assert by_status == {("POST", 200): 2, ("GET", 200): 4, ("GET", 503): 1, ("GET", 401): 1}
    assert telemetry.points("cloutility.client.retries") == [
        ({"http.request.method": "GET", "http.response.status_code": 503, "error.type": "503"}, 1)
    ]
    grants = sorted(
        (str(a["cloutility.token.grant_type"]), str(a["cloutility.token.outcome"]), n)
        for a, n in telemetry.points("cloutility.client.token.grants")
    )
    assert grants == [("password", "granted", 1), ("refresh_token", "granted", 1)]
    drift = telemetry.points("cloutility.client.schema_drift")
    assert drift
    assert {str(a["cloutility.model"]) for a, _ in drift} == {"Job"}


async def test_no_secret_in_any_span_metric_or_log_record(
    anyio_backend: str, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """Passwords, access and refresh tokens and a link's credential: in no attribute,
    span name or status, metric point, log message or log record field."""
    with caplog.at_level(logging.DEBUG, "cloutility_async"):
        sim = await otel_session(telemetry)
    seen: list[str] = []
    for span in telemetry.finished():
        seen += [span.name, str(span.status.description), repr(dict(span.attributes or {}))]
        seen += [repr(event.attributes) for event in span.events]
    for name in (
        "http.client.request.duration",
        "cloutility.client.retries",
        "cloutility.client.token.grants",
    ):
        seen += [repr(attributes) for attributes, _ in telemetry.points(name)]
    assert caplog.records
    for record in caplog.records:
        seen += [record.getMessage(), repr(vars(record))]
    text = "\n".join(seen)
    assert "REDACTED" in text  # the link was traced and logged, its credential hidden
    secrets = [*sim.auth.tokens, *sim.auth.sessions, sim.password, "leaked-by-a-link"]
    assert len(secrets) >= 5
    assert [secret for secret in secrets if secret in text] == []


async def test_a_redirect_and_a_connect_error_are_attempts_of_their_call(
    anyio_backend: str,
) -> None:
    """respx: a followed 301 is attempt 2 (``redirect``); a ``ConnectError`` is named in the
    attempt's end and in its retry, and the next attempt is a ``retry``."""
    portal = FakePortal()
    portal.route("GET", "bunits", status_code=301, headers={"Location": "/v1/bunits2"})
    portal.route("GET", "bunits2", json={"id": 22})
    portal.router.get("me").mock(
        side_effect=[httpx.ConnectError("connection refused"), httpx.Response(200, json={})]
    )
    hooks = Recorder()
    async with portal.client(hooks=[hooks]) as api:
        sender = api._port.sender()
        assert await sender.request_json("GET", "bunits") == {"id": 22}
        assert await sender.request_json("GET", "me") == {}
    assert timeline(hooks.events)[len(LOGIN) :] == [
        ("started", "GET", "/v1/bunits", 1, None),
        ("finished", 301, None),
        ("started", "GET", "/v1/bunits2", 2, "redirect"),
        ("finished", 200, None),
        ("started", "GET", "/v1/me", 1, None),
        ("finished", None, "ConnectError"),
        ("retry", 1, None, "ConnectError"),
        ("started", "GET", "/v1/me", 2, "retry"),
        ("finished", 200, None),
    ]
    assert_attempts_pair(hooks.events)
