// Types of @uap/client (hand-written; kept in step with src/*.js).

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The caller behind a valid token (GET /api/v1/auth/validate). */
export interface User {
  userId: string;
  sessionId: string;
  /** The host row minus the password and sensitive fields. */
  userData: Record<string, unknown>;
  /** user_data.roles (a list), else [user_data.role]. */
  roles: string[];
  expiresAt: Date | null;
}

/** A session issued by authenticate, mfaVerify or refresh (userData only on a login). */
export interface LoginResult {
  token: string;
  sessionId: string;
  expiresAt: Date | null;
  userData: Record<string, unknown> | null;
  roles: string[];
  refreshToken: string | null;
  refreshExpiresAt: Date | null;
}

export interface SessionInfo {
  sessionId: string;
  deviceId: string | null;
  createdAt: Date | null;
  lastActivity: Date | null;
  expiresAt: Date | null;
  ipAddress: string | null;
  userAgent: string | null;
  current: boolean;
}

export interface Health {
  status: string;
  healthy: boolean;
  components: Record<string, string>;
  timestamp: Date | null;
}

export interface AuthenticateOptions {
  password: string;
  username?: string;
  email?: string;
  phone?: string;
  identifier?: string;
  deviceId?: string;
  metadata?: Record<string, unknown>;
  captchaToken?: string;
  mfaCode?: string;
  hostDecision?: boolean;
}

/**
 * Local mode (opt-in): asymmetric tokens (RS256, ES256, EdDSA) verified in-process against
 * /.well-known/jwks.json, revocations learnt from GET /api/v1/auth/events; remote
 * validation while that feed is down (fail closed).
 */
export interface LocalModeOptions {
  /** UAP's sdk_api_key, sent as X-API-Key to the events feed. */
  sdkApiKey: string;
  /** When set, a token's iss must equal it (UAP's jwt_issuer). */
  issuer?: string | null;
  /** When set, a token's aud must hold it (UAP's jwt_audience). */
  audience?: string | null;
  /** Validated sessions kept in memory, oldest evicted first; default 10000. */
  cacheSize?: number;
  /** How long ended sessions and cut-offs are remembered; default 86400. */
  retentionSeconds?: number;
  /** How many of each are remembered; default 100000. */
  maxRevocations?: number;
  /** Longest wait between reconnection attempts; default 30000. */
  maxBackoffMs?: number;
  /** An unknown kid refetches the JWKS at most this often; default 30000. */
  jwksRefetchMs?: number;
  /** Where feed problems are reported; default console. */
  logger?: Pick<Console, 'warn' | 'error'>;
}

export interface UAPClientOptions {
  baseUrl: string;
  /** Per call; default 5000. */
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
  /** Turns on local mode for validate(); close() the client when done. */
  local?: LocalModeOptions;
}

export class UAPClient {
  constructor(options: UAPClientOptions);
  readonly baseUrl: string;
  readonly timeoutMs: number;
  authenticate(options: AuthenticateOptions): Promise<LoginResult>;
  mfaVerify(mfaToken: string, code: string): Promise<LoginResult>;
  validate(token: string): Promise<User>;
  validateBatch(tokens: string[]): Promise<Array<User | null>>;
  refresh(options: { token: string } | { refreshToken: string }): Promise<LoginResult>;
  logout(token: string): Promise<boolean>;
  logoutAll(token: string): Promise<number>;
  sessions(token: string): Promise<SessionInfo[]>;
  health(): Promise<Health>;
  /** Whether validate() checks tokens in-process right now (local mode, feed live). */
  readonly localLive: boolean;
  /** Resolves true once local checks are live; false without local mode or after timeoutMs (default 5000). */
  waitLocal(timeoutMs?: number): Promise<boolean>;
  /** Stops local mode's feed (a no-op without it). */
  close(): Promise<void>;
}

/** A compact JWS split and decoded, not yet verified. */
export interface ParsedToken {
  alg: string;
  kid: string | null;
  signingInput: Buffer;
  signature: Buffer;
  claims: Record<string, unknown>;
}

export interface PublicJwk {
  kid: string | null;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  key: import('node:crypto').KeyObject;
}

export interface VerifiedClaims {
  sessionId: string;
  userId: string;
  exp: number;
  iat: number;
  kid: string | null;
}

/** The usable keys of a JWKS document. */
export function parseJwks(body: unknown): PublicJwk[];
/** Throws TokenInvalid for a malformed token or a refused alg (none, HS*, ...). */
export function parseToken(token: string): ParsedToken;
/** Throws TokenInvalid for a bad signature, an alg other than the key's, exp <= now, a wrong iss/aud. */
export function verifyToken(
  parsed: ParsedToken,
  jwk: PublicJwk,
  options?: { now?: number; issuer?: string | null; audience?: string | null },
): VerifiedClaims;

/** Local mode's driver (what UAPClient uses with the `local` option). */
export class LocalValidator implements Validator {
  constructor(options: {
    baseUrl: string;
    fetch?: typeof globalThis.fetch;
    remote: (token: string) => Promise<User>;
    timeoutMs?: number;
    userAgent?: string;
    options: LocalModeOptions;
  });
  readonly live: boolean;
  waitLive(timeoutMs: number): Promise<boolean>;
  validate(token: string): Promise<User>;
  close(): Promise<void>;
}

export function rolesOf(userData: Record<string, unknown> | null | undefined): string[];

export class UAPError extends Error {
  constructor(message: string, options?: { status?: number | null; cause?: unknown });
  /** The HTTP status UAP answered; null when no answer came. */
  status: number | null;
}
export class InvalidCredentials extends UAPError {}
export class RateLimited extends UAPError {
  /** Seconds. */
  retryAfter: number;
}
export class Blocked extends UAPError {}
export class MfaRequired extends UAPError {
  readonly mfaToken: string;
}
export class MfaEnrollmentRequired extends UAPError {
  readonly enrollmentToken: string;
}
export class ShadowDecision extends UAPError {
  wouldAccept: boolean;
}
export class TokenInvalid extends UAPError {}
export class UAPUnavailable extends UAPError {}

/** What the middleware asks. */
export interface Validator {
  validate(token: string): Promise<User>;
  close?(): Promise<void>;
}

/** Validates through a UAPClient: remote, or in-process when the client has local mode. */
export class RemoteValidator implements Validator {
  constructor(client: UAPClient);
  readonly client: UAPClient;
  validate(token: string): Promise<User>;
  close(): Promise<void>;
}

export interface ExpressAuthOptions {
  baseUrl?: string;
  /** Exact paths, or '/prefix/*'; matched against the full request path. */
  excludedPaths?: string[];
  /** The user must hold one of these. */
  roles?: string[];
  timeoutMs?: number;
  client?: UAPClient;
  validator?: Validator;
  /** Local mode for the middleware's own client; stop it with the middleware's close(). */
  local?: LocalModeOptions;
  logger?: Pick<Console, 'warn' | 'error'>;
}

type Next = (err?: unknown) => void;
export type Middleware = (req: IncomingMessage & { user?: User; sessionId?: string }, res: ServerResponse, next: Next) => void | Promise<void>;

export function expressAuth(options: ExpressAuthOptions): Middleware & { readonly validator: Validator; close(): Promise<void> };
export function requireRoles(...roles: string[]): Middleware;
export function bearer(header: string | undefined): string | null;

declare global {
  namespace Express {
    interface Request {
      /** Set by expressAuth. */
      user?: import('./index.js').User;
      sessionId?: string;
    }
  }
}
