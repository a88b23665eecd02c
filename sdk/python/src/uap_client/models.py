"""Typed results of the UAP routes (CONTRACT §3), parsed from their JSON bodies."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

__all__ = ["User", "LoginResult", "SessionInfo", "Health", "parse_time", "roles_of"]


_FRACTION = re.compile(r"(\.\d+)")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (``2026-01-01T00:00:00Z``) as an aware ``datetime``."""
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # UAP writes nanoseconds; datetime holds microseconds (and 3.10 parses no more).
    text = _FRACTION.sub(lambda m: m.group(1)[:7], text)
    return datetime.fromisoformat(text)


def roles_of(user_data: Mapping[str, Any]) -> tuple[str, ...]:
    """The user's roles: ``user_data["roles"]`` (a list, from a role table or host API)
    or else ``user_data["role"]`` (a single role column)."""
    roles = user_data.get("roles")
    if isinstance(roles, (list, tuple)):
        return tuple(str(r) for r in roles if r is not None)
    role = user_data.get("role")
    if isinstance(role, str) and role:
        return (role,)
    return ()


def _claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT. Used only on a token UAP has just
    called valid, to read its ``user_id`` claim."""
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class User:
    """An authenticated user, as ``GET /validate`` describes it."""

    user_id: str
    session_id: str
    user_data: dict[str, Any]
    roles: tuple[str, ...]
    expires_at: datetime | None

    def has_role(self, *roles: str) -> bool:
        """Whether the user holds any of ``roles``."""
        return any(role in self.roles for role in roles)

    @classmethod
    def from_validation(cls, body: Mapping[str, Any], token: str) -> User:
        """Builds the user from a ``{valid: true, user_data, expires_at, session_id}`` body.

        ``/validate`` does not name the user id; it is the token's ``user_id``
        claim (the token was just declared valid by UAP), else ``user_data["id"]``.
        """
        user_data = body.get("user_data") or {}
        if not isinstance(user_data, dict):
            user_data = {}
        user_id = body.get("user_id") or _claims(token).get("user_id") or user_data.get("id")
        return cls(
            user_id="" if user_id is None else str(user_id),
            session_id=str(body.get("session_id") or ""),
            user_data=user_data,
            roles=roles_of(user_data),
            expires_at=parse_time(body.get("expires_at")),
        )


@dataclass(frozen=True)
class LoginResult:
    """A session issued by ``/authenticate``, ``/mfa/verify`` or ``/refresh``
    (``user_data`` only on a login)."""

    token: str = field(repr=False)
    session_id: str
    expires_at: datetime | None
    user_data: dict[str, Any] | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        return roles_of(self.user_data or {})

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LoginResult:
        user_data = body.get("user_data")
        return cls(
            token=str(body["token"]),
            session_id=str(body.get("session_id") or ""),
            expires_at=parse_time(body.get("expires_at")),
            user_data=user_data if isinstance(user_data, dict) else None,
            refresh_token=body.get("refresh_token"),
            refresh_expires_at=parse_time(body.get("refresh_expires_at")),
        )


@dataclass(frozen=True)
class SessionInfo:
    """One entry of ``GET /sessions``."""

    session_id: str
    device_id: str | None
    created_at: datetime | None
    last_activity: datetime | None
    expires_at: datetime | None
    ip_address: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SessionInfo:
        return cls(
            session_id=str(body["session_id"]),
            device_id=body.get("device_id"),
            created_at=parse_time(body.get("created_at")),
            last_activity=parse_time(body.get("last_activity")),
            expires_at=parse_time(body.get("expires_at")),
            ip_address=body.get("ip_address"),
            user_agent=body.get("user_agent"),
            current=bool(body.get("current")),
        )


@dataclass(frozen=True)
class Health:
    """``GET /api/v1/config/health``: ``healthy`` is False when UAP answered 503."""

    status: str
    components: dict[str, Any]
    timestamp: datetime | None

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Health:
        components = body.get("components")
        return cls(
            status=str(body.get("status", "unhealthy")),
            components=components if isinstance(components, dict) else {},
            timestamp=parse_time(body.get("timestamp")),
        )
