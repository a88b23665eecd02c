"""uap_client.flask.UAP in a small Flask app, against a real UAP."""

from __future__ import annotations

import httpx
import pytest
from conftest import login
from flask import Flask, g

from uap_client.flask import UAP


def make_app(base_url: str, *, factory: bool = False) -> Flask:
    app = Flask(__name__)
    if factory:  # the application-factory style: settings from app.config, init_app later
        uap = UAP()
        app.config.update(UAP_BASE_URL=base_url, UAP_EXCLUDED_PATHS=["/health", "/public/*"])
    else:
        uap = UAP(app, base_url=base_url, excluded_paths=["/health", "/public/*"])

    @app.get("/me")
    @uap.login_required
    def me():
        user = g.uap_user
        return {"user_id": user.user_id, "session_id": user.session_id, "username": user.user_data["username"]}

    @app.get("/admin")
    @uap.roles_required("admin")
    def admin():
        return {"admin": g.uap_user.user_data["username"]}

    @app.get("/async-me")
    @uap.login_required
    async def async_me():
        return {"username": g.uap_user.user_data["username"]}

    @app.get("/whoami")
    def whoami():  # not protected: g.uap_user is the user or None
        return {"user": g.uap_user.user_data["username"] if g.uap_user else None}

    @app.get("/health")
    def health():
        return {"ok": True, "user": g.uap_user}

    @app.get("/public/secret")
    @uap.login_required  # an explicit decorator wins over an excluded path
    def public_secret():
        return {"username": g.uap_user.user_data["username"]}

    if factory:
        uap.init_app(app)
    return app


@pytest.fixture(params=[False, True], ids=["constructor", "init_app"])
def web(uap, request):
    return make_app(uap.base_url, factory=request.param).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_logged_in_user_reaches_the_route(web, uap) -> None:
    token = login(uap.base_url, "bob")
    response = web.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["user_id"] == "2" and response.json["username"] == "bob"
    assert web.get("/async-me", headers=bearer(token)).json == {"username": "bob"}
    assert web.get("/whoami", headers=bearer(token)).json == {"user": "bob"}


def test_no_or_bad_token_is_401(web, uap) -> None:
    missing = web.get("/me")
    assert missing.status_code == 401
    assert missing.json == {"error": "Not authenticated"}
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    garbage = web.get("/me", headers=bearer("garbage"))
    assert garbage.status_code == 401
    assert garbage.json == {"error": "Invalid or expired token"}
    assert web.get("/whoami", headers=bearer("garbage")).json == {"user": None}

    token = login(uap.base_url, "bob")
    httpx.post(f"{uap.base_url}/api/v1/auth/logout", headers=bearer(token)).raise_for_status()
    assert web.get("/me", headers=bearer(token)).status_code == 401


def test_roles(web, uap) -> None:
    forbidden = web.get("/admin", headers=bearer(login(uap.base_url, "bob")))
    assert forbidden.status_code == 403
    assert forbidden.json == {"error": "Forbidden: requires role admin"}
    assert web.get("/admin", headers=bearer(login(uap.base_url, "alice"))).json == {"admin": "alice"}
    assert web.get("/admin").status_code == 401


def test_excluded_paths(web, uap) -> None:
    token = login(uap.base_url, "alice")
    # Not looked at: no user even with a token.
    assert web.get("/health", headers=bearer(token)).json == {"ok": True, "user": None}
    assert web.get("/public/secret").status_code == 401
    assert web.get("/public/secret", headers=bearer(token)).json == {"username": "alice"}


def test_uap_down_is_503_not_401(doomed_uap) -> None:
    web = make_app(doomed_uap.base_url).test_client()
    token = login(doomed_uap.base_url, "alice")
    assert web.get("/admin", headers=bearer(token)).status_code == 200
    doomed_uap.stop()
    for path in ("/me", "/admin", "/whoami", "/public/secret"):
        response = web.get(path, headers=bearer(token))
        assert response.status_code == 503, path
        assert response.json == {"error": "Authentication service unavailable"}
    assert web.get("/me").status_code == 401
    assert web.get("/health", headers=bearer(token)).status_code == 200


def test_missing_base_url_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="UAP_BASE_URL"):
        UAP(Flask(__name__))
