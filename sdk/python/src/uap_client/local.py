"""Local mode's settings: :class:`LocalMode`.

Opt-in (remote ``GET /validate`` stays the default): give a client
``local=LocalMode(sdk_api_key=...)`` and it verifies asymmetric tokens
(RS256, ES256, EdDSA) in-process against ``/.well-known/jwks.json`` and learns
revocations from ``GET /api/v1/auth/events``. While that feed is down it
validates remotely (fail closed). Needs the ``local`` extra
(``pip install "uap-client[local]"``, which brings ``cryptography``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping

__all__ = ["LocalMode"]


@dataclass(frozen=True)
class LocalMode:
    """How a client checks tokens locally.

    * ``sdk_api_key``: UAP's ``sdk_api_key`` (sent as ``X-API-Key`` to the feed);
    * ``issuer`` / ``audience``: when given, a token's ``iss`` / ``aud`` must match
      (UAP's ``jwt_issuer`` / ``jwt_audience``);
    * ``cache_size``: validated sessions kept in memory (oldest evicted first);
    * ``retention_seconds``: how long ended sessions and cut-offs are remembered
      (24 h, the default ``max_session_duration``), ``max_revocations`` how many;
    * ``max_backoff_seconds``: the longest wait between reconnection attempts;
    * ``jwks_refetch_seconds``: an unknown ``kid`` refetches the JWKS at most this often.
    """

    sdk_api_key: str = field(repr=False)
    issuer: str | None = None
    audience: str | None = None
    cache_size: int = 10_000
    retention_seconds: float = 86_400.0
    max_revocations: int = 100_000
    max_backoff_seconds: float = 30.0
    jwks_refetch_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.sdk_api_key, str) or not self.sdk_api_key:
            raise ValueError("LocalMode needs sdk_api_key (UAP's sdk_api_key setting)")
        if self.cache_size < 1 or self.max_revocations < 1:
            raise ValueError("LocalMode cache_size and max_revocations must be at least 1")
        if self.retention_seconds <= 0 or self.max_backoff_seconds <= 0 or self.jwks_refetch_seconds < 0:
            raise ValueError("LocalMode retention_seconds and max_backoff_seconds must be positive")

    @classmethod
    def from_settings(cls, value: Any, sdk_api_key: str | None) -> LocalMode | None:
        """Local mode from a framework's settings: ``UAP_LOCAL_MODE`` (``True``, a
        ``LocalMode``, or a mapping of its fields) and ``UAP_SDK_API_KEY``;
        ``None`` when ``UAP_LOCAL_MODE`` is unset or false."""
        if value is None or value is False:
            return None
        if isinstance(value, LocalMode):
            return value
        options: dict[str, Any] = dict(value) if isinstance(value, Mapping) else {}
        if value is not True and not isinstance(value, Mapping):
            raise ValueError("UAP_LOCAL_MODE must be True, a mapping of LocalMode fields, or a LocalMode")
        if sdk_api_key and "sdk_api_key" not in options:
            options["sdk_api_key"] = sdk_api_key
        if not options.get("sdk_api_key"):
            raise ValueError("UAP_LOCAL_MODE needs the setting UAP_SDK_API_KEY (UAP's sdk_api_key)")
        return cls(**options)

    @staticmethod
    def driver() -> ModuleType:
        """The module that implements local mode (it needs ``cryptography``, the ``local`` extra)."""
        try:
            from . import _local
        except ImportError as exc:
            raise ImportError("uap_client local mode needs cryptography: pip install 'uap-client[local]'") from exc
        return _local
