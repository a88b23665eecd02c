"""Django integration: ``UAPMiddleware`` and the ``login_required`` /
``roles_required`` view decorators.

.. code-block:: python

    # settings.py
    MIDDLEWARE = [..., "uap_client.django.UAPMiddleware"]
    UAP_BASE_URL = "http://127.0.0.1:8000"
    UAP_EXCLUDED_PATHS = ["/health/", "/static/*"]
    # UAP_TIMEOUT = 5.0
    # Local mode (in-process checks, see uap_client.local):
    # UAP_LOCAL_MODE = True            # or a dict of LocalMode fields, e.g. {"issuer": "UAP"}
    # UAP_SDK_API_KEY = "..."          # UAP's sdk_api_key

    # views.py
    from uap_client.django import login_required, roles_required

    @login_required
    def me(request):
        return JsonResponse({"user_id": request.uap_user.user_id})

On every request to a path that is not excluded, a Bearer token is validated
with UAP and ``request.uap_user`` set to the :class:`~uap_client.User`, or to
``None`` without a (valid) token. When UAP cannot answer, the request gets 503
JSON — never treated as "not logged in". The decorators answer 401 / 403 JSON;
on an excluded path they validate the token themselves.
"""

from __future__ import annotations

import functools
import threading
from inspect import iscoroutinefunction
from typing import Any, Callable, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import _web
from ._client import Client
from ._core import DEFAULT_TIMEOUT
from .errors import UAPError
from .local import LocalMode
from .models import User
from .validators import RemoteValidator, Validator

__all__ = ["UAPMiddleware", "login_required", "roles_required", "get_validator"]

F = TypeVar("F", bound=Callable[..., Any])

_CHECKED = "_uap_checked"
_REJECTED = "_uap_rejected"

_lock = threading.Lock()
_validators: dict[tuple[str, float, LocalMode | None], Validator] = {}


def get_validator() -> Validator:
    """The process-wide validator for the current ``UAP_BASE_URL`` / ``UAP_TIMEOUT``
    / ``UAP_LOCAL_MODE`` (one pooled client, shared by every thread)."""
    base_url = getattr(settings, "UAP_BASE_URL", None)
    if not base_url:
        raise RuntimeError("uap_client.django needs the setting UAP_BASE_URL")
    local = LocalMode.from_settings(
        getattr(settings, "UAP_LOCAL_MODE", None), getattr(settings, "UAP_SDK_API_KEY", None)
    )
    key = (base_url, float(getattr(settings, "UAP_TIMEOUT", DEFAULT_TIMEOUT)), local)
    with _lock:
        validator = _validators.get(key)
        if validator is None:
            validator = RemoteValidator(Client(key[0], timeout=key[1], local=local))
            _validators[key] = validator
        return validator


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def _check(request: HttpRequest) -> HttpResponse | None:
    """Sets ``request.uap_user``; a 503 response when UAP cannot answer."""
    setattr(request, _CHECKED, True)
    request.uap_user = None  # type: ignore[attr-defined]
    token = _web.bearer(request.headers.get("Authorization"))
    if token is None:
        return None
    try:
        request.uap_user = get_validator().validate(token)  # type: ignore[attr-defined]
    except UAPError as exc:
        status, message = _web.failure(exc)
        if status == 401:
            setattr(request, _REJECTED, True)
            return None
        return _error(status, message)
    return None


class UAPMiddleware:
    """Sets ``request.uap_user`` from the Bearer token (see the module doc)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.excluded = _web.ExcludedPaths(getattr(settings, "UAP_EXCLUDED_PATHS", ()))
        get_validator()  # fail at start-up, not on the first request, when UAP_BASE_URL is missing

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in self.excluded:
            request.uap_user = None  # type: ignore[attr-defined]
        else:
            failure = _check(request)
            if failure is not None:
                return failure
        return self.get_response(request)


def _require(request: HttpRequest, roles: tuple[str, ...]) -> HttpResponse | None:
    if not getattr(request, _CHECKED, False):
        failure = _check(request)
        if failure is not None:
            return failure
    user: User | None = getattr(request, "uap_user", None)
    if user is None:
        return _error(401, _web.INVALID_TOKEN if getattr(request, _REJECTED, False) else _web.NOT_AUTHENTICATED)
    if roles and not user.has_role(*roles):
        return _error(403, _web.missing_roles_message(roles))
    return None


def _decorate(view: F, roles: tuple[str, ...]) -> F:
    if iscoroutinefunction(view):
        from asgiref.sync import sync_to_async

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            failure = await sync_to_async(_require)(request, roles)
            if failure is not None:
                return failure
            return await view(request, *args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        failure = _require(request, roles)
        if failure is not None:
            return failure
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def login_required(view: F) -> F:
    """401 JSON unless the request carries a valid UAP token."""
    return _decorate(view, ())


def roles_required(*roles: str) -> Callable[[F], F]:
    """401 JSON without a valid token, 403 JSON unless the user holds one of ``roles``."""
    if not roles:
        raise TypeError("roles_required() needs at least one role")
    return lambda view: _decorate(view, roles)
