//! [`RedisConfig`], the `redis_url` forms this crate accepts, and their
//! translation into fred's configuration.

use std::fmt;
use std::time::Duration;

use fred::types::config::Config;
use uap_ports::StoreError;

/// The key prefix used when none is configured.
pub const DEFAULT_KEY_PREFIX: &str = "uap:";
/// The per-command timeout used when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How to reach Redis and where UAP's keys live.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://`, `rediss://`, `redis-cluster://` or `redis-sentinel://` URL
    /// (crate docs). May hold a password: never logged.
    pub url: String,
    /// Prepended to every key and the event channel (default `uap:`). Must
    /// not contain `{` or `}` (they would override the hash tags).
    pub key_prefix: String,
    /// Longest wait for one command, and for each connection attempt
    /// (default 2 s).
    pub timeout: Duration,
}

impl RedisConfig {
    /// `url` with the default prefix and timeout.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), key_prefix: DEFAULT_KEY_PREFIX.to_owned(), timeout: DEFAULT_TIMEOUT }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with the password of its user info and any `sentinelPassword` query
/// value replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable redis url>".to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((info, hosts)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => format!("{info}@{hosts}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("sentinelPassword") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Rewrites this crate's conveniences into fred's URL syntax: a
/// comma-separated host list of a `-cluster`/`-sentinel` URL becomes `node=`
/// query parameters, and a Sentinel service name given as the first path
/// segment becomes `sentinelServiceName=` (a second segment is the database).
pub(crate) fn normalize(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let sentinel = scheme.ends_with("-sentinel");
    if !sentinel && !scheme.ends_with("-cluster") {
        return url.to_owned();
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user_info, hosts) = match authority.rsplit_once('@') {
        Some((info, hosts)) => (Some(info), hosts),
        None => (None, authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut hosts = hosts.split(',');
    let first = hosts.next().unwrap_or_default();
    let mut params: Vec<String> = query.into_iter().filter(|q| !q.is_empty()).map(str::to_owned).collect();
    params.extend(hosts.filter(|h| !h.is_empty()).map(|h| format!("node={h}")));
    let mut path = path.to_owned();
    let named = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("sentinelServiceName=")));
    if sentinel && !named {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if let [service, rest @ ..] = segments.as_slice()
            && !service.chars().all(|c| c.is_ascii_digit())
        {
            params.push(format!("sentinelServiceName={service}"));
            path = rest.first().map(|db| format!("/{db}")).unwrap_or_default();
        }
    }
    let user_info = user_info.map(|info| format!("{info}@")).unwrap_or_default();
    let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
    format!("{scheme}://{user_info}{first}{path}{query}")
}

/// Refuses a key prefix that would break the hash tags.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.contains(['{', '}']) {
        return Err(StoreError::Misconfigured(format!(
            "redis_key_prefix {prefix:?} must not contain '{{' or '}}' (they select Redis Cluster hash slots)"
        )));
    }
    Ok(())
}

/// fred's configuration for `url` (crate docs for the forms).
pub(crate) fn fred_config(url: &str) -> Result<Config, StoreError> {
    let normalized = normalize(url);
    let scheme = normalized.split_once("://").map(|(s, _)| s).unwrap_or_default();
    if scheme.starts_with("rediss") || scheme.starts_with("valkeys") {
        // fred builds its rustls client config with the process-wide provider;
        // UAP uses ring everywhere. Installing is a no-op once one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    Config::from_url(&normalized)
        .map_err(|e| StoreError::Misconfigured(format!("redis_url {}: {}", redact(url), e.details())))
}

#[cfg(test)]
mod tests {
    use fred::types::config::ServerConfig;

    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact("rediss://user:p%40ss@host"), "rediss://user:***@host");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact("redis-sentinel://u:pw@s1:26379/0?sentinelServiceName=m&sentinelPassword=pw2"),
            "redis-sentinel://u:***@s1:26379/0?sentinelServiceName=m&sentinelPassword=***"
        );
        assert_eq!(redact("nonsense"), "<unparsable redis url>");
        let config = RedisConfig::new("redis://u:hunter2@h:1");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn host_lists_become_nodes() {
        assert_eq!(normalize("redis://h:1"), "redis://h:1");
        assert_eq!(
            normalize("redis-cluster://u:p@a:7000,b:7001,c:7002"),
            "redis-cluster://u:p@a:7000?node=b:7001&node=c:7002"
        );
        assert_eq!(normalize("redis-cluster://a:7000?node=b:7001"), "redis-cluster://a:7000?node=b:7001");
        assert_eq!(
            normalize("redis-sentinel://:p@s1:26379,s2:26380/mymaster/2"),
            "redis-sentinel://:p@s1:26379/2?node=s2:26380&sentinelServiceName=mymaster"
        );
        assert_eq!(
            normalize("redis-sentinel://s1:26379/mymaster"),
            "redis-sentinel://s1:26379?sentinelServiceName=mymaster"
        );
        assert_eq!(
            normalize("redis-sentinel://s1:26379/1?sentinelServiceName=m"),
            "redis-sentinel://s1:26379/1?sentinelServiceName=m"
        );
    }

    #[test]
    fn every_documented_form_parses() {
        let config = fred_config("redis://:pw@127.0.0.1:6380/3").unwrap();
        assert_eq!(config.database, Some(3));
        assert_eq!(config.password.as_deref(), Some("pw"));
        assert!(!config.server.is_clustered() && !config.server.is_sentinel());

        let config = fred_config("redis-cluster://a:7000,b:7001,c:7002").unwrap();
        let ServerConfig::Clustered { hosts, .. } = config.server else { panic!("not clustered") };
        assert_eq!(hosts.len(), 3);

        let config = fred_config("redis-sentinel://u:pw@s1:26379,s2:26380/mymaster/1").unwrap();
        assert_eq!(config.database, Some(1));
        assert_eq!(config.username.as_deref(), Some("u"));
        let ServerConfig::Sentinel { hosts, service_name, .. } = config.server else { panic!("not sentinel") };
        assert_eq!((hosts.len(), service_name.as_str()), (2, "mymaster"));

        let config = fred_config("rediss://h:6380").unwrap();
        assert!(config.tls.is_some());
    }

    #[test]
    fn bad_urls_are_misconfigured_without_the_password() {
        for url in ["redis://:hunter2@host:notaport", "redis-sentinel://:hunter2@s1:26379", "redis://:hunter2@h/1/2"] {
            match fred_config(url) {
                Err(StoreError::Misconfigured(message)) => {
                    assert!(!message.contains("hunter2"), "{message}");
                    assert!(message.contains("redis_url"), "{message}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn braces_in_the_prefix_are_refused() {
        assert!(check_prefix("uap:").is_ok());
        assert!(matches!(check_prefix("uap{x}:"), Err(StoreError::Misconfigured(_))));
    }
}
