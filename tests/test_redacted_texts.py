"""A redacted error still says what happened: only credentials are masked in its texts.

A link's secret query values are masked wherever the error's texts repeat them
(``test_signed_links``); a short value of a parameter named like one (``session=1``,
``code=2``) is no credential, and masking each of its occurrences made the message,
the server's message, the request id and the headers unreadable. Log records name
such a link REDACTED too.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from cloutility_async import NotFoundError
from tests.fakeportal import BASE_URL, FakePortal

LINK = "https://h.example/v1/bunits/1/consumers?session=1&access_token=at-SECRET-long-1"


def test_a_short_value_named_like_a_secret_is_masked_in_the_url_only() -> None:
    headers = httpx.Headers({"X-Request-Id": "r1-b1", "Content-Length": "112"})
    error = NotFoundError(
        "consumer 1 of bunit 1 not found; at-SECRET-long-1 expired",
        method="GET",
        url=LINK,
        status=404,
        server_message="consumer 1 not found",
        headers=headers,
    )
    assert error.url == (
        "https://h.example/v1/bunits/1/consumers?session=REDACTED&access_token=REDACTED"
    )
    assert error.message == "consumer 1 of bunit 1 not found; REDACTED expired"
    assert error.server_message == "consumer 1 not found"
    assert (error.request_id, error.headers["content-length"]) == ("r1-b1", "112")
    assert "SECRET" not in str(error) + repr(error) + repr(error.args)


def test_a_short_value_quoted_as_a_parameter_is_still_masked() -> None:
    error = NotFoundError("nothing at /v1/x?session=1&a=1", method="GET", url=LINK, status=404)
    assert error.message == "nothing at /v1/x?session=REDACTED&a=1"


@pytest.mark.anyio
async def test_the_record_of_a_delete_already_gone_names_its_url_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DELETE of a signed link whose retry answered 404: its INFO record (an event
    like every other) names the link with its token REDACTED."""
    portal = FakePortal()
    route = portal.route("DELETE", "bunits/22/consumers/408")
    route.side_effect = [httpx.Response(502), httpx.Response(404, json={"message": "gone"})]
    caplog.set_level(logging.INFO, "cloutility_async")
    link = f"{BASE_URL}bunits/22/consumers/408?access_token=at-SECRET-link-1"
    async with portal.client() as api:
        await api._port.sender().send("DELETE", link)
        assert api.statistics().deletes_already_gone == 1
    (record,) = [r for r in caplog.records if getattr(r, "event", "").endswith("already_gone")]
    assert record.getMessage().endswith(
        "DELETE https://portal.test/v1/bunits/22/consumers/408?access_token=REDACTED"
        " answered 404 after a retry; an earlier attempt deleted it"
    )
    assert not [r for r in caplog.records if "SECRET" in r.getMessage()]


def test_a_link_with_only_short_secret_values_is_still_redacted_in_the_url() -> None:
    error = NotFoundError("gone", method="GET", url="https://h.example/v1/x?code=12", status=404)
    assert error.url == "https://h.example/v1/x?code=REDACTED"
    assert "12" not in str(error)
