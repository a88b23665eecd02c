"""FastAPI integration: ``UAPAuth`` dependencies.

.. code-block:: python

    auth = UAPAuth("http://127.0.0.1:8000", excluded_paths=["/health"])

    @app.get("/me")
    async def me(user: User = Depends(auth.require_user)): ...

    @app.get("/admin", dependencies=[Depends(auth.require_roles("admin"))])
    async def admin(): ...

Failures are ``HTTPException``s, so they answer FastAPI's JSON ``{"detail": ...}``:
401 (with ``WWW-Authenticate: Bearer``) for a missing or rejected token, 403 for
a missing role, 503 when UAP cannot answer (never a silent 401).
"""

from __future__ import annotations

from typing import Awaitable, Callable, Iterable

import httpx
from fastapi import HTTPException, Request

from . import _web
from ._async_client import AsyncClient
from ._core import DEFAULT_TIMEOUT
from .errors import UAPError
from .local import LocalMode
from .models import User
from .validators import AsyncRemoteValidator, AsyncValidator

__all__ = ["UAPAuth"]

_STATE_KEY = "uap_user"


class UAPAuth:
    """Dependencies that protect FastAPI routes with UAP.

    One shared ``httpx.AsyncClient`` serves every request; close it on shutdown
    with ``await auth.aclose()`` (e.g. in the app's lifespan). ``excluded_paths``
    (exact, or ``/prefix/*``) pass ``require_user`` without a token and give
    ``None`` — useful when it is an app-wide dependency. ``local=LocalMode(...)``
    checks tokens in-process (see :mod:`uap_client.local`); ``validator``
    replaces the client's validation altogether (tests, a custom check).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        excluded_paths: Iterable[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        validator: AsyncValidator | None = None,
        local: LocalMode | None = None,
    ) -> None:
        if validator is None:
            if base_url is None:
                raise TypeError("UAPAuth needs base_url (or a validator)")
            validator = AsyncRemoteValidator(AsyncClient(base_url, timeout=timeout, transport=transport, local=local))
        self.validator = validator
        self.excluded_paths = _web.ExcludedPaths(excluded_paths)

    async def aclose(self) -> None:
        await self.validator.close()

    async def _user(self, request: Request, *, required: bool) -> User | None:
        cached = getattr(request.state, _STATE_KEY, None)
        if cached is not None:
            return cached
        token = _web.bearer(request.headers.get("authorization"))
        if token is None:
            if required:
                raise HTTPException(401, _web.NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
            user = None
        else:
            try:
                user = await self.validator.validate(token)
            except UAPError as exc:
                status, message = _web.failure(exc)
                if status == 401 and not required:
                    user = None
                else:
                    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                    raise HTTPException(status, message, headers=headers) from exc
        if user is not None:
            setattr(request.state, _STATE_KEY, user)
        return user

    async def require_user(self, request: Request) -> User:
        """The caller's :class:`User`; 401 without a valid token, 503 when UAP is down.
        On an excluded path: ``None`` without asking UAP."""
        if request.url.path in self.excluded_paths:
            return None  # type: ignore[return-value]
        user = await self._user(request, required=True)
        assert user is not None
        return user

    async def optional_user(self, request: Request) -> User | None:
        """The caller's :class:`User`, or ``None`` without a (valid) token; 503 when UAP is down."""
        return await self._user(request, required=False)

    def require_roles(self, *roles: str) -> Callable[[Request], Awaitable[User]]:
        """A dependency: the caller's :class:`User` when it holds any of ``roles``, else 403."""
        if not roles:
            raise TypeError("require_roles() needs at least one role")

        async def dependency(request: Request) -> User:
            user = await self._user(request, required=True)
            assert user is not None
            if not user.has_role(*roles):
                raise HTTPException(403, _web.missing_roles_message(roles))
            return user

        return dependency
