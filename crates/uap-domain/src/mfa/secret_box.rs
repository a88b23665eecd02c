//! [`SecretBox`]: XChaCha20-Poly1305 sealing of small secrets (TOTP seeds)
//! under the configured `encryption_key`, bound to caller-chosen associated
//! data so a ciphertext cannot be moved to another row.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD, Encoding, HEXLOWER_PERMISSIVE};

use super::MfaError;

/// Length of the key in bytes.
const KEY_LEN: usize = 32;
/// Length of an XChaCha20-Poly1305 nonce in bytes.
const NONCE_LEN: usize = 24;

/// Key encodings accepted by [`SecretBox::from_config`], tried in order.
/// Only the hex form can be 64 characters long and decode to 32 bytes, so
/// the order never makes one value mean two keys.
const KEY_ENCODINGS: [&Encoding; 5] = [&HEXLOWER_PERMISSIVE, &BASE64, &BASE64_NOPAD, &BASE64URL, &BASE64URL_NOPAD];

/// Authenticated encryption with a random 24-byte nonce per message.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// Builds the box from the `encryption_key` setting: 32 bytes written as
    /// 64 hexadecimal characters (either case) or as base64 with the
    /// standard or URL-safe alphabet, padded or not. Surrounding whitespace
    /// is ignored.
    ///
    /// # Errors
    /// [`MfaError::InvalidKey`] when the value is in none of those forms or
    /// does not hold exactly 32 bytes. The message names the accepted forms
    /// and never repeats the value.
    pub fn from_config(value: &str) -> Result<Self, MfaError> {
        let value = value.trim().as_bytes();
        let key = KEY_ENCODINGS
            .iter()
            .filter_map(|encoding| encoding.decode(value).ok())
            .find_map(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or(MfaError::InvalidKey)?;
        Ok(Self::from_key(key))
    }

    /// Builds the box from raw key bytes.
    #[must_use]
    pub fn from_key(key: [u8; KEY_LEN]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(&Key::from(key)) }
    }

    /// Encrypts `plaintext`, authenticating `associated` along with it, under
    /// a fresh random nonce. Returns `(ciphertext, nonce)`; the ciphertext
    /// carries the 16-byte tag at its end. Store both; pass the same
    /// `associated` bytes to [`SecretBox::open`].
    ///
    /// # Errors
    /// [`MfaError::Random`] when no nonce can be drawn, [`MfaError::Encrypt`]
    /// when the input exceeds the cipher's limits.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<(Vec<u8>, Vec<u8>), MfaError> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| MfaError::Random)?;
        let ciphertext = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: associated })
            .map_err(|_| MfaError::Encrypt)?;
        Ok((ciphertext, nonce.to_vec()))
    }

    /// Decrypts what [`SecretBox::seal`] produced.
    ///
    /// # Errors
    /// [`MfaError::InvalidNonce`] when `nonce` is not 24 bytes;
    /// [`MfaError::Decrypt`] when the key, the ciphertext, the nonce or the
    /// associated data differ from the ones used to seal.
    pub fn open(&self, ciphertext: &[u8], nonce: &[u8], associated: &[u8]) -> Result<Vec<u8>, MfaError> {
        let nonce = XNonce::try_from(nonce).map_err(|_| MfaError::InvalidNonce { len: nonce.len() })?;
        self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: associated }).map_err(|_| MfaError::Decrypt)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox { key: \"***\" }")
    }
}
