// UAPClient: the /api/v1/auth routes of UAP (CONTRACT §3) over Node's fetch,
// with typed results and typed errors.

import {
  Blocked,
  InvalidCredentials,
  MfaEnrollmentRequired,
  MfaRequired,
  RateLimited,
  ShadowDecision,
  TokenInvalid,
  UAPError,
  UAPUnavailable,
} from './errors.js';
import { LocalValidator } from './local.js';

const AUTH = '/api/v1/auth';
const DEFAULT_TIMEOUT_MS = 5000;
const LOGIN_FIELDS = new Set([
  'username', 'email', 'phone', 'identifier', 'device_id', 'deviceId', 'metadata',
  'captcha_token', 'captchaToken', 'mfa_code', 'mfaCode', 'host_decision', 'hostDecision',
]);
const SNAKE = { deviceId: 'device_id', captchaToken: 'captcha_token', mfaCode: 'mfa_code', hostDecision: 'host_decision' };
// A token that could not even be sent as a header value.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** An RFC 3339 timestamp as a Date (null when absent). */
function time(value) {
  return value == null ? null : new Date(value);
}

/** Roles from user_data.roles (a list) or else user_data.role (a string). */
export function rolesOf(userData) {
  if (userData && Array.isArray(userData.roles)) return userData.roles.filter((r) => r != null).map(String);
  if (userData && typeof userData.role === 'string' && userData.role) return [userData.role];
  return [];
}

/** The unverified claims of a JWT: read only from a token UAP has just called valid. */
function claims(token) {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    return payload && typeof payload === 'object' ? payload : {};
  } catch {
    return {};
  }
}

/** A /validate result `{valid: true, user_data, expires_at, session_id}` as a User. */
function userFrom(body, token) {
  const userData = body.user_data && typeof body.user_data === 'object' ? body.user_data : {};
  const userId = body.user_id ?? claims(token).user_id ?? userData.id;
  return {
    userId: userId == null ? '' : String(userId),
    sessionId: String(body.session_id ?? ''),
    userData,
    roles: rolesOf(userData),
    expiresAt: time(body.expires_at),
  };
}

function sessionFrom(body) {
  const userData = body.user_data && typeof body.user_data === 'object' ? body.user_data : null;
  return {
    token: String(body.token),
    sessionId: String(body.session_id ?? ''),
    expiresAt: time(body.expires_at),
    userData,
    roles: rolesOf(userData),
    refreshToken: body.refresh_token ?? null,
    refreshExpiresAt: time(body.refresh_expires_at),
  };
}

function checkToken(token) {
  if (typeof token !== 'string' || !TOKEN_CHARS.test(token)) throw new TokenInvalid('Missing or malformed token');
  return token;
}

function messageOf(body, fallback) {
  return String(body?.error ?? body?.message ?? fallback);
}

/** The JSON object of a 2xx answer, or the typed error of any other. */
async function read(response, { login = false } = {}) {
  const status = response.status;
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (status >= 500) throw new UAPUnavailable(messageOf(body, 'UAP unavailable'), { status });
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    const message = `UAP answered ${status} without a JSON object`;
    if (response.ok) throw new UAPUnavailable(message, { status });
    throw new UAPError(message, { status });
  }
  if (response.ok) return body;
  const message = messageOf(body, `HTTP ${status}`);
  if (status === 429) {
    const retryAfter = Number(body.retry_after ?? response.headers.get('retry-after'));
    throw new RateLimited(message, { retryAfter: Number.isFinite(retryAfter) ? retryAfter : 1, status });
  }
  if (status === 401) {
    if (body.mfa_required) throw new MfaRequired(message, { mfaToken: String(body.mfa_token ?? ''), status });
    if (body.mfa_enrollment_required) {
      throw new MfaEnrollmentRequired(message, { enrollmentToken: String(body.enrollment_token ?? ''), status });
    }
    if (login) throw new InvalidCredentials(message, { status });
    throw new TokenInvalid(messageOf(body, 'Invalid or expired token'), { status });
  }
  if (status === 403) throw new Blocked(message, { status });
  throw new UAPError(message, { status });
}

async function loginResult(response) {
  const body = await read(response, { login: true });
  if (body.shadow) throw new ShadowDecision(Boolean(body.would_accept), { status: response.status });
  if (!body.success || body.token == null) throw new UAPError(messageOf(body, 'login refused'), { status: response.status });
  return sessionFrom(body);
}

export class UAPClient {
  /**
   * `local` turns on local mode (see local.js): validate() then checks asymmetric tokens
   * in-process while UAP's events feed is live, and remotely otherwise; close() stops it.
   * @param {{baseUrl: string, timeoutMs?: number, fetch?: typeof fetch, headers?: Record<string, string>, local?: object}} options
   */
  constructor({ baseUrl, timeoutMs = DEFAULT_TIMEOUT_MS, fetch: fetchImpl = globalThis.fetch, headers = {}, local } = {}) {
    if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) {
      throw new TypeError(`baseUrl must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this._fetch = fetchImpl;
    this._headers = { 'user-agent': 'uap-client-node/0.1.0', ...headers };
    this._local = local
      ? new LocalValidator({
          baseUrl: this.baseUrl,
          fetch: fetchImpl,
          remote: (token) => this._remoteValidate(token),
          timeoutMs,
          userAgent: this._headers['user-agent'],
          options: local,
        })
      : null;
  }

  /** Whether validate() checks tokens in-process right now (local mode, feed live). */
  get localLive() {
    return this._local !== null && this._local.live;
  }

  /** Resolves true once local checks are live; false without local mode or after timeoutMs. */
  async waitLocal(timeoutMs = 5000) {
    return this._local !== null && this._local.waitLive(timeoutMs);
  }

  /** Stops local mode's feed (a no-op without it). */
  async close() {
    await this._local?.close();
  }

  async _send(method, path, { json, token } = {}) {
    const headers = { ...this._headers };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this._fetch(this.baseUrl + path, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError';
      throw new UAPUnavailable(`UAP ${timedOut ? 'timed out' : 'unreachable'}: ${err?.cause?.code ?? err?.name}`, {
        cause: err,
      });
    }
  }

  /**
   * POST /authenticate with the identifier your auth_type uses (username, email, phone or
   * identifier) and optionally deviceId, metadata, captchaToken, mfaCode.
   */
  async authenticate({ password, ...fields } = {}) {
    if (typeof password !== 'string') throw new TypeError('authenticate() needs a password');
    const body = {};
    for (const [key, value] of Object.entries(fields)) {
      if (!LOGIN_FIELDS.has(key)) throw new TypeError(`authenticate() got an unknown field: ${key}`);
      if (value !== undefined && value !== null) body[SNAKE[key] ?? key] = value;
    }
    body.password = password;
    return loginResult(await this._send('POST', `${AUTH}/authenticate`, { json: body }));
  }

  /** POST /mfa/verify: completes a login that threw MfaRequired. */
  async mfaVerify(mfaToken, code) {
    return loginResult(await this._send('POST', `${AUTH}/mfa/verify`, { json: { mfa_token: mfaToken, code } }));
  }

  /**
   * GET /validate: the token's User, or TokenInvalid; UAPUnavailable when UAP cannot say.
   * In local mode, checked in-process while the feed is live (a session's first sight still asks UAP).
   */
  async validate(token) {
    checkToken(token);
    return this._local ? this._local.validate(token) : this._remoteValidate(token);
  }

  async _remoteValidate(token) {
    const response = await this._send('GET', `${AUTH}/validate`, { token });
    const body = await read(response);
    if (body.valid !== true) throw new TokenInvalid('Invalid or expired token', { status: response.status });
    return userFrom(body, token);
  }

  /** POST /validate/batch (at most 1000): a User or null per token, in order. */
  async validateBatch(tokens) {
    const response = await this._send('POST', `${AUTH}/validate/batch`, { json: { tokens } });
    const { results } = await read(response);
    if (!Array.isArray(results) || results.length !== tokens.length) {
      throw new UAPUnavailable('UAP answered a batch of the wrong length', { status: response.status });
    }
    return results.map((r, i) => (r && r.valid === true ? userFrom(r, tokens[i]) : null));
  }

  /** POST /refresh with `{token}` (the session token) or `{refreshToken}`; the old ones stop working. */
  async refresh({ token, refreshToken } = {}) {
    if ((token === undefined) === (refreshToken === undefined)) {
      throw new TypeError('refresh() takes either {token} or {refreshToken}');
    }
    const response =
      refreshToken !== undefined
        ? await this._send('POST', `${AUTH}/refresh`, { json: { refresh_token: refreshToken } })
        : await this._send('POST', `${AUTH}/refresh`, { token: checkToken(token) });
    const body = await read(response);
    if (!body.success || body.token == null) throw new TokenInvalid(messageOf(body, 'refresh refused'), { status: response.status });
    return sessionFrom(body);
  }

  /** POST /logout: true when the session ended, false when it was already gone. */
  async logout(token) {
    const body = await read(await this._send('POST', `${AUTH}/logout`, { token: checkToken(token) }));
    return body.success === true;
  }

  /** POST /logout-all: ends every session of the token's user; how many ended. */
  async logoutAll(token) {
    const body = await read(await this._send('POST', `${AUTH}/logout-all`, { token: checkToken(token) }));
    return Number(body.ended ?? 0);
  }

  /** GET /sessions: the sessions of the token's user. */
  async sessions(token) {
    const body = await read(await this._send('GET', `${AUTH}/sessions`, { token: checkToken(token) }));
    return (body.sessions ?? []).map((s) => ({
      sessionId: s.session_id,
      deviceId: s.device_id ?? null,
      createdAt: time(s.created_at),
      lastActivity: time(s.last_activity),
      expiresAt: time(s.expires_at),
      ipAddress: s.ip_address ?? null,
      userAgent: s.user_agent ?? null,
      current: Boolean(s.current),
    }));
  }

  /** GET /api/v1/config/health; `healthy` is false when UAP answered 503 with the health shape. */
  async health() {
    const response = await this._send('GET', '/api/v1/config/health');
    let body;
    if (response.status === 503) {
      body = await response.clone().json().catch(() => undefined);
      if (!(body && typeof body === 'object' && 'status' in body && 'components' in body)) body = await read(response);
    } else {
      body = await read(response);
    }
    return {
      status: String(body.status ?? 'unhealthy'),
      healthy: body.status === 'healthy',
      components: body.components ?? {},
      timestamp: time(body.timestamp),
    };
  }
}
