//! The pending-login ticket behind an `mfa_token` or an `enrollment_token`:
//! a login whose password was right but which waits for a second factor (or
//! for the user to enroll one).
//!
//! The token is opaque: the [`PendingLogin`] is sealed with
//! XChaCha20-Poly1305 under a key derived from the token-signing key
//! material (as refresh-token MACs are), with a random nonce, and written as
//! base64url `nonce ‖ ciphertext`. Nothing in it is readable, any change is
//! refused, and the purpose is bound as associated data, so an `mfa` ticket
//! never opens as an enrollment token nor the reverse. Single use is the
//! caller's job (the `mfa_ticket` counter keyed by [`PendingLogin::ticket_id`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;

use super::TokenRejection;
use super::token::TokenService;
use crate::mfa::{MfaError, SecretBox};

/// The XChaCha20-Poly1305 nonce length.
const NONCE_LEN: usize = 24;
/// The longest token accepted (`user_data` rides inside).
const MAX_TOKEN_LEN: usize = 16_384;

/// What a pending login may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketPurpose {
    /// The `mfa_token` of "MFA required": `POST /mfa/verify`.
    Mfa,
    /// The `enrollment_token` of "MFA enrollment required": the TOTP
    /// enroll and confirm routes only.
    Enroll,
}

impl TicketPurpose {
    /// The associated data a ticket of this purpose is sealed with.
    const fn associated(self) -> &'static [u8] {
        match self {
            Self::Mfa => b"uap/pending-login/v1/mfa",
            Self::Enroll => b"uap/pending-login/v1/enroll",
        }
    }
}

/// A login held back for its second factor: what the session will be made
/// of once the factor is given. New fields belong here (they travel sealed);
/// give them `#[serde(default)]` so tickets issued just before an upgrade
/// still open.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Random; spends the ticket (single use).
    pub ticket_id: String,
    pub purpose: TicketPurpose,
    pub user_id: String,
    pub roles: Vec<String>,
    pub user_data: Value,
    pub device_id: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The fingerprint of the stored hash the password was checked against:
    /// the session binds to it (a password changed meanwhile ends its chain).
    #[serde(default)]
    pub credential_fingerprint: Option<String>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("ticket_id", &self.ticket_id)
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn sealer(key_material: &[u8]) -> SecretBox {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let key = match Hmac::<Sha256>::new_from_slice(key_material) {
        Ok(mut mac) => {
            mac.update(b"uap/pending-login/v1");
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    };
    SecretBox::from_key(key)
}

impl TokenService {
    /// Seals a pending login into an opaque token.
    ///
    /// # Errors
    /// Only when no random nonce can be drawn (or the cipher refuses).
    pub fn seal_ticket(&self, ticket: &PendingLogin) -> Result<String, MfaError> {
        let plain = serde_json::to_vec(ticket).map_err(|_| MfaError::Encrypt)?;
        let (ciphertext, nonce) = sealer(self.key_material()).seal(&plain, ticket.purpose.associated())?;
        let mut bytes = nonce;
        bytes.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a token of `purpose` sealed by [`TokenService::seal_ticket`]
    /// with this key, refusing it once expired at `now`.
    ///
    /// # Errors
    /// [`TokenRejection::Invalid`] for anything garbled, altered, sealed
    /// under another key or for another purpose; [`TokenRejection::Expired`].
    pub fn open_ticket(
        &self,
        token: &str,
        purpose: TicketPurpose,
        now: OffsetDateTime,
    ) -> Result<PendingLogin, TokenRejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenRejection::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| TokenRejection::Invalid)?;
        if bytes.len() <= NONCE_LEN {
            return Err(TokenRejection::Invalid);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = sealer(self.key_material())
            .open(ciphertext, nonce, purpose.associated())
            .map_err(|_| TokenRejection::Invalid)?;
        let ticket: PendingLogin = serde_json::from_slice(&plain).map_err(|_| TokenRejection::Invalid)?;
        if ticket.purpose != purpose {
            return Err(TokenRejection::Invalid);
        }
        if ticket.expires_at <= now.unix_timestamp() {
            return Err(TokenRejection::Expired);
        }
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::JwtAlgorithm;

    const NOW: i64 = 1_800_000_000;

    fn service(secret: &[u8]) -> TokenService {
        TokenService::new(JwtAlgorithm::HS256, secret, "UAP".into(), None).unwrap()
    }

    fn ticket(purpose: TicketPurpose) -> PendingLogin {
        PendingLogin {
            ticket_id: "t-1".into(),
            purpose,
            user_id: "u-42".into(),
            roles: vec!["admin".into()],
            user_data: json!({"email": "ann@example.com"}),
            device_id: Some("laptop".into()),
            expires_at: NOW + 300,
            credential_fingerprint: Some("fp".into()),
        }
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn round_trip_reveals_nothing() {
        let tokens = service(b"0123456789abcdef0123456789abcdef");
        let sealed = tokens.seal_ticket(&ticket(TicketPurpose::Mfa)).unwrap();
        assert_eq!(tokens.open_ticket(&sealed, TicketPurpose::Mfa, at(NOW)), Ok(ticket(TicketPurpose::Mfa)));
        assert!(!sealed.contains('.'), "not a JWS");
        let raw = String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(&sealed).unwrap()).to_string();
        for clear in ["u-42", "admin", "ann@example.com", "user_data", "laptop", "mfa"] {
            assert!(!raw.contains(clear), "{clear} readable in the token");
        }
        // A fresh nonce each time.
        assert_ne!(sealed, tokens.seal_ticket(&ticket(TicketPurpose::Mfa)).unwrap());
    }

    #[test]
    fn purpose_key_tampering_and_expiry_are_refused() {
        let tokens = service(b"0123456789abcdef0123456789abcdef");
        let mfa = tokens.seal_ticket(&ticket(TicketPurpose::Mfa)).unwrap();
        let enroll = tokens.seal_ticket(&ticket(TicketPurpose::Enroll)).unwrap();
        assert_eq!(tokens.open_ticket(&mfa, TicketPurpose::Enroll, at(NOW)), Err(TokenRejection::Invalid));
        assert_eq!(tokens.open_ticket(&enroll, TicketPurpose::Mfa, at(NOW)), Err(TokenRejection::Invalid));
        assert!(tokens.open_ticket(&enroll, TicketPurpose::Enroll, at(NOW)).is_ok());

        let other = service(b"another secret, another key.....");
        assert_eq!(other.open_ticket(&mfa, TicketPurpose::Mfa, at(NOW)), Err(TokenRejection::Invalid));

        let mut bytes = URL_SAFE_NO_PAD.decode(&mfa).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(tokens.open_ticket(&tampered, TicketPurpose::Mfa, at(NOW)), Err(TokenRejection::Invalid));
        for garbage in ["", "abc", "not base64!", &"A".repeat(MAX_TOKEN_LEN + 1)] {
            assert_eq!(tokens.open_ticket(garbage, TicketPurpose::Mfa, at(NOW)), Err(TokenRejection::Invalid));
        }

        assert_eq!(tokens.open_ticket(&mfa, TicketPurpose::Mfa, at(NOW + 300)), Err(TokenRejection::Expired));
    }
}
