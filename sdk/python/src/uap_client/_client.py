"""The synchronous client, :class:`Client`."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from . import _core
from .models import Health, LoginResult, SessionInfo, User

T = TypeVar("T")

__all__ = ["Client"]


class Client:
    """A synchronous UAP client over one pooled ``httpx.Client``.

    ``timeout`` (seconds) bounds every call; a timeout, a refused connection or a
    5xx raises :class:`~uap_client.UAPUnavailable`. ``transport`` replaces httpx's
    transport (tests, proxies). Thread-safe; close it (or use ``with``) when done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = _core.normalize_base_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _core.USER_AGENT, **(headers or {})},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _send(self, call: _core.Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, json=call.json, headers=call.headers())
        except httpx.HTTPError as exc:
            raise _core.unavailable(exc) from exc
        return call.read(response)

    def authenticate(self, *, password: str, **fields: Any) -> LoginResult:
        """``POST /authenticate`` with the identifier your ``auth_type`` uses
        (``username=``, ``email=``, ``phone=`` or ``identifier=``) and optionally
        ``device_id``, ``metadata``, ``captcha_token``, ``mfa_code``.

        Raises InvalidCredentials, RateLimited, Blocked, MfaRequired,
        MfaEnrollmentRequired, ShadowDecision or UAPUnavailable.
        """
        return self._send(_core.authenticate(fields, password))

    def mfa_verify(self, mfa_token: str, code: str) -> LoginResult:
        """``POST /mfa/verify``: completes a login that raised MfaRequired."""
        return self._send(_core.mfa_verify(mfa_token, code))

    def validate(self, token: str) -> User:
        """``GET /validate``: the token's user, or TokenInvalid (answer 401);
        UAPUnavailable when UAP cannot say (answer 503)."""
        return self._send(_core.validate(_core.check_token(token)))

    def validate_batch(self, tokens: list[str]) -> list[User | None]:
        """``POST /validate/batch`` (at most 1000): a User or None per token, in order."""
        return self._send(_core.validate_batch(tokens))

    def refresh(self, token: str | None = None, *, refresh_token: str | None = None) -> LoginResult:
        """``POST /refresh`` with the session token or a ``refresh_token``; the old ones stop working."""
        return self._send(_core.refresh(token, refresh_token))

    def logout(self, token: str) -> bool:
        """``POST /logout``: True when the session ended, False when it was already gone."""
        return self._send(_core.logout(_core.check_token(token)))

    def logout_all(self, token: str) -> int:
        """``POST /logout-all``: ends every session of the token's user; how many ended."""
        return self._send(_core.logout_all(_core.check_token(token)))

    def sessions(self, token: str) -> list[SessionInfo]:
        """``GET /sessions``: the sessions of the token's user."""
        return self._send(_core.sessions(_core.check_token(token)))

    def health(self) -> Health:
        """``GET /api/v1/config/health``."""
        return self._send(_core.health())
