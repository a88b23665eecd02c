// A tiny fake UAP for local-mode tests (node:http): the JWKS, GET /validate
// answering from a table the test fills, and an SSE events feed the test writes
// to, recording each connection's Last-Event-ID.

import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export const API_KEY = 'test-sdk-key';
export const ISSUER = 'UAP';

const b64 = (value) => Buffer.from(value).toString('base64url');

export class SigningKey {
  constructor(alg = 'EdDSA', kid = 'k1') {
    this.alg = alg;
    this.kid = kid;
    const { privateKey, publicKey } =
      alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : alg === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.jwk = { ...publicKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
  }

  sign(claims, header = { alg: this.alg, typ: 'JWT', kid: this.kid }) {
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const data = Buffer.from(input);
    const signature =
      this.alg === 'EdDSA'
        ? sign(null, data, this.privateKey)
        : this.alg === 'ES256'
          ? sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' })
          : sign('sha256', data, this.privateKey);
    return `${input}.${b64(signature)}`;
  }
}

export function claims({ sid, uid = '7', exp, iat } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { session_id: sid ?? randomUUID(), user_id: uid, device_id: null, exp: exp ?? now + 3600, iat: iat ?? now, iss: ISSUER };
}

export class FakeUap {
  constructor(key) {
    this.keys = [key];
    this.sessions = new Map();
    this.validateCalls = 0;
    this.jwksCalls = 0;
    this.feedStatus = 200;
    this.heartbeatSeconds = 15;
    this.lastEventIds = [];
    this.connections = [];
    this.server = createServer((req, res) => this._handle(req, res));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async stop() {
    this.closeFeeds();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  _json(res, status, body) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  _handle(req, res) {
    if (req.url === '/.well-known/jwks.json') {
      this.jwksCalls += 1;
      return this._json(res, 200, { keys: this.keys.map((k) => k.jwk) });
    }
    if (req.url === '/api/v1/auth/validate') {
      this.validateCalls += 1;
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const body = this.sessions.get(token);
      return body ? this._json(res, 200, { valid: true, ...body }) : this._json(res, 401, { valid: false });
    }
    if (req.url === '/api/v1/auth/events') {
      this.lastEventIds.push(req.headers['last-event-id'] ?? null);
      const status = req.headers['x-api-key'] === API_KEY ? this.feedStatus : 401;
      if (status !== 200) return this._json(res, status, { error: 'no feed' });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      this.connections.push(res);
      return undefined;
    }
    return this._json(res, 404, { error: 'Not Found' });
  }

  /** A token the fake's /validate calls valid. */
  issue(key, { username = 'bob', role = 'user', ...options } = {}) {
    const body = claims(options);
    const token = key.sign(body);
    this.sessions.set(token, {
      user_id: body.user_id,
      session_id: body.session_id,
      expires_at: new Date(body.exp * 1000).toISOString(),
      user_data: { id: body.user_id, username, role },
    });
    return token;
  }

  async waitConnections(count, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length < count) {
      if (Date.now() > deadline) throw new Error(`no feed connection #${count} within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  send(event, data = {}, { id, raw = '' } = {}) {
    const idLine = id === undefined ? '' : `id: ${id}\n`;
    this.connections.at(-1).write(`${raw}${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  ready() {
    this.send('ready', { instance: 'fake', heartbeat_seconds: this.heartbeatSeconds });
  }

  closeFeeds() {
    for (const res of this.connections) res.end();
  }
}

export async function waitUntil(check, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

export const sidOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).session_id;
