//! How long a session lives: role-based durations capped by
//! `max_session_duration` (counted from the login that started the refresh
//! chain), the idle timeout, the single-device rule and the refresh-token
//! settings with the chain's absolute end `refresh_chain_max_seconds`.
//! `jwt_expiration` does not cap a session token (CONTRACT §2).

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

/// The session rules, as the configuration sets them (CONTRACT §2 keys in
/// brackets; [`Default`] holds the contract's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// `session_duration` for users without a role duration.
    pub default_duration: Duration,
    /// `max_session_duration` caps every role duration, counted from the login.
    pub max_duration: Duration,
    /// `role_session_durations`, keys lower-cased.
    pub role_durations: BTreeMap<String, Duration>,
    /// `idle_timeout`, `None` when off.
    pub idle_timeout: Option<Duration>,
    /// `multi_device_sessions`: false = a new login ends the user's other sessions.
    pub multi_device: bool,
    /// `refresh_tokens`.
    pub refresh_tokens: bool,
    /// `refresh_token_duration`.
    pub refresh_duration: Duration,
    /// `refresh_reuse_grace_seconds`.
    pub refresh_grace: Duration,
    /// `refresh_chain_max_seconds`.
    pub chain_max: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            default_duration: Duration::hours(1),
            max_duration: Duration::days(1),
            role_durations: BTreeMap::from([
                ("admin".into(), Duration::hours(2)),
                ("user".into(), Duration::hours(1)),
                ("guest".into(), Duration::minutes(30)),
            ]),
            idle_timeout: None,
            multi_device: true,
            refresh_tokens: true,
            refresh_duration: Duration::days(30),
            refresh_grace: Duration::seconds(10),
            chain_max: Duration::days(30),
        }
    }
}

impl SessionPolicy {
    /// The lifetime of a session for a user with `roles`: the longest duration
    /// among the roles that have one (else `session_duration`), never more than
    /// `max_session_duration`.
    #[must_use]
    pub fn duration_for(&self, roles: &[String]) -> Duration {
        let by_role = roles.iter().filter_map(|role| self.role_durations.get(&role.to_lowercase()).copied()).max();
        by_role.unwrap_or(self.default_duration).min(self.max_duration).max(Duration::SECOND)
    }

    /// When an access token issued `now` for `roles` expires, in a chain
    /// whose login was at `auth_time`: the role's duration from now, never
    /// past `max_session_duration` after the login.
    #[must_use]
    pub fn expires_at(&self, roles: &[String], auth_time: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
        (now + self.duration_for(roles)).min(self.session_end(auth_time))
    }

    /// The latest any access token of the chain started at `auth_time` may
    /// expire: `max_session_duration` after the login.
    #[must_use]
    pub fn session_end(&self, auth_time: OffsetDateTime) -> OffsetDateTime {
        auth_time + self.max_duration
    }

    /// How long a refresh token is accepted, when refresh tokens are on.
    #[must_use]
    pub fn refresh_duration(&self) -> Option<Duration> {
        self.refresh_tokens.then_some(self.refresh_duration)
    }

    /// When a refresh token issued `now` stops being accepted (when refresh
    /// tokens are on): `refresh_token_duration` from now, never past the
    /// chain's end.
    #[must_use]
    pub fn refresh_expires_at(&self, auth_time: OffsetDateTime, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.refresh_duration().map(|d| (now + d).min(self.chain_end(auth_time)))
    }

    /// The absolute end of the refresh chain started by the login at `auth_time`.
    #[must_use]
    pub fn chain_end(&self, auth_time: OffsetDateTime) -> OffsetDateTime {
        auth_time + self.chain_max
    }

    /// The idle timeout, when on.
    #[must_use]
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
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
        self.refresh_grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use time::macros::datetime;

    fn policy() -> SessionPolicy {
        SessionPolicy { max_duration: Duration::seconds(5000), ..SessionPolicy::default() }
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
    fn access_expiry_is_capped_from_the_login_not_the_refresh() {
        let p = policy();
        let login = datetime!(2026-01-01 00:00 UTC);
        let admin = ["admin".to_owned()];
        assert_eq!(p.expires_at(&admin, login, login), login + Duration::seconds(5000));
        let refresh = login + Duration::seconds(4000);
        assert_eq!(p.expires_at(&admin, login, refresh), login + Duration::seconds(5000), "max from the login");
        let guest = ["guest".to_owned()];
        assert_eq!(p.expires_at(&guest, login, refresh - Duration::seconds(3500)), login + Duration::seconds(2300));
    }

    #[test]
    fn refresh_expiry_stops_at_the_chain_end() {
        let p =
            SessionPolicy { refresh_duration: Duration::seconds(1000), chain_max: Duration::seconds(2500), ..policy() };
        let login = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(p.chain_end(login), login + Duration::seconds(2500));
        assert_eq!(p.refresh_expires_at(login, login), Some(login + Duration::seconds(1000)));
        let late = login + Duration::seconds(2000);
        assert_eq!(p.refresh_expires_at(login, late), Some(login + Duration::seconds(2500)), "the chain's end");
        assert_eq!(SessionPolicy { refresh_tokens: false, ..p }.refresh_expires_at(login, late), None);
    }

    #[test]
    fn touch_interval_follows_idle_timeout() {
        assert_eq!(policy().touch_interval(), None);
        let p = SessionPolicy { idle_timeout: Some(Duration::seconds(600)), ..policy() };
        assert_eq!(p.touch_interval(), Some(Duration::seconds(60)));
    }
}
