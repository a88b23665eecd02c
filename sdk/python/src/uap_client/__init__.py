"""Client for UAP, the Universal Authentication Platform (CONTRACT §8).

``Client`` / ``AsyncClient`` wrap the ``/api/v1/auth`` routes with typed results
and typed errors; ``uap_client.fastapi``, ``uap_client.flask`` and
``uap_client.django`` protect routes of those frameworks. Tokens are validated
remotely (``GET /validate``) on every request by default; ``local=LocalMode(...)``
(:mod:`uap_client.local`) checks them in-process, following UAP's revocation feed.
"""

from ._async_client import AsyncClient
from ._client import Client
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
from .local import LocalMode
from .models import Health, LoginResult, SessionInfo, User
from .validators import AsyncRemoteValidator, AsyncValidator, RemoteValidator, Validator

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncRemoteValidator",
    "AsyncValidator",
    "Blocked",
    "Client",
    "Health",
    "InvalidCredentials",
    "LocalMode",
    "LoginResult",
    "MfaEnrollmentRequired",
    "MfaRequired",
    "RateLimited",
    "RemoteValidator",
    "SessionInfo",
    "ShadowDecision",
    "TokenInvalid",
    "UAPError",
    "UAPUnavailable",
    "User",
    "Validator",
]
