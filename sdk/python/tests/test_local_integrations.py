"""FastAPI's UAPAuth and Flask's UAP in local mode, against the fake UAP
(Django's is in test_django.py, where its settings live)."""

from __future__ import annotations

import anyio
import httpx
import pytest
from fake_uap import API_KEY, ISSUER, FakeUap, SigningKey, issue, mode, wait_until
from fastapi import Depends, FastAPI
from flask import Flask, g

from uap_client import User
from uap_client.fastapi import UAPAuth
from uap_client.flask import UAP


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_fastapi_local_mode(fake: FakeUap, key: SigningKey) -> None:
    auth = UAPAuth(fake.base_url, local=mode())
    app = FastAPI()

    @app.get("/admin")
    async def admin(user: User = Depends(auth.require_roles("admin"))) -> dict:
        return {"session_id": user.session_id}

    client = auth.validator.client  # type: ignore[attr-defined]
    try:
        client.start_local()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as web:
            while not fake.connections:
                await anyio.sleep(0.01)
            fake.ready()
            assert await client.wait_local(5)
            admin_token = issue(fake, key, role="admin")
            user_token = issue(fake, key, role="user")
            for _ in range(3):
                assert (await web.get("/admin", headers=bearer(admin_token))).status_code == 200
            assert (await web.get("/admin", headers=bearer(user_token))).status_code == 403
            assert fake.validate_calls == 2
            sid = (await web.get("/admin", headers=bearer(admin_token))).json()["session_id"]
            fake.send("session_ended", {"session_id": sid, "user_id": "7"}, id="1")
            for _ in range(300):
                if (await web.get("/admin", headers=bearer(admin_token))).status_code == 401:
                    break
                await anyio.sleep(0.01)
            assert (await web.get("/admin", headers=bearer(admin_token))).status_code == 401
            assert fake.validate_calls == 2
    finally:
        await auth.aclose()


@pytest.mark.parametrize("from_config", [False, True])
def test_flask_local_mode(fake: FakeUap, key: SigningKey, from_config: bool) -> None:
    app = Flask(__name__)
    if from_config:
        app.config.update(
            UAP_BASE_URL=fake.base_url,
            UAP_LOCAL_MODE={"issuer": ISSUER, "max_backoff_seconds": 0.2},
            UAP_SDK_API_KEY=API_KEY,
        )
        uap = UAP()
        uap.init_app(app)
    else:
        uap = UAP(app, base_url=fake.base_url, local=mode())

    @app.get("/me")
    @uap.login_required
    def me():
        return {"session_id": g.uap_user.session_id, "username": g.uap_user.user_data["username"]}

    client = app.extensions["uap"].validator.client
    try:
        fake.wait_connections(1)
        fake.ready()
        assert client.wait_local(5)
        token = issue(fake, key)
        web = app.test_client()
        for _ in range(3):
            assert web.get("/me", headers=bearer(token)).json["username"] == "bob"
        assert fake.validate_calls == 1
        sid = web.get("/me", headers=bearer(token)).json["session_id"]
        fake.send("session_ended", {"session_id": sid, "user_id": "7"}, id="1")
        wait_until(lambda: web.get("/me", headers=bearer(token)).status_code == 401)
        assert fake.validate_calls == 1
    finally:
        client.close()
