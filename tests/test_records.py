"""Structured log records: the event and its fields on the record, secrets redacted."""

from __future__ import annotations

import logging

import httpx
import pytest

from cloutility_async._records import log_event, redact_headers, redact_url


def test_a_record_carries_its_event_and_fields_and_reads_as_a_sentence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``record.event`` and every field are attributes; the message is formatted from them."""
    logger = logging.getLogger("cloutility_async.test")
    with caplog.at_level(logging.DEBUG, "cloutility_async"):
        log_event(
            logger,
            logging.INFO,
            "cloutility.example",
            "%(method)s %(url)s -> %(status)d in %(elapsed_ms).1f ms (100%% done)",
            method="GET",
            url="https://h/v1/me",
            status=200,
            elapsed_ms=3.25,
        )
    [record] = caplog.records
    assert (
        record.getMessage()
        == "cloutility.example: GET https://h/v1/me -> 200 in 3.2 ms (100% done)"
    )
    fields = {k: getattr(record, k) for k in ("event", "method", "url", "status", "elapsed_ms")}
    assert fields == {
        "event": "cloutility.example",
        "method": "GET",
        "url": "https://h/v1/me",
        "status": 200,
        "elapsed_ms": 3.25,
    }
    assert record.funcName == "test_a_record_carries_its_event_and_fields_and_reads_as_a_sentence"


def test_nothing_is_logged_below_the_level(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG event with the logger at INFO leaves no record."""
    with caplog.at_level(logging.INFO, "cloutility_async"):
        log_event(logging.getLogger("cloutility_async.test"), logging.DEBUG, "cloutility.x", "y")
    assert caplog.records == []


def test_an_exception_record_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """``exc_info=True`` inside ``except`` attaches the exception, as ``logger.exception`` does."""
    with caplog.at_level(logging.DEBUG, "cloutility_async"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log_event(
                logging.getLogger("cloutility_async.test"),
                logging.ERROR,
                "cloutility.failed",
                "it failed",
                exc_info=True,
            )
    [record] = caplog.records
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert record.event == "cloutility.failed"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://h.example/v1/consumers/3", "https://h.example/v1/consumers/3"),
        (
            "https://h.example/v1/x?top=10&access_token=abc&b=c+d",
            "https://h.example/v1/x?top=10&access_token=REDACTED&b=c+d",
        ),
        (
            "https://h.example/x?Password=p%20w&X-Amz-Signature=s&sig=t&api_key=k&monkey=m",
            "https://h.example/x?Password=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED"
            "&api_key=REDACTED&monkey=m",
        ),
        ("https://user:pw@h.example:8443/v1/", "https://REDACTED:REDACTED@h.example:8443/v1/"),
        ("https://h.example/v1/page#refresh_token=x", "https://h.example/v1/page"),
    ],
)
def test_urls_lose_credentials_and_secret_query_values_only(url: str, redacted: str) -> None:
    """Credential-named query values and user info read REDACTED; the rest is as it was."""
    assert redact_url(url) == redacted
    assert redact_url(httpx.URL(url)) == redacted


def test_headers_show_the_bearer_token_and_cookies_masked() -> None:
    """``Authorization`` reads ``Bearer ***``, cookies ``sid=***``; other headers are kept."""
    headers = httpx.Headers(
        {"Authorization": "Bearer s3cret", "Cookie": "sid=1", "Origin": "https://o.example"}
    )
    assert redact_headers(headers) == {
        "authorization": "Bearer ***",
        "cookie": "sid=***",
        "origin": "https://o.example",
    }
