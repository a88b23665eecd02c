// Local mode against a fake UAP (test/fake.js): the feed's state machine, the
// in-process checks, the session cache and the fallbacks.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';

import express from 'express';

import { TokenInvalid, UAPClient, expressAuth, parseJwks, parseToken, verifyToken } from '../src/index.js';
import { FeedState, SseParser } from '../src/local.js';
import { API_KEY, FakeUap, ISSUER, SigningKey, claims, sidOf, waitUntil } from './fake.js';

const quiet = { warn() {}, error() {} };
const local = (extra = {}) => ({ sdkApiKey: API_KEY, issuer: ISSUER, maxBackoffMs: 200, logger: quiet, ...extra });

describe('local mode', () => {
  let key;
  let fake;
  let clients;
  beforeEach(async () => {
    key = new SigningKey('EdDSA', 'k1');
    fake = await new FakeUap(key).start();
    clients = [];
  });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await fake.stop();
  });

  const client = (extra) => {
    const c = new UAPClient({ baseUrl: fake.baseUrl, local: local(extra) });
    clients.push(c);
    return c;
  };
  const live = async (extra) => {
    const c = client(extra);
    await fake.waitConnections(fake.connections.length + 1);
    fake.ready();
    assert.equal(await c.waitLocal(5000), true);
    return c;
  };
  const applied = (c, id) => waitUntil(() => c._local.state.lastEventId === id);

  test('without the feed every check is remote, and fails closed', async () => {
    fake.feedStatus = 404;
    const token = fake.issue(key);
    const c = client();
    assert.equal(await c.waitLocal(500), false);
    for (let i = 0; i < 3; i += 1) assert.equal((await c.validate(token)).userId, '7');
    assert.equal(fake.validateCalls, 3);
    fake.sessions.delete(token);
    await assert.rejects(c.validate(token), TokenInvalid);
  });

  test('first sight is remote, then in-process; a rejection is remembered', async () => {
    const c = await live();
    const token = fake.issue(key);
    const user = await c.validate(token);
    assert.deepEqual([user.userId, user.sessionId, user.roles], ['7', sidOf(token), ['user']]);
    for (let i = 0; i < 50; i += 1) assert.deepEqual(await c.validate(token), user);
    assert.equal(fake.validateCalls, 1);
    const stranger = key.sign(claims());
    await assert.rejects(c.validate(stranger), TokenInvalid);
    await assert.rejects(c.validate(stranger), TokenInvalid);
    assert.equal(fake.validateCalls, 2);
  });

  test('session_ended', async () => {
    const c = await live();
    const token = fake.issue(key);
    const other = fake.issue(key);
    await c.validate(token);
    await c.validate(other);
    fake.send('session_ended', { session_id: sidOf(token), user_id: '7' }, { id: '1' });
    await applied(c, '1');
    await assert.rejects(c.validate(token), TokenInvalid);
    assert.equal((await c.validate(other)).userId, '7');
    assert.equal(fake.validateCalls, 2);
  });

  test('user_sessions_ended compares iat seconds with floor(before)', async () => {
    const c = await live();
    const before = Math.floor(Date.now() / 1000) - 100;
    const old = fake.issue(key, { iat: before - 1 });
    const edge = fake.issue(key, { iat: before });
    const kept = fake.issue(key, { iat: before - 50 });
    const newer = fake.issue(key, { iat: before + 1 });
    const otherUser = fake.issue(key, { uid: '8', iat: before - 1 });
    for (const t of [old, edge, kept, newer, otherUser]) await c.validate(t);
    const cut = new Date((before + 0.25) * 1000).toISOString();
    fake.send('user_sessions_ended', { user_id: '7', before: cut, keep_session_id: sidOf(kept) }, { id: '2' });
    await applied(c, '2');
    const calls = fake.validateCalls;
    await assert.rejects(c.validate(old), TokenInvalid);
    assert.equal((await c.validate(newer)).userId, '7');
    assert.equal((await c.validate(otherUser)).userId, '8');
    assert.equal(fake.validateCalls, calls + 1); // only `newer`: user 7's cache was dropped
    assert.equal((await c.validate(kept)).userId, '7');
    await c.validate(edge); // iat == floor(before): asked
    assert.equal(fake.validateCalls, calls + 3);
    fake.sessions.delete(edge);
    c._local.state.apply({ name: 'resync', data: {}, id: null });
    await assert.rejects(c.validate(edge), TokenInvalid);
  });

  test('session_refreshed keeps only the new exp', async () => {
    const c = await live();
    const sid = 'refreshed-session';
    const exp = Math.floor(Date.now() / 1000) + 600;
    const first = fake.issue(key, { sid, exp });
    await c.validate(first);
    const second = fake.issue(key, { sid, exp: exp + 600 });
    fake.send('session_refreshed', { session_id: sid, user_id: '7', expires_at: exp + 600 }, { id: '3' });
    await applied(c, '3');
    await assert.rejects(c.validate(first), TokenInvalid);
    assert.equal((await c.validate(second)).sessionId, sid);
  });

  test('resync clears the cache', async () => {
    const c = await live();
    const token = fake.issue(key);
    await c.validate(token);
    await c.validate(token);
    assert.equal(fake.validateCalls, 1);
    fake.send('resync');
    fake.send('heartbeat', { time: new Date().toISOString() }, { id: '4' });
    await applied(c, '4');
    assert.equal(c._local.state.cache.size, 0);
    await c.validate(token);
    assert.equal(fake.validateCalls, 2);
  });

  test('keys_rotated refetches the JWKS; the old kid is refused', async () => {
    const c = await live();
    const token = fake.issue(key);
    await c.validate(token);
    const fetched = fake.jwksCalls;
    const next = new SigningKey('EdDSA', 'k2');
    fake.keys = [next];
    fake.send('keys_rotated', { kid: 'k2' }, { id: '5' });
    await applied(c, '5');
    await waitUntil(() => fake.jwksCalls === fetched + 1 && c._local._keys?.some((k) => k.kid === 'k2'));
    await assert.rejects(c.validate(token), TokenInvalid);
    assert.equal((await c.validate(fake.issue(next))).userId, '7');
  });

  test('an unknown kid refetches the JWKS once', async () => {
    const c = await live();
    const fetched = fake.jwksCalls;
    const stranger = new SigningKey('EdDSA', 'nobody');
    for (let i = 0; i < 3; i += 1) await assert.rejects(c.validate(fake.issue(stranger)), TokenInvalid);
    assert.equal(fake.jwksCalls, fetched + 1);
    assert.equal(fake.validateCalls, 0);
  });

  test('a key added later is found by the refetch (ES256)', async () => {
    const c = await live();
    const added = new SigningKey('ES256', 'k-es');
    fake.keys = [key, added];
    assert.equal((await c.validate(fake.issue(added))).userId, '7');
  });

  test('alg none, HS256 and an alg that is not the key\'s are refused', async () => {
    const c = await live();
    for (const alg of ['none', 'HS256', 'ES256', 'RS256']) {
      const token = key.sign(claims(), { alg, kid: 'k1' });
      fake.sessions.set(token, { user_id: '7', session_id: 'x', user_data: {} });
      await assert.rejects(c.validate(token), TokenInvalid, alg);
    }
    assert.equal(fake.validateCalls, 0);
  });

  test('bad signature, expired, wrong issuer and audience are refused', async () => {
    const c = await live({ audience: 'shop' });
    const good = key.sign({ ...claims(), aud: 'shop' });
    fake.sessions.set(good, { user_id: '7', session_id: 'x', user_data: {} });
    const [h, p, s] = good.split('.');
    const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
    const expired = key.sign({ ...claims({ exp: Math.floor(Date.now() / 1000) - 1 }), aud: 'shop' });
    const wrongIss = key.sign({ ...claims(), iss: 'else', aud: 'shop' });
    const wrongAud = key.sign({ ...claims(), aud: ['other'] });
    for (const t of [forged, expired, wrongIss, wrongAud, 'a.b.c', 'garbage']) await assert.rejects(c.validate(t), TokenInvalid);
    assert.equal(fake.validateCalls, 0);
    assert.equal((await c.validate(good)).userId, '7');
  });

  test('reconnects with Last-Event-ID, remote meanwhile', async () => {
    const c = await live();
    const token = fake.issue(key);
    await c.validate(token);
    fake.send('session_ended', { session_id: 'gone', user_id: '9' }, { id: '41' });
    await applied(c, '41');
    fake.feedStatus = 503;
    fake.closeFeeds();
    await waitUntil(() => !c.localLive);
    let calls = fake.validateCalls;
    await c.validate(token);
    assert.equal(fake.validateCalls, calls + 1);
    await waitUntil(() => fake.lastEventIds.length >= 2);
    const count = fake.connections.length;
    fake.feedStatus = 200;
    await fake.waitConnections(count + 1);
    assert.equal(fake.lastEventIds.at(-1), '41');
    assert.equal(fake.lastEventIds[0], null);
    fake.ready();
    assert.equal(await c.waitLocal(5000), true);
    calls = fake.validateCalls;
    await c.validate(token);
    assert.equal(fake.validateCalls, calls);
  });

  test('a token seen before expires all the same', async () => {
    const c = await live();
    const token = fake.issue(key, { exp: Math.floor(Date.now() / 1000) + 1 });
    assert.equal((await c.validate(token)).userId, '7');
    await waitUntil(() => Date.now() / 1000 >= JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp, 3000);
    await assert.rejects(c.validate(token), /expired/);
    assert.equal(fake.validateCalls, 1);
  });

  test('a reconnection without an event id forgets the cache', async () => {
    const c = await live();
    const token = fake.issue(key);
    await c.validate(token);
    await c.validate(token);
    assert.equal(fake.validateCalls, 1);
    fake.closeFeeds(); // no event id seen: the server will have nothing to replay from
    await fake.waitConnections(2);
    fake.ready();
    assert.equal(await c.waitLocal(5000), true);
    await c.validate(token);
    assert.equal(fake.validateCalls, 2);
    assert.deepEqual(fake.lastEventIds, [null, null]);
  });

  test('a silent feed is down after 2 heartbeats + 5 s, and is reconnected', async () => {
    fake.heartbeatSeconds = 0.1; // down after 5.2 s without a byte
    const c = await live();
    const token = fake.issue(key);
    await c.validate(token);
    const wentLive = Date.now();
    await waitUntil(() => !c.localLive, 8000);
    assert.ok(Date.now() - wentLive > 5000);
    const calls = fake.validateCalls;
    await c.validate(token);
    assert.equal(fake.validateCalls, calls + 1); // remote, though the token is cached
    await fake.waitConnections(2, 5000); // the watchdog dropped the silent connection
  });

  test('a wrong API key stays remote', async () => {
    const token = fake.issue(key);
    const c = client({ sdkApiKey: 'wrong' });
    await waitUntil(() => fake.lastEventIds.length >= 2);
    assert.equal(c.localLive, false);
    await c.validate(token);
    await c.validate(token);
    assert.equal(fake.validateCalls, 2);
  });

  test('the cache is bounded', async () => {
    const c = await live({ cacheSize: 2 });
    const tokens = [fake.issue(key), fake.issue(key), fake.issue(key)];
    for (const t of tokens) await c.validate(t);
    assert.equal(c._local.state.cache.size, 2);
    await c.validate(tokens[0]);
    assert.equal(fake.validateCalls, 4);
  });

  test('the API key stays out of inspection', () => {
    const c = client({ sdkApiKey: 's3cret' });
    assert.equal(JSON.stringify(c._local).includes('s3cret'), false);
    assert.throws(() => new UAPClient({ baseUrl: fake.baseUrl, local: { sdkApiKey: '' } }), /sdkApiKey/);
  });

  test('expressAuth with local mode', async () => {
    const auth = expressAuth({ baseUrl: fake.baseUrl, local: local(), roles: ['admin'] });
    clients.push(auth);
    const app = express();
    app.get('/admin', auth, (req, res) => res.json({ sessionId: req.sessionId }));
    const server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${server.address().port}/admin`;
      await fake.waitConnections(1);
      fake.ready();
      assert.equal(await auth.validator.client.waitLocal(5000), true);
      const admin = fake.issue(key, { role: 'admin' });
      const get = (t) => fetch(url, { headers: { authorization: `Bearer ${t}` } });
      for (let i = 0; i < 3; i += 1) assert.equal((await get(admin)).status, 200);
      assert.equal((await get(fake.issue(key))).status, 403);
      assert.equal(fake.validateCalls, 2);
      fake.send('session_ended', { session_id: sidOf(admin), user_id: '7' }, { id: '1' });
      await waitUntil(async () => (await get(admin)).status === 401);
      assert.equal(fake.validateCalls, 2);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('local mode pieces', () => {
  test('SSE framing', () => {
    const parser = new SseParser();
    const lines = [': comment', 'id: 12', 'event: session_ended', 'data: {"session_id":', 'data: "s"}', ''];
    const events = lines.map((l) => parser.line(l)).filter((e) => e !== null);
    assert.deepEqual(events, [{ name: 'session_ended', data: { session_id: 's' }, id: '12' }]);
    assert.equal(parser.line(''), null);
    parser.line('event: resync');
    assert.deepEqual(parser.line(''), { name: 'resync', data: {}, id: null });
    parser.line('data:not json');
    assert.equal(parser.line(''), null);
  });

  test('liveness follows heartbeats', () => {
    let now = 1_000_000;
    const state = new FeedState({ retentionMs: 60_000, cacheSize: 10, maxRevocations: 10, clock: () => now });
    assert.equal(state.live(), false);
    assert.equal(state.apply({ name: 'ready', data: { heartbeat_seconds: 2 }, id: null }), 'ready');
    state.goLive();
    assert.equal(state.live(), true);
    now += 8_900;
    assert.equal(state.live(), true);
    now += 200;
    assert.equal(state.live(), false);
    state.touched();
    assert.equal(state.live(), true);
    state.disconnected();
    assert.equal(state.live(), false);
  });

  test('revocations are bounded by age and count', () => {
    let now = 0;
    const state = new FeedState({ retentionMs: 10_000, cacheSize: 10, maxRevocations: 3, clock: () => now });
    for (let i = 0; i < 5; i += 1) state.apply({ name: 'session_ended', data: { session_id: `s${i}`, user_id: 'u' }, id: String(i) });
    assert.deepEqual([...state.ended.items.keys()], ['s2', 's3', 's4']);
    now = 100_000;
    state.apply({ name: 'heartbeat', data: {}, id: null });
    assert.equal(state.ended.items.size, 0);
  });

  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    test(`${alg} verifies`, () => {
      const signer = new SigningKey(alg, 'x');
      const [jwk] = parseJwks({ keys: [signer.jwk] });
      const body = claims();
      assert.equal(verifyToken(parseToken(signer.sign(body)), jwk, { issuer: ISSUER }).sessionId, body.session_id);
      assert.throws(() => verifyToken(parseToken(new SigningKey(alg, 'x').sign(body)), jwk), TokenInvalid);
    });
  }
});
