"""Local mode against a fake UAP (tests/fake_uap.py): the feed's state machine,
the in-process checks, the session cache and the fallbacks."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone

import pytest
from fake_uap import ISSUER, FakeUap, SigningKey, claims, issue, mode, wait_until

from uap_client import AsyncClient, Client, LocalMode, TokenInvalid
from uap_client._feed import Event, FeedState, SseParser
from uap_client._jose import parse_jwks, parse_token, verify


def sid_of(token: str) -> str:
    return parse_token(token).claims["session_id"]


def applied(client: Client, event_id: str) -> None:
    wait_until(lambda: client._local is not None and client._local.state.last_event_id == event_id)


@pytest.fixture
def live(fake: FakeUap):
    client = Client(fake.base_url, local=mode())
    fake.wait_connections(1)
    fake.ready()
    assert client.wait_local(5)
    yield client
    client.close()


def test_without_the_feed_every_check_is_remote(fake: FakeUap, key: SigningKey) -> None:
    fake.feed_status = 404
    token = issue(fake, key)
    with Client(fake.base_url, local=mode()) as client:
        assert not client.wait_local(0.5)
        for _ in range(3):
            assert client.validate(token).user_id == "7"
        assert fake.validate_calls == 3
        del fake.sessions[token]
        with pytest.raises(TokenInvalid):
            client.validate(token)  # fail closed: the server's word, not "valid because offline"


def test_first_sight_is_remote_then_in_process(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    user = live.validate(token)
    assert (user.user_id, user.session_id, user.roles) == ("7", sid_of(token), ("user",))
    assert fake.validate_calls == 1
    for _ in range(50):
        assert live.validate(token) == user
    assert fake.validate_calls == 1
    # A rejected first sight is remembered too (until the token's exp).
    stranger = key.sign(claims())
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            live.validate(stranger)
    assert fake.validate_calls == 2


def test_session_ended(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token, other = issue(fake, key), issue(fake, key)
    live.validate(token), live.validate(other)
    fake.send("session_ended", {"session_id": sid_of(token), "user_id": "7"}, id="1")
    applied(live, "1")
    calls = fake.validate_calls
    with pytest.raises(TokenInvalid):
        live.validate(token)
    assert live.validate(other).user_id == "7"
    assert fake.validate_calls == calls  # both answered in-process


def test_user_sessions_ended_uses_iat_seconds(live: Client, fake: FakeUap, key: SigningKey) -> None:
    before = int(time.time()) - 100
    old = issue(fake, key, iat=before - 1)
    edge = issue(fake, key, iat=before)
    kept = issue(fake, key, iat=before - 50)
    newer = issue(fake, key, iat=before + 1)
    other_user = issue(fake, key, uid="8", iat=before - 1)
    for token in (old, edge, kept, newer, other_user):
        live.validate(token)
    cut = datetime.fromtimestamp(before + 0.25, timezone.utc).isoformat().replace("+00:00", "Z")
    fake.send("user_sessions_ended", {"user_id": "7", "before": cut, "keep_session_id": sid_of(kept)}, id="2")
    applied(live, "2")
    calls = fake.validate_calls
    with pytest.raises(TokenInvalid):
        live.validate(old)
    assert live.validate(newer).user_id == "7"
    assert live.validate(other_user).user_id == "8"
    assert fake.validate_calls == calls + 1  # only `newer`: the event dropped user 7's cache
    # kept and newer were dropped from the cache (an event about their user): asked again once.
    assert live.validate(kept).user_id == "7"
    after_kept = fake.validate_calls
    assert live.validate(kept).user_id == "7"
    assert fake.validate_calls == after_kept
    # iat == floor(before): the server decides, and is asked.
    live.validate(edge)
    assert fake.validate_calls == after_kept + 1
    del fake.sessions[edge]
    live._local.state.apply(Event("resync", {}, None))  # type: ignore[union-attr]
    with pytest.raises(TokenInvalid):
        live.validate(edge)


def test_session_refreshed_keeps_only_the_new_exp(live: Client, fake: FakeUap, key: SigningKey) -> None:
    sid = uuid.uuid4().hex
    exp = int(time.time()) + 600
    first = issue(fake, key, sid=sid, exp=exp)
    live.validate(first)
    second = issue(fake, key, sid=sid, exp=exp + 600)
    fake.send("session_refreshed", {"session_id": sid, "user_id": "7", "expires_at": exp + 600}, id="3")
    applied(live, "3")
    with pytest.raises(TokenInvalid):
        live.validate(first)
    assert live.validate(second).session_id == sid


def test_resync_clears_the_cache(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    live.validate(token)
    live.validate(token)
    assert fake.validate_calls == 1
    fake.send("resync")
    fake.send("heartbeat", {"time": "2026-01-01T00:00:00Z"}, id="4")
    applied(live, "4")
    assert live._local is not None and live._local.state.cache_len() == 0
    live.validate(token)
    assert fake.validate_calls == 2


def test_keys_rotated_refetches_and_old_kid_is_refused(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    live.validate(token)
    fetched = fake.jwks_calls
    new_key = SigningKey("EdDSA", kid="k2")
    fake.keys = [new_key]
    fake.send("keys_rotated", {"kid": "k2"}, id="5")
    applied(live, "5")
    wait_until(lambda: fake.jwks_calls == fetched + 1)
    wait_until(lambda: live._local is not None and live._local._checks.keys.find("k2", "EdDSA") is not None)
    with pytest.raises(TokenInvalid):
        live.validate(token)  # kid k1 is gone
    fresh = issue(fake, new_key)
    assert live.validate(fresh).user_id == "7"


def test_unknown_kid_refetches_once(live: Client, fake: FakeUap, key: SigningKey) -> None:
    fetched = fake.jwks_calls
    stranger = SigningKey("EdDSA", kid="nobody")
    for _ in range(3):
        with pytest.raises(TokenInvalid):
            live.validate(issue(fake, stranger))
    assert fake.jwks_calls == fetched + 1
    assert fake.validate_calls == 0


def test_a_key_added_later_is_found_by_the_refetch(live: Client, fake: FakeUap, key: SigningKey) -> None:
    added = SigningKey("ES256", kid="k-es")
    fake.keys = [key, added]
    assert live.validate(issue(fake, added)).user_id == "7"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "kid": "k1"},
        {"alg": "HS256", "kid": "k1"},
        {"alg": "ES256", "kid": "k1"},  # not the key's algorithm
        {"alg": "RS256", "kid": "k1"},
    ],
)
def test_wrong_algorithms_are_refused(live: Client, fake: FakeUap, key: SigningKey, header: dict) -> None:
    token = key.sign(claims(), header=header)
    fake.sessions[token] = {"user_id": "7", "session_id": "x", "user_data": {}}
    with pytest.raises(TokenInvalid):
        live.validate(token)
    assert fake.validate_calls == 0


def test_bad_signature_expired_and_wrong_issuer_are_refused(live: Client, fake: FakeUap, key: SigningKey) -> None:
    good = issue(fake, key)
    head, body, sig = good.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    expired = issue(fake, key, exp=int(time.time()) - 1)
    wrong_iss = key.sign({**claims(), "iss": "someone-else"})
    fake.sessions[wrong_iss] = {"user_id": "7", "session_id": "x", "user_data": {}}
    for token in (forged, expired, wrong_iss, "a.b.c", "garbage"):
        with pytest.raises(TokenInvalid):
            live.validate(token)
    assert fake.validate_calls == 0


def test_a_token_seen_before_expires_all_the_same(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key, exp=int(time.time()) + 1)
    assert live.validate(token).user_id == "7"
    wait_until(lambda: time.time() >= parse_token(token).claims["exp"], timeout=3)
    with pytest.raises(TokenInvalid, match="expired"):
        live.validate(token)
    assert fake.validate_calls == 1


def test_audience_when_given(fake: FakeUap, key: SigningKey) -> None:
    with Client(fake.base_url, local=mode(audience="shop")) as client:
        fake.wait_connections(1)
        fake.ready()
        assert client.wait_local(5)
        for aud, ok in (("shop", True), (["other", "shop"], True), ("other", False), (None, False)):
            body = claims()
            if aud is not None:
                body["aud"] = aud
            token = key.sign(body)
            fake.sessions[token] = {"user_id": "7", "session_id": body["session_id"], "user_data": {}}
            if ok:
                assert client.validate(token).user_id == "7"
            else:
                with pytest.raises(TokenInvalid):
                    client.validate(token)


def test_reconnects_with_last_event_id_and_goes_remote_meanwhile(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    live.validate(token)
    fake.send("session_ended", {"session_id": "gone", "user_id": "9"}, id="41")
    applied(live, "41")
    fake.feed_status = 503
    fake.close_feeds()
    wait_until(lambda: not live.local_live)
    calls = fake.validate_calls
    assert live.validate(token).user_id == "7"  # remote while the feed is down
    assert fake.validate_calls == calls + 1
    wait_until(lambda: len(fake.last_event_ids) >= 2)
    fake.feed_status = 200
    count = len(fake.connections)
    fake.wait_connections(count + 1)
    assert fake.last_event_ids[-1] == "41"
    assert fake.last_event_ids[0] is None
    fake.ready()
    assert live.wait_local(5)
    calls = fake.validate_calls
    live.validate(token)
    assert fake.validate_calls == calls  # the cache survived a replayed reconnection


def test_a_reconnection_without_an_event_id_forgets_the_cache(live: Client, fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    live.validate(token)
    live.validate(token)
    assert fake.validate_calls == 1
    fake.close_feeds()  # no event id seen: the server will have nothing to replay from
    fake.wait_connections(2)
    fake.ready()
    assert live.wait_local(5)
    live.validate(token)
    assert fake.validate_calls == 2
    assert fake.last_event_ids == [None, None]


def test_a_silent_feed_is_down_after_two_heartbeats_and_five_seconds(fake: FakeUap, key: SigningKey) -> None:
    fake.heartbeat_seconds = 0.1  # down after 5.2 s without a byte
    with Client(fake.base_url, local=mode()) as client:
        fake.wait_connections(1)
        fake.ready()
        assert client.wait_local(5)
        token = issue(fake, key)
        client.validate(token)
        went_live = time.monotonic()
        wait_until(lambda: not client.local_live, timeout=8)
        assert time.monotonic() - went_live > 5
        calls = fake.validate_calls
        client.validate(token)
        assert fake.validate_calls == calls + 1  # remote, though the token is cached


def test_wrong_api_key_stays_remote(fake: FakeUap, key: SigningKey) -> None:
    token = issue(fake, key)
    with Client(fake.base_url, local=LocalMode(sdk_api_key="wrong", max_backoff_seconds=0.2)) as client:
        wait_until(lambda: len(fake.last_event_ids) >= 2)
        assert not client.local_live
        client.validate(token)
        client.validate(token)
        assert fake.validate_calls == 2


def test_cache_is_bounded(fake: FakeUap, key: SigningKey) -> None:
    with Client(fake.base_url, local=mode(cache_size=2)) as client:
        fake.wait_connections(1)
        fake.ready()
        assert client.wait_local(5)
        tokens = [issue(fake, key) for _ in range(3)]
        for token in tokens:
            client.validate(token)
        assert client._local is not None and client._local.state.cache_len() == 2
        client.validate(tokens[0])  # the oldest was evicted: asked again
        assert fake.validate_calls == 4


def test_secrets_stay_out_of_repr() -> None:
    assert "s3cret" not in repr(LocalMode(sdk_api_key="s3cret"))
    with pytest.raises(ValueError, match="sdk_api_key"):
        LocalMode(sdk_api_key="")


async def _async_flow(fake: FakeUap, key: SigningKey) -> None:
    async with AsyncClient(fake.base_url, local=mode()) as client:
        client.start_local()
        deadline = time.monotonic() + 5
        while not fake.connections:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        fake.ready()
        assert await client.wait_local(5)
        token = issue(fake, key)
        assert (await client.validate(token)).user_id == "7"
        assert (await client.validate(token)).user_id == "7"
        assert fake.validate_calls == 1
        fake.send("session_ended", {"session_id": sid_of(token), "user_id": "7"}, id="9")
        while client._local is not None and client._local.state.last_event_id != "9":
            assert time.monotonic() < deadline + 5
            await asyncio.sleep(0.01)
        with pytest.raises(TokenInvalid):
            await client.validate(token)


@pytest.mark.anyio
async def test_async_client_local_mode(fake: FakeUap, key: SigningKey) -> None:
    await _async_flow(fake, key)


# -- the pieces, without a server ------------------------------------------------


def test_sse_parser_framing() -> None:
    parser = SseParser()
    lines = [": comment", "id: 12", "event: session_ended", 'data: {"session_id":', 'data: "s"}', ""]
    events = [e for line in lines for e in [parser.line(line)] if e is not None]
    assert events == [Event("session_ended", {"session_id": "s"}, "12")]
    assert parser.line("") is None  # an empty dispatch
    assert parser.line("event: resync") is None
    assert parser.line("") == Event("resync", {}, None)
    assert parser.line("data:not json") is None and parser.line("") is None


def test_liveness_follows_heartbeats() -> None:
    now = [1000.0]
    state = FeedState(retention=60, cache_size=10, max_revocations=10, clock=lambda: now[0])
    assert not state.live()
    state.connected()
    assert state.apply(Event("ready", {"heartbeat_seconds": 2}, None)) == "ready"
    state.go_live()
    assert state.live() and state.stall_after() == 9
    now[0] += 8.9
    assert state.live()
    now[0] += 0.2
    assert not state.live()  # no byte for 2 × heartbeat + 5 s
    state.touched()
    assert state.live()
    state.disconnected()
    assert not state.live()


def test_revocations_are_bounded_by_age_and_count() -> None:
    now = [0.0]
    state = FeedState(retention=10, cache_size=10, max_revocations=3, clock=lambda: now[0])
    for i in range(5):
        state.apply(Event("session_ended", {"session_id": f"s{i}", "user_id": "u"}, str(i)))
    assert list(state._ended.items) == ["s2", "s3", "s4"]
    now[0] = 100.0
    state.apply(Event("heartbeat", {}, None))
    assert not state._ended.items


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_each_algorithm_verifies(alg: str) -> None:
    signer = SigningKey(alg, kid="x")
    (jwk,) = parse_jwks({"keys": [signer.jwk]})
    body = claims()
    parsed = parse_token(signer.sign(body))
    assert verify(parsed, jwk, now=time.time(), issuer=ISSUER).session_id == body["session_id"]
    other = SigningKey(alg, kid="x")
    with pytest.raises(TokenInvalid):
        verify(parse_token(other.sign(body)), jwk, now=time.time())
