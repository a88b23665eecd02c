"""The asynchronous client, :class:`AsyncClient`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from . import _core
from .local import LocalMode
from .models import Health, LoginResult, SessionInfo, User

if TYPE_CHECKING:
    from ._local import AsyncLocalValidator

T = TypeVar("T")

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio UAP client over one pooled ``httpx.AsyncClient``.

    ``timeout`` (seconds) bounds every call; a timeout, a refused connection or a
    5xx raises :class:`~uap_client.UAPUnavailable`. ``transport`` replaces httpx's
    transport (tests, proxies). Share one per event loop; ``await close()`` (or ``async with``) when done.

    ``local=LocalMode(sdk_api_key=...)`` turns on local mode (:mod:`uap_client.local`):
    ``validate`` then checks asymmetric tokens in-process while UAP's events feed
    is live (an asyncio task, started by the first ``validate`` or ``start_local()``),
    and remotely otherwise.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        local: LocalMode | None = None,
    ) -> None:
        self.base_url = _core.normalize_base_url(base_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _core.USER_AGENT, **(headers or {})},
        )
        self._local: AsyncLocalValidator | None = None
        if local is not None:
            self._local = local.driver().AsyncLocalValidator(self._http, local, self._remote_validate)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancels local mode's feed task and closes the connection pool."""
        if self._local is not None:
            await self._local.close()
        await self._http.aclose()

    def start_local(self) -> None:
        """Starts local mode's feed task in the running loop (the first ``validate`` does too)."""
        if self._local is not None:
            self._local.start()

    @property
    def local_live(self) -> bool:
        """Whether ``validate`` checks tokens in-process right now (local mode, feed live)."""
        return self._local is not None and self._local.live

    async def wait_local(self, timeout: float = 5.0) -> bool:
        """Starts the feed if needed and waits (at most ``timeout`` seconds) until
        local checks are live; False without local mode or when it did not come up in time."""
        return self._local is not None and await self._local.wait_live(timeout)

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r})"

    async def _send(self, call: _core.Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, json=call.json, headers=call.headers())
        except httpx.HTTPError as exc:
            raise _core.unavailable(exc) from exc
        return call.read(response)

    async def authenticate(self, *, password: str, **fields: Any) -> LoginResult:
        """``POST /authenticate`` with the identifier your ``auth_type`` uses
        (``username=``, ``email=``, ``phone=`` or ``identifier=``) and optionally
        ``device_id``, ``metadata``, ``captcha_token``, ``mfa_code``.

        Raises InvalidCredentials, RateLimited, Blocked, MfaRequired,
        MfaEnrollmentRequired, ShadowDecision or UAPUnavailable.
        """
        return await self._send(_core.authenticate(fields, password))

    async def mfa_verify(self, mfa_token: str, code: str) -> LoginResult:
        """``POST /mfa/verify``: completes a login that raised MfaRequired."""
        return await self._send(_core.mfa_verify(mfa_token, code))

    async def validate(self, token: str) -> User:
        """``GET /validate``: the token's user, or TokenInvalid (answer 401);
        UAPUnavailable when UAP cannot say (answer 503). In local mode, checked
        in-process while the feed is live (the first sight of a session still asks UAP)."""
        _core.check_token(token)
        if self._local is not None:
            return await self._local.validate(token)
        return await self._remote_validate(token)

    async def _remote_validate(self, token: str) -> User:
        return await self._send(_core.validate(token))

    async def validate_batch(self, tokens: list[str]) -> list[User | None]:
        """``POST /validate/batch`` (at most 1000): a User or None per token, in order."""
        return await self._send(_core.validate_batch(tokens))

    async def refresh(self, token: str | None = None, *, refresh_token: str | None = None) -> LoginResult:
        """``POST /refresh`` with the session token or a ``refresh_token``; the old ones stop working."""
        return await self._send(_core.refresh(token, refresh_token))

    async def logout(self, token: str) -> bool:
        """``POST /logout``: True when the session ended, False when it was already gone."""
        return await self._send(_core.logout(_core.check_token(token)))

    async def logout_all(self, token: str) -> int:
        """``POST /logout-all``: ends every session of the token's user; how many ended."""
        return await self._send(_core.logout_all(_core.check_token(token)))

    async def sessions(self, token: str) -> list[SessionInfo]:
        """``GET /sessions``: the sessions of the token's user."""
        return await self._send(_core.sessions(_core.check_token(token)))

    async def health(self) -> Health:
        """``GET /api/v1/config/health``."""
        return await self._send(_core.health())
