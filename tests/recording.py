"""A hook that records every event it hears (for the hook tests; no OpenTelemetry)."""

from __future__ import annotations

from cloutility_async import (
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    SchemaDrift,
    TokenGranted,
    TokenRefused,
)


class Recorder:
    """Every event a client reports, in order: all six methods, without subclassing ``Hooks``."""

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
        """The recorded events of one kind."""
        return [event for event in self.events if isinstance(event, kind)]
