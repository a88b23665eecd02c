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

export interface UAPClientOptions {
  baseUrl: string;
  /** Per call; default 5000. */
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
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

/** What the middleware asks; a future local (JWKS) validator implements the same. */
export interface Validator {
  validate(token: string): Promise<User>;
}

export class RemoteValidator implements Validator {
  constructor(client: UAPClient);
  readonly client: UAPClient;
  validate(token: string): Promise<User>;
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
  logger?: Pick<Console, 'warn' | 'error'>;
}

type Next = (err?: unknown) => void;
export type Middleware = (req: IncomingMessage & { user?: User; sessionId?: string }, res: ServerResponse, next: Next) => void | Promise<void>;

export function expressAuth(options: ExpressAuthOptions): Middleware;
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
