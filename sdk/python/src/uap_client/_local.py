"""Local mode's drivers: :class:`LocalValidator` (a daemon thread reads the
feed, for :class:`~uap_client.Client`) and :class:`AsyncLocalValidator` (an
asyncio task, for :class:`~uap_client.AsyncClient`). Both apply ``_feed``'s
rules; the order of a check is in :meth:`LocalValidator.validate`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections import OrderedDict
from typing import Awaitable, Callable

import httpx

from . import _core
from ._feed import Event, FeedState, KeySet, SseParser, Verdict
from ._jose import Claims, Jwk, ParsedToken, parse_jwks, parse_token, verify
from .errors import TokenInvalid, UAPUnavailable
from .local import LocalMode
from .models import User

logger = logging.getLogger("uap_client")

EVENTS = f"{_core.AUTH}/events"
JWKS = "/.well-known/jwks.json"
FIRST_BACKOFF = 0.5

__all__ = ["LocalValidator", "AsyncLocalValidator"]


def backoff(attempt: int, longest: float) -> float:
    """Seconds before reconnection attempt ``attempt`` (0 right after a live
    connection ended): exponential from 0.5 s, capped, with jitter."""
    return min(longest, FIRST_BACKOFF * 2**attempt) * random.uniform(0.5, 1.0)


def _feed_headers(mode: LocalMode, last_event_id: str | None) -> dict[str, str]:
    headers = {"X-API-Key": mode.sdk_api_key, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


def _refused(status: int) -> None:
    if status == 401:
        logger.error("uap local mode: the events feed refused the SDK API key (401); validating remotely")
    elif status == 404:
        logger.error("uap local mode: UAP has no events feed (404: is sdk_api_key set?); validating remotely")
    else:
        logger.warning("uap local mode: the events feed answered %s; validating remotely", status)


def _keys_from(response: httpx.Response) -> list[Jwk]:
    if response.status_code != 200:
        raise UAPUnavailable(f"the JWKS answered {response.status_code}", status=response.status_code)
    try:
        return parse_jwks(response.json())
    except ValueError as exc:
        raise UAPUnavailable(f"the JWKS is unreadable: {exc}", status=response.status_code) from exc


class _Checks:
    """What both drivers share: the settings, the state and the in-process steps."""

    def __init__(self, mode: LocalMode) -> None:
        self.mode = mode
        self.state = FeedState(
            retention=mode.retention_seconds, cache_size=mode.cache_size, max_revocations=mode.max_revocations
        )
        self.keys = KeySet(mode.jwks_refetch_seconds)
        # Tokens whose signature and claims were verified: the signature is checked once per token.
        self._verified: OrderedDict[str, tuple[Claims, Jwk]] = OrderedDict()
        self._verified_lock = threading.Lock()

    @property
    def live(self) -> bool:
        """Whether tokens are checked in-process right now (feed live, keys known)."""
        return self.state.live() and self.keys.fetched

    def known(self, token: str) -> Claims | None:
        """The claims of a token whose signature was verified before with a key
        still in the JWKS (then only ``exp`` is checked again); None otherwise."""
        hit = self._verified.get(token)
        if hit is None or self.keys.find(hit[1].kid, hit[1].alg) is not hit[1]:
            return None
        if hit[0].exp <= time.time():
            raise TokenInvalid("Token expired")
        return hit[0]

    def verify(self, token: str, parsed: ParsedToken, jwk: Jwk) -> Claims:
        """Signature and claims; a good token is remembered (bounded) so that its
        signature is not verified again."""
        claims = verify(parsed, jwk, now=time.time(), issuer=self.mode.issuer, audience=self.mode.audience)
        with self._verified_lock:
            self._verified[token] = (claims, jwk)
            while len(self._verified) > self.mode.cache_size:
                self._verified.popitem(last=False)
        return claims

    def verdict(self, claims: Claims) -> Verdict:
        verdict = self.state.check(claims)
        if verdict.invalid:
            raise TokenInvalid("Invalid or expired token")
        return verdict

    def settle(self, claims: Claims, verdict: Verdict, user: User | None) -> User:
        """Records the server's first answer for this token and returns it."""
        if not self.state.remember(claims, user, verdict) or user is None:
            raise TokenInvalid("Invalid or expired token")
        return user

    def event(self, event: Event) -> str | None:
        return self.state.apply(event)


class LocalValidator:
    """Local checks for the synchronous :class:`~uap_client.Client`.

    ``remote`` is the client's plain ``GET /validate``. A daemon thread keeps the
    feed connected; :meth:`close` stops it.
    """

    def __init__(self, http: httpx.Client, mode: LocalMode, remote: Callable[[str], User]) -> None:
        self._checks = _Checks(mode)
        self._http = http
        self._remote = remote
        self._stop = threading.Event()
        self._feed_http = httpx.Client(base_url=http.base_url, headers={"User-Agent": _core.USER_AGENT})
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name="uap-feed", daemon=True)
        self._thread.start()

    @property
    def state(self) -> FeedState:
        return self._checks.state

    @property
    def live(self) -> bool:
        return self._checks.live

    def wait_live(self, timeout: float) -> bool:
        """Waits until tokens are checked locally; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline or self._stop.is_set():
                return False
            self._stop.wait(0.02)
        return True

    # -- checks -----------------------------------------------------------------

    def validate(self, token: str) -> User:
        checks = self._checks
        if not checks.live:
            return self._remote(token)
        claims = checks.known(token)
        if claims is None:
            parsed = parse_token(token)
            jwk = checks.keys.find(parsed.kid, parsed.alg)
            if jwk is None:
                if not checks.keys.may_refetch_for_unknown_kid():
                    raise TokenInvalid("Unknown signing key")
                try:
                    self._fetch_keys()
                except UAPUnavailable:
                    return self._remote(token)
                jwk = checks.keys.find(parsed.kid, parsed.alg)
                if jwk is None:
                    raise TokenInvalid("Unknown signing key")
            claims = checks.verify(token, parsed, jwk)
        verdict = checks.verdict(claims)
        if verdict.user is not None:
            return verdict.user
        try:
            user = self._remote(token)
        except TokenInvalid:
            checks.settle(claims, verdict, None)
            raise
        return checks.settle(claims, verdict, user)

    def _fetch_keys(self) -> None:
        try:
            response = self._http.get(JWKS)
        except httpx.HTTPError as exc:
            raise _core.unavailable(exc) from exc
        self._checks.keys.replace(_keys_from(response))

    # -- the feed -----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            went_live = False
            try:
                went_live = self._stream()
            except (httpx.HTTPError, UAPUnavailable) as exc:
                if not self._stop.is_set():
                    logger.warning("uap local mode: events feed down (%s); validating remotely", type(exc).__name__)
            except Exception:  # the thread must live on: a bug here means remote checks, not none
                if not self._stop.is_set():
                    logger.exception("uap local mode: events feed failed; validating remotely")
            finally:
                self._checks.state.disconnected()
                self._response = None
            attempt = 0 if went_live else attempt + 1
            self._stop.wait(backoff(attempt, self._checks.mode.max_backoff_seconds))

    def _stream(self) -> bool:
        state = self._checks.state
        timeout = httpx.Timeout(5.0, read=state.stall_after())
        headers = _feed_headers(self._checks.mode, state.last_event_id)
        went_live = False
        with self._feed_http.stream("GET", EVENTS, headers=headers, timeout=timeout) as response:
            self._response = response
            if response.status_code != 200:
                _refused(response.status_code)
                return False
            state.connected()
            parser = SseParser()
            for line in response.iter_lines():
                if self._stop.is_set():
                    break
                state.touched()
                event = parser.line(line)
                if event is None:
                    continue
                action = self._checks.event(event)
                if action == "ready":
                    self._fetch_keys()
                    state.go_live()
                    went_live = True
                elif action == "jwks":
                    self._refresh_keys()
        return went_live

    def _refresh_keys(self) -> None:
        try:
            self._fetch_keys()
        except UAPUnavailable as exc:
            logger.warning("uap local mode: JWKS refetch after keys_rotated failed (%s); reconnecting", exc.message)
            raise

    def close(self) -> None:
        """Stops the feed thread."""
        self._stop.set()
        response = self._response
        if response is not None:
            # Closing a socket does not wake a thread blocked reading it; shutting it down does.
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._feed_http.close()
        self._thread.join(timeout=1.0)


class AsyncLocalValidator:
    """Local checks for :class:`~uap_client.AsyncClient`: the feed is an asyncio
    task, started by :meth:`start` or the first :meth:`validate`; :meth:`close` cancels it."""

    def __init__(self, http: httpx.AsyncClient, mode: LocalMode, remote: Callable[[str], Awaitable[User]]) -> None:
        self._checks = _Checks(mode)
        self._http = http
        self._remote = remote
        self._feed_http = httpx.AsyncClient(base_url=http.base_url, headers={"User-Agent": _core.USER_AGENT})
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def state(self) -> FeedState:
        return self._checks.state

    @property
    def live(self) -> bool:
        return self._checks.live

    def start(self) -> None:
        """Starts the feed task in the running loop (once)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="uap-feed")

    async def wait_live(self, timeout: float) -> bool:
        self.start()
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline or self._closed:
                return False
            await asyncio.sleep(0.02)
        return True

    async def validate(self, token: str) -> User:
        self.start()
        checks = self._checks
        if not checks.live:
            return await self._remote(token)
        claims = checks.known(token)
        if claims is None:
            parsed = parse_token(token)
            jwk = checks.keys.find(parsed.kid, parsed.alg)
            if jwk is None:
                if not checks.keys.may_refetch_for_unknown_kid():
                    raise TokenInvalid("Unknown signing key")
                try:
                    await self._fetch_keys()
                except UAPUnavailable:
                    return await self._remote(token)
                jwk = checks.keys.find(parsed.kid, parsed.alg)
                if jwk is None:
                    raise TokenInvalid("Unknown signing key")
            claims = checks.verify(token, parsed, jwk)
        verdict = checks.verdict(claims)
        if verdict.user is not None:
            return verdict.user
        try:
            user = await self._remote(token)
        except TokenInvalid:
            checks.settle(claims, verdict, None)
            raise
        return checks.settle(claims, verdict, user)

    async def _fetch_keys(self) -> None:
        try:
            response = await self._http.get(JWKS)
        except httpx.HTTPError as exc:
            raise _core.unavailable(exc) from exc
        self._checks.keys.replace(_keys_from(response))

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            went_live = False
            try:
                went_live = await self._stream()
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, UAPUnavailable) as exc:
                logger.warning("uap local mode: events feed down (%s); validating remotely", type(exc).__name__)
            except Exception:
                logger.exception("uap local mode: events feed failed; validating remotely")
            finally:
                self._checks.state.disconnected()
            attempt = 0 if went_live else attempt + 1
            await asyncio.sleep(backoff(attempt, self._checks.mode.max_backoff_seconds))

    async def _stream(self) -> bool:
        state = self._checks.state
        timeout = httpx.Timeout(5.0, read=state.stall_after())
        headers = _feed_headers(self._checks.mode, state.last_event_id)
        went_live = False
        async with self._feed_http.stream("GET", EVENTS, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                _refused(response.status_code)
                return False
            state.connected()
            parser = SseParser()
            async for line in response.aiter_lines():
                state.touched()
                event = parser.line(line)
                if event is None:
                    continue
                action = self._checks.event(event)
                if action == "ready":
                    await self._fetch_keys()
                    state.go_live()
                    went_live = True
                elif action == "jwks":
                    await self._fetch_keys()
        return went_live

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._feed_http.aclose()
