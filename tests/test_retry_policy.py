"""RetryPolicy: the whole retry policy as pure functions, tested without an event loop."""

from __future__ import annotations

import email.utils

import attrs
import httpx
import pytest

from cloutility_async import (
    AuthenticationError,
    Cloutility,
    ConfigurationError,
    RetryPolicy,
    ServerError,
)
from tests.fakeportal import BASE_URL, CLIENT_ID, ORIGIN, PASSWORD, USERNAME, FakePortal
from tests.test_import_graph import PACKAGE, sdk_imports

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0
POLICY = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=10.0, max_retry_after=30.0)


@pytest.mark.parametrize(
    ("method", "retry_safe", "never_sent", "retried"),
    [
        ("GET", None, False, True),  # a dropped read: read again
        ("PUT", None, False, True),
        ("DELETE", None, False, True),
        ("POST", None, False, False),  # a create that may have arrived: never twice
        ("POST", None, True, True),  # a create that never left
        ("GET", False, False, False),  # node/activate: a GET that changes state
        ("GET", False, True, True),
        ("POST", True, False, True),  # a route that says it may be repeated (a grant)
    ],
)
def test_after_a_network_failure_the_route_decides(
    method: str, retry_safe: bool | None, never_sent: bool, retried: bool
) -> None:
    """A failure that may have reached the server is retried only for a repeatable route."""
    delay = POLICY.after_error(1, method=method, retry_safe=retry_safe, never_sent=never_sent)
    assert (delay is not None) == retried


@pytest.mark.parametrize(
    ("status", "method", "retry_safe", "retried"),
    [
        (429, "POST", None, True),  # not processed: anything is retried
        (429, "GET", False, True),
        (503, "GET", None, True),
        (503, "PUT", None, True),
        (503, "POST", None, False),
        (502, "DELETE", None, True),
        (504, "GET", False, False),
        (500, "GET", None, True),  # a read changes nothing
        (500, "PUT", None, False),  # a write may be half done
        (500, "DELETE", None, False),
        (500, "GET", False, False),
        (404, "GET", None, False),
        (400, "GET", None, False),
        (401, "GET", None, False),  # the 401 replay is the auth layer's, not a retry
    ],
)
def test_after_a_status_the_route_and_the_status_decide(
    status: int, method: str, retry_safe: bool | None, retried: bool
) -> None:
    """Which answers are worth another attempt, per method and route flag."""
    delay = POLICY.after_status(1, status, method=method, retry_safe=retry_safe)
    assert (delay is not None) == retried
    assert RetryPolicy.retries_status(status, method, retry_safe) == retried


def test_no_retry_beyond_max_retries() -> None:
    """Retry 3 of 3 is allowed, retry 4 is not; max_retries=0 never retries."""
    assert POLICY.after_error(3, never_sent=True) is not None
    assert POLICY.after_error(4, never_sent=True) is None
    assert POLICY.after_status(4, 503) is None
    assert RetryPolicy(max_retries=0).after_status(1, 429) is None


@pytest.mark.parametrize("retry", [1, 2, 3, 4, 8])
def test_backoff_is_full_jitter_under_an_exponential_ceiling(retry: int) -> None:
    """Before retry n the wait is in [0, min(backoff_max, backoff_base * 2**n)]."""
    ceiling = min(10.0, 0.5 * 2**retry)
    waits = [POLICY.backoff(retry) for _ in range(200)]
    assert all(0 <= wait <= ceiling for wait in waits)
    assert max(waits) > ceiling / 2  # jitter over the range, not a constant
    assert RetryPolicy(backoff_base=0).backoff(retry) == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("3600", 30.0),  # capped at max_retry_after
        (email.utils.formatdate(NOW + 7, usegmt=True), 7.0),
    ],
)
def test_retry_after_in_seconds_or_as_a_date_is_honoured_and_capped(
    header: str, expected: float
) -> None:
    """On 429 and 503 the server's Retry-After is the wait, at most max_retry_after."""
    for status in (429, 503):
        delay = POLICY.after_status(1, status, retry_after=header, now=NOW)
        assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    "header", [None, "", "soon", "-5", "nan", email.utils.formatdate(NOW - 60, usegmt=True)]
)
def test_an_unusable_retry_after_falls_back_to_the_backoff(header: str | None) -> None:
    """Missing, unreadable, negative or past: the backoff decides, nothing raises."""
    delay = POLICY.after_status(2, 503, retry_after=header, now=NOW)
    assert delay is not None
    assert 0 <= delay <= 0.5 * 2**2


def test_retry_after_is_ignored_on_the_gateway_statuses() -> None:
    """502 and 504 say nothing about when to come back: they use the backoff."""
    delay = RetryPolicy(backoff_base=0).after_status(1, 502, retry_after="20")
    assert delay == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_retries", -1, "max_retries must be >= 0"),
        ("max_retries", 1.5, "max_retries must be a whole number"),
        ("max_retries", True, "max_retries must be a whole number"),
        ("backoff_base", float("nan"), "backoff_base must be >= 0"),
        ("backoff_max", -0.1, "backoff_max must be >= 0"),
        ("max_retry_after", "60", "max_retry_after must be a number"),
    ],
)
def test_a_policy_refuses_values_it_cannot_use(field: str, value: object, message: str) -> None:
    """A bad number is a ConfigurationError when the policy is built."""
    with pytest.raises(ConfigurationError, match=message):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def client(**options: object) -> Cloutility:
    return Cloutility(
        client_id=CLIENT_ID,
        origin=ORIGIN,
        username=USERNAME,
        password=PASSWORD,
        base_url=BASE_URL,
        **options,  # type: ignore[arg-type]
    )


def test_the_loose_numbers_are_shorthands_for_the_policy() -> None:
    """max_retries, backoff_base and max_retry_after build the same policy as retry=."""
    loose = client(max_retries=5, backoff_base=0.1, max_retry_after=9)
    whole = client(retry=RetryPolicy(max_retries=5, backoff_base=0.1, max_retry_after=9))
    assert (
        loose._retry
        == whole._retry
        == attrs.evolve(RetryPolicy(), max_retries=5, backoff_base=0.1, max_retry_after=9)
    )
    assert client()._retry == RetryPolicy()


def test_a_policy_and_a_shorthand_together_are_refused() -> None:
    """Two answers to one question: ConfigurationError naming the shorthand."""
    with pytest.raises(ConfigurationError, match="max_retries, not both"):
        client(retry=RetryPolicy(), max_retries=1)
    with pytest.raises(ConfigurationError, match="retry must be a RetryPolicy"):
        client(retry={"max_retries": 1})


async def test_the_client_asks_its_policy_about_every_failure() -> None:
    """A policy of one's own (here: 503 is final) is what the sender follows."""

    @attrs.frozen
    class No503(RetryPolicy):
        def after_status(self, retry: int, status: int, **request: object) -> float | None:
            return None if status == 503 else super().after_status(retry, status, **request)  # type: ignore[arg-type]

    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    route.side_effect = [httpx.Response(502), httpx.Response(503), httpx.Response(200, json="1")]
    async with portal.client(backoff_base=None, retry=No503(backoff_base=0)) as api:
        with pytest.raises(ServerError) as info:
            await api.full_version()
    assert info.value.status == 503
    assert route.call_count == 2


async def test_a_request_can_carry_a_policy_of_its_own() -> None:
    """send(retry=...) replaces the client's policy for that request only."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion", status_code=503)
    async with portal.client(max_retries=3) as api:
        with pytest.raises(ServerError):
            await api._port.sender().send("GET", "fullVersion", retry=RetryPolicy(max_retries=0))
        assert route.call_count == 1
        with pytest.raises(ServerError):
            await api.full_version()
    assert route.call_count == 1 + 4


async def test_a_401_is_replayed_once_per_call_even_across_retries() -> None:
    """401, replay, 503, retry, 401: the second 401 is final (one renewal per call)."""
    portal = FakePortal()
    route = portal.route("GET", "fullVersion")
    denied = httpx.Response(401, json={"message": "Authorization has been denied."})
    route.side_effect = [denied, httpx.Response(503), denied, httpx.Response(200, json="1")]
    async with portal.client() as api:
        with pytest.raises(AuthenticationError):
            await api.full_version()
        assert api.statistics().replays_after_401 == 1
    assert route.call_count == 3
    assert len(portal.grants) == 2


def test_the_policy_imports_nothing_that_sends() -> None:
    """_retry.py is pure: of the SDK it imports the error tree and nothing else."""
    assert sdk_imports(PACKAGE / "_retry.py") == {"cloutility_async._exceptions"}
