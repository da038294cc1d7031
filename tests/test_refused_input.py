"""Input the portal cannot take is refused with a typed error before anything is sent."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from cloutility_async import Cloutility, ConfigurationError, ValidationError
from tests.fakeportal import BASE_URL, CLIENT_ID, ORIGIN, PASSWORD, USERNAME, FakePortal

pytestmark = pytest.mark.anyio

LARGEST = 2**63 - 1


@pytest.mark.parametrize("bunit_id", [LARGEST, str(LARGEST), 1, "1"])
async def test_ids_up_to_the_largest_signed_64_bit_integer_are_accepted(
    bunit_id: int | str,
) -> None:
    """An int and the same number as text accept the same range: 1 to 2**63 - 1."""
    portal = FakePortal()
    route = portal.route("GET", f"bunits/{int(bunit_id)}", json={"id": int(bunit_id)})
    async with portal.client() as api:
        await api.bunit(bunit_id).get()
    assert route.call_count == 1


@pytest.mark.parametrize(
    "bunit_id", [LARGEST + 1, str(LARGEST + 1), 2**64, str(2**64), 0, "0", -1, "-1", "01", True]
)
def test_ids_outside_the_range_are_refused_as_int_and_as_text(bunit_id: object) -> None:
    """2**63 and beyond, zero, negatives, leading zeros and bools are no ids, either way."""
    portal = FakePortal()
    api = portal.client()
    with pytest.raises(ValidationError, match="2\\*\\*63 - 1"):
        api.bunit(bunit_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "filename",
    [
        "..\\..\\a.pdf",
        "dir\\a.pdf",
        "../a.pdf",
        "dir/a.pdf",
        "C:a.pdf",
        "a\x00.pdf",
        "a\r\nX-Evil: 1.pdf",
        "a\x85.pdf",  # a C1 control character
        "a\x7f.pdf",
        ".",
        "..",
        "   ",
    ],
)
async def test_upload_filenames_must_be_plain_base_names(filename: str) -> None:
    """Path parts (/ \\ :), control characters, '.' and '..' are refused before sending."""
    portal = FakePortal()
    route = portal.route("POST", "bunits/22/invoicefiles", json={"id": 1})
    async with portal.client() as api:
        with pytest.raises(ValidationError, match="filename"):
            await api.bunit(22).upload_invoice_file(b"%PDF-1.7", filename=filename)
    assert route.call_count == 0


@pytest.mark.parametrize("filename", ["Invoice 2024-01 (final).pdf", "faktura-åäö.pdf", ".pdf"])
async def test_ordinary_file_names_are_sent(filename: str) -> None:
    """Spaces, brackets, non-ASCII letters and a leading dot are fine in a base name."""
    portal = FakePortal()
    route = portal.route(
        "POST", "bunits/22/invoicefiles", json={"id": 1, "fileName": filename, "href": "x"}
    )
    async with portal.client() as api:
        await api.bunit(22).upload_invoice_file(b"%PDF-1.7", filename=filename)
    assert route.call_count == 1


@pytest.mark.parametrize("hook", [5, "print", object()])
def test_on_token_must_be_callable(hook: object) -> None:
    """on_token=5 is refused when the client is built, not at every grant."""
    with pytest.raises(ConfigurationError, match="on_token must be callable"):
        Cloutility(
            client_id=CLIENT_ID,
            origin=ORIGIN,
            username=USERNAME,
            password=PASSWORD,
            base_url=BASE_URL,
            on_token=hook,  # type: ignore[arg-type]
        )


async def test_naive_datetimes_are_refused_with_a_hint() -> None:
    """A datetime without a time zone is ambiguous: ValidationError, never a guess."""
    portal = FakePortal()
    route = portal.router.route(method="GET", path__regex=r"/v1/bunits/22/consumers/408/.*").mock(
        return_value=httpx.Response(200, json={"items": []})
    )
    naive = dt.datetime(2023, 11, 3, 10, 0)
    consumer_calls = {
        "reports": lambda c: c.reports(start=naive),
        "jobs": lambda c: c.jobs(start=naive),
        "jobs end": lambda c: c.jobs(end=naive),
    }
    async with portal.client() as api:
        consumer = api.bunit(22).consumer(408)
        for name, call in consumer_calls.items():
            with pytest.raises(ValidationError, match="naive datetime") as info:
                await call(consumer)
            assert "timezone" in str(info.value), name
        with pytest.raises(ValidationError, match="naive datetime"):
            consumer.audit_log(start=naive)
        with pytest.raises(ValidationError, match="naive datetime"):
            await api.timezone(1).utc_offset(naive)
    assert route.call_count == 0
