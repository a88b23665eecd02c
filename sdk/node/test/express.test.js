// expressAuth in a small Express app, against a real UAP.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import express from 'express';

import { expressAuth, requireRoles } from '../src/index.js';
import { login, startUap } from './support.js';

const silent = { warn() {}, error() {} };

function makeApp(baseUrl, logger = silent) {
  const app = express();
  app.use(expressAuth({ baseUrl, excludedPaths: ['/health', '/public/*'], logger }));
  app.get('/me', (req, res) => res.json({ userId: req.user.userId, sessionId: req.sessionId, username: req.user.userData.username }));
  app.get('/admin', requireRoles('admin'), (req, res) => res.json({ admin: req.user.userData.username }));
  app.get('/health', (req, res) => res.json({ ok: true, user: req.user ?? null }));
  app.get('/public/hello', (req, res) => res.json({ hello: 'world' }));
  // A router that needs a role for everything under it.
  const ops = express.Router();
  ops.use(expressAuth({ baseUrl, roles: ['admin', 'ops'], logger }));
  ops.get('/status', (req, res) => res.json({ ops: req.user.userData.username }));
  app.use('/ops', ops);
  return app;
}

async function listen(app) {
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

const get = (url, token) => fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

describe('expressAuth', () => {
  let uap;
  let web;
  before(async () => {
    uap = await startUap();
    web = await listen(makeApp(uap.baseUrl));
  });
  after(async () => {
    await web?.close();
    await uap?.destroy();
  });

  test('a logged-in user reaches the route with req.user and req.sessionId', async () => {
    const token = await login(uap.baseUrl, 'bob');
    const response = await get(`${web.url}/me`, token);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.userId, '2');
    assert.equal(body.username, 'bob');
    assert.ok(body.sessionId);
  });

  test('no token, garbage and another scheme are 401 JSON', async () => {
    const missing = await get(`${web.url}/me`);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(await missing.json(), { error: 'Not authenticated' });
    const garbage = await get(`${web.url}/me`, 'garbage');
    assert.equal(garbage.status, 401);
    assert.deepEqual(await garbage.json(), { error: 'Invalid or expired token' });
    const basic = await fetch(`${web.url}/me`, { headers: { authorization: 'Basic Ym9iOng=' } });
    assert.equal(basic.status, 401);
  });

  test('a logged-out token is 401', async () => {
    const token = await login(uap.baseUrl, 'bob');
    assert.equal((await get(`${web.url}/me`, token)).status, 200);
    const out = await fetch(`${uap.baseUrl}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.status, 200);
    assert.equal((await get(`${web.url}/me`, token)).status, 401);
  });

  test('roles: 403 JSON to others', async () => {
    const bob = await login(uap.baseUrl, 'bob');
    const alice = await login(uap.baseUrl, 'alice');
    const forbidden = await get(`${web.url}/admin`, bob);
    assert.equal(forbidden.status, 403);
    assert.deepEqual(await forbidden.json(), { error: 'Forbidden: requires role admin' });
    assert.deepEqual(await (await get(`${web.url}/admin`, alice)).json(), { admin: 'alice' });
    assert.equal((await get(`${web.url}/ops/status`, bob)).status, 403);
    assert.deepEqual(await (await get(`${web.url}/ops/status`, alice)).json(), { ops: 'alice' });
  });

  test('excluded paths are open', async () => {
    assert.deepEqual(await (await get(`${web.url}/health`)).json(), { ok: true, user: null });
    assert.deepEqual(await (await get(`${web.url}/public/hello?x=1`, 'garbage')).json(), { hello: 'world' });
    assert.equal((await get(`${web.url}/publicity`)).status, 401);
  });
});

test('a stopped UAP is 503, not 401, and is logged', async () => {
  const uap = await startUap();
  const warnings = [];
  const web = await listen(makeApp(uap.baseUrl, { warn: (m) => warnings.push(m), error: (m) => warnings.push(m) }));
  try {
    const token = await login(uap.baseUrl, 'alice');
    assert.equal((await get(`${web.url}/admin`, token)).status, 200);
    await uap.stop();
    for (const path of ['/me', '/admin', '/ops/status']) {
      const response = await get(`${web.url}${path}`, token);
      assert.equal(response.status, 503, path);
      assert.deepEqual(await response.json(), { error: 'Authentication service unavailable' });
    }
    assert.equal(warnings.length, 3);
    assert.match(warnings[0], /UAP unavailable/);
    assert.doesNotMatch(warnings.join('\n'), new RegExp(token.split('.')[2]));
    assert.equal((await get(`${web.url}/me`)).status, 401);
    assert.equal((await get(`${web.url}/health`)).status, 200);
  } finally {
    await web.close();
    await uap.destroy();
  }
});
