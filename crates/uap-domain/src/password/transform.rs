//! `password_transform`: what the host did to a password before hashing it.
//!
//! `html_escape` reproduces phpBB's request-variable cleaning, which phpBB
//! applies to the password before hashing and before verifying
//! (`request::untrimmed_variable` → `type_cast_helper::set_var`):
//! `"\r\n"` and `"\r"` become `"\n"`, NUL bytes are dropped, then
//! `htmlspecialchars($value, ENT_COMPAT, 'UTF-8')`, which escapes `&`, `"`,
//! `<` and `>` — not `'` (`ENT_COMPAT` leaves single quotes alone) — and
//! escapes every `&`, entities included (`double_encode` is on).
//!
//! Not reproduced: phpBB 3.1+ also NFC-normalises the value
//! (`utf8_normalize_nfc`); keyboards and browsers submit NFC already, and a
//! decomposed password simply fails to match (no Unicode-normalisation
//! dependency for that). phpBB 3.0 also trimmed passwords; 3.1+ does not,
//! and neither does this.

use std::borrow::Cow;

use super::PasswordTransform;

/// The password as the host hashed it.
pub(super) fn apply(transform: PasswordTransform, password: &str) -> Cow<'_, str> {
    match transform {
        PasswordTransform::None => Cow::Borrowed(password),
        PasswordTransform::HtmlEscape => Cow::Owned(html_escape(password)),
    }
}

fn html_escape(password: &str) -> String {
    let normalised = password.replace("\r\n", "\n").replace('\r', "\n").replace('\0', "");
    let mut out = String::with_capacity(normalised.len());
    for c in normalised.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_phpbb() {
        assert_eq!(html_escape(r#"a&b"c'd<e>f"#), "a&amp;b&quot;c'd&lt;e&gt;f");
        assert_eq!(html_escape("&amp;"), "&amp;amp;");
        assert_eq!(html_escape("a\r\nb\rc\0d"), "a\nb\ncd");
        assert_eq!(apply(PasswordTransform::None, "<x>"), "<x>");
    }
}
