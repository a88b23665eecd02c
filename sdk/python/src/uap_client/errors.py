"""Typed errors raised by the UAP clients.

Every error is a :class:`UAPError`. The split that matters to a web application:

* :class:`TokenInvalid` — UAP answered and said "this token is not valid"
  (missing, garbled, expired, revoked): answer 401.
* :class:`UAPUnavailable` — UAP did not answer usefully (5xx, timeout, connection
  refused, a body that is not UAP's JSON): answer 503. It is never turned into
  "not logged in".
"""

from __future__ import annotations

__all__ = [
    "UAPError",
    "InvalidCredentials",
    "RateLimited",
    "Blocked",
    "MfaRequired",
    "MfaEnrollmentRequired",
    "ShadowDecision",
    "TokenInvalid",
    "UAPUnavailable",
]


class UAPError(Exception):
    """Base of every error of this package.

    ``status`` is the HTTP status UAP answered (``None`` when no answer came),
    ``message`` the ``error``/``message`` string of its body.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class InvalidCredentials(UAPError):
    """401 from ``/authenticate``: unknown user, wrong password or inactive account."""


class RateLimited(UAPError):
    """429: too many attempts. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Blocked(UAPError):
    """403: a middleware (CAPTCHA, IP rule, webhook) refused the login."""


class MfaRequired(UAPError):
    """401 with ``mfa_required``: complete the login with ``mfa_verify(mfa_token, code)``."""

    def __init__(self, message: str, *, mfa_token: str, status: int | None = 401) -> None:
        super().__init__(message, status=status)
        self.mfa_token = mfa_token

    def __repr__(self) -> str:  # the ticket is a credential
        return f"MfaRequired({self.message!r}, mfa_token='***')"


class MfaEnrollmentRequired(UAPError):
    """401 with ``mfa_enrollment_required``: the user must enroll a TOTP factor first."""

    def __init__(self, message: str, *, enrollment_token: str, status: int | None = 401) -> None:
        super().__init__(message, status=status)
        self.enrollment_token = enrollment_token

    def __repr__(self) -> str:
        return f"MfaEnrollmentRequired({self.message!r}, enrollment_token='***')"


class ShadowDecision(UAPError):
    """UAP runs in shadow mode: it judged the login (``would_accept``) but issued no session."""

    def __init__(self, would_accept: bool, *, status: int | None = 200) -> None:
        super().__init__("UAP is in shadow mode: no session issued (would_accept=%s)" % would_accept, status=status)
        self.would_accept = would_accept


class TokenInvalid(UAPError):
    """401: the token is missing, garbled, expired or its session has ended."""


class UAPUnavailable(UAPError):
    """UAP could not answer: a 5xx, a timeout, a refused connection or a body that is not UAP's."""
