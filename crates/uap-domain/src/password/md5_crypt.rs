//! md5-crypt, crypt(3) `$1$salt$hash` (Poul-Henning Kamp's FreeBSD scheme,
//! also glibc, PHP `crypt`, passlib `md5_crypt`). Written here on `md-5`
//! rather than pulling an older crypt crate with a second RustCrypto
//! generation. Fixed 1000 rounds; verified, never written.

use md5::{Digest as _, Md5};

use super::encoding::{crypt_b64_encode, ct_eq, is_itoa64};

const MAGIC: &str = "$1$";

fn parse(s: &str) -> Option<(&str, &str)> {
    let (salt, hash) = s.strip_prefix(MAGIC)?.split_once('$')?;
    let ok = salt.len() <= 8 && hash.len() == 22 && is_itoa64(hash);
    ok.then_some((salt, hash))
}

/// Recognises `$1$<salt ≤ 8>$<22 chars>`.
pub(super) fn identify(s: &str) -> Option<()> {
    parse(s).map(|_| ())
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let (salt, hash) = parse(s)?;
    let computed = crypt(password, salt.as_bytes());
    Some(ct_eq(computed.as_bytes(), hash.as_bytes()))
}

/// The 22-character md5-crypt checksum of `password` with `salt`.
fn crypt(password: &[u8], salt: &[u8]) -> String {
    let alternate = Md5::new().chain_update(password).chain_update(salt).chain_update(password).finalize();

    let mut ctx = Md5::new().chain_update(password).chain_update(MAGIC).chain_update(salt);
    for chunk in password.chunks(16) {
        ctx.update(alternate.get(..chunk.len()).unwrap_or_default());
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(password.get(..1).unwrap_or_default());
        }
        bits >>= 1;
    }
    let mut last = ctx.finalize();

    for round in 0..1000u32 {
        let mut ctx = Md5::new();
        if round & 1 == 1 {
            ctx.update(password);
        } else {
            ctx.update(last);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round & 1 == 1 {
            ctx.update(last);
        } else {
            ctx.update(password);
        }
        last = ctx.finalize();
    }

    // md5-crypt's output permutation, as little-endian three-byte groups.
    const ORDER: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
    let permuted: Vec<u8> = ORDER.iter().filter_map(|&i| last.get(i).copied()).collect();
    crypt_b64_encode(&permuted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // passlib's md5_crypt documentation example.
        let s = "$1$3azHgidD$SrJPt7B.9rekpmwJwtON31";
        assert_eq!(verify(s, b"password"), Some(true));
        assert_eq!(verify(s, b"passwore"), Some(false));
        assert!(identify("$1$toolongsalt$SrJPt7B.9rekpmwJwtON31").is_none());
        assert!(identify("$1$3azHgidD$SrJPt7B.9rekpmwJwtON3").is_none());
        assert!(identify("$1$3azHgidD$SrJPt7B.9rekpmwJwtON3!").is_none());
    }
}
