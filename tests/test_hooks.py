"""Instrumentation hooks: the dispatcher, its checks, and hooks that fail."""

from __future__ import annotations

import logging

import attrs
import pytest
from recording import Recorder

from cloutility_async import (
    ConfigurationError,
    Hooks,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    SchemaDrift,
    TokenGranted,
    TokenRefused,
)
from cloutility_async._instrumentation import Instrumentation, check_hooks, next_request_id

STARTED = RequestStarted(
    request_id=1, method="GET", url="https://h/v1/me", host="h", port=443, attempt=1
)
FINISHED = RequestFinished(request=STARTED, status=200, elapsed=0.01)
RETRY = RetryScheduled(method="GET", url="https://h/v1/me", retry=1, delay=0.2, status=503)
GRANTED = TokenGranted(grant_type="password", expires_in=299.0, elapsed=0.05)
REFUSED = TokenRefused(
    grant_type="refresh_token",
    status=400,
    error_type="AuthenticationError",
    message="invalid_grant",
    elapsed=0.02,
)
DRIFT = SchemaDrift(
    model="Consumer",
    field="name",
    key="name",
    json_type="number",
    expected="str",
    path="$.name",
)


def emit_all(instrumentation: Instrumentation) -> None:
    """One event of each kind, in order."""
    instrumentation.request_started(STARTED)
    instrumentation.request_finished(FINISHED)
    instrumentation.retry_scheduled(RETRY)
    instrumentation.token_granted(GRANTED)
    instrumentation.token_refused(REFUSED)
    instrumentation.schema_drift(DRIFT)


def test_every_hook_hears_every_event_in_order() -> None:
    """Two hooks each get the six details objects, in the order they happened."""
    first, second = Recorder(), Recorder()
    emit_all(Instrumentation(check_hooks([first, second])))
    expected = [STARTED, FINISHED, RETRY, GRANTED, REFUSED, DRIFT]
    assert first.events == expected
    assert second.events == expected


def test_a_subclass_of_hooks_implements_only_what_it_needs() -> None:
    """The inherited methods do nothing; the overridden one is called."""

    class Retries(Hooks):
        def __init__(self) -> None:
            self.delays: list[float] = []

        def on_retry_scheduled(self, details: RetryScheduled) -> None:
            self.delays.append(details.delay)

    hook = Retries()
    instrumentation = Instrumentation(check_hooks([hook]))
    emit_all(instrumentation)
    assert hook.delays == [0.2]
    # Inherited no-ops are not even looked up per event.
    assert instrumentation._callbacks["on_request_started"] == ()


def test_details_are_frozen() -> None:
    """A hook cannot change what other hooks see."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        STARTED.url = "https://elsewhere/"  # type: ignore[misc]


def test_a_hook_that_raises_is_logged_once_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The failure is logged with its traceback the first time, never raised, never again."""

    class Broken(Hooks):
        def on_request_started(self, details: RequestStarted) -> None:
            raise ValueError("bug in the hook")

    after = Recorder()
    instrumentation = Instrumentation(check_hooks([Broken(), after]))
    with caplog.at_level(logging.WARNING, "cloutility_async"):
        for _ in range(3):
            instrumentation.request_started(STARTED)
    assert after.events == [STARTED, STARTED, STARTED]
    [record] = caplog.records
    assert record.event == "cloutility.hook_failed"  # type: ignore[attr-defined]
    assert (record.hook, record.callback) == (  # type: ignore[attr-defined]
        "test_a_hook_that_raises_is_logged_once_and_the_others_still_hear.<locals>.Broken",
        "on_request_started",
    )
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


def test_a_hook_that_is_cancelled_is_not_swallowed() -> None:
    """Only ``Exception`` is caught: a ``BaseException`` (cancellation, Ctrl-C) goes on."""

    class Interrupts(Hooks):
        def on_token_granted(self, details: TokenGranted) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Instrumentation(check_hooks([Interrupts()])).token_granted(GRANTED)


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        (Recorder(), "hooks must be a list of hook objects, got Recorder"),
        ("on_request_started", "hooks must be a list of hook objects, got str"),
        ([Recorder], "hooks takes hook objects, got the class Recorder: pass Recorder()"),
        ([object()], "object has none of the hook methods (on_request_started, "),
    ],
)
def test_bad_hooks_are_refused_with_a_clear_error(hooks: object, message: str) -> None:
    """A single hook, a class instead of an instance or an object without hook methods."""
    with pytest.raises(ConfigurationError) as caught:
        check_hooks(hooks)
    assert str(caught.value).startswith(message)


def test_request_ids_are_unique_in_the_process() -> None:
    """One hook object may serve several clients: ids never repeat."""
    ids = [next_request_id() for _ in range(100)]
    assert len(set(ids)) == 100
    assert ids == sorted(ids)
