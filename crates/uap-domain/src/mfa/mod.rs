//! The TOTP second factor (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1) and the
//! authenticated encryption that keeps TOTP secrets unreadable at rest.
//!
//! Pure and I/O-free: callers pass the current Unix time in, and the only
//! outside resource touched is the operating system's random source
//! (`getrandom`) when a secret or a nonce is generated. Persisting the sealed
//! secret, replay protection (remembering the last accepted step) and rate
//! limiting belong to the caller.

mod secret_box;
mod totp;

#[cfg(test)]
mod tests;

pub use secret_box::SecretBox;
pub use totp::{MAX_SKEW, Totp, TotpSecret};

/// Why a TOTP or secret-encryption operation failed.
///
/// No variant carries secret material or the configured key.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A TOTP secret must be between 16 and 64 bytes long.
    #[error("a TOTP secret must be 16 to 64 bytes long, got {len}")]
    InvalidSecretLength {
        /// The length that was offered.
        len: usize,
    },
    /// The operating system's random source failed.
    #[error("the system random source is unavailable")]
    Random,
    /// The `encryption_key` setting could not be read as a 32-byte key.
    #[error(
        "encryption_key must be a 32-byte key written as 64 hexadecimal characters \
         or as base64 (standard or URL-safe alphabet, padding optional)"
    )]
    InvalidKey,
    /// A nonce did not have the 24 bytes XChaCha20-Poly1305 uses.
    #[error("a nonce must be 24 bytes long, got {len}")]
    InvalidNonce {
        /// The length that was offered.
        len: usize,
    },
    /// Encryption failed (the input exceeds the cipher's limits).
    #[error("could not encrypt the secret")]
    Encrypt,
    /// Decryption failed: wrong key, altered ciphertext or nonce, or
    /// associated data that differs from what was sealed.
    #[error("could not decrypt the secret: wrong key, altered data or mismatched associated data")]
    Decrypt,
}
