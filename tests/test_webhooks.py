"""The billing webhook: code check, body parsing, callbacks, lifespan, and a real server."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
import httpx
import pytest
import uvicorn
from anyio.abc import SocketStream
from starlette.applications import Starlette
from starlette.routing import Mount

from cloutility_async import (
    BillingData,
    ClientStateError,
    Cloutility,
    ConfigurationError,
    ValidationError,
)
from cloutility_async.testing import Simulator
from cloutility_async.webhooks import (
    BillingNotification,
    BillingWebhook,
    billing_fetcher,
    code_matches,
    fetch_latest_billing,
    parse_billing_notification,
)
from tests.fakeportal import BASE_URL, FakePortal

pytestmark = pytest.mark.anyio

SECRET = "xyz-0123456789"
TEST_TRIGGER = "test for new billing data available"
TEST_BODY = b'{"trigger":"test for new billing data available"}'
UTC = dt.timezone.utc


class Recorder:
    """A callback that records notifications and signals each one."""

    def __init__(self) -> None:
        self.seen: list[BillingNotification] = []
        self.called = anyio.Event()

    async def __call__(self, notification: BillingNotification) -> None:
        self.seen.append(notification)
        self.called.set()


class ThreadRecorder:
    """A callback for a webhook served in another thread: hands notifications over a queue."""

    def __init__(self) -> None:
        self.queue: queue.Queue[BillingNotification] = queue.Queue()

    async def __call__(self, notification: BillingNotification) -> None:
        self.queue.put(notification)

    async def next(self) -> BillingNotification:
        """The next notification (waits up to 10 s in a worker thread)."""
        return await anyio.to_thread.run_sync(functools.partial(self.queue.get, timeout=10))


@contextlib.asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://invoicing.test"
    ) as client:
        yield client


async def post(client: httpx.AsyncClient, body: bytes = TEST_BODY, code: str = SECRET) -> Any:
    return await client.post(
        "/baas-report/",
        params={"code": code},
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


# -- a real server and raw HTTP ------------------------------------------------------------


@contextlib.contextmanager
def serve(app: Any, *, lifespan: Literal["on", "off"] = "on") -> Iterator[int]:
    """Serve ``app`` with uvicorn (h11) on 127.0.0.1 in a thread; yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        loop="asyncio",
        http="h11",
        ws="none",
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            assert time.monotonic() < deadline, "uvicorn did not start in time"
            time.sleep(0.005)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def request_head(port: int, query: str, body: bytes) -> bytes:
    """The portal's request head, as the reference shows it (no body)."""
    return (
        f"POST /baas-report/?{query} HTTP/1.1\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode()


class RawHTTP:
    """Reads HTTP/1.1 response heads and bodies from a socket stream."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def head(self) -> tuple[str, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        return status_line, headers

    async def body(self, headers: dict[str, str]) -> bytes:
        size = int(headers.get("content-length", "0"))
        while len(self.buffer) < size:
            self.buffer += await self.stream.receive()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return body


# -- the pure parts ----------------------------------------------------------------------


def test_code_matches_the_secret() -> None:
    """The right code in the query string matches, percent-encoded or not."""
    assert code_matches(b"code=xyz-0123456789", SECRET)
    assert code_matches(b"code=a%2Bb%20c&other=1", "a+b c")


@pytest.mark.parametrize(
    "query", [b"", b"code=", b"code=xyz", b"code=XYZ-0123456789", b"code=x&code=xyz-0123456789"]
)
def test_code_mismatch_missing_or_repeated_does_not_match(query: bytes) -> None:
    """A missing, empty, wrong, longer-prefix or repeated code never matches."""
    assert not code_matches(query, SECRET)


def test_parse_notification_reads_the_trigger_and_keeps_the_body() -> None:
    """parse_billing_notification returns the trigger, the raw body and an aware UTC time."""
    body = b'{"trigger":"new billing data","extra":1}'
    note = parse_billing_notification(body)
    assert note.trigger == "new billing data"
    assert note.body == body
    assert note.received_at.tzinfo is not None


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"trigger": 1}', b'{"other": "x"}', b"\xff\xfe"]
)
def test_parse_notification_refuses_a_malformed_body(body: bytes) -> None:
    """A body that is not {"trigger": "<text>"} raises ValidationError."""
    with pytest.raises(ValidationError):
        parse_billing_notification(body)


@pytest.mark.parametrize(
    "options",
    [
        {"secret": ""},
        {"max_body": 0},
        {"max_body": True},
        {"shutdown_timeout": -1},
        {"callback": None},
    ],
)
def test_webhook_options_are_checked(options: dict[str, Any]) -> None:
    """Bad constructor arguments raise ConfigurationError."""
    arguments: dict[str, Any] = {"secret": SECRET, "callback": Recorder(), **options}
    with pytest.raises(ConfigurationError):
        BillingWebhook(arguments.pop("secret"), arguments.pop("callback"), **arguments)


# -- in-process behaviour ----------------------------------------------------------------


async def test_accepted_notification_runs_the_callback() -> None:
    """A POST with the right code answers 200 and the callback gets the trigger."""
    recorder = Recorder()
    webhook = BillingWebhook(SECRET, recorder)
    async with webhook.running(), asgi_client(webhook) as client:
        response = await post(client)
        with anyio.fail_after(5):
            await recorder.called.wait()
    assert response.status_code == 200
    assert [n.trigger for n in recorder.seen] == [TEST_TRIGGER]
    assert recorder.seen[0].body == TEST_BODY


async def test_wrong_and_missing_code_get_the_same_401() -> None:
    """A wrong code and no code both answer the same 401, and no callback runs."""
    recorder = Recorder()
    webhook = BillingWebhook(SECRET, recorder)
    async with webhook.running(), asgi_client(webhook) as client:
        wrong = await post(client, code="guess")
        missing = await client.post("/baas-report/", content=TEST_BODY)
    assert wrong.status_code == missing.status_code == 401
    assert wrong.content == missing.content
    assert b"secret" not in wrong.content
    assert recorder.seen == []
    assert webhook.statistics().unauthorized == 2


async def test_malformed_body_is_400() -> None:
    """A body that is not {"trigger": "..."} answers 400 and no callback runs."""
    recorder = Recorder()
    webhook = BillingWebhook(SECRET, recorder)
    async with webhook.running(), asgi_client(webhook) as client:
        response = await post(client, body=b'{"trigger": ')
    assert response.status_code == 400
    assert recorder.seen == []
    assert webhook.statistics().malformed == 1


async def test_body_over_max_body_is_413() -> None:
    """A body larger than max_body answers 413."""
    webhook = BillingWebhook(SECRET, Recorder(), max_body=64)
    async with webhook.running(), asgi_client(webhook) as client:
        response = await post(client, body=b'{"trigger": "' + b"x" * 100 + b'"}')
    assert response.status_code == 413


async def test_other_methods_are_405() -> None:
    """A GET answers 405 with Allow: POST."""
    webhook = BillingWebhook(SECRET, Recorder())
    async with webhook.running(), asgi_client(webhook) as client:
        response = await client.get("/baas-report/", params={"code": SECRET})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_not_running_answers_503() -> None:
    """Without a lifespan or running(), a notification answers 503 instead of being dropped."""
    recorder = Recorder()
    webhook = BillingWebhook(SECRET, recorder)
    async with asgi_client(webhook) as client:
        response = await post(client)
    assert response.status_code == 503
    assert webhook.statistics().unavailable == 1


async def test_slow_callback_does_not_delay_the_answer() -> None:
    """The 200 is sent while the callback is still running."""
    release = anyio.Event()
    finished = anyio.Event()

    async def slow(notification: BillingNotification) -> None:
        await release.wait()
        finished.set()

    webhook = BillingWebhook(SECRET, slow)
    async with webhook.running(), asgi_client(webhook) as client:
        with anyio.fail_after(5):
            response = await post(client)
        assert response.status_code == 200
        assert not finished.is_set()
        assert webhook.statistics().callbacks_running == 1
        release.set()
    assert finished.is_set()


async def test_failing_callback_is_logged_and_the_webhook_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A callback that raises is logged with its traceback; later notifications still run."""
    calls: list[str] = []

    async def flaky(notification: BillingNotification) -> None:
        calls.append(notification.trigger)
        if len(calls) == 1:
            raise RuntimeError("invoicing system down")

    webhook = BillingWebhook(SECRET, flaky)
    with caplog.at_level(logging.ERROR, logger="cloutility_async.webhooks"):
        async with webhook.running(), asgi_client(webhook) as client:
            first = await post(client)
            second = await post(client)
    assert first.status_code == second.status_code == 200
    assert len(calls) == 2
    [record] = [r for r in caplog.records if "callback_failed" in r.getMessage()]
    assert record.exc_info is not None
    assert "invoicing system down" in str(record.exc_info[1])
    stats = webhook.statistics()
    assert (stats.callbacks_failed, stats.callbacks_succeeded) == (1, 1)


async def test_leaving_running_waits_for_callbacks() -> None:
    """Leaving running() lets a running callback finish."""
    finished = anyio.Event()

    async def short(notification: BillingNotification) -> None:
        await anyio.sleep(0.05)
        finished.set()

    webhook = BillingWebhook(SECRET, short)
    async with webhook.running(), asgi_client(webhook) as client:
        await post(client)
    assert finished.is_set()
    assert not webhook.is_running


async def test_leaving_running_cancels_callbacks_after_the_timeout() -> None:
    """A callback still running after shutdown_timeout is cancelled."""
    cancelled = False

    async def stuck(notification: BillingNotification) -> None:
        nonlocal cancelled
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise

    webhook = BillingWebhook(SECRET, stuck, shutdown_timeout=0.05)
    with anyio.fail_after(5):
        async with webhook.running(), asgi_client(webhook) as client:
            await post(client)
    assert cancelled


async def test_running_twice_is_refused() -> None:
    """Entering running() while it runs raises ClientStateError."""
    webhook = BillingWebhook(SECRET, Recorder())
    async with webhook.running():
        with pytest.raises(ClientStateError):
            async with webhook.running():
                pass


async def drive_lifespan(webhook: BillingWebhook, after_startup: Any = None) -> list[str]:
    """Run the ASGI lifespan protocol against ``webhook``; return the message types it sent."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](2)
    sent: list[str] = []
    answered = anyio.Event()

    async def send(message: Any) -> None:
        sent.append(message["type"])
        answered.set()

    with to_app, app_inbox:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                webhook, {"type": "lifespan", "asgi": {"version": "3.0"}}, app_inbox.receive, send
            )
            await to_app.send({"type": "lifespan.startup"})
            with anyio.fail_after(5):
                await answered.wait()
            if after_startup is not None:
                after_startup()
            await to_app.send({"type": "lifespan.shutdown"})
    return sent


async def test_lifespan_holds_the_task_group_from_startup_to_shutdown() -> None:
    """The lifespan starts the webhook at startup and stops it at shutdown."""
    webhook = BillingWebhook(SECRET, Recorder())
    states: list[bool] = []
    sent = await drive_lifespan(webhook, lambda: states.append(webhook.is_running))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert states == [True]
    assert not webhook.is_running


async def test_lifespan_reports_a_failed_startup() -> None:
    """A lifespan startup while running() is open sends lifespan.startup.failed."""
    webhook = BillingWebhook(SECRET, Recorder())
    async with webhook.running():
        to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](1)
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        with to_app, app_inbox:
            await to_app.send({"type": "lifespan.startup"})
            await webhook({"type": "lifespan"}, app_inbox.receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "already running" in sent[0]["message"]


# -- fetching billing data ---------------------------------------------------------------


def billing_item(day: str) -> dict[str, Any]:
    return {
        "href": f"{BASE_URL}bunits/22/billing/{day}",
        "invoiceDateStr": day,
        "invoiceDate": f"{day}T00:00:00Z",
        "id": int(day.replace("-", "")),
    }


async def test_fetch_latest_billing_fetches_the_newest_date() -> None:
    """fetch_latest_billing lists billing data and fetches the newest date in full."""
    portal = FakePortal()
    days = ["2023-10-01", "2023-12-01", "2023-11-01"]
    items = [billing_item(d) for d in days]
    href = BASE_URL + "bunits/22/billing"
    portal.route(
        "GET",
        "bunits/22/billing",
        json={"href": href, "total": 3, "offset": 0, "first": href, "items": items},
    )
    route = portal.route("GET", "bunits/22/billing/2023-12-01", json=billing_item("2023-12-01"))
    async with portal.client() as api:
        data = await fetch_latest_billing(api, 22)
    assert route.call_count == 1
    assert data is not None
    assert data.invoice_date_str == "2023-12-01"


async def test_fetch_latest_billing_without_data_is_none() -> None:
    """A business unit without billing data gives None."""
    portal = FakePortal()
    href = BASE_URL + "bunits/22/billing"
    portal.route(
        "GET",
        "bunits/22/billing",
        json={"href": href, "total": 0, "offset": 0, "first": href, "items": []},
    )
    async with portal.client() as api:
        assert await fetch_latest_billing(api, 22) is None


def test_billing_fetcher_checks_the_bunit_id() -> None:
    """billing_fetcher refuses a bad business unit id at once."""

    async def on_data(data: BillingData, note: BillingNotification) -> None:
        raise AssertionError("not reached")

    api = FakePortal().client()
    with pytest.raises(ValidationError):
        billing_fetcher(api, "twenty-two", on_data)


# -- a real server -------------------------------------------------------------------------


async def test_expect_100_continue_from_a_raw_socket() -> None:
    """uvicorn hosting the webhook answers 100 Continue to the head, then 200 to the body."""
    recorder = ThreadRecorder()
    webhook = BillingWebhook(SECRET, recorder)
    with serve(webhook) as port, anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            raw = RawHTTP(stream)
            await stream.send(request_head(port, f"code={SECRET}", TEST_BODY))
            interim, _ = await raw.head()
            await stream.send(TEST_BODY)
            final, headers = await raw.head()
            body = await raw.body(headers)
        note = await recorder.next()
    assert interim == "HTTP/1.1 100 Continue"
    assert final.startswith("HTTP/1.1 200")
    assert json.loads(body) == {"status": "accepted"}
    assert note.trigger == TEST_TRIGGER


async def test_wrong_code_is_refused_before_100_continue() -> None:
    """With a wrong code the first answer to the head is 401: the body is never asked for."""
    webhook = BillingWebhook(SECRET, ThreadRecorder())
    with serve(webhook) as port, anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            raw = RawHTTP(stream)
            await stream.send(request_head(port, "code=guess", TEST_BODY))
            first, _ = await raw.head()
    assert first.startswith("HTTP/1.1 401")


def hook_url(port: int, code: str = SECRET, path: str = "/baas-report/") -> str:
    return f"http://127.0.0.1:{port}{path}?code={code}"


async def test_simulator_test_button_is_accepted() -> None:
    """The simulator's Test request gets 100 Continue, then 200, and reaches the callback."""
    sim = Simulator(consumers=2)
    recorder = ThreadRecorder()
    webhook = BillingWebhook(SECRET, recorder)
    with serve(webhook) as port:
        result = await sim.test_billing_subscriber(hook_url(port))
        note = await recorder.next()
    assert (result.status, result.continued, result.sent_body) == (200, True, True)
    assert json.loads(result.body) == {"status": "accepted"}
    assert note.trigger == TEST_TRIGGER
    assert note.body == TEST_BODY
    assert sim.stats.billing_notifications == {200: 1}


async def test_simulator_with_a_wrong_code_sees_401_and_sends_no_body() -> None:
    """A wrong code: the webhook answers 401 to the head, so the body is never sent."""
    sim = Simulator(consumers=2)
    recorder = ThreadRecorder()
    webhook = BillingWebhook(SECRET, recorder)
    with serve(webhook) as port:
        result = await sim.test_billing_subscriber(hook_url(port, code="guess"))
        missing = await sim.test_billing_subscriber(f"http://127.0.0.1:{port}/baas-report/")
    assert (result.status, result.continued, result.sent_body) == (401, False, False)
    assert (missing.status, missing.continued, missing.sent_body) == (401, False, False)
    assert json.loads(result.body) == {"error": "unauthorized"}
    assert webhook.statistics().unauthorized == 2
    assert webhook.statistics().accepted == 0
    assert recorder.queue.empty()
    assert sim.stats.billing_notifications == {401: 2}


async def test_malformed_body_over_a_socket_is_400() -> None:
    """A malformed body sent after 100 Continue answers 400."""
    webhook = BillingWebhook(SECRET, ThreadRecorder())
    with serve(webhook) as port, anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            raw = RawHTTP(stream)
            await stream.send(request_head(port, f"code={SECRET}", b"{trigger}"))
            await raw.head()
            await stream.send(b"{trigger}")
            final, _ = await raw.head()
    assert final.startswith("HTTP/1.1 400")


async def test_server_without_lifespan_answers_503() -> None:
    """Hosted with lifespan off and no running(), the webhook answers 503."""
    webhook = BillingWebhook(SECRET, ThreadRecorder())
    sim = Simulator(consumers=2)
    with serve(webhook, lifespan="off") as port:
        result = await sim.test_billing_subscriber(hook_url(port))
    # Refused before the body is read: no 100 Continue, and the body is never sent.
    assert (result.status, result.continued, result.sent_body) == (503, False, False)


async def test_mounted_callback_fetches_billing_from_the_simulator() -> None:
    """Mounted in Starlette with the client in the lifespan, the callback gets billing data."""
    sim = Simulator(consumers=12)
    received: queue.Queue[tuple[BillingData, BillingNotification]] = queue.Queue()

    async def on_data(data: BillingData, note: BillingNotification) -> None:
        received.put((data, note))

    with sim.serve_in_thread() as base_url:
        api = client_for(sim, base_url)
        webhook = BillingWebhook(SECRET, billing_fetcher(api, sim.world.root_id, on_data))

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with api, webhook.running():
                yield

        app = Starlette(routes=[Mount("/baas-report", app=webhook)], lifespan=lifespan)
        with serve(app) as port:
            result = await sim.test_billing_subscriber(hook_url(port))
            data, note = await anyio.to_thread.run_sync(functools.partial(received.get, timeout=10))
    assert (result.status, result.continued) == (200, True)
    assert note.trigger == TEST_TRIGGER
    assert data.invoice_date_str == sim.world.invoice_dates()[0].isoformat()
    assert data.billing_business_unit is not None
    assert data.billing_business_unit.id == sim.world.root_id
    assert data.invoices


async def test_simulator_notification_reaches_uvicorn_and_the_callback_fetches_billing() -> None:
    """A subscriber added to the simulator gets its notification; the callback reads billing.

    The webhook is served by uvicorn on loopback; its callback opens a ``Cloutility``
    client on the same simulator (served in another thread) and fetches the newest data.
    """
    sim = Simulator(consumers=12)
    root = sim.world.root_id
    received: queue.Queue[tuple[BillingData | None, BillingNotification]] = queue.Queue()

    with sim.serve_in_thread() as base_url:

        async def callback(note: BillingNotification) -> None:
            async with client_for(sim, base_url) as api:
                received.put((await fetch_latest_billing(api, root), note))

        webhook = BillingWebhook(SECRET, callback)
        with serve(webhook) as port:
            subscriber_id = sim.add_billing_subscriber(root, hook_url(port))
            results = await sim.notify_billing_subscribers(root)
            data, note = await anyio.to_thread.run_sync(functools.partial(received.get, timeout=10))
    assert sim.billing_subscribers[subscriber_id].post_url == hook_url(port)
    [result] = results
    assert (result.status, result.continued, result.sent_body) == (200, True, True)
    assert note.trigger == "new billing data available"
    assert data is not None
    assert data.invoice_date_str == max(sim.world.invoice_dates()).isoformat()
    assert data.billing_business_unit is not None
    assert data.billing_business_unit.id == root
    assert data.invoices
    assert webhook.statistics().callbacks_succeeded == 1
    assert sim.stats.grants["password"] == 1
    assert sim.stats.requests["GET /bunits/{id}/billing"] == 1
    assert sim.stats.billing_notifications == {200: 1}


def client_for(sim: Simulator, base_url: str) -> Cloutility:
    """An unopened SDK client for ``sim`` (opened later, in the server's lifespan)."""
    return Cloutility(**sim.client_options(base_url), strict=True)
