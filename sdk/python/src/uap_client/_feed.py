"""Local mode's state, free of I/O: the SSE framing of ``GET /api/v1/auth/events``,
the revocations it announces, the session cache and the key set. The sync and
async validators drive it (``_local.py``); every method here is thread-safe.

The rules (shared/spec events-wire, CONTRACT §8):

* ``session_ended`` → that session's tokens are refused;
* ``user_sessions_ended`` → the user's tokens with ``iat < floor(before)`` are
  refused (``==`` asks the server), except ``keep_session_id``'s;
* ``session_refreshed`` → only the token whose ``exp`` is ``expires_at`` stays;
* ``keys_rotated`` → the JWKS is fetched again; ``resync`` → the cache is emptied;
* the first sight of a ``(session_id, exp)`` is validated remotely and its
  answer cached until the token's ``exp`` or an event about that session/user.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ._jose import Claims, Jwk
from .models import User, parse_time

logger = logging.getLogger("uap_client")

__all__ = ["Event", "SseParser", "FeedState", "KeySet", "Verdict", "DEFAULT_HEARTBEAT"]

#: The heartbeat period assumed before a ``ready`` says otherwise.
DEFAULT_HEARTBEAT = 15.0


@dataclass(frozen=True)
class Event:
    """One server-sent event: its type, its JSON object (``{}`` when the data is absent or not an object) and its id."""

    name: str
    data: dict[str, Any]
    id: str | None


class SseParser:
    """Incremental SSE framing: feed it lines (without their end of line); a
    blank line returns the event it ended. Comments (``:``) and unknown fields
    are ignored; ``data`` lines are joined with newlines, as the standard says."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []
        self._id: str | None = None

    def line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> Event | None:
        name, data, event_id = self._name or "message", self._data, self._id
        self._name, self._data, self._id = "", [], None
        if not data and name == "message":
            return None
        try:
            parsed = json.loads("\n".join(data)) if data else {}
        except ValueError:
            logger.warning("uap feed: %s event with data that is not JSON; ignored", name)
            return None
        return Event(name, parsed if isinstance(parsed, dict) else {}, event_id)


class KeySet:
    """The JWKS keys by ``kid``, and when an unknown ``kid`` may trigger a refetch."""

    def __init__(self, refetch_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._keys: list[Jwk] = []
        self._fetched = False
        self._last_unknown_refetch: float | None = None
        self._interval = refetch_interval
        self._clock = clock

    @property
    def fetched(self) -> bool:
        return self._fetched

    def replace(self, keys: list[Jwk]) -> None:
        with self._lock:
            self._keys = keys
            self._fetched = True
        if not keys:
            logger.warning(
                "uap local mode: the JWKS has no RS256/ES256/EdDSA key (is jwt_algorithm asymmetric?);"
                " every token will be refused locally"
            )

    def find(self, kid: str | None, alg: str) -> Jwk | None:
        with self._lock:
            keys = self._keys
        if kid is not None:
            return next((k for k in keys if k.kid == kid), None)
        # No kid: only when exactly one key has that algorithm.
        matching = [k for k in keys if k.alg == alg]
        return matching[0] if len(matching) == 1 else None

    def may_refetch_for_unknown_kid(self) -> bool:
        """True at most once per ``refetch_interval`` (and marks it used)."""
        now = self._clock()
        with self._lock:
            last = self._last_unknown_refetch
            if last is not None and now - last < self._interval:
                return False
            self._last_unknown_refetch = now
            return True


@dataclass
class _Cutoff:
    before: int  # floor of the event's `before`, unix seconds
    keep: str | None
    received: float


@dataclass
class _Entry:
    user: User | None  # None: the server said "invalid"
    user_id: str
    cutoff: int | None  # the user's cutoff when the server was asked (for iat == floor(before))


@dataclass(frozen=True)
class Verdict:
    """What the revocation rules and the cache say of a verified token.

    ``invalid``: refused; ``user``: valid from the cache; neither: ask the server
    (``seq`` is the state's event counter at that moment, for :meth:`FeedState.remember`).
    """

    invalid: bool = False
    user: User | None = None
    seq: int = 0
    cutoff: int | None = None


@dataclass
class _Retained:
    """Ids with the monotonic time they were learnt, oldest first, bounded by age and count."""

    retention: float
    limit: int
    items: OrderedDict[str, Any] = field(default_factory=OrderedDict)

    def put(self, key: str, value: Any, now: float) -> None:
        self.items.pop(key, None)
        self.items[key] = value
        self.prune(now)

    def prune(self, now: float) -> None:
        while self.items:
            key, value = next(iter(self.items.items()))
            received = value if isinstance(value, float) else value.received
            if len(self.items) <= self.limit and now - received <= self.retention:
                break
            self.items.popitem(last=False)


@dataclass
class _Refreshed:
    expires_at: int
    received: float


class FeedState:
    """The revocations learnt from the feed, the session cache and the feed's liveness."""

    def __init__(
        self,
        *,
        retention: float,
        cache_size: int,
        max_revocations: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._ended = _Retained(retention, max_revocations)
        self._cutoffs = _Retained(retention, max_revocations)
        self._refreshed = _Retained(retention, max_revocations)
        self._cache: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
        self._by_session: dict[str, set[int]] = {}
        self._by_user: dict[str, set[str]] = {}
        self._cache_size = cache_size
        self._seq = 0
        self._ready = False
        self._heartbeat = DEFAULT_HEARTBEAT
        self._last_byte = 0.0
        self.last_event_id: str | None = None

    # -- liveness ---------------------------------------------------------------

    @property
    def heartbeat(self) -> float:
        return self._heartbeat

    def stall_after(self) -> float:
        """Silence after which the feed is down: 2 × heartbeat + 5 s."""
        return 2 * self._heartbeat + 5

    def live(self) -> bool:
        """Whether tokens may be checked locally now (after ``ready``, bytes on time)."""
        return self._ready and self._clock() - self._last_byte <= self.stall_after()

    def touched(self) -> None:
        """Any byte of the stream arrived."""
        self._last_byte = self._clock()

    def connected(self) -> None:
        """A new connection: not live until its ``ready``. Without an event id to
        resume from, the server cannot replay what was missed since an earlier
        connection (nor say ``resync``): the cache is emptied here instead."""
        with self._lock:
            self._ready = False
            if self.last_event_id is None:
                self._clear_cache()
                self._seq += 1

    def disconnected(self) -> None:
        with self._lock:
            self._ready = False

    # -- events -----------------------------------------------------------------

    def apply(self, event: Event) -> str | None:
        """Applies one event; returns ``"jwks"`` when the keys must be fetched again,
        ``"ready"`` on ``ready`` (the caller fetches the keys once, then calls :meth:`go_live`)."""
        now = self._clock()
        data = event.data
        action: str | None = None
        with self._lock:
            if event.name == "ready":
                heartbeat = data.get("heartbeat_seconds")
                if isinstance(heartbeat, (int, float)) and not isinstance(heartbeat, bool) and heartbeat > 0:
                    self._heartbeat = float(heartbeat)
                action = "ready"
            elif event.name == "heartbeat":
                self._purge_expired()
            elif event.name == "session_ended":
                session_id = data.get("session_id")
                if isinstance(session_id, str):
                    self._ended.put(session_id, now, now)
                    self._forget_session(session_id)
            elif event.name == "user_sessions_ended":
                self._user_cutoff(data, now)
            elif event.name == "session_refreshed":
                session_id, expires_at = data.get("session_id"), data.get("expires_at")
                if isinstance(session_id, str) and isinstance(expires_at, int) and not isinstance(expires_at, bool):
                    self._refreshed.put(session_id, _Refreshed(expires_at, now), now)
                    self._forget_session(session_id, keep_exp=expires_at)
            elif event.name == "keys_rotated":
                action = "jwks"
            elif event.name == "resync":
                self._clear_cache()
            else:
                logger.debug("uap feed: unknown event %r ignored", event.name)
            self._seq += 1
            if event.id is not None:
                self.last_event_id = event.id
        return action

    def go_live(self) -> None:
        with self._lock:
            self._ready = True
        self.touched()

    def _user_cutoff(self, data: dict[str, Any], now: float) -> None:
        user_id, before = data.get("user_id"), data.get("before")
        if user_id is None or not isinstance(before, str):
            return
        try:
            moment: datetime | None = parse_time(before)
        except ValueError:
            moment = None
        if moment is None:
            logger.warning("uap feed: user_sessions_ended with an unreadable 'before'; the user's cache is dropped")
            self._forget_user(str(user_id))
            return
        floor = int(moment.timestamp() // 1)
        keep = data.get("keep_session_id")
        previous = self._cutoffs.items.get(str(user_id))
        # A later cut-off ends every session an earlier one did (the kept session is newer than both).
        if previous is None or previous.before <= floor:
            self._cutoffs.put(str(user_id), _Cutoff(floor, keep if isinstance(keep, str) else None, now), now)
        self._forget_user(str(user_id))

    # -- cache ------------------------------------------------------------------

    def _forget_session(self, session_id: str, keep_exp: int | None = None) -> None:
        for exp in list(self._by_session.get(session_id, ())):
            if exp != keep_exp:
                self._drop((session_id, exp))

    def _forget_user(self, user_id: str) -> None:
        for session_id in list(self._by_user.get(user_id, ())):
            self._forget_session(session_id)

    def _drop(self, key: tuple[str, int]) -> None:
        entry = self._cache.pop(key, None)
        if entry is None:
            return
        exps = self._by_session.get(key[0])
        if exps is not None:
            exps.discard(key[1])
            if not exps:
                del self._by_session[key[0]]
                sessions = self._by_user.get(entry.user_id)
                if sessions is not None:
                    sessions.discard(key[0])
                    if not sessions:
                        del self._by_user[entry.user_id]

    def _clear_cache(self) -> None:
        self._cache.clear()
        self._by_session.clear()
        self._by_user.clear()

    def _purge_expired(self) -> None:
        now = time.time()
        for key in [k for k in self._cache if k[1] <= now]:
            self._drop(key)
        clock = self._clock()
        for retained in (self._ended, self._cutoffs, self._refreshed):
            retained.prune(clock)

    def cache_len(self) -> int:
        return len(self._cache)

    def check(self, claims: Claims) -> Verdict:
        """The revocation rules, then the cache, for a token whose signature and claims are good."""
        with self._lock:
            if self._revoked(claims):
                return Verdict(invalid=True)
            cutoff = self._cutoff_on_the_edge(claims)
            entry = self._cache.get((claims.session_id, claims.exp))
            if entry is not None and (cutoff is None or entry.cutoff == cutoff):
                if entry.user is None:
                    return Verdict(invalid=True)
                return Verdict(user=entry.user)
            return Verdict(seq=self._seq, cutoff=cutoff)

    def _revoked(self, claims: Claims) -> bool:
        if claims.session_id in self._ended.items:
            return True
        refreshed = self._refreshed.items.get(claims.session_id)
        if refreshed is not None and claims.exp != refreshed.expires_at:
            return True
        cutoff = self._cutoffs.items.get(claims.user_id)
        return cutoff is not None and claims.session_id != cutoff.keep and claims.iat < cutoff.before

    def _cutoff_on_the_edge(self, claims: Claims) -> int | None:
        """The user's cut-off when the token was issued in its very second (ask the server)."""
        cutoff = self._cutoffs.items.get(claims.user_id)
        if cutoff is not None and claims.session_id != cutoff.keep and claims.iat == cutoff.before:
            return cutoff.before
        return None

    def remember(self, claims: Claims, user: User | None, verdict: Verdict) -> bool:
        """Caches the server's answer (``None``: invalid) unless an event arrived
        while it was asked; False when the token is revoked by now."""
        with self._lock:
            if self._revoked(claims):
                return False
            if self._seq != verdict.seq:
                return True
            key = (claims.session_id, claims.exp)
            self._drop(key)
            self._cache[key] = _Entry(user, claims.user_id, verdict.cutoff)
            self._by_session.setdefault(claims.session_id, set()).add(claims.exp)
            self._by_user.setdefault(claims.user_id, set()).add(claims.session_id)
            while len(self._cache) > self._cache_size:
                self._drop(next(iter(self._cache)))
            return True
