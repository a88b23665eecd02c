//! The key layout (crate docs): every key name is built here.

use uap_ports::RateLimitKey;

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

/// The keys of one user, all in the slot of the hash tag `{u:<tag>}`.
#[derive(Debug, Clone)]
pub(crate) struct UserKeys {
    /// `P{u:T}`.
    base: String,
    tag: String,
}

/// `user_id` with `%`, `{` and `}` percent-encoded: injective, and free of
/// `}` so that a hash tag around it covers it whole.
pub(crate) fn user_tag(user_id: &str) -> String {
    let mut tag = String::with_capacity(user_id.len());
    for c in user_id.chars() {
        match c {
            '%' => tag.push_str("%25"),
            '{' => tag.push_str("%7B"),
            '}' => tag.push_str("%7D"),
            c => tag.push(c),
        }
    }
    tag
}

/// `text` with Redis glob metacharacters escaped, for `SCAN MATCH`.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// The keys of `user_id`.
    pub(crate) fn user(&self, user_id: &str) -> UserKeys {
        self.user_by_tag(user_tag(user_id))
    }

    /// The keys of the user whose tag (as a pointer stores it) is `tag`.
    pub(crate) fn user_by_tag(&self, tag: String) -> UserKeys {
        UserKeys { base: format!("{}{{u:{tag}}}", self.prefix), tag }
    }

    /// `Psession:<id>`: the pointer to a session's user.
    pub(crate) fn session_pointer(&self, session_id: &str) -> String {
        format!("{}session:{session_id}", self.prefix)
    }

    /// `Pfamily:<id>`: the user tag(s) of a refresh chain.
    pub(crate) fn family_pointer(&self, family_id: &str) -> String {
        format!("{}family:{family_id}", self.prefix)
    }

    /// `Prl:<len(kind)>:<kind>:<value>`: kind and value stay apart whatever
    /// they hold.
    pub(crate) fn rate_limit(&self, key: &RateLimitKey) -> String {
        format!("{}rl:{}:{}:{}", self.prefix, key.kind.len(), key.kind, key.value)
    }

    /// `Pactive`: every active session id scored by its `expires_at` (µs),
    /// for a cheap count (`ZCOUNT`). Best effort, outside the user slots.
    pub(crate) fn active_index(&self) -> String {
        format!("{}active", self.prefix)
    }

    /// `Pevents`: the event bus channel.
    pub(crate) fn events(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every user index under this prefix.
    pub(crate) fn index_pattern(&self) -> String {
        format!("{}{{u:*}}:sessions", glob_escape(&self.prefix))
    }

    /// The user of an index key found by [`Keys::index_pattern`], if it is one.
    pub(crate) fn user_of_index(&self, key: &str) -> Option<UserKeys> {
        let tag = key.strip_prefix(&self.prefix)?.strip_prefix("{u:")?.strip_suffix("}:sessions")?;
        (!tag.contains('}')).then(|| self.user_by_tag(tag.to_owned()))
    }

    /// `P{u:` and `}:session:`: what a script puts around a pointer's tag
    /// and a session id to name the record.
    pub(crate) fn record_parts(&self) -> (String, &'static str) {
        (format!("{}{{u:", self.prefix), "}:session:")
    }
}

impl UserKeys {
    /// The tag a pointer stores.
    pub(crate) fn tag(&self) -> &str {
        &self.tag
    }

    /// `P{u:T}:session:<id>`: one record.
    pub(crate) fn record(&self, session_id: &str) -> String {
        format!("{}{session_id}", self.record_prefix())
    }

    /// `P{u:T}:session:`: a script appends a session id.
    pub(crate) fn record_prefix(&self) -> String {
        format!("{}:session:", self.base)
    }

    /// `P{u:T}:sessions`: the user's index.
    pub(crate) fn index(&self) -> String {
        format!("{}:sessions", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_injective_and_brace_free() {
        assert_eq!(user_tag("alice"), "alice");
        assert_eq!(user_tag("a}b{c%"), "a%7Db%7Bc%25");
        assert_ne!(user_tag("%7D"), user_tag("}"));
        assert!(!user_tag("}}}").contains('}'));
    }

    #[test]
    fn a_users_keys_share_one_hash_tag() {
        let keys = Keys::new("uap:");
        let user = keys.user("a}:s");
        let slot = |k: &str| fred::util::redis_keyslot(k.as_bytes());
        assert_eq!(user.record("x"), "uap:{u:a%7D:s}:session:x");
        assert_eq!(slot(&user.record("x")), slot(&user.index()));
        assert_eq!(slot(&user.record("x")), slot(&user.record("y}{z")));
        assert_eq!(slot(&keys.user("").index()), slot(&keys.user("").record("x")), "empty user ids too");
        let (head, tail) = keys.record_parts();
        assert_eq!(format!("{head}{}{tail}x", user.tag()), user.record("x"));
    }

    #[test]
    fn index_keys_round_trip() {
        let keys = Keys::new("p*[x]:");
        assert_eq!(keys.index_pattern(), "p\\*\\[x\\]:{u:*}:sessions");
        let user = keys.user("bob{1}");
        assert_eq!(keys.user_of_index(&user.index()).map(|u| u.index()), Some(user.index()));
        assert!(keys.user_of_index(&user.record("s}:sessions")).is_none());
        assert!(keys.user_of_index("other:{u:bob}:sessions").is_none());
    }

    #[test]
    fn rate_limit_keys_keep_kind_and_value_apart() {
        let keys = Keys::new("uap:");
        let key = |kind: &str, value: &str| keys.rate_limit(&RateLimitKey { kind: kind.into(), value: value.into() });
        assert_ne!(key("a:b", "c"), key("a", "b:c"));
        assert_eq!(key("ip", "10.0.0.1"), "uap:rl:2:ip:10.0.0.1");
    }
}
