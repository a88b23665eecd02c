//! How a host's flag values read as text, the same for every data source
//! (a database column, a host API's user object): `active_field` and
//! `inactive_field`.

/// How a textual active-flag value (`active_field`) reads: `Some(true)` for
/// `1`, `true`, `t`, `yes`, `y`, `on`, `active`, `enabled`; `Some(false)` for
/// `0`, `false`, `f`, `no`, `n`, `off`, `inactive`, `disabled` and the empty
/// string (case and surrounding spaces ignored); `None` for anything else,
/// which a login treats as inactive. Numbers other than 0 are true when the
/// column is numeric, but as text only `1` and `0` are flags.
#[must_use]
pub fn flag_value(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" | "active" | "enabled" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" | "" | "inactive" | "disabled" => Some(false),
        _ => None,
    }
}

/// Whether a textual "is inactive" marker (`inactive_field`) is set: it is
/// unless it reads as [`flag_value`]'s false (`0`, `false`, `no`, `off`, the
/// empty string…) — except `inactive` and `disabled`, which are set, as is
/// any other text (a timestamp, a reason).
#[must_use]
pub fn marker_set(text: &str) -> bool {
    let word = text.trim().to_ascii_lowercase();
    flag_value(&word) != Some(false) || matches!(word.as_str(), "inactive" | "disabled")
}
