"""OAuth grants and the bearer/Origin checks on every other request."""

from __future__ import annotations

import anyio
import pytest

from cloutility_async.testing import (
    FULL_VERSION,
    Simulator,
)

from ._helpers import (
    DENIED,
    auth_headers,
    open_client,
    password_grant,
)

pytestmark = pytest.mark.anyio


# -- OAuth --------------------------------------------------------------------------------


async def test_password_grant_returns_the_documented_token(sim: Simulator) -> None:
    """A password grant answers access_token, bearer, expires_in 299 and a refresh token."""
    async with open_client(sim, authed=False) as client:
        response = await password_grant(client, sim)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 299
    assert body["access_token"] != body["refresh_token"]
    assert sim.stats.grants == {"password": 1, "refresh_token": 0}
    assert sim.stats.grants_total == 1


async def test_refresh_grant_keeps_the_refresh_token(sim: Simulator) -> None:
    """Refreshing issues a new access token; the refresh token stays the same."""
    async with open_client(sim, authed=False) as client:
        first = (await password_grant(client, sim)).json()
        form = {
            "client_id": sim.client_id,
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
        }
        second = await client.post("oauth", data=form, headers={"Origin": sim.origin})
        third = await client.post("oauth", data=form, headers={"Origin": sim.origin})
        assert second.status_code == third.status_code == 200
        assert second.json()["refresh_token"] == first["refresh_token"]
        assert third.json()["refresh_token"] == first["refresh_token"]
        assert (
            len(
                {first["access_token"], second.json()["access_token"], third.json()["access_token"]}
            )
            == 3
        )
        version = await client.get(
            "fullVersion", headers=auth_headers(sim, third.json()["access_token"])
        )
    assert version.json() == FULL_VERSION
    assert sim.stats.grants == {"password": 1, "refresh_token": 2}


async def test_refresh_is_refused_for_a_client_without_refresh(sim: Simulator) -> None:
    """A client ID without "allow refresh" gets invalid_grant on refresh."""
    sim.register_client("no-refresh-client", "https://batch.example", allow_refresh=False)
    async with open_client(sim, authed=False) as client:
        login = await password_grant(
            client, sim, client_id="no-refresh-client", origin="https://batch.example"
        )
        assert login.status_code == 200
        refused = await client.post(
            "oauth",
            data={
                "client_id": "no-refresh-client",
                "grant_type": "refresh_token",
                "refresh_token": login.json()["refresh_token"],
            },
            headers={"Origin": "https://batch.example"},
        )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.json()["error_description"]
    assert sim.stats.rejections["refresh_refused"] == 1


async def test_unknown_or_revoked_refresh_token_is_invalid_grant(sim: Simulator) -> None:
    """Unknown refresh tokens and revoked sessions are refused."""
    async with open_client(sim, authed=False) as client:
        login = (await password_grant(client, sim)).json()
        form = {"client_id": sim.client_id, "grant_type": "refresh_token"}
        unknown = await client.post(
            "oauth", data={**form, "refresh_token": "nope"}, headers={"Origin": sim.origin}
        )
        sim.revoke_tokens(refresh_tokens=True)
        revoked = await client.post(
            "oauth",
            data={**form, "refresh_token": login["refresh_token"]},
            headers={"Origin": sim.origin},
        )
    assert unknown.status_code == revoked.status_code == 400
    assert unknown.json()["error"] == revoked.json()["error"] == "invalid_grant"


async def test_bad_credentials_are_invalid_grant(sim: Simulator) -> None:
    """A wrong password answers the OWIN error for bad credentials."""
    async with open_client(sim, authed=False) as client:
        response = await password_grant(client, sim, password="wrong")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The user name or password is incorrect.",
    }
    assert sim.stats.grants_total == 0
    assert sim.stats.rejections["invalid_grant"] == 1


async def test_unknown_client_and_wrong_origin_are_invalid_client(sim: Simulator) -> None:
    """The token endpoint checks the client ID and that Origin matches its registration."""
    async with open_client(sim, authed=False) as client:
        unknown = await password_grant(client, sim, client_id="00000000-0000-0000-0000-0000")
        wrong_origin = await password_grant(client, sim, origin="https://evil.example")
        no_origin = await client.post(
            "oauth",
            data={
                "client_id": sim.client_id,
                "grant_type": "password",
                "username": sim.username,
                "password": sim.password,
            },
        )
        unsupported = await password_grant(client, sim, grant_type="client_credentials")
    for response in (unknown, wrong_origin, no_origin):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client"
    assert unsupported.json()["error"] == "unsupported_grant_type"
    assert sim.stats.rejections["invalid_client"] == 1
    assert sim.stats.rejections["bad_origin"] == 1
    assert sim.stats.rejections["missing_origin"] == 1


# -- bearer checks ------------------------------------------------------------------------


async def test_requests_without_a_token_get_401(sim: Simulator) -> None:
    """No Authorization header: ASP.NET's denial body."""
    async with open_client(sim, authed=False) as client:
        response = await client.get("bunits", headers={"Origin": sim.origin})
        garbage = await client.get(
            "bunits", headers={"Origin": sim.origin, "Authorization": "Bearer garbage"}
        )
    assert response.status_code == garbage.status_code == 401
    assert response.json() == DENIED
    assert sim.stats.rejections["missing_token"] == 1
    assert sim.stats.rejections["invalid_token"] == 1


async def test_expired_tokens_get_401(anyio_backend: str) -> None:
    """Tokens expire after token_lifetime seconds (fractions allowed)."""
    sim = Simulator(token_lifetime=0.3)
    async with open_client(sim, authed=False) as client:
        token = (await password_grant(client, sim)).json()["access_token"]
        fresh = await client.get("fullVersion", headers=auth_headers(sim, token))
        await anyio.sleep(0.35)
        stale = await client.get("fullVersion", headers=auth_headers(sim, token))
    assert fresh.status_code == 200
    assert stale.status_code == 401
    assert stale.json() == DENIED
    assert sim.stats.rejections["expired_token"] == 1


async def test_expire_and_revoke_tokens(sim: Simulator) -> None:
    """expire_tokens() and revoke_tokens() make current tokens fail; new ones work."""
    async with open_client(sim, authed=False) as client:
        token = (await password_grant(client, sim)).json()["access_token"]
        sim.expire_tokens()
        expired = await client.get("me", headers=auth_headers(sim, token))
        token = (await password_grant(client, sim)).json()["access_token"]
        sim.revoke_tokens()
        revoked = await client.get("me", headers=auth_headers(sim, token))
        renewed = await client.get("me", headers=auth_headers(sim))
    assert expired.status_code == revoked.status_code == 401
    assert renewed.status_code == 200
    assert sim.stats.rejections["expired_token"] == 1
    assert sim.stats.rejections["revoked"] == 1


async def test_origin_must_match_the_tokens_client(sim: Simulator) -> None:
    """A valid token sent with another (or no) Origin is refused."""
    token = sim.issue_token()
    async with open_client(sim, authed=False) as client:
        wrong = await client.get(
            "me", headers={"Authorization": f"Bearer {token}", "Origin": "https://other.example"}
        )
        missing = await client.get("me", headers={"Authorization": f"Bearer {token}"})
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json()["message"]
    assert sim.stats.rejections["bad_origin"] == 1
    assert sim.stats.rejections["missing_origin"] == 1
