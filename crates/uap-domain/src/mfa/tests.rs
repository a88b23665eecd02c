//! Known-answer tests from RFC 4226 and RFC 6238, the verification window,
//! the authenticator-facing encodings and the secret box.

use super::*;

const RFC_SECRET: &[u8] = b"12345678901234567890";

fn rfc_secret() -> TotpSecret {
    TotpSecret::from_bytes(RFC_SECRET.to_vec()).unwrap()
}

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn key_box() -> SecretBox {
    SecretBox::from_config(KEY_HEX).unwrap()
}

#[test]
fn hotp_matches_rfc4226_appendix_d() {
    let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
    let totp = Totp::default();
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(totp.code_at_step(&rfc_secret(), i64::try_from(counter).unwrap()), *code, "counter {counter}");
    }
}

#[test]
fn totp_sha1_matches_rfc6238_appendix_b() {
    let totp = Totp { digits: 8, ..Totp::default() };
    let vectors: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];
    for (time, code) in vectors {
        let step = totp.step_at(time);
        assert_eq!(totp.code_at_step(&rfc_secret(), step), code, "time {time}");
        assert_eq!(totp.verify(&rfc_secret(), code, time), Some(step), "time {time}");
    }
}

#[test]
fn step_at_uses_the_period() {
    let totp = Totp::default();
    assert_eq!(totp.step_at(0), 0);
    assert_eq!(totp.step_at(29), 0);
    assert_eq!(totp.step_at(30), 1);
    assert_eq!(totp.step_at(1_111_111_109), 0x023523EC);
    assert_eq!(Totp { step_seconds: 60, ..totp }.step_at(119), 1);
    assert_eq!(Totp { step_seconds: 0, ..totp }.step_at(7), 7, "a zero period counts as one second");
}

#[test]
fn codes_are_zero_padded() {
    // RFC 6238 time 1111111109 yields 07081804 with 8 digits.
    let totp = Totp { digits: 8, ..Totp::default() };
    assert_eq!(totp.code_at_step(&rfc_secret(), totp.step_at(1_111_111_109)).len(), 8);
    assert!(totp.code_at_step(&rfc_secret(), totp.step_at(1_111_111_109)).starts_with('0'));
}

#[test]
fn skew_of_one_accepts_neighbours_and_rejects_two_away() {
    let totp = Totp::default();
    let secret = rfc_secret();
    let now = 1_700_000_000;
    let current = totp.step_at(now);
    for offset in [-1, 0, 1] {
        let code = totp.code_at_step(&secret, current + offset);
        assert_eq!(totp.verify(&secret, &code, now), Some(current + offset), "offset {offset}");
    }
    for offset in [-2, 2] {
        let code = totp.code_at_step(&secret, current + offset);
        assert_eq!(totp.verify(&secret, &code, now), None, "offset {offset}");
    }
}

#[test]
fn zero_skew_accepts_only_the_current_step() {
    let totp = Totp { skew: 0, ..Totp::default() };
    let secret = rfc_secret();
    let now = 1_700_000_000;
    let current = totp.step_at(now);
    assert_eq!(totp.verify(&secret, &totp.code_at_step(&secret, current), now), Some(current));
    assert_eq!(totp.verify(&secret, &totp.code_at_step(&secret, current - 1), now), None);
}

#[test]
fn malformed_codes_are_rejected() {
    let totp = Totp::default();
    let secret = rfc_secret();
    // Counter 1 is step 1 (time 30..59): its code is 287082.
    assert_eq!(totp.verify(&secret, "287082", 45), Some(1));
    for code in ["", "28708", "2870822", "28708a", " 287082", "287082 ", "+28708", "２８７０８２", "28 082"] {
        assert_eq!(totp.verify(&secret, code, 45), None, "{code:?}");
    }
}

#[test]
fn a_different_secret_does_not_verify() {
    let totp = Totp::default();
    let other = TotpSecret::from_bytes(b"abcdefghijklmnopqrst".to_vec()).unwrap();
    let code = totp.code_at_step(&rfc_secret(), totp.step_at(45));
    assert_eq!(totp.verify(&other, &code, 45), None);
}

#[test]
fn steps_before_the_epoch_never_match() {
    let totp = Totp::default();
    let code_for_zero = totp.code_at_step(&rfc_secret(), 0);
    // At time -30 the window is steps -2..=0: only step 0 can match.
    assert_eq!(totp.verify(&rfc_secret(), &code_for_zero, -30), Some(0));
    assert_eq!(totp.verify(&rfc_secret(), &code_for_zero, -90), None);
}

#[test]
fn secret_lengths_are_bounded() {
    assert!(TotpSecret::from_bytes(vec![0; 16]).is_ok());
    assert!(TotpSecret::from_bytes(vec![0; 64]).is_ok());
    assert!(matches!(TotpSecret::from_bytes(vec![0; 15]), Err(MfaError::InvalidSecretLength { len: 15 })));
    assert!(matches!(TotpSecret::from_bytes(vec![0; 65]), Err(MfaError::InvalidSecretLength { len: 65 })));
}

#[test]
fn generated_secrets_are_twenty_random_bytes() {
    let first = TotpSecret::generate().unwrap();
    let second = TotpSecret::generate().unwrap();
    assert_eq!(first.as_bytes().len(), 20);
    assert_ne!(first.as_bytes(), second.as_bytes());
    assert_eq!(first.to_base32().len(), 32);
}

#[test]
fn base32_is_rfc4648_upper_case_unpadded() {
    assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let sixteen = TotpSecret::from_bytes(vec![0xff; 16]).unwrap();
    assert_eq!(sixteen.to_base32(), "77777777777777777777777774");
}

#[test]
fn otpauth_uri_encodes_label_and_issuer() {
    let uri = rfc_secret().otpauth_uri("ACME Co: Login", "jane doe@example.com");
    assert_eq!(
        uri,
        "otpauth://totp/ACME%20Co%3A%20Login:jane%20doe%40example.com\
         ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co%3A%20Login\
         &algorithm=SHA1&digits=6&period=30"
    );
    let custom = Totp { step_seconds: 60, digits: 8, skew: 1 }.otpauth_uri(&rfc_secret(), "UAP", "a&b=c?");
    assert!(custom.starts_with("otpauth://totp/UAP:a%26b%3Dc%3F?secret="), "{custom}");
    assert!(custom.ends_with("&issuer=UAP&algorithm=SHA1&digits=8&period=60"), "{custom}");
}

#[test]
fn debug_output_redacts_secrets() {
    assert!(!format!("{:?}", rfc_secret()).contains("1234"));
    let shown = format!("{:?}", key_box());
    assert!(!shown.contains("0001") && !shown.contains("[0, 1"), "{shown}");
}

#[test]
fn secret_box_round_trips() {
    let sealed = key_box().seal(RFC_SECRET, b"42:totp").unwrap();
    let (ciphertext, nonce) = &sealed;
    assert_eq!(nonce.len(), 24);
    assert_eq!(ciphertext.len(), RFC_SECRET.len() + 16);
    assert_ne!(&ciphertext[..RFC_SECRET.len()], RFC_SECRET);
    assert_eq!(key_box().open(ciphertext, nonce, b"42:totp").unwrap(), RFC_SECRET);
    let again = key_box().seal(RFC_SECRET, b"42:totp").unwrap();
    assert_ne!(sealed.1, again.1, "each seal draws a fresh nonce");
    assert_ne!(sealed.0, again.0);
}

#[test]
fn secret_box_detects_tampering() {
    let (ciphertext, nonce) = key_box().seal(RFC_SECRET, b"42:totp").unwrap();
    for index in [0, ciphertext.len() - 1] {
        let mut altered = ciphertext.clone();
        altered[index] ^= 0x01;
        assert!(matches!(key_box().open(&altered, &nonce, b"42:totp"), Err(MfaError::Decrypt)), "byte {index}");
    }
    let mut other_nonce = nonce.clone();
    other_nonce[0] ^= 0x01;
    assert!(matches!(key_box().open(&ciphertext, &other_nonce, b"42:totp"), Err(MfaError::Decrypt)));
    assert!(matches!(key_box().open(&ciphertext, &nonce, b"43:totp"), Err(MfaError::Decrypt)));
    assert!(matches!(key_box().open(&ciphertext, &nonce, b""), Err(MfaError::Decrypt)));
    let other_key = SecretBox::from_key([7; 32]);
    assert!(matches!(other_key.open(&ciphertext, &nonce, b"42:totp"), Err(MfaError::Decrypt)));
    assert!(matches!(key_box().open(&ciphertext[..10], &nonce, b"42:totp"), Err(MfaError::Decrypt)));
    assert!(matches!(key_box().open(&ciphertext, &nonce[..12], b"42:totp"), Err(MfaError::InvalidNonce { len: 12 })));
}

#[test]
fn from_config_accepts_hex_and_base64_forms() {
    let key: Vec<u8> = (0..32).collect();
    let forms = [
        KEY_HEX.to_owned(),
        KEY_HEX.to_uppercase(),
        format!("  {KEY_HEX}\n"),
        data_encoding::BASE64.encode(&key),
        data_encoding::BASE64_NOPAD.encode(&key),
        data_encoding::BASE64URL.encode(&[0xfb; 32]),
        data_encoding::BASE64URL_NOPAD.encode(&[0xfb; 32]),
    ];
    let (ciphertext, nonce) = key_box().seal(b"payload", b"ad").unwrap();
    let (url_ciphertext, url_nonce) = SecretBox::from_key([0xfb; 32]).seal(b"payload", b"ad").unwrap();
    for form in &forms[..5] {
        let opened = SecretBox::from_config(form).unwrap().open(&ciphertext, &nonce, b"ad").unwrap();
        assert_eq!(opened, b"payload", "{form}");
    }
    for form in &forms[5..] {
        assert!(form.contains('_') || form.contains('-'), "{form} exercises the URL-safe alphabet");
        let opened = SecretBox::from_config(form).unwrap().open(&url_ciphertext, &url_nonce, b"ad").unwrap();
        assert_eq!(opened, b"payload", "{form}");
    }
}

#[test]
fn from_config_rejects_wrong_lengths_without_echoing() {
    let candidates = [
        String::new(),
        "secret-value-do-not-echo".to_owned(),
        KEY_HEX[..62].to_owned(),
        format!("{KEY_HEX}00"),
        format!("{}zz", &KEY_HEX[..62]),
        data_encoding::BASE64.encode(&[9; 31]),
        data_encoding::BASE64.encode(&[9; 33]),
        data_encoding::BASE64.encode(&[9; 48]),
    ];
    for value in &candidates {
        let error = SecretBox::from_config(value).unwrap_err();
        assert!(matches!(error, MfaError::InvalidKey), "{value}");
        let message = error.to_string();
        assert!(message.contains("hexadecimal") && message.contains("base64"), "{message}");
        assert!(value.is_empty() || !message.contains(value.as_str()), "{message}");
    }
}

#[test]
fn out_of_range_parameters_are_brought_into_range() {
    let secret = rfc_secret();
    let too_few = Totp { digits: 0, ..Totp::default() };
    let code = too_few.code_at_step(&secret, 1);
    assert_eq!(code, "287082", "digits below 6 count as 6");
    assert_eq!(too_few.verify(&secret, "", 45), None);
    let too_many = Totp { digits: 12, ..Totp::default() };
    assert_eq!(too_many.code_at_step(&secret, 1).len(), 10);
    let negative_skew = Totp { skew: -3, ..Totp::default() };
    assert_eq!(negative_skew.verify(&secret, &code, 45), Some(1));
    assert_eq!(negative_skew.verify(&secret, &code, 75), None);
    let huge_skew = Totp { skew: i64::MAX, ..Totp::default() };
    let far = huge_skew.code_at_step(&secret, 1_000 + MAX_SKEW + 1);
    assert_eq!(huge_skew.verify(&secret, &far, 1_000 * 30), None, "skew is capped at MAX_SKEW");
}
