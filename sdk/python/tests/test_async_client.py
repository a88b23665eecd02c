"""The asyncio AsyncClient against a real UAP."""

from __future__ import annotations

import anyio
import httpx
import pytest
from conftest import login, unique_name

from uap_client import AsyncClient, InvalidCredentials, RateLimited, TokenInvalid, UAPUnavailable

pytestmark = pytest.mark.anyio


async def test_login_validate_refresh_logout(uap) -> None:
    async with AsyncClient(uap.base_url, timeout=10) as client:
        result = await client.authenticate(username="bob", password="bob-password")
        user = await client.validate(result.token)
        assert (user.user_id, user.roles, user.session_id) == ("2", ("user",), result.session_id)

        refreshed = await client.refresh(refresh_token=result.refresh_token)
        with pytest.raises(TokenInvalid):
            await client.validate(result.token)
        assert (await client.validate(refreshed.token)).user_data["username"] == "bob"

        assert [s.session_id for s in await client.sessions(refreshed.token) if s.current] == [refreshed.session_id]
        assert await client.logout(refreshed.token) is True
        with pytest.raises(TokenInvalid):
            await client.validate(refreshed.token)
        assert (await client.health()).healthy


async def test_concurrent_validations_share_one_client(uap) -> None:
    tokens = [login(uap.base_url, "alice"), login(uap.base_url, "bob")] * 10
    found: list[str] = []
    async with AsyncClient(uap.base_url, timeout=10) as client:

        async def check(token: str) -> None:
            found.append((await client.validate(token)).user_data["username"])

        async with anyio.create_task_group() as tg:
            for token in tokens:
                tg.start_soon(check, token)
        batch = await client.validate_batch(tokens[:2] + ["nope"])
    assert sorted(found) == ["alice"] * 10 + ["bob"] * 10
    assert [u.user_id if u else None for u in batch] == ["1", "2", None]


async def test_errors_are_typed(uap) -> None:
    name = unique_name()
    async with AsyncClient(uap.base_url, timeout=10) as client:
        with pytest.raises(TokenInvalid):
            await client.validate("garbage")
        for _ in range(5):
            with pytest.raises(InvalidCredentials):
                await client.authenticate(username=name, password="wrong")
        with pytest.raises(RateLimited) as limited:
            await client.authenticate(username=name, password="wrong")
    assert limited.value.retry_after > 0


async def test_stopped_uap_is_unavailable(doomed_uap) -> None:
    token = login(doomed_uap.base_url, "alice")
    async with AsyncClient(doomed_uap.base_url, timeout=5) as client:
        assert (await client.validate(token)).has_role("admin")
        doomed_uap.stop()
        with pytest.raises(UAPUnavailable):
            await client.validate(token)


async def test_async_timeout_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with AsyncClient("http://uap.invalid", transport=httpx.MockTransport(slow)) as client:
        with pytest.raises(UAPUnavailable, match="timed out"):
            await client.validate("a.b.c")
