//! How long a session lives: role-based durations capped by
//! `max_session_duration`, the access-token cap `jwt_expiration`, the idle
//! timeout, the single-device rule and the refresh-token settings.

use std::collections::BTreeMap;

use time::Duration;

use crate::config::Settings;

/// The session rules taken from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    pub default_duration: u64,
    pub max_duration: u64,
    pub token_lifetime: u64,
    pub role_durations: BTreeMap<String, u64>,
    pub idle_timeout: u64,
    pub multi_device: bool,
    pub refresh_tokens: bool,
    pub refresh_duration: u64,
    pub refresh_grace: u64,
}

impl SessionPolicy {
    /// The rules configured in `settings`.
    #[must_use]
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            default_duration: settings.session_duration,
            max_duration: settings.max_session_duration,
            token_lifetime: settings.jwt_expiration,
            role_durations: settings
                .role_session_durations
                .iter()
                .map(|(role, secs)| (role.to_lowercase(), *secs))
                .collect(),
            idle_timeout: settings.idle_timeout,
            multi_device: settings.multi_device_sessions,
            refresh_tokens: settings.refresh_tokens,
            refresh_duration: settings.refresh_token_duration,
            refresh_grace: settings.refresh_reuse_grace_seconds,
        }
    }

    /// The lifetime of a session for a user with `roles`: the longest duration
    /// among the roles that have one (else `session_duration`), never more than
    /// `max_session_duration` nor the access-token lifetime `jwt_expiration`.
    #[must_use]
    pub fn duration_for(&self, roles: &[String]) -> Duration {
        let by_role = roles.iter().filter_map(|role| self.role_durations.get(&role.to_lowercase()).copied()).max();
        let secs = by_role.unwrap_or(self.default_duration).min(self.max_duration).min(self.token_lifetime).max(1);
        Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// How long a refresh token is accepted, when refresh tokens are on.
    #[must_use]
    pub fn refresh_duration(&self) -> Option<Duration> {
        self.refresh_tokens.then(|| Duration::seconds(i64::try_from(self.refresh_duration).unwrap_or(i64::MAX)))
    }

    /// The idle timeout, when on.
    #[must_use]
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout > 0).then(|| Duration::seconds(i64::try_from(self.idle_timeout).unwrap_or(i64::MAX)))
    }

    /// How stale `last_activity` may be before validate writes it again: a
    /// tenth of the idle timeout, so activity is never lost by more than that
    /// while validate stays read-only almost always.
    #[must_use]
    pub fn touch_interval(&self) -> Option<Duration> {
        self.idle_timeout().map(|idle| (idle / 10_i32).max(Duration::seconds(1)))
    }

    /// The window in which a spent refresh token returns the same successor.
    #[must_use]
    pub fn refresh_grace(&self) -> Duration {
        Duration::seconds(i64::try_from(self.refresh_grace).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SessionPolicy {
        SessionPolicy::from_settings(&Settings {
            max_session_duration: 5000,
            jwt_expiration: 100_000,
            ..Settings::default()
        })
    }

    #[test]
    fn role_durations_pick_the_longest_and_respect_the_cap() {
        let p = policy();
        assert_eq!(p.duration_for(&[]), Duration::seconds(3600));
        assert_eq!(p.duration_for(&["Guest".into()]), Duration::seconds(1800));
        assert_eq!(p.duration_for(&["guest".into(), "user".into()]), Duration::seconds(3600));
        assert_eq!(p.duration_for(&["admin".into()]), Duration::seconds(5000));
        assert_eq!(p.duration_for(&["unknown".into()]), Duration::seconds(3600));
    }

    #[test]
    fn token_lifetime_caps_too() {
        let p = SessionPolicy { token_lifetime: 60, ..policy() };
        assert_eq!(p.duration_for(&["admin".into()]), Duration::seconds(60));
    }

    #[test]
    fn touch_interval_follows_idle_timeout() {
        assert_eq!(policy().touch_interval(), None);
        let p = SessionPolicy { idle_timeout: 600, ..policy() };
        assert_eq!(p.touch_interval(), Some(Duration::seconds(60)));
    }
}
