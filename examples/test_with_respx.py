import httpx
import pytest
import respx

from cloutility_async import Cloutility

BASE = "https://portal.test/v1/"


@pytest.mark.anyio
async def test_full_version_is_read() -> None:
    router = respx.MockRouter(assert_all_called=True)
    router.post(BASE + "oauth").respond(
        json={"access_token": "a", "refresh_token": "r", "expires_in": 300, "token_type": "bearer"}
    )
    router.get(BASE + "fullVersion").respond(json="7.3.0.12")
    async with Cloutility(
        client_id="client",
        origin="https://app.test",
        username="user",
        password="secret",
        base_url=BASE,
        transport=httpx.MockTransport(router.async_handler),
    ) as api:
        assert await api.full_version() == "7.3.0.12"
    router.assert_all_called()
