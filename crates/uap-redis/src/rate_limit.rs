//! [`RateLimitStore`] on Redis: one hash per key (`count`, `start`, `until`
//! in Unix µs), one Lua script per attempt.
//!
//! The script reads the counter, decides exactly as the SQL store does
//! (contract: fixed window from its first attempt, block once over the limit,
//! blocked attempts not counted, a fresh window after the window or the block
//! ends), writes the new state and sets the key's expiry in the same atomic
//! step: counting cannot race, and a written counter always expires (window
//! or block from now, plus [`SLACK`]). A blocked attempt writes nothing.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use fred::prelude::{HashesInterface, KeysInterface, Value};
use time::{Duration, OffsetDateTime};
use uap_ports::{Admission, RateLimitKey, RateLimitRule, RateLimitStore, StoreError};

use crate::client::{Redis, Script};
use crate::error::malformed;
use crate::time::{instant, micros};

static ATTEMPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/attempt.lua")));

/// Life of a counter beyond the end of its window or block.
const SLACK: StdDuration = StdDuration::from_secs(1);
/// Longest expiry set on a counter (ten years).
const MAX_TTL_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

/// Attempt counters in Redis, shared by every instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisRateLimitStore {
    redis: Redis,
}

/// A stored counter.
#[derive(Debug, Clone, Copy)]
struct Counter {
    count: u32,
    window_start: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

/// `d` from now as a key expiry in ms, plus the slack.
fn ttl_ms(d: Duration) -> String {
    let ms = i64::try_from(d.whole_milliseconds()).unwrap_or(MAX_TTL_MS).clamp(0, MAX_TTL_MS);
    (ms + i64::try_from(SLACK.as_millis()).unwrap_or(1_000)).to_string()
}

/// The farthest instants a Lua number holds exactly (µs).
const FAR: i64 = 1 << 53;

/// `t + d` in µs, clamped.
fn plus(t: OffsetDateTime, d: Duration) -> i64 {
    t.checked_add(d).map_or(if d.is_negative() { -FAR } else { FAR }, micros)
}

/// `t - d` in µs, clamped.
fn minus(t: OffsetDateTime, d: Duration) -> i64 {
    t.checked_sub(d).map_or(if d.is_negative() { FAR } else { -FAR }, micros)
}

impl RedisRateLimitStore {
    pub(crate) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    async fn read(&self, key: &RateLimitKey) -> Result<Option<Counter>, StoreError> {
        let key = self.redis.keys().rate_limit(key);
        let fields: HashMap<String, String> = self.redis.run(self.redis.cmd().hgetall(key)).await?;
        let (Some(count), Some(start)) = (fields.get("count"), fields.get("start")) else { return Ok(None) };
        Ok(Some(Counter {
            count: count.parse().map_err(|_| malformed(format!("rate limit count {count:?}")))?,
            window_start: instant("start", start)?,
            blocked_until: fields.get("until").map(|until| instant("until", until)).transpose()?,
        }))
    }
}

#[async_trait]
impl RateLimitStore for RedisRateLimitStore {
    async fn attempt(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError> {
        let args = vec![
            micros(now).to_string(),
            minus(now, rule.window).to_string(),
            plus(now, rule.block).to_string(),
            rule.max_attempts.to_string(),
            ttl_ms(rule.window),
            ttl_ms(rule.block),
        ];
        let counter = self.redis.keys().rate_limit(key);
        let reply = self.redis.eval(&ATTEMPT, vec![counter], args).await?;
        let Value::Array(reply) = reply else { return Err(malformed("attempt reply")) };
        let until =
            |v: &Value| v.as_string().ok_or_else(|| malformed("attempt reply")).and_then(|u| instant("until", &u));
        match reply.as_slice() {
            [Value::Integer(1), Value::Integer(n)] => {
                Ok(Admission::Allowed { attempt: u32::try_from(*n).map_err(|_| malformed("attempt number"))? })
            }
            [Value::Integer(2), u] => Ok(Admission::Blocked { until: until(u)?, newly_blocked: true }),
            [Value::Integer(0), u] => Ok(Admission::Blocked { until: until(u)?, newly_blocked: false }),
            _ => Err(malformed("attempt reply")),
        }
    }

    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let now = micros(now);
        let current = self.read(key).await?;
        Ok(current.and_then(|c| c.blocked_until).filter(|until| micros(*until) > now))
    }

    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError> {
        let cutoff = minus(now, rule.window);
        let now = micros(now);
        Ok(match self.read(key).await? {
            Some(c) if c.blocked_until.is_none_or(|until| micros(until) > now) && micros(c.window_start) > cutoff => {
                c.count
            }
            _ => 0,
        })
    }

    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError> {
        let key = self.redis.keys().rate_limit(key);
        self.redis.run(self.redis.cmd().del::<i64, _>(key)).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn extreme_durations_are_clamped() {
        let now = datetime!(2025-01-01 00:00:00 UTC);
        assert_eq!(plus(now, Duration::MAX), 1 << 53);
        assert_eq!(minus(now, Duration::MAX), -(1 << 53));
        assert_eq!(plus(now, Duration::MIN), -(1 << 53));
        assert_eq!(ttl_ms(Duration::MAX), (MAX_TTL_MS + 1_000).to_string());
        assert_eq!(ttl_ms(Duration::seconds(-1)), "1000");
        assert_eq!(ttl_ms(Duration::milliseconds(1500)), "2500");
    }
}
