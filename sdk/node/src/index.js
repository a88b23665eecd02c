// @uap/client: a client for UAP (CONTRACT §8) and an Express middleware. No
// runtime dependency: Node >= 20's fetch.

export { UAPClient, rolesOf } from './client.js';
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
