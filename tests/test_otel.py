"""OpenTelemetryHooks alone: what the SDK's in-memory exporter and reader get for each event."""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry.trace import SpanKind, StatusCode
from telemetry import Telemetry

from cloutility_async import (
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    SchemaDrift,
    TokenGranted,
    TokenRefused,
)
from cloutility_async.otel import INSTRUMENTATION_NAME, OpenTelemetryHooks


def started(request_id: int, attempt: int = 1, method: str = "GET") -> RequestStarted:
    return RequestStarted(
        request_id=request_id,
        method=method,
        url="https://portal.example:8443/v1/consumers/7?token=REDACTED",
        host="portal.example",
        port=8443,
        attempt=attempt,
    )


def test_an_answered_attempt_is_one_client_span_with_the_http_conventions(
    telemetry: Telemetry,
) -> None:
    """Name, kind, method, full URL, server address and port, status; no resend count."""
    start = started(1)
    telemetry.hooks.on_request_started(start)
    assert telemetry.finished() == []  # open while the attempt is in flight
    telemetry.hooks.on_request_finished(RequestFinished(request=start, status=200, elapsed=0.02))
    [span] = telemetry.finished()
    assert (span.name, span.kind, span.status.status_code) == (
        "GET",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": "https://portal.example:8443/v1/consumers/7?token=REDACTED",
        "server.address": "portal.example",
        "server.port": 8443,
        "http.response.status_code": 200,
    }
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == INSTRUMENTATION_NAME
    assert telemetry.points("http.client.request.duration") == [
        (
            {
                "http.request.method": "GET",
                "server.address": "portal.example",
                "server.port": 8443,
                "http.response.status_code": 200,
            },
            1,
        )
    ]


def test_a_resent_attempt_that_failed_has_its_resend_count_and_error_type(
    telemetry: Telemetry,
) -> None:
    """A 503 is an error by its status; a network failure by its class; both resends counted."""
    first, second = started(1, attempt=2), started(2, attempt=3)
    telemetry.hooks.on_request_started(first)
    telemetry.hooks.on_request_started(second)
    telemetry.hooks.on_request_finished(
        RequestFinished(request=second, status=None, elapsed=0.1, error_type="ConnectError")
    )
    telemetry.hooks.on_request_finished(RequestFinished(request=first, status=503, elapsed=0.1))
    by_resend = {
        span.attributes["http.request.resend_count"]: span for span in telemetry.finished()
    }  # type: ignore[index]
    assert by_resend[1].attributes["error.type"] == "503"  # type: ignore[index]
    assert by_resend[1].attributes["http.response.status_code"] == 503  # type: ignore[index]
    assert by_resend[2].attributes["error.type"] == "ConnectError"  # type: ignore[index]
    assert "http.response.status_code" not in by_resend[2].attributes  # type: ignore[operator]
    assert {span.status.status_code for span in by_resend.values()} == {StatusCode.ERROR}
    errors = sorted(
        str(attrs["error.type"]) for attrs, _ in telemetry.points("http.client.request.duration")
    )
    assert errors == ["503", "ConnectError"]


def test_grants_are_spans_dated_back_to_their_start_and_counted(telemetry: Telemetry) -> None:
    """A granted and a refused grant: two spans as long as the grants took, counted by outcome."""
    telemetry.hooks.on_token_granted(
        TokenGranted(grant_type="password", expires_in=299, elapsed=0.25)
    )
    telemetry.hooks.on_token_refused(
        TokenRefused(
            grant_type="refresh_token",
            status=400,
            error_type="AuthenticationError",
            message="invalid_grant",
            elapsed=0.5,
        )
    )
    granted, refused = telemetry.finished()
    assert (granted.name, granted.kind) == ("cloutility.token.grant", SpanKind.INTERNAL)
    assert granted.attributes == {"cloutility.token.grant_type": "password"}
    assert granted.status.status_code == StatusCode.UNSET
    assert granted.end_time is not None
    assert granted.start_time is not None
    assert granted.end_time - granted.start_time == 250_000_000
    assert dict(refused.attributes or {}) == {
        "cloutility.token.grant_type": "refresh_token",
        "error.type": "AuthenticationError",
        "http.response.status_code": 400,
    }
    assert (refused.status.status_code, refused.status.description) == (
        StatusCode.ERROR,
        "invalid_grant",
    )
    counted = sorted(
        (str(a["cloutility.token.outcome"]), v)
        for a, v in telemetry.points("cloutility.client.token.grants")
    )
    assert counted == [("granted", 1), ("refused", 1)]
    assert len(telemetry.points("cloutility.client.token.grant.duration")) == 2


def test_retries_and_drift_are_counted(telemetry: Telemetry) -> None:
    """Retries by method and cause; drifted values by model and field."""
    hooks = telemetry.hooks
    hooks.on_retry_scheduled(RetryScheduled(method="GET", url="u", retry=1, delay=0.1, status=503))
    hooks.on_retry_scheduled(RetryScheduled(method="GET", url="u", retry=2, delay=0.2, status=503))
    hooks.on_retry_scheduled(
        RetryScheduled(
            method="POST", url="u", retry=1, delay=0.1, status=None, error_type="ConnectError"
        )
    )
    drift = SchemaDrift(
        model="Consumer",
        field="name",
        key="name",
        json_type="number",
        expected="str",
        path="$.name",
    )
    hooks.on_schema_drift(drift)
    hooks.on_schema_drift(drift)
    assert sorted(telemetry.points("cloutility.client.retries"), key=lambda p: str(p[0])) == [
        ({"http.request.method": "GET", "http.response.status_code": 503, "error.type": "503"}, 2),
        ({"http.request.method": "POST", "error.type": "ConnectError"}, 1),
    ]
    assert telemetry.points("cloutility.client.schema_drift") == [
        ({"cloutility.model": "Consumer", "cloutility.field": "name"}, 2)
    ]
    assert telemetry.finished() == []  # neither is a span


def test_without_a_configured_sdk_the_hooks_run_on_the_api_alone() -> None:
    """The global no-op tracer and meter: every event is accepted, nothing is kept open."""
    hooks = OpenTelemetryHooks()
    start = started(1)
    hooks.on_request_started(start)
    hooks.on_request_finished(RequestFinished(request=start, status=200, elapsed=0.01))
    hooks.on_token_granted(TokenGranted(grant_type="password", expires_in=299, elapsed=0.1))
    assert repr(hooks) == "<OpenTelemetryHooks 0 spans open>"


def test_without_opentelemetry_the_import_says_which_extra_to_install() -> None:
    """``import cloutility_async.otel`` without opentelemetry-api names the ``otel`` extra."""
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "import cloutility_async\n"
        "try:\n"
        "    import cloutility_async.otel\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "CLOUTILITY_LOG": ""},
    )
    assert done.stdout == (
        "cloutility_async.otel needs opentelemetry-api: pip install 'cloutility-async[otel]'\n"
    )
