"""uap_client.fastapi.UAPAuth in a small FastAPI app, against a real UAP."""

from __future__ import annotations

import httpx
import pytest
from conftest import login
from fastapi import Depends, FastAPI

from uap_client import User
from uap_client.fastapi import UAPAuth

pytestmark = pytest.mark.anyio


def make_app(base_url: str) -> tuple[FastAPI, UAPAuth]:
    auth = UAPAuth(base_url, excluded_paths=["/health", "/public/*"])
    # App-wide: every route needs a user, except the excluded paths.
    app = FastAPI(dependencies=[Depends(auth.require_user)])

    @app.get("/me")
    async def me(user: User = Depends(auth.require_user)) -> dict:
        return {"user_id": user.user_id, "session_id": user.session_id, "username": user.user_data["username"]}

    @app.get("/admin")
    async def admin(user: User = Depends(auth.require_roles("admin"))) -> dict:
        return {"admin": user.user_data["username"]}

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True}

    @app.get("/public/hello")
    async def hello(user: User | None = Depends(auth.optional_user)) -> dict:
        return {"hello": user.user_data["username"] if user else None}

    return app, auth


@pytest.fixture
async def web(uap):
    app, auth = make_app(uap.base_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as web:
        yield web
    await auth.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logged_in_user_reaches_the_route(web, uap) -> None:
    token = login(uap.base_url, "bob")
    response = await web.get("/me", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert (body["user_id"], body["username"]) == ("2", "bob")
    assert body["session_id"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic Ym9iOng="}])
async def test_no_or_bad_token_is_401(web, headers) -> None:
    response = await web.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


async def test_logged_out_token_is_401(web, uap) -> None:
    token = login(uap.base_url, "bob")
    assert (await web.get("/me", headers=bearer(token))).status_code == 200
    httpx.post(f"{uap.base_url}/api/v1/auth/logout", headers=bearer(token)).raise_for_status()
    assert (await web.get("/me", headers=bearer(token))).status_code == 401


async def test_roles(web, uap) -> None:
    forbidden = await web.get("/admin", headers=bearer(login(uap.base_url, "bob")))
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["detail"]
    allowed = await web.get("/admin", headers=bearer(login(uap.base_url, "alice")))
    assert allowed.status_code == 200 and allowed.json() == {"admin": "alice"}
    assert (await web.get("/admin")).status_code == 401


async def test_excluded_paths_are_open(web, uap) -> None:
    assert (await web.get("/health")).json() == {"ok": True}
    assert (await web.get("/public/hello")).json() == {"hello": None}
    token = login(uap.base_url, "alice")
    assert (await web.get("/public/hello", headers=bearer(token))).json() == {"hello": "alice"}
    assert (await web.get("/public/hello", headers=bearer("garbage"))).json() == {"hello": None}


async def test_uap_down_is_503_not_401(doomed_uap) -> None:
    app, auth = make_app(doomed_uap.base_url)
    token = login(doomed_uap.base_url, "alice")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as web:
        assert (await web.get("/me", headers=bearer(token))).status_code == 200
        doomed_uap.stop()
        for path in ("/me", "/admin", "/public/hello"):
            response = await web.get(path, headers=bearer(token))
            assert response.status_code == 503, path
            assert response.json() == {"detail": "Authentication service unavailable"}
        # Without a token there is nothing to ask UAP: still 401, and excluded paths still open.
        assert (await web.get("/me")).status_code == 401
        assert (await web.get("/health")).status_code == 200
    await auth.aclose()
