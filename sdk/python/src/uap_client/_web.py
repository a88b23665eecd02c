"""Framework-neutral pieces of the integrations: the Bearer token, excluded
paths, and the JSON bodies of 401/403/503."""

from __future__ import annotations

import logging
from typing import Iterable

from .errors import TokenInvalid, UAPError, UAPUnavailable

logger = logging.getLogger("uap_client")

NOT_AUTHENTICATED = "Not authenticated"
INVALID_TOKEN = "Invalid or expired token"
UNAVAILABLE = "Authentication service unavailable"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


class ExcludedPaths:
    """Paths that skip authentication: exact (``/health``) or, ending in ``*``,
    a prefix (``/public/*`` matches ``/public`` and everything below it)."""

    def __init__(self, paths: Iterable[str] | None) -> None:
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        for path in paths or ():
            if path.endswith("*"):
                self.prefixes.append(path[:-1])
            else:
                self.exact.add(path)

    def __contains__(self, path: str) -> bool:
        if path in self.exact:
            return True
        for prefix in self.prefixes:
            if path.startswith(prefix) or (prefix.endswith("/") and path == prefix[:-1]):
                return True
        return False


def missing_roles_message(roles: tuple[str, ...]) -> str:
    return "Forbidden: requires role " + " or ".join(roles)


def failure(exc: UAPError) -> tuple[int, str]:
    """The status and message a protected route answers for a validation error.

    TokenInvalid is a 401; anything else (UAP down, a 5xx, an answer that is not
    UAP's, a misconfigured base URL) is logged and a 503 — never "not logged in".
    """
    if isinstance(exc, TokenInvalid):
        return 401, INVALID_TOKEN
    if isinstance(exc, UAPUnavailable):
        logger.warning("UAP unavailable while validating a token: %s", exc.message)
    else:
        logger.error("unexpected answer from UAP while validating a token: %r", exc)
    return 503, UNAVAILABLE
