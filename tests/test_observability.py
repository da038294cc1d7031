"""Hooks and OpenTelemetry in real sessions against the simulator, on asyncio and trio."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
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


class Recorder(Hooks):
    """Every event a client reports, in order."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def on_request_started(self, details: RequestStarted) -> None:
        self.events.append(details)

    def on_request_finished(self, details: RequestFinished) -> None:
        self.events.append(details)

    def on_retry_scheduled(self, details: RetryScheduled) -> None:
        self.events.append(details)

    def on_token_granted(self, details: TokenGranted) -> None:
        self.events.append(details)

    def on_token_refused(self, details: TokenRefused) -> None:
        self.events.append(details)

    def on_schema_drift(self, details: SchemaDrift) -> None:
        self.events.append(details)

    def of(self, kind: type[object]) -> list[object]:
        return [event for event in self.events if isinstance(event, kind)]


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
