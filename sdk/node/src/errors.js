// Typed errors of the UAP client. Every error is a UAPError; the split that
// matters to a web service: TokenInvalid (UAP said "not valid": answer 401)
// versus UAPUnavailable (UAP could not say: answer 503, never "not logged in").

export class UAPError extends Error {
  /** @param {string} message @param {{status?: number|null, cause?: unknown}} [options] */
  constructor(message, { status = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.status = status;
  }
}

/** 401 from /authenticate: unknown user, wrong password or inactive account. */
export class InvalidCredentials extends UAPError {}

/** 429: too many attempts; `retryAfter` in seconds. */
export class RateLimited extends UAPError {
  constructor(message, { retryAfter, status = 429 } = {}) {
    super(message, { status });
    this.retryAfter = retryAfter;
  }
}

/** 403: a middleware (CAPTCHA, IP rule, webhook) refused the login. */
export class Blocked extends UAPError {}

/** 401 with mfa_required: finish with `mfaVerify(mfaToken, code)`. */
export class MfaRequired extends UAPError {
  constructor(message, { mfaToken, status = 401 } = {}) {
    super(message, { status });
    Object.defineProperty(this, 'mfaToken', { value: mfaToken, enumerable: false });
  }
}

/** 401 with mfa_enrollment_required: the user must enroll a TOTP factor first. */
export class MfaEnrollmentRequired extends UAPError {
  constructor(message, { enrollmentToken, status = 401 } = {}) {
    super(message, { status });
    Object.defineProperty(this, 'enrollmentToken', { value: enrollmentToken, enumerable: false });
  }
}

/** UAP runs in shadow mode: it judged the login but issued no session. */
export class ShadowDecision extends UAPError {
  constructor(wouldAccept, { status = 200 } = {}) {
    super(`UAP is in shadow mode: no session issued (wouldAccept=${wouldAccept})`, { status });
    this.wouldAccept = wouldAccept;
  }
}

/** 401: the token is missing, garbled, expired or its session has ended. */
export class TokenInvalid extends UAPError {}

/** UAP could not answer: a 5xx, a timeout, a refused connection or a body that is not UAP's. */
export class UAPUnavailable extends UAPError {}
