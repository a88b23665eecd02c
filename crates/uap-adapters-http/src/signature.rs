//! The webhook signature: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-UAP-Timestamp";
/// The header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-UAP-Signature";

const SCHEME: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

#[expect(clippy::expect_used, reason = "HMAC takes a key of any length, so new_from_slice cannot fail")]
fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-UAP-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `sha256=` followed by the lowercase hex of
/// `HMAC-SHA256(secret, "<timestamp>.<body>")`.
#[must_use]
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("{SCHEME}{}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Whether `header_value` (an `X-UAP-Signature`) is the signature of `body`
/// sent at `timestamp` under `secret`. The comparison is constant-time; the
/// hex digits may be upper- or lowercase.
///
/// This does not check the timestamp's age: a host should also reject
/// timestamps more than about five minutes from its own clock.
#[must_use]
pub fn verify_signature(secret: &str, timestamp: i64, body: &[u8], header_value: &str) -> bool {
    let Some(hex_digest) = header_value.trim().strip_prefix(SCHEME) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{sign, verify_signature};

    const SECRET: &str = "whsec_test";
    const TS: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"event":"pre"}"#;

    #[test]
    fn sign_matches_a_known_vector() {
        // python3: hmac.new(b"whsec_test", b'1700000000.{"event":"pre"}', sha256).hexdigest()
        assert_eq!(sign(SECRET, TS, BODY), "sha256=f06b8537aafc6517171dcfe410150351bc9186e3e8104f4444cf3d0a0771e0af");
    }

    #[test]
    fn a_signature_verifies_under_its_own_inputs() {
        let header = sign(SECRET, TS, BODY);
        assert!(verify_signature(SECRET, TS, BODY, &header));
        assert!(verify_signature(SECRET, TS, BODY, &header.to_uppercase().replace("SHA256=", "sha256=")));
    }

    #[test]
    fn any_changed_input_fails() {
        let header = sign(SECRET, TS, BODY);
        assert!(!verify_signature("other", TS, BODY, &header));
        assert!(!verify_signature(SECRET, TS + 1, BODY, &header));
        assert!(!verify_signature(SECRET, TS, br#"{"event":"post"}"#, &header));
    }

    #[test]
    fn malformed_headers_fail() {
        let header = sign(SECRET, TS, BODY);
        let digest = header.trim_start_matches("sha256=");
        assert!(!verify_signature(SECRET, TS, BODY, digest), "missing scheme");
        assert!(!verify_signature(SECRET, TS, BODY, &format!("sha1={digest}")), "wrong scheme");
        assert!(!verify_signature(SECRET, TS, BODY, "sha256=zz"), "not hex");
        assert!(!verify_signature(SECRET, TS, BODY, &header[..header.len() - 2]), "truncated");
        assert!(!verify_signature(SECRET, TS, BODY, ""), "empty");
    }

    #[test]
    fn an_empty_secret_still_signs() {
        let header = sign("", TS, BODY);
        assert!(verify_signature("", TS, BODY, &header));
        assert!(!verify_signature(SECRET, TS, BODY, &header));
    }
}
