"""RefreshTiming decides every renewal time as a pure function; the manager only calls send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import parse_qs

import attrs
import httpx
import pytest

from cloutility_async import Token
from cloutility_async._auth import Credentials, RefreshTiming, TokenManager

UTC = dt.timezone.utc
NOW = 1_900_000_000.0


def token(expires_in: float, left: float) -> Token:
    """A token of lifetime ``expires_in`` with ``left`` seconds to go at NOW."""
    return Token("a", "r", expires_in, dt.datetime.fromtimestamp(NOW + left, UTC))


def at_now(timing: RefreshTiming, t: Token) -> tuple[float, bool, bool]:
    """(refresh delay, usable, not due) with the clock at NOW, without an event loop."""
    shifted = attrs.evolve(
        t, expires_at=t.expires_at + dt.timedelta(seconds=dt.datetime.now(UTC).timestamp() - NOW)
    )
    return (
        round(timing.refresh_delay(shifted)),
        timing.usable(shifted),
        timing.not_due(shifted),
    )


def test_the_refresh_margin_is_capped_at_half_the_lifetime() -> None:
    """A 299 s token is renewed 60 s early; a 5 s token at mid-life, not continuously."""
    timing = RefreshTiming()
    assert at_now(timing, token(299, 299)) == (239, True, True)
    assert at_now(timing, token(5, 5)) == (2, True, True)  # 2.5 s, rounded
    assert at_now(timing, token(5, 2))[1:] == (True, False)  # due, still usable
    assert at_now(RefreshTiming(margin=0), token(5, 5)) == (5, True, True)


def test_a_token_counts_as_expired_a_small_skew_early() -> None:
    """At most 2 s, a tenth of the lifetime, and never more than the margin."""
    assert not at_now(RefreshTiming(), token(299, 1.5))[1]
    assert at_now(RefreshTiming(), token(299, 2.5))[1]
    assert not at_now(RefreshTiming(), token(5, 0.4))[1]  # a tenth of 5 s
    assert at_now(RefreshTiming(margin=0.1), token(299, 0.2))[1]  # the margin is smaller


def test_failed_renewals_back_off_exponentially_to_a_cap() -> None:
    """1 s, 2 s, 4 s, ... at most 60 s after failed proactive renewals."""
    timing = RefreshTiming()
    assert [timing.failure_delay(n) for n in (1, 2, 3, 7, 8, 20)] == [1, 2, 4, 60, 60, 60]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        timing.margin = 1  # type: ignore[misc]


@pytest.mark.anyio
async def test_the_token_manager_sends_its_grants_through_the_callable_it_is_given() -> None:
    """No transport: a plain send function sees the password grant's form and answers it."""
    sent: list[tuple[str, str, Mapping[str, str], dict[str, str]]] = []

    async def send(method: str, url: str, *, content: bytes, **options: object) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(content.decode()).items()}
        headers = options["headers"]
        assert isinstance(headers, Mapping)
        sent.append((method, url, headers, form))
        request = httpx.Request(method, f"https://portal.test/v1/{url}")
        return httpx.Response(200, json={"access_token": "acc-1"}, request=request)

    manager = TokenManager(
        send=send, credentials=Credentials(client_id="c", username="u", password="p")
    )
    got = await manager.login()
    assert got.access_token == "acc-1"
    assert got.expires_in == RefreshTiming().default_lifetime  # no expires_in in the answer
    ((method, url, headers, form),) = sent
    assert (method, url) == ("POST", "oauth")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form == {"client_id": "c", "grant_type": "password", "username": "u", "password": "p"}
