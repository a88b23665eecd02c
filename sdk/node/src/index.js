// @uap/client: a client for UAP (CONTRACT §8) and an Express middleware. No
// runtime dependency: Node >= 20's fetch (and node:crypto for local mode).

export { UAPClient, rolesOf } from './client.js';
export { LocalValidator, parseJwks, parseToken, verifyToken } from './local.js';
export { RemoteValidator, expressAuth, requireRoles, bearer } from './express.js';
export {
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
