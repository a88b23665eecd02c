"""How the framework integrations decide who is calling.

An integration asks a *validator* for the :class:`~uap_client.User` behind a
token; the validator raises :class:`~uap_client.TokenInvalid` (answer 401) or
:class:`~uap_client.UAPUnavailable` (answer 503). The shipped validators ask
their client, which validates remotely (one ``GET /validate`` per request, the
default) or, given ``local=LocalMode(...)``, in-process (:mod:`uap_client.local`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._async_client import AsyncClient
from ._client import Client
from .models import User

__all__ = ["Validator", "AsyncValidator", "RemoteValidator", "AsyncRemoteValidator"]


@runtime_checkable
class Validator(Protocol):
    def validate(self, token: str) -> User: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncValidator(Protocol):
    async def validate(self, token: str) -> User: ...

    async def close(self) -> None: ...


class RemoteValidator:
    """Validates each token through a :class:`Client`: ``GET /validate``, or
    in-process when the client has local mode."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def validate(self, token: str) -> User:
        return self.client.validate(token)

    def close(self) -> None:
        self.client.close()


class AsyncRemoteValidator:
    """Validates each token through an :class:`AsyncClient`: ``GET /validate``,
    or in-process when the client has local mode."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def validate(self, token: str) -> User:
        return await self.client.validate(token)

    async def close(self) -> None:
        await self.client.close()
