"""Helpers for the simulator tests: plain httpx clients on the app, token headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timezone
from typing import Any

import httpx

from cloutility_async.testing import Simulator

BASE = "http://sim.test/v1/"
UTC = timezone.utc
ERROR_KEYS = {"status", "code", "message", "developerMessage"}
DENIED = {"message": "Authorization has been denied for this request."}


def auth_headers(sim: Simulator, token: str | None = None) -> dict[str, str]:
    """Bearer and Origin headers for ``sim`` (a freshly minted token unless given)."""
    return {"Authorization": f"Bearer {token or sim.issue_token()}", "Origin": sim.origin}


@asynccontextmanager
async def open_client(
    sim: Simulator, *, authed: bool = True, base_url: str = BASE
) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client on the simulator's ASGI app (logged in unless ``authed=False``)."""
    headers = auth_headers(sim) if authed else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url=base_url, headers=headers
    ) as client:
        yield client


async def password_grant(
    client: httpx.AsyncClient, sim: Simulator, **overrides: str
) -> httpx.Response:
    """POST /oauth with the password grant (form fields or Origin overridden by keyword)."""
    form = {
        "client_id": sim.client_id,
        "grant_type": "password",
        "username": sim.username,
        "password": sim.password,
    }
    origin = overrides.pop("origin", sim.origin)
    form.update(overrides)
    return await client.post("oauth", data=form, headers={"Origin": origin})


def hrefs(value: Any) -> Iterator[str]:
    """Every ``href`` anywhere in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "href" and isinstance(v, str):
                yield v
            else:
                yield from hrefs(v)
    elif isinstance(value, list):
        for item in value:
            yield from hrefs(item)
