"""uap_client.django in a small Django project (this module is its URLconf),
against a real UAP."""

from __future__ import annotations

import django
import httpx
import pytest
from conftest import login
from django.conf import settings
from django.http import JsonResponse
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from django.urls import path
from fake_uap import API_KEY, ISSUER, issue, wait_until

from uap_client.django import get_validator, login_required, roles_required

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["uap_client.django.UAPMiddleware"],
        INSTALLED_APPS=[],
        DATABASES={},
        UAP_BASE_URL="http://127.0.0.1:9",  # each test overrides it with its server's
        UAP_EXCLUDED_PATHS=["/health", "/public/*"],
    )
    django.setup()


@login_required
def me(request):
    user = request.uap_user
    return JsonResponse(
        {"user_id": user.user_id, "session_id": user.session_id, "username": user.user_data["username"]}
    )


@roles_required("admin")
def admin(request):
    return JsonResponse({"admin": request.uap_user.user_data["username"]})


@login_required
async def async_me(request):
    return JsonResponse({"username": request.uap_user.user_data["username"]})


def whoami(request):  # not protected: request.uap_user is the user or None
    user = request.uap_user
    return JsonResponse({"user": user.user_data["username"] if user else None})


def health(request):
    return JsonResponse({"ok": True, "user": request.uap_user})


@login_required  # an explicit decorator wins over an excluded path
def public_secret(request):
    return JsonResponse({"username": request.uap_user.user_data["username"]})


urlpatterns = [
    path("me", me),
    path("admin", admin),
    path("async-me", async_me),
    path("whoami", whoami),
    path("health", health),
    path("public/secret", public_secret),
]


@pytest.fixture
def web(uap):
    with override_settings(UAP_BASE_URL=uap.base_url):
        yield DjangoClient()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_logged_in_user_reaches_the_view(web, uap) -> None:
    token = login(uap.base_url, "bob")
    response = web.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user_id"] == "2" and response.json()["username"] == "bob"
    assert web.get("/async-me", headers=bearer(token)).json() == {"username": "bob"}
    assert web.get("/whoami", headers=bearer(token)).json() == {"user": "bob"}


def test_no_or_bad_token_is_401(web, uap) -> None:
    missing = web.get("/me")
    assert missing.status_code == 401
    assert missing.json() == {"error": "Not authenticated"}
    assert missing["WWW-Authenticate"] == "Bearer"
    garbage = web.get("/me", headers=bearer("garbage"))
    assert (garbage.status_code, garbage.json()) == (401, {"error": "Invalid or expired token"})
    assert web.get("/whoami").json() == {"user": None}
    assert web.get("/whoami", headers=bearer("garbage")).json() == {"user": None}

    token = login(uap.base_url, "bob")
    httpx.post(f"{uap.base_url}/api/v1/auth/logout", headers=bearer(token)).raise_for_status()
    assert web.get("/me", headers=bearer(token)).status_code == 401


def test_roles(web, uap) -> None:
    forbidden = web.get("/admin", headers=bearer(login(uap.base_url, "bob")))
    assert (forbidden.status_code, forbidden.json()) == (403, {"error": "Forbidden: requires role admin"})
    assert web.get("/admin", headers=bearer(login(uap.base_url, "alice"))).json() == {"admin": "alice"}
    assert web.get("/admin").status_code == 401


def test_excluded_paths(web, uap) -> None:
    token = login(uap.base_url, "alice")
    assert web.get("/health", headers=bearer(token)).json() == {"ok": True, "user": None}
    assert web.get("/public/secret").status_code == 401
    assert web.get("/public/secret", headers=bearer(token)).json() == {"username": "alice"}


def test_uap_down_is_503_not_401(doomed_uap) -> None:
    with override_settings(UAP_BASE_URL=doomed_uap.base_url):
        web = DjangoClient()
        token = login(doomed_uap.base_url, "alice")
        assert web.get("/admin", headers=bearer(token)).status_code == 200
        doomed_uap.stop()
        for url in ("/me", "/admin", "/whoami", "/async-me", "/public/secret"):
            response = web.get(url, headers=bearer(token))
            assert response.status_code == 503, url
            assert response.json() == {"error": "Authentication service unavailable"}
        assert web.get("/me").status_code == 401
        assert web.get("/health", headers=bearer(token)).status_code == 200


def test_local_mode_from_settings(fake, key) -> None:
    local = {"issuer": ISSUER, "max_backoff_seconds": 0.2}
    with override_settings(UAP_BASE_URL=fake.base_url, UAP_LOCAL_MODE=local, UAP_SDK_API_KEY=API_KEY):
        web = DjangoClient()
        validator = get_validator()
        try:
            fake.wait_connections(1)
            fake.ready()
            assert validator.client.wait_local(5)
            token = issue(fake, key, username="carol", role="admin")
            for url in ("/me", "/admin", "/async-me"):
                assert web.get(url, headers=bearer(token)).status_code == 200, url
            assert fake.validate_calls == 1  # first sight only
            sid = web.get("/me", headers=bearer(token)).json()["session_id"]
            fake.send("session_ended", {"session_id": sid, "user_id": "7"}, id="1")
            wait_until(lambda: web.get("/me", headers=bearer(token)).status_code == 401)
            assert fake.validate_calls == 1
        finally:
            validator.close()


def test_local_mode_setting_needs_the_key() -> None:
    with override_settings(UAP_BASE_URL="http://127.0.0.1:9", UAP_LOCAL_MODE=True, UAP_SDK_API_KEY=None):
        with pytest.raises(ValueError, match="UAP_SDK_API_KEY"):
            get_validator()
