// Local mode against the real uap with an EdDSA key and sdk_api_key: two clients
// see a logout within a second; without the feed (wrong key, UAP restarted)
// checks are remote and fail closed.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { TokenInvalid, UAPClient, UAPUnavailable } from '../src/index.js';
import { waitUntil } from './fake.js';
import { UapServer, login } from './support.js';

const SDK_KEY = `sdk-${randomUUID()}`;
const quiet = { warn() {}, error() {} };

function eddsa(dir) {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(join(dir, 'ed25519.pem'), pem);
  return ['jwt_algorithm = "EdDSA"', `jwt_private_key_file = "${join(dir, 'ed25519.pem')}"`, `sdk_api_key = "${SDK_KEY}"`];
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

async function rejectedWithin(client, token, ms) {
  const started = Date.now();
  for (;;) {
    try {
      await client.validate(token);
    } catch (err) {
      if (err instanceof TokenInvalid) return Date.now() - started;
      throw err;
    }
    if (Date.now() - started > ms) return Infinity;
    await sleep(5);
  }
}

describe('local mode against uap (EdDSA)', () => {
  let uap;
  const clients = [];
  const client = (sdkApiKey = SDK_KEY) => {
    const c = new UAPClient({ baseUrl: uap.baseUrl, local: { sdkApiKey, issuer: 'UAP', maxBackoffMs: 500, logger: quiet } });
    clients.push(c);
    return c;
  };
  before(async () => {
    uap = await (await UapServer.create({ extra: eddsa })).start();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await uap?.destroy();
  });

  test('two clients reject a logged-out token within a second', async () => {
    const [one, two] = [client(), client()];
    assert.equal(await one.waitLocal(20_000), true);
    assert.equal(await two.waitLocal(20_000), true);
    const token = await login(uap.baseUrl, 'bob');
    for (const c of [one, two]) {
      assert.equal((await c.validate(token)).userData.username, 'bob');
      assert.equal((await c.validate(token)).userId, '2');
      assert.equal(c._local.state.cache.size, 1);
    }
    const response = await fetch(`${uap.baseUrl}/api/v1/auth/logout`, { method: 'POST', headers: bearer(token) });
    assert.equal((await response.json()).success, true);
    const [a, b] = await Promise.all([rejectedWithin(one, token, 5000), rejectedWithin(two, token, 5000)]);
    assert.ok(a < 1000 && b < 1000, `rejected after ${a} ms and ${b} ms`);
    assert.equal(one.localLive && two.localLive, true);
  });

  test('a wrong key means remote checks', async () => {
    const c = client('not-the-key');
    assert.equal(await c.waitLocal(1500), false);
    const token = await login(uap.baseUrl, 'bob');
    assert.equal((await c.validate(token)).userData.username, 'bob');
    await fetch(`${uap.baseUrl}/api/v1/auth/logout`, { method: 'POST', headers: bearer(token) });
    await assert.rejects(c.validate(token), TokenInvalid);
  });

  test('uap restarted: remote (fail closed) while down, local again after', async () => {
    const c = client();
    assert.equal(await c.waitLocal(20_000), true);
    const token = await login(uap.baseUrl, 'alice');
    await c.validate(token);
    await uap.stop();
    await waitUntil(() => !c.localLive, 5000);
    await assert.rejects(c.validate(token), UAPUnavailable);
    await uap.start();
    assert.equal(await c.waitLocal(20_000), true);
    assert.equal((await c.validate(token)).userData.username, 'alice');
    await fetch(`${uap.baseUrl}/api/v1/auth/logout-all`, { method: 'POST', headers: bearer(token) });
    assert.ok((await rejectedWithin(c, token, 2000)) < 2000);
  });
});
