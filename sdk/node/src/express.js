// expressAuth: Express (or plain node:http) middleware protecting routes with
// UAP. It asks a validator for the user behind the Bearer token: its client's
// validate() — remote (GET /validate per request) by default, in-process with
// the `local` option.

import { UAPClient } from './client.js';
import { TokenInvalid, UAPUnavailable } from './errors.js';

export const NOT_AUTHENTICATED = 'Not authenticated';
export const INVALID_TOKEN = 'Invalid or expired token';
export const UNAVAILABLE = 'Authentication service unavailable';

/** Validates each token through a UAPClient: GET /validate, or in-process when the client has local mode. */
export class RemoteValidator {
  constructor(client) {
    this.client = client;
  }

  validate(token) {
    return this.client.validate(token);
  }

  close() {
    return this.client.close();
  }
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearer(header) {
  if (typeof header !== 'string') return null;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/** Exact paths, or `/prefix/*` for a prefix (also matching `/prefix`). */
export function pathMatcher(paths = []) {
  const exact = new Set();
  const prefixes = [];
  for (const p of paths) {
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (path) =>
    exact.has(path) || prefixes.some((prefix) => path.startsWith(prefix) || (prefix.endsWith('/') && path === prefix.slice(0, -1)));
}

function send(res, status, message) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  if (status === 401) res.setHeader('www-authenticate', 'Bearer');
  res.end(JSON.stringify({ error: message }));
}

function pathOf(req) {
  const url = req.originalUrl ?? req.url ?? '/';
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}

function missingRoles(roles) {
  return `Forbidden: requires role ${roles.join(' or ')}`;
}

/**
 * Middleware: 401 JSON without a valid token, 403 JSON without one of `roles`, 503 JSON when
 * UAP cannot answer (logged; never "not logged in"); otherwise sets `req.user` and
 * `req.sessionId` and calls `next()`. `excludedPaths` (matched against the full request path)
 * pass through untouched. `local` ({sdkApiKey, issuer?, audience?, ...}) checks tokens
 * in-process (see local.js); the middleware's `close()` then stops the feed.
 */
export function expressAuth({ baseUrl, excludedPaths = [], roles = [], timeoutMs, client, validator, local, logger = console } = {}) {
  const options = { baseUrl, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(local ? { local: { logger, ...local } } : {}) };
  const check = validator ?? new RemoteValidator(client ?? new UAPClient(options));
  const excluded = pathMatcher(excludedPaths);
  async function uapAuth(req, res, next) {
    if (excluded(pathOf(req))) return next();
    const token = bearer(req.headers?.authorization);
    if (token === null) return send(res, 401, NOT_AUTHENTICATED);
    let user;
    try {
      user = await check.validate(token);
    } catch (err) {
      if (err instanceof TokenInvalid) return send(res, 401, INVALID_TOKEN);
      if (err instanceof UAPUnavailable) logger.warn(`uap: UAP unavailable while validating a token: ${err.message}`);
      else logger.error(`uap: unexpected answer from UAP while validating a token: ${err?.name}: ${err?.message}`);
      return send(res, 503, UNAVAILABLE);
    }
    if (roles.length > 0 && !roles.some((r) => user.roles.includes(r))) return send(res, 403, missingRoles(roles));
    req.user = user;
    req.sessionId = user.sessionId;
    return next();
  }
  uapAuth.validator = check;
  uapAuth.close = async () => {
    await check.close?.();
  };
  return uapAuth;
}

/** Per-route role guard after expressAuth: 401 JSON without `req.user`, 403 JSON without one of `roles`. */
export function requireRoles(...roles) {
  if (roles.length === 0) throw new TypeError('requireRoles() needs at least one role');
  return function uapRoles(req, res, next) {
    if (!req.user) return send(res, 401, NOT_AUTHENTICATED);
    if (!roles.some((r) => req.user.roles.includes(r))) return send(res, 403, missingRoles(roles));
    return next();
  };
}
