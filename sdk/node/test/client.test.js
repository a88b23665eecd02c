// UAPClient against a real UAP.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  InvalidCredentials,
  RateLimited,
  TokenInvalid,
  UAPClient,
  UAPError,
  UAPUnavailable,
} from '../src/index.js';
import { login, startUap, uniqueName } from './support.js';

describe('UAPClient', () => {
  let uap;
  let client;
  before(async () => {
    uap = await startUap();
    client = new UAPClient({ baseUrl: uap.baseUrl, timeoutMs: 10_000 });
  });
  after(() => uap?.destroy());

  test('login, validate, logout', async () => {
    const result = await client.authenticate({ username: 'alice', password: 'alice-password', deviceId: 'laptop' });
    assert.equal(result.userData.username, 'alice');
    assert.equal('password' in result.userData, false);
    assert.deepEqual(result.roles, ['admin']);
    assert.ok(result.refreshToken);
    assert.ok(result.expiresAt > new Date());

    const user = await client.validate(result.token);
    assert.equal(user.userId, '1');
    assert.equal(user.sessionId, result.sessionId);
    assert.equal(user.userData.email, 'alice@example.test');
    assert.deepEqual(user.roles, ['admin']);
    assert.equal(user.expiresAt.getTime(), result.expiresAt.getTime());

    assert.equal(await client.logout(result.token), true);
    await assert.rejects(client.validate(result.token), TokenInvalid);
    assert.equal(await client.logout(result.token), false);
  });

  test('wrong password and unknown user are InvalidCredentials', async () => {
    await assert.rejects(client.authenticate({ username: 'bob', password: 'nope' }), (err) => {
      assert.ok(err instanceof InvalidCredentials && err instanceof UAPError);
      assert.equal(err.status, 401);
      return true;
    });
    await assert.rejects(client.authenticate({ username: uniqueName(), password: 'x' }), InvalidCredentials);
    await assert.rejects(client.authenticate({ usernme: 'bob', password: 'x' }), TypeError);
  });

  test('garbage tokens are TokenInvalid, not UAPUnavailable', async () => {
    for (const token of ['garbage', 'a.b.c', '', 'has space', 'new\nline', 'é']) {
      await assert.rejects(client.validate(token), TokenInvalid, JSON.stringify(token));
    }
    const token = await login(uap.baseUrl, 'bob');
    const [header, payload, signature] = token.split('.');
    await assert.rejects(client.validate(`${header}.${payload}.${[...signature].reverse().join('')}`), TokenInvalid);
    assert.equal((await client.validate(token)).userData.username, 'bob');
  });

  test('rate limited carries retryAfter', async () => {
    const username = uniqueName();
    for (let i = 0; i < 5; i++) {
      await assert.rejects(client.authenticate({ username, password: 'wrong' }), InvalidCredentials);
    }
    await assert.rejects(client.authenticate({ username, password: 'wrong' }), (err) => {
      assert.ok(err instanceof RateLimited);
      assert.equal(err.status, 429);
      assert.ok(err.retryAfter > 0 && err.retryAfter <= 900, String(err.retryAfter));
      return true;
    });
  });

  test('validateBatch keeps order', async () => {
    const alice = await login(uap.baseUrl, 'alice');
    const bob = await login(uap.baseUrl, 'bob');
    const results = await client.validateBatch([bob, 'garbage', alice]);
    assert.deepEqual(
      results.map((u) => u && u.userData.username),
      ['bob', null, 'alice'],
    );
    assert.equal(results[0].userId, '2');
  });

  test('refresh rotates the token', async () => {
    const first = await client.authenticate({ username: 'bob', password: 'bob-password' });
    const second = await client.refresh({ refreshToken: first.refreshToken });
    assert.notEqual(second.token, first.token);
    await assert.rejects(client.validate(first.token), TokenInvalid);
    const third = await client.refresh({ token: second.token });
    assert.equal((await client.validate(third.token)).sessionId, third.sessionId);
    await assert.rejects(client.refresh({}), TypeError);
  });

  test('sessions and logoutAll', async () => {
    const one = await client.authenticate({ username: 'bob', password: 'bob-password', deviceId: 'phone' });
    const two = await client.authenticate({ username: 'bob', password: 'bob-password', deviceId: 'tablet' });
    const sessions = new Map((await client.sessions(one.token)).map((s) => [s.sessionId, s]));
    assert.equal(sessions.get(one.sessionId).current, true);
    assert.equal(sessions.get(two.sessionId).current, false);
    assert.equal(sessions.get(two.sessionId).deviceId, 'tablet');
    assert.ok((await client.logoutAll(two.token)) >= 2);
    await assert.rejects(client.validate(one.token), TokenInvalid);
    await assert.rejects(client.sessions(one.token), TokenInvalid);
  });

  test('health', async () => {
    const health = await client.health();
    assert.equal(health.healthy, true);
    assert.equal(health.components.database, 'healthy');
  });
});

test('a stopped UAP is UAPUnavailable, not TokenInvalid', async () => {
  const uap = await startUap();
  try {
    const client = new UAPClient({ baseUrl: uap.baseUrl, timeoutMs: 5000 });
    const token = await login(uap.baseUrl, 'bob');
    assert.equal((await client.validate(token)).userData.username, 'bob');
    await uap.stop();
    await assert.rejects(client.validate(token), (err) => {
      assert.ok(err instanceof UAPUnavailable, String(err));
      assert.equal(err.status, null);
      return true;
    });
    await assert.rejects(client.authenticate({ username: 'bob', password: 'bob-password' }), UAPUnavailable);
  } finally {
    await uap.destroy();
  }
});

const answer = (status, body, type = 'text/html') => async () =>
  new Response(body, { status, headers: { 'content-type': type } });

test('5xx and foreign answers are UAPUnavailable', async () => {
  for (const [status, body] of [
    [503, '{"error":"session store down"}'],
    [500, '<html>oops</html>'],
    [502, ''],
    [200, '<html>proxy</html>'],
  ]) {
    const client = new UAPClient({ baseUrl: 'http://uap.invalid', fetch: answer(status, body) });
    await assert.rejects(client.validate('a.b.c'), (err) => err instanceof UAPUnavailable && err.status === status);
  }
});

test('a timeout is UAPUnavailable', async () => {
  const hang = (url, { signal }) =>
    new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  const client = new UAPClient({ baseUrl: 'http://uap.invalid', timeoutMs: 50, fetch: hang });
  // AbortSignal.timeout's timer does not keep the process alive (a real socket would).
  const keepAlive = setInterval(() => {}, 1000);
  try {
    await assert.rejects(client.validate('a.b.c'), (err) => err instanceof UAPUnavailable && /timed out/.test(err.message));
  } finally {
    clearInterval(keepAlive);
  }
});

test('another 4xx is a plain UAPError; baseUrl must be http(s)', async () => {
  const client = new UAPClient({ baseUrl: 'http://uap.invalid', fetch: answer(404, '{"error":"Not Found"}', 'application/json') });
  await assert.rejects(client.validate('a.b.c'), (err) => err.constructor === UAPError && err.status === 404);
  assert.throws(() => new UAPClient({ baseUrl: '127.0.0.1:8000' }), TypeError);
});
