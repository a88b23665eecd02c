//! yescrypt, crypt(3) `$y$params$salt$hash` (libxcrypt; the shadow default
//! on Debian ≥ 11, Fedora ≥ 35, Ubuntu ≥ 22.04). Verification is the
//! `yescrypt` crate's (constant-time). Verified, never written.
//!
//! Limits: memory (128·r·N bytes) at most 1 GiB, p ≤ 16, and only the
//! plain parameter set (no `t`, `g` or ROM extensions, which libxcrypt does
//! not write); anything else is `Unsupported`. The default `j9T` is N=4096,
//! r=32: 16 MiB.

use std::str::FromStr as _;

use ::yescrypt::{Mode, Params, PasswordVerifier as _, Yescrypt};

const MAX_MEMORY: u64 = 1 << 30;
const MAX_P: u32 = 16;

fn params_ok(encoded: &str) -> bool {
    let Ok(params) = Params::from_str(encoded) else {
        return false;
    };
    let (n, r, p) = (params.n(), params.r(), params.p());
    let memory = u64::from(r).checked_mul(128).and_then(|x| x.checked_mul(n));
    let plain = [Mode::Classic, Mode::Worm, Mode::Rw]
        .into_iter()
        .any(|mode| Params::new(mode, n, r, p).is_ok_and(|base| base == params));
    plain && memory.is_some_and(|m| m <= MAX_MEMORY) && (1..=MAX_P).contains(&p) && r >= 1
}

/// N, r and p of a well-formed `$y$` string (for the cost estimate).
pub(super) fn cost_params(s: &str) -> Option<(u64, u32, u32)> {
    identify(s)?;
    let params = Params::from_str(s.strip_prefix("$y$")?.split('$').next()?).ok()?;
    Some((params.n(), params.r(), params.p()))
}

/// Recognises `$y$<params>$<salt>$<hash>` within the limits.
pub(super) fn identify(s: &str) -> Option<()> {
    let mut fields = s.strip_prefix("$y$")?.split('$');
    let (params, salt, hash) = (fields.next()?, fields.next()?, fields.next()?);
    let ok = fields.next().is_none() && !salt.is_empty() && hash.len() == 43 && params_ok(params);
    ok.then_some(())
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    identify(s)?;
    match Yescrypt::default().verify_password(password, s) {
        Ok(()) => Some(true),
        Err(::yescrypt::password_hash::Error::PasswordInvalid) => Some(false),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_huge_memory() {
        // N = 2^63 (`y`) with r = 32 would need far more than 1 GiB.
        assert!(!params_ok("jyT"));
        assert!(params_ok("j9T"));
        assert!(identify("$y$j9T$salt$short").is_none());
        assert!(identify("$y$$salt$0123456789012345678901234567890123456789012").is_none());
    }
}
