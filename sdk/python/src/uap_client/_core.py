"""What the sync and async clients share: the request of each route and the
reading of its answer, free of I/O (the clients only send)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, TypeVar

import httpx

from .errors import (
    Blocked,
    InvalidCredentials,
    MfaEnrollmentRequired,
    MfaRequired,
    RateLimited,
    ShadowDecision,
    TokenInvalid,
    UAPError,
    UAPUnavailable,
)
from .models import Health, LoginResult, SessionInfo, User

T = TypeVar("T")

AUTH = "/api/v1/auth"
DEFAULT_TIMEOUT = 5.0
USER_AGENT = "uap-client-python/0.1.0"

#: The fields ``authenticate`` sends besides the password (CONTRACT §3).
LOGIN_FIELDS = frozenset(
    {"username", "email", "phone", "identifier", "device_id", "metadata", "captcha_token", "mfa_code", "host_decision"}
)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange: what to send and how to read the answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}


def normalize_base_url(base_url: str) -> str:
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    return base_url.rstrip("/")


def unavailable(exc: httpx.HTTPError) -> UAPUnavailable:
    """A transport failure (timeout, refused connection, broken response)."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    return UAPUnavailable(f"UAP {kind}: {type(exc).__name__}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if response.status_code >= 500 or response.is_success:
            raise UAPUnavailable(
                f"UAP answered {response.status_code} without a JSON object", status=response.status_code
            )
        raise UAPError(f"UAP answered {response.status_code} without a JSON object", status=response.status_code)
    return body


def _message(body: Mapping[str, Any], default: str) -> str:
    message = body.get("error") or body.get("message")
    return str(message) if message else default


def _retry_after(response: httpx.Response, body: Mapping[str, Any]) -> int:
    for value in (body.get("retry_after"), response.headers.get("Retry-After")):
        try:
            if value is not None:
                return max(0, int(value))
        except (TypeError, ValueError):
            continue
    return 1


def raise_for(response: httpx.Response, *, login: bool = False) -> dict[str, Any]:
    """The JSON body of a 2xx answer, or the typed error of any other.

    ``login`` says a 401 means bad credentials (``/authenticate``,
    ``/mfa/verify``) rather than a bad token.
    """
    status = response.status_code
    if status >= 500:
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = _message(body, "UAP unavailable") if isinstance(body, dict) else "UAP unavailable"
        raise UAPUnavailable(message, status=status)
    body = _json(response)
    if response.is_success:
        return body
    message = _message(body, f"HTTP {status}")
    if status == 429:
        raise RateLimited(message, retry_after=_retry_after(response, body), status=status)
    if status == 401:
        if body.get("mfa_required"):
            raise MfaRequired(message, mfa_token=str(body.get("mfa_token", "")), status=status)
        if body.get("mfa_enrollment_required"):
            raise MfaEnrollmentRequired(message, enrollment_token=str(body.get("enrollment_token", "")), status=status)
        if login:
            raise InvalidCredentials(message, status=status)
        raise TokenInvalid(_message(body, "Invalid or expired token"), status=status)
    if status == 403:
        raise Blocked(message, status=status)
    raise UAPError(message, status=status)


def _login_result(response: httpx.Response) -> LoginResult:
    body = raise_for(response, login=True)
    if body.get("shadow"):
        raise ShadowDecision(bool(body.get("would_accept")), status=response.status_code)
    if not body.get("success") or "token" not in body:
        raise UAPError(_message(body, "login refused"), status=response.status_code)
    return LoginResult.from_body(body)


def authenticate(fields: Mapping[str, Any], password: str) -> Call[LoginResult]:
    unknown = set(fields) - LOGIN_FIELDS
    if unknown:
        raise TypeError(f"authenticate() got unknown fields: {', '.join(sorted(unknown))}")
    body = {k: v for k, v in fields.items() if v is not None}
    body["password"] = password
    return Call("POST", f"{AUTH}/authenticate", _login_result, json=body)


def mfa_verify(mfa_token: str, code: str) -> Call[LoginResult]:
    return Call("POST", f"{AUTH}/mfa/verify", _login_result, json={"mfa_token": mfa_token, "code": code})


def validate(token: str) -> Call[User]:
    def read(response: httpx.Response) -> User:
        body = raise_for(response)
        if body.get("valid") is not True:
            raise TokenInvalid("Invalid or expired token", status=response.status_code)
        return User.from_validation(body, token)

    return Call("GET", f"{AUTH}/validate", read, token=token)


def validate_batch(tokens: list[str]) -> Call[list[User | None]]:
    def read(response: httpx.Response) -> list[User | None]:
        results = raise_for(response).get("results")
        if not isinstance(results, list) or len(results) != len(tokens):
            raise UAPUnavailable("UAP answered a batch of the wrong length", status=response.status_code)
        return [
            User.from_validation(r, t) if isinstance(r, dict) and r.get("valid") is True else None
            for r, t in zip(results, tokens)
        ]

    return Call("POST", f"{AUTH}/validate/batch", read, json={"tokens": list(tokens)})


def refresh(token: str | None, refresh_token: str | None) -> Call[LoginResult]:
    if (token is None) == (refresh_token is None):
        raise TypeError("refresh() takes either a token or refresh_token=")

    def read(response: httpx.Response) -> LoginResult:
        body = raise_for(response)
        if not body.get("success") or "token" not in body:
            raise TokenInvalid(_message(body, "refresh refused"), status=response.status_code)
        return LoginResult.from_body(body)

    if refresh_token is not None:
        return Call("POST", f"{AUTH}/refresh", read, json={"refresh_token": refresh_token})
    return Call("POST", f"{AUTH}/refresh", read, token=token)


def logout(token: str) -> Call[bool]:
    """True when a session ended, False when it was already gone."""
    return Call("POST", f"{AUTH}/logout", lambda r: bool(raise_for(r).get("success")), token=token)


def logout_all(token: str) -> Call[int]:
    """How many sessions ended."""
    return Call("POST", f"{AUTH}/logout-all", lambda r: int(raise_for(r).get("ended", 0)), token=token)


def sessions(token: str) -> Call[list[SessionInfo]]:
    def read(response: httpx.Response) -> list[SessionInfo]:
        items = raise_for(response).get("sessions") or []
        return [SessionInfo.from_body(item) for item in items if isinstance(item, dict)]

    return Call("GET", f"{AUTH}/sessions", read, token=token)


def health() -> Call[Health]:
    def read(response: httpx.Response) -> Health:
        # 503 with the health shape is an answer (a component is down), not an outage.
        if response.status_code == 503:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and "status" in body and "components" in body:
                return Health.from_body(body)
        return Health.from_body(raise_for(response))

    return Call("GET", "/api/v1/config/health", read)


def check_token(token: str | None) -> str:
    """The token, or TokenInvalid when it cannot be a token at all (empty,
    spaces, control or non-ASCII characters: it could not even be sent as a header)."""
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        raise TokenInvalid("Missing or malformed token")
    return token
