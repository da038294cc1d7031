"""OpenTelemetry on top of the hooks: a CLIENT span per HTTP attempt, a span per grant, metrics.

Only ``opentelemetry-api`` is imported: the application configures the SDK
(providers, exporters) as it does for everything else, and without one the
API's no-op tracer and meter cost next to nothing. Attribute and metric names
follow the stable HTTP semantic conventions (``http.request.method``,
``url.full``, ``server.address``, ``server.port``, ``http.response.status_code``,
``http.request.resend_count``, ``error.type``, ``http.client.request.duration``);
what HTTP has no convention for is named ``cloutility.*``.
"""

from __future__ import annotations

import time

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ._drift import SchemaDrift
from ._instrumentation import (
    Hooks,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    TokenGranted,
    TokenRefused,
)
from ._version import __version__

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryHooks"]

#: The tracer's and meter's name (the instrumentation scope).
INSTRUMENTATION_NAME = "cloutility_async"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
#: The semantic conventions' advice for ``http.client.request.duration`` (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
GRANT_SPAN = "cloutility.token.grant"


class OpenTelemetryHooks(Hooks):
    """Traces and metrics of a client: ``Cloutility(..., hooks=[OpenTelemetryHooks()])``.

    Spans:

    - one ``SpanKind.CLIENT`` span per HTTP attempt, named after its method
      (``GET``), with ``http.request.method``, ``url.full`` (redacted),
      ``server.address``, ``server.port``, ``http.response.status_code``,
      ``http.request.resend_count`` (on the second attempt of a call and
      later: retries, the replay after a 401, redirects, each named by
      ``cloutility.resend_reason``) and ``error.type``
      (the status for 4xx and 5xx, else the network failure's class), its
      status ``ERROR`` whenever ``error.type`` is set;
    - one ``cloutility.token.grant`` span per grant, with
      ``cloutility.token.grant_type`` and, for a grant that gave no token,
      ``error.type`` and status ``ERROR``.

    Spans are children of the span current in the task that makes the call.

    Metrics:

    - ``http.client.request.duration`` (histogram, s): every attempt, by method,
      server, status and ``error.type``; its count is the number of attempts;
    - ``cloutility.client.retries`` (counter): retries scheduled, by method and
      the status or ``error.type`` that caused them;
    - ``cloutility.client.token.grants`` (counter): grants, by
      ``cloutility.token.grant_type`` and ``cloutility.token.outcome``
      (``granted`` or ``refused``), and ``cloutility.client.token.grant.duration``
      (histogram, s);
    - ``cloutility.client.schema_drift`` (counter): values the models could not
      read, by ``cloutility.model`` and ``cloutility.field``.

    Args:
        tracer_provider: Where spans go; default: the global tracer provider.
        meter_provider: Where measurements go; default: the global meter provider.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(
            INSTRUMENTATION_NAME, __version__, meter_provider, schema_url=SCHEMA_URL
        )
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._retries = meter.create_counter(
            "cloutility.client.retries",
            unit="{retry}",
            description="Retries scheduled after a failed attempt.",
        )
        self._grants = meter.create_counter(
            "cloutility.client.token.grants",
            unit="{grant}",
            description="OAuth grants made, granted or refused.",
        )
        self._grant_duration = meter.create_histogram(
            "cloutility.client.token.grant.duration",
            unit="s",
            description="Duration of OAuth grants, their retries included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._drift = meter.create_counter(
            "cloutility.client.schema_drift",
            unit="{value}",
            description="Values the models could not read (kept in unparsed).",
        )
        # The span of each attempt in flight, by request_id (unique in the process).
        self._spans: dict[int, Span] = {}

    def __repr__(self) -> str:
        return f"<OpenTelemetryHooks {len(self._spans)} spans open>"

    def on_request_started(self, details: RequestStarted) -> None:
        """Start the attempt's CLIENT span."""
        attributes: dict[str, str | int] = {
            "http.request.method": details.method,
            "url.full": details.url,
            "server.address": details.host,
            "server.port": details.port,
        }
        if details.attempt > 1:
            attributes["http.request.resend_count"] = details.attempt - 1
        if details.resend is not None:
            attributes["cloutility.resend_reason"] = details.resend
        self._spans[details.request_id] = self._tracer.start_span(
            details.method, kind=SpanKind.CLIENT, attributes=attributes
        )

    def on_request_finished(self, details: RequestFinished) -> None:
        """End the attempt's span and record its duration."""
        request = details.request
        status = details.status
        error = details.error_type
        if error is None and status is not None and status >= 400:
            error = str(status)
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "server.address": request.host,
            "server.port": request.port,
        }
        if status is not None:
            attributes["http.response.status_code"] = status
        if error is not None:
            attributes["error.type"] = error
        self._duration.record(details.elapsed, attributes)
        span = self._spans.pop(request.request_id, None)
        if span is None:
            return
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def on_retry_scheduled(self, details: RetryScheduled) -> None:
        """Count the retry."""
        attributes: dict[str, str | int] = {"http.request.method": details.method}
        if details.status is not None:
            attributes["http.response.status_code"] = details.status
            attributes["error.type"] = str(details.status)
        elif details.error_type is not None:
            attributes["error.type"] = details.error_type
        self._retries.add(1, attributes)

    def on_token_granted(self, details: TokenGranted) -> None:
        """Record the grant as a span that ended now, and count it."""
        self._grant(details.grant_type, details.elapsed, "granted", {})

    def on_token_refused(self, details: TokenRefused) -> None:
        """Record the failed grant as an error span, and count it."""
        attributes: dict[str, str | int] = {"error.type": details.error_type}
        if details.status is not None:
            attributes["http.response.status_code"] = details.status
        self._grant(details.grant_type, details.elapsed, "refused", attributes, details.message)

    def on_schema_drift(self, details: SchemaDrift) -> None:
        """Count the value that could not be read."""
        self._drift.add(1, {"cloutility.model": details.model, "cloutility.field": details.field})

    def _grant(
        self,
        grant_type: str,
        elapsed: float,
        outcome: str,
        attributes: dict[str, str | int],
        failure: str | None = None,
    ) -> None:
        # The grant is reported when it is over: its span is dated back to its start.
        end = time.time_ns()
        attributes["cloutility.token.grant_type"] = grant_type
        span = self._tracer.start_span(
            GRANT_SPAN,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=end - int(elapsed * 1e9),
        )
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end(end_time=end)
        measured: dict[str, str] = {
            "cloutility.token.grant_type": grant_type,
            "cloutility.token.outcome": outcome,
        }
        self._grants.add(1, measured)
        self._grant_duration.record(elapsed, measured)
