"""Flask extension: ``UAP``.

.. code-block:: python

    app = Flask(__name__)
    uap = UAP(app, base_url="http://127.0.0.1:8000", excluded_paths=["/health"])

    @app.get("/me")
    @uap.login_required
    def me():
        return {"user_id": g.uap_user.user_id}

    @app.get("/admin")
    @uap.roles_required("admin")
    def admin(): ...

Before every request to a path that is not excluded, a Bearer token is
validated with UAP and ``g.uap_user`` set to the :class:`~uap_client.User`, or to
``None`` without a (valid) token. When UAP cannot answer, the request gets 503
JSON — never treated as "not logged in". ``login_required`` answers 401 JSON and
``roles_required`` 403 JSON to others; on an excluded path they validate the
token themselves. Settings: ``UAP_BASE_URL``, ``UAP_EXCLUDED_PATHS``,
``UAP_TIMEOUT`` in ``app.config`` when not passed; local mode with
``local=LocalMode(...)`` or ``UAP_LOCAL_MODE = True`` and ``UAP_SDK_API_KEY``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import httpx
from flask import Flask, current_app, g, jsonify, request

from . import _web
from ._client import Client
from ._core import DEFAULT_TIMEOUT
from .errors import UAPError
from .local import LocalMode
from .models import User
from .validators import RemoteValidator, Validator

__all__ = ["UAP"]

F = TypeVar("F", bound=Callable[..., Any])

_CHECKED = "_uap_checked"
_REJECTED = "_uap_rejected"


@dataclass
class _State:
    validator: Validator
    excluded: _web.ExcludedPaths


def _error(status: int, message: str) -> Any:
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


class UAP:
    """Protects Flask views with UAP. ``UAP(app, base_url=...)`` or ``init_app(app)`` later."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        base_url: str | None = None,
        excluded_paths: Iterable[str] | None = None,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        validator: Validator | None = None,
        local: LocalMode | None = None,
    ) -> None:
        self._local = local
        self._base_url = base_url
        self._excluded = excluded_paths
        self._timeout = timeout
        self._transport = transport
        self._validator = validator
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        validator = self._validator
        if validator is None:
            base_url = self._base_url or app.config.get("UAP_BASE_URL")
            if not base_url:
                raise RuntimeError("uap_client.flask.UAP needs base_url= or app.config['UAP_BASE_URL']")
            timeout = self._timeout or app.config.get("UAP_TIMEOUT", DEFAULT_TIMEOUT)
            local = self._local or LocalMode.from_settings(
                app.config.get("UAP_LOCAL_MODE"), app.config.get("UAP_SDK_API_KEY")
            )
            validator = RemoteValidator(Client(base_url, timeout=timeout, transport=self._transport, local=local))
        excluded = self._excluded if self._excluded is not None else app.config.get("UAP_EXCLUDED_PATHS", ())
        app.extensions["uap"] = _State(validator, _web.ExcludedPaths(excluded))
        app.before_request(self._before_request)

    @staticmethod
    def _state() -> _State:
        return current_app.extensions["uap"]

    def _check(self) -> Any:
        """Sets ``g.uap_user``; a 503 response when UAP cannot answer."""
        setattr(g, _CHECKED, True)
        g.uap_user = None
        token = _web.bearer(request.headers.get("Authorization"))
        if token is None:
            return None
        try:
            g.uap_user = self._state().validator.validate(token)
        except UAPError as exc:
            status, message = _web.failure(exc)
            if status == 401:
                setattr(g, _REJECTED, True)
                return None
            return _error(status, message)
        return None

    def _before_request(self) -> Any:
        if request.path in self._state().excluded:
            g.uap_user = None
            return None
        return self._check()

    def _require(self, roles: tuple[str, ...]) -> Any:
        if not g.get(_CHECKED):
            failure = self._check()
            if failure is not None:
                return failure
        user: User | None = g.get("uap_user")
        if user is None:
            return _error(401, _web.INVALID_TOKEN if g.get(_REJECTED) else _web.NOT_AUTHENTICATED)
        if roles and not user.has_role(*roles):
            return _error(403, _web.missing_roles_message(roles))
        return None

    def login_required(self, view: F) -> F:
        """401 JSON unless the request carries a valid token."""

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            failure = self._require(())
            if failure is not None:
                return failure
            return current_app.ensure_sync(view)(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def roles_required(self, *roles: str) -> Callable[[F], F]:
        """401 JSON without a valid token, 403 JSON unless the user holds one of ``roles``."""
        if not roles:
            raise TypeError("roles_required() needs at least one role")

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                failure = self._require(roles)
                if failure is not None:
                    return failure
                return current_app.ensure_sync(view)(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorator
