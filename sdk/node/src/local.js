// Local mode (opt-in): asymmetric tokens (RS256, ES256, EdDSA) verified in-process
// against /.well-known/jwks.json with node:crypto, revocations learnt from the
// events feed (GET /api/v1/auth/events, server-sent events read from fetch's
// body), and remote validation whenever the feed is not live (fail closed).
//
// The rules (CONTRACT §8, the events wire format):
// - session_ended → that session's tokens are refused;
// - user_sessions_ended → the user's tokens with iat < floor(before) are refused
//   (== asks the server), except keep_session_id's;
// - session_refreshed → only the token whose exp is expires_at stays;
// - keys_rotated → the JWKS is fetched again; resync → the cache is emptied;
// - the first sight of a (session_id, exp) is validated remotely and the answer
//   cached until the token's exp or an event about that session/user.

import { createPublicKey, verify as cryptoVerify } from 'node:crypto';

import { TokenInvalid, UAPUnavailable } from './errors.js';

const EVENTS = '/api/v1/auth/events';
const JWKS = '/.well-known/jwks.json';
const ALGORITHMS = new Set(['RS256', 'ES256', 'EdDSA']);
const MAX_TOKEN_BYTES = 8192;
const DEFAULT_HEARTBEAT = 15;
const FIRST_BACKOFF_MS = 500;

const invalid = (message = 'Invalid or expired token') => new TokenInvalid(message);

/** Milliseconds before reconnection attempt `attempt` (0 right after a live connection ended). */
export function backoffMs(attempt, longestMs) {
  return Math.min(longestMs, FIRST_BACKOFF_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
}

// -- keys and tokens -----------------------------------------------------------

/** One JWKS entry as {kid, alg, key}, or null when local mode cannot use it. */
function jwkOf(entry) {
  if (!entry || typeof entry !== 'object' || (entry.use !== undefined && entry.use !== 'sig')) return null;
  let alg = null;
  if (entry.kty === 'RSA' && (entry.alg ?? 'RS256') === 'RS256') alg = 'RS256';
  else if (entry.kty === 'EC' && entry.crv === 'P-256' && (entry.alg ?? 'ES256') === 'ES256') alg = 'ES256';
  else if (entry.kty === 'OKP' && entry.crv === 'Ed25519' && ['EdDSA', 'Ed25519', undefined].includes(entry.alg)) alg = 'EdDSA';
  if (alg === null) return null;
  const { kty, crv, n, e, x, y } = entry;
  try {
    const key = createPublicKey({ key: JSON.parse(JSON.stringify({ kty, crv, n, e, x, y })), format: 'jwk' });
    return { kid: typeof entry.kid === 'string' ? entry.kid : null, alg, key };
  } catch {
    return null;
  }
}

/** The usable keys of a `{keys: [...]}` document. */
export function parseJwks(body) {
  if (!body || typeof body !== 'object' || !Array.isArray(body.keys)) throw new Error("the JWKS is not an object with a 'keys' list");
  return body.keys.map(jwkOf).filter((k) => k !== null);
}

function json64(part) {
  const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
  return value;
}

/** A compact JWS split and decoded (not verified); TokenInvalid when it is not one or its alg is refused. */
export function parseToken(token) {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_BYTES) throw invalid('Malformed token');
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('Malformed token');
  let header;
  let claims;
  try {
    header = json64(parts[0]);
    claims = json64(parts[1]);
  } catch {
    throw invalid('Malformed token');
  }
  if (!ALGORITHMS.has(header.alg)) throw invalid(`Token algorithm ${JSON.stringify(header.alg)} is not accepted`);
  return {
    alg: header.alg,
    kid: typeof header.kid === 'string' ? header.kid : null,
    signingInput: Buffer.from(`${parts[0]}.${parts[1]}`),
    signature: Buffer.from(parts[2], 'base64url'),
    claims,
  };
}

function signatureOk(parsed, jwk) {
  try {
    if (jwk.alg === 'RS256') return cryptoVerify('sha256', parsed.signingInput, jwk.key, parsed.signature);
    if (jwk.alg === 'ES256') {
      return parsed.signature.length === 64 && cryptoVerify('sha256', parsed.signingInput, { key: jwk.key, dsaEncoding: 'ieee-p1363' }, parsed.signature);
    }
    if (jwk.alg === 'EdDSA') return cryptoVerify(null, parsed.signingInput, jwk.key, parsed.signature);
  } catch {
    return false;
  }
  return false;
}

const whole = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : null);

/** Signature (with the key's own algorithm), exp > now, iss/aud when given; the session claims. */
export function verifyToken(parsed, jwk, { now = Date.now() / 1000, issuer, audience } = {}) {
  if (parsed.alg !== jwk.alg) throw invalid('Token algorithm does not match its key');
  if (!signatureOk(parsed, jwk)) throw invalid('Bad token signature');
  const c = parsed.claims;
  const exp = whole(c.exp);
  const iat = whole(c.iat);
  if (exp === null || iat === null) throw invalid('Token without exp or iat');
  if (exp <= now) throw invalid('Token expired');
  if (issuer != null && c.iss !== issuer) throw invalid('Token issuer does not match');
  if (audience != null && !(c.aud === audience || (Array.isArray(c.aud) && c.aud.includes(audience)))) {
    throw invalid('Token audience does not match');
  }
  if (typeof c.session_id !== 'string' || !c.session_id || c.user_id == null) throw invalid('Token without session_id or user_id');
  return { sessionId: c.session_id, userId: String(c.user_id), exp, iat, kid: parsed.kid };
}

// -- the feed's framing and state --------------------------------------------------

/** Incremental SSE framing: `line(text)` returns the event a blank line ends, else null. */
export class SseParser {
  constructor() {
    this._reset();
  }

  _reset() {
    this._name = '';
    this._data = [];
    this._id = null;
  }

  line(line) {
    if (line === '') {
      const name = this._name || 'message';
      const data = this._data;
      const id = this._id;
      this._reset();
      if (data.length === 0 && name === 'message') return null;
      let parsed = {};
      try {
        if (data.length > 0) parsed = JSON.parse(data.join('\n'));
      } catch {
        return null;
      }
      return { name, data: parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {}, id };
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this._name = value;
    else if (field === 'data') this._data.push(value);
    else if (field === 'id' && !value.includes('\0')) this._id = value;
    return null;
  }
}

/** Ids with the time they were learnt, oldest first, bounded by age and count. */
class Retained {
  constructor(retentionMs, limit) {
    this.retentionMs = retentionMs;
    this.limit = limit;
    this.items = new Map();
  }

  put(key, value, now) {
    this.items.delete(key);
    this.items.set(key, value);
    this.prune(now);
  }

  prune(now) {
    for (const [key, value] of this.items) {
      if (this.items.size <= this.limit && now - value.received <= this.retentionMs) break;
      this.items.delete(key);
    }
  }
}

/** Revocations, the session cache and the feed's liveness. */
export class FeedState {
  constructor({ retentionMs, cacheSize, maxRevocations, clock = () => performance.now() }) {
    this._clock = clock;
    this.ended = new Retained(retentionMs, maxRevocations);
    this.cutoffs = new Retained(retentionMs, maxRevocations);
    this.refreshed = new Retained(retentionMs, maxRevocations);
    this.cache = new Map(); // `${sid}\n${exp}` -> {user, userId, sessionId, exp, cutoff}
    this.bySession = new Map(); // sid -> Set(key)
    this.byUser = new Map(); // userId -> Set(sid)
    this.cacheSize = cacheSize;
    this.seq = 0;
    this.ready = false;
    this.heartbeat = DEFAULT_HEARTBEAT;
    this.lastByte = 0;
    this.lastEventId = null;
  }

  stallAfterMs() {
    return (2 * this.heartbeat + 5) * 1000;
  }

  live() {
    return this.ready && this._clock() - this.lastByte <= this.stallAfterMs();
  }

  touched() {
    this.lastByte = this._clock();
  }

  disconnected() {
    this.ready = false;
  }

  /**
   * A new connection: not live until its ready. Without an event id to resume from, the
   * server cannot replay what was missed since an earlier connection (nor say resync):
   * the cache is emptied here instead.
   */
  connected() {
    this.ready = false;
    if (this.lastEventId === null) {
      this._clearCache();
      this.seq += 1;
    }
  }

  goLive() {
    this.ready = true;
    this.touched();
  }

  /** Applies one event; 'ready' or 'jwks' when the caller must fetch the keys. */
  apply(event) {
    const now = this._clock();
    const d = event.data;
    let action = null;
    switch (event.name) {
      case 'ready':
        if (typeof d.heartbeat_seconds === 'number' && d.heartbeat_seconds > 0) this.heartbeat = d.heartbeat_seconds;
        action = 'ready';
        break;
      case 'heartbeat':
        this._purgeExpired(now);
        break;
      case 'session_ended':
        if (typeof d.session_id === 'string') {
          this.ended.put(d.session_id, { received: now }, now);
          this._forgetSession(d.session_id);
        }
        break;
      case 'user_sessions_ended':
        this._userCutoff(d, now);
        break;
      case 'session_refreshed':
        if (typeof d.session_id === 'string' && Number.isInteger(d.expires_at)) {
          this.refreshed.put(d.session_id, { expiresAt: d.expires_at, received: now }, now);
          this._forgetSession(d.session_id, d.expires_at);
        }
        break;
      case 'keys_rotated':
        action = 'jwks';
        break;
      case 'resync':
        this._clearCache();
        break;
      default:
        break;
    }
    this.seq += 1;
    if (event.id !== null) this.lastEventId = event.id;
    return action;
  }

  _userCutoff(d, now) {
    if (d.user_id == null || typeof d.before !== 'string') return;
    const userId = String(d.user_id);
    const millis = Date.parse(d.before);
    if (Number.isNaN(millis)) {
      this._forgetUser(userId);
      return;
    }
    const before = Math.floor(millis / 1000);
    const previous = this.cutoffs.items.get(userId);
    // A later cut-off ends every session an earlier one did (the kept session is newer than both).
    if (!previous || previous.before <= before) {
      const keep = typeof d.keep_session_id === 'string' ? d.keep_session_id : null;
      this.cutoffs.put(userId, { before, keep, received: now }, now);
    }
    this._forgetUser(userId);
  }

  _forgetSession(sessionId, keepExp = null) {
    for (const key of [...(this.bySession.get(sessionId) ?? [])]) {
      if (keepExp === null || this.cache.get(key)?.exp !== keepExp) this._drop(key);
    }
  }

  _forgetUser(userId) {
    for (const sid of [...(this.byUser.get(userId) ?? [])]) this._forgetSession(sid);
  }

  _drop(key) {
    const entry = this.cache.get(key);
    if (!entry) return;
    this.cache.delete(key);
    const keys = this.bySession.get(entry.sessionId);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) {
        this.bySession.delete(entry.sessionId);
        const sids = this.byUser.get(entry.userId);
        if (sids) {
          sids.delete(entry.sessionId);
          if (sids.size === 0) this.byUser.delete(entry.userId);
        }
      }
    }
  }

  _clearCache() {
    this.cache.clear();
    this.bySession.clear();
    this.byUser.clear();
  }

  _purgeExpired(now) {
    const wall = Date.now() / 1000;
    for (const [key, entry] of this.cache) if (entry.exp <= wall) this._drop(key);
    for (const retained of [this.ended, this.cutoffs, this.refreshed]) retained.prune(now);
  }

  _revoked(c) {
    if (this.ended.items.has(c.sessionId)) return true;
    const refreshed = this.refreshed.items.get(c.sessionId);
    if (refreshed && c.exp !== refreshed.expiresAt) return true;
    const cutoff = this.cutoffs.items.get(c.userId);
    return Boolean(cutoff && c.sessionId !== cutoff.keep && c.iat < cutoff.before);
  }

  /** {invalid} | {user} from the cache | {seq, cutoff}: ask the server. */
  check(c) {
    if (this._revoked(c)) return { invalid: true };
    const cut = this.cutoffs.items.get(c.userId);
    const cutoff = cut && c.sessionId !== cut.keep && c.iat === cut.before ? cut.before : null;
    const entry = this.cache.get(`${c.sessionId}\n${c.exp}`);
    if (entry && (cutoff === null || entry.cutoff === cutoff)) return entry.user === null ? { invalid: true } : { user: entry.user };
    return { seq: this.seq, cutoff };
  }

  /** Caches the server's answer (null: invalid) unless an event came meanwhile; false when revoked by now. */
  remember(c, user, verdict) {
    if (this._revoked(c)) return false;
    if (this.seq !== verdict.seq) return true;
    const key = `${c.sessionId}\n${c.exp}`;
    this._drop(key);
    this.cache.set(key, { user, userId: c.userId, sessionId: c.sessionId, exp: c.exp, cutoff: verdict.cutoff });
    if (!this.bySession.has(c.sessionId)) this.bySession.set(c.sessionId, new Set());
    this.bySession.get(c.sessionId).add(key);
    if (!this.byUser.has(c.userId)) this.byUser.set(c.userId, new Set());
    this.byUser.get(c.userId).add(c.sessionId);
    while (this.cache.size > this.cacheSize) this._drop(this.cache.keys().next().value);
    return true;
  }
}

// -- the driver --------------------------------------------------------------------

/**
 * Local checks for a UAPClient. Options: sdkApiKey (required), issuer, audience,
 * cacheSize [10000], retentionSeconds [86400], maxRevocations [100000],
 * maxBackoffMs [30000], jwksRefetchMs [30000], logger [console].
 */
export class LocalValidator {
  constructor({ baseUrl, fetch: fetchImpl = globalThis.fetch, remote, timeoutMs = 5000, userAgent, options }) {
    const {
      sdkApiKey,
      issuer = null,
      audience = null,
      cacheSize = 10_000,
      retentionSeconds = 86_400,
      maxRevocations = 100_000,
      maxBackoffMs = 30_000,
      jwksRefetchMs = 30_000,
      logger = console,
    } = options ?? {};
    if (typeof sdkApiKey !== 'string' || sdkApiKey === '') throw new TypeError("local mode needs sdkApiKey (UAP's sdk_api_key)");
    if (!(cacheSize >= 1) || !(maxRevocations >= 1)) throw new TypeError('local mode cacheSize and maxRevocations must be at least 1');
    Object.defineProperty(this, '_apiKey', { value: sdkApiKey, enumerable: false });
    this.baseUrl = baseUrl;
    this.issuer = issuer;
    this.audience = audience;
    this._fetch = fetchImpl;
    this._remote = remote;
    this._timeoutMs = timeoutMs;
    this._userAgent = userAgent;
    this._maxBackoffMs = maxBackoffMs;
    this._jwksRefetchMs = jwksRefetchMs;
    this._logger = logger;
    this.state = new FeedState({ retentionMs: retentionSeconds * 1000, cacheSize, maxRevocations });
    this._keys = null; // null: never fetched (or stale)
    // Tokens whose signature and claims were verified: the signature is checked once per token.
    this._verified = new Map();
    this._cacheSize = cacheSize;
    this._lastUnknownRefetch = -Infinity;
    this._closed = false;
    this._controller = null;
    this._wake = null;
    this._loop = this._run();
  }

  /** Whether tokens are checked in-process right now (feed live, keys known). */
  get live() {
    return this.state.live() && this._keys !== null;
  }

  /** Resolves true once live, false after timeoutMs. */
  async waitLive(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.live) {
      if (Date.now() > deadline || this._closed) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  async validate(token) {
    if (!this.live) return this._remote(token);
    let claims = this._known(token);
    if (claims === null) {
      const parsed = parseToken(token);
      let jwk = this._find(parsed);
      if (jwk === null) {
        const now = performance.now();
        if (now - this._lastUnknownRefetch < this._jwksRefetchMs) throw invalid('Unknown signing key');
        this._lastUnknownRefetch = now;
        try {
          await this._fetchKeys();
        } catch (err) {
          if (err instanceof UAPUnavailable) return this._remote(token);
          throw err;
        }
        jwk = this._find(parsed);
        if (jwk === null) throw invalid('Unknown signing key');
      }
      claims = verifyToken(parsed, jwk, { issuer: this.issuer, audience: this.audience });
      this._verified.set(token, { claims, jwk });
      while (this._verified.size > this._cacheSize) this._verified.delete(this._verified.keys().next().value);
    }
    const verdict = this.state.check(claims);
    if (verdict.invalid) throw invalid();
    if (verdict.user) return verdict.user;
    let user;
    try {
      user = await this._remote(token);
    } catch (err) {
      if (err instanceof TokenInvalid) this.state.remember(claims, null, verdict);
      throw err;
    }
    if (!this.state.remember(claims, user, verdict)) throw invalid();
    return user;
  }

  /** The claims of a token verified before with a key still in the JWKS (only exp is checked again), else null. */
  _known(token) {
    const hit = this._verified.get(token);
    if (!hit || this._find({ kid: hit.jwk.kid, alg: hit.jwk.alg }) !== hit.jwk) return null;
    if (hit.claims.exp <= Date.now() / 1000) throw invalid('Token expired');
    return hit.claims;
  }

  _find(parsed) {
    const keys = this._keys ?? [];
    if (parsed.kid !== null) return keys.find((k) => k.kid === parsed.kid) ?? null;
    const matching = keys.filter((k) => k.alg === parsed.alg);
    return matching.length === 1 ? matching[0] : null;
  }

  async _fetchKeys() {
    let response;
    try {
      response = await this._fetch(this.baseUrl + JWKS, {
        headers: { 'user-agent': this._userAgent },
        signal: AbortSignal.timeout(this._timeoutMs),
      });
    } catch (err) {
      throw new UAPUnavailable(`the JWKS is unreachable: ${err?.cause?.code ?? err?.name}`, { cause: err });
    }
    if (response.status !== 200) throw new UAPUnavailable(`the JWKS answered ${response.status}`, { status: response.status });
    let keys;
    try {
      keys = parseJwks(await response.json());
    } catch (err) {
      throw new UAPUnavailable(`the JWKS is unreadable: ${err.message}`, { status: response.status });
    }
    if (keys.length === 0) {
      this._logger.warn('uap local mode: the JWKS has no RS256/ES256/EdDSA key (is jwt_algorithm asymmetric?); every token will be refused locally');
    }
    this._keys = keys;
  }

  async _run() {
    let attempt = 0;
    while (!this._closed) {
      let wentLive = false;
      try {
        wentLive = await this._stream();
      } catch (err) {
        if (!this._closed) this._logger.warn(`uap local mode: events feed down (${err?.cause?.code ?? err?.name}); validating remotely`);
      }
      this.state.disconnected();
      attempt = wentLive ? 0 : attempt + 1;
      if (!this._closed) await this._sleep(backoffMs(attempt, this._maxBackoffMs));
    }
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this._wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async _stream() {
    const controller = new AbortController();
    this._controller = controller;
    const headers = { 'x-api-key': this._apiKey, accept: 'text/event-stream', 'cache-control': 'no-cache', 'user-agent': this._userAgent };
    if (this.state.lastEventId !== null) headers['last-event-id'] = this.state.lastEventId;
    const connectTimer = setTimeout(() => controller.abort(new Error('connect timeout')), this._timeoutMs);
    let response;
    try {
      response = await this._fetch(this.baseUrl + EVENTS, { headers, signal: controller.signal });
    } finally {
      clearTimeout(connectTimer);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      if (response.status === 401) this._logger.error('uap local mode: the events feed refused the SDK API key (401); validating remotely');
      else if (response.status === 404) this._logger.error('uap local mode: UAP has no events feed (404: is sdk_api_key set?); validating remotely');
      else this._logger.warn(`uap local mode: the events feed answered ${response.status}; validating remotely`);
      return false;
    }
    this.state.connected();
    this.state.touched();
    // No byte for 2 × heartbeat + 5 s: the connection is dead even if TCP does not know yet.
    const watchdog = setInterval(() => {
      if (performance.now() - this.state.lastByte > this.state.stallAfterMs()) controller.abort(new Error('feed stalled'));
    }, 1000);
    const parser = new SseParser();
    const decoder = new TextDecoder();
    let buffer = '';
    let wentLive = false;
    try {
      for await (const chunk of response.body) {
        this.state.touched();
        let text = buffer + decoder.decode(chunk, { stream: true });
        // A trailing '\r' may be the first half of '\r\n': it waits for the next chunk.
        const held = text.endsWith('\r') ? '\r' : '';
        if (held) text = text.slice(0, -1);
        const lines = text.split(/\r\n|\r|\n/);
        buffer = lines.pop() + held;
        for (const line of lines) {
          const event = parser.line(line);
          if (event === null) continue;
          const action = this.state.apply(event);
          if (action === 'ready') {
            await this._fetchKeys();
            this.state.goLive();
            wentLive = true;
          } else if (action === 'jwks') {
            try {
              await this._fetchKeys();
            } catch (err) {
              this._keys = null;
              throw err;
            }
          }
        }
      }
    } finally {
      clearInterval(watchdog);
    }
    return wentLive;
  }

  /** Stops the feed (aborts the connection, ends the reconnection loop). */
  async close() {
    this._closed = true;
    this.state.disconnected();
    this._controller?.abort();
    this._wake?.();
    await this._loop;
  }
}
