//! `[alerts]`: thresholds evaluated every `interval_seconds` from the
//! metrics UAP keeps. A crossing logs a WARN `alert` record (target
//! `uap::alert`), sets `uap_alert_active{alert}` to 1 and, with `webhook_url`,
//! POSTs a signed JSON alert; the recovery is logged, posted and cleared the
//! same way.
//!
//! | alert | value compared with the threshold |
//! |---|---|
//! | `failed_auth_per_minute` | failed logins in the last 60 s |
//! | `p95_latency_ms` | 95th percentile HTTP latency over the last interval (bucket upper bound) |
//! | `error_rate` | 5xx responses / responses over the last interval |
//! | `active_sessions` | `uap_active_sessions` |

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::AlertSettings;
use prometheus::core::Collector;
use serde_json::json;
use uap_adapters_http::AlertSender;
use uap_ports::Clock;

use crate::metrics::Metrics;

const WINDOW: Duration = Duration::from_secs(60);

/// One threshold and whether it fires.
struct Rule {
    name: &'static str,
    threshold: f64,
    firing: bool,
}

/// The evaluator's memory between ticks.
struct Evaluator {
    metrics: Metrics,
    rules: Vec<Rule>,
    /// (when, failed logins so far), the oldest at most a minute old plus one.
    failures: VecDeque<(Instant, u64)>,
    /// HTTP latency buckets and status counts at the previous tick.
    buckets: Vec<(f64, u64)>,
    requests: (u64, u64),
}

#[expect(clippy::cast_precision_loss, reason = "thresholds are compared as f64")]
fn as_f64(n: u64) -> f64 {
    n as f64
}

/// The cumulative latency buckets summed over every route.
fn latency_buckets(metrics: &Metrics) -> Vec<(f64, u64)> {
    let mut sum: Vec<(f64, u64)> = Vec::new();
    for family in metrics.http_duration.collect() {
        for metric in family.get_metric() {
            for (i, bucket) in metric.get_histogram().get_bucket().iter().enumerate() {
                match sum.get_mut(i) {
                    Some(slot) => slot.1 += bucket.cumulative_count(),
                    None => sum.push((bucket.upper_bound(), bucket.cumulative_count())),
                }
            }
        }
    }
    sum
}

/// (all responses, 5xx responses) so far.
fn request_counts(metrics: &Metrics) -> (u64, u64) {
    let (mut all, mut errors) = (0, 0);
    for family in metrics.http_requests.collect() {
        for metric in family.get_metric() {
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an integer counter")]
            let n = metric.get_counter().get_value() as u64;
            all += n;
            if metric.get_label().iter().any(|l| l.name() == "status" && l.value().starts_with('5')) {
                errors += n;
            }
        }
    }
    (all, errors)
}

impl Evaluator {
    fn new(metrics: Metrics, settings: &AlertSettings) -> Self {
        let rules: Vec<Rule> = [
            ("failed_auth_per_minute", settings.failed_auth_per_minute.map(as_f64)),
            ("p95_latency_ms", settings.p95_latency_ms),
            ("error_rate", settings.error_rate),
            ("active_sessions", settings.active_sessions.map(as_f64)),
        ]
        .into_iter()
        .filter_map(|(name, threshold)| threshold.map(|threshold| Rule { name, threshold, firing: false }))
        .collect();
        let mut failures = VecDeque::new();
        failures.push_back((Instant::now(), metrics.logins.with_label_values(&["failure"]).get()));
        let buckets = latency_buckets(&metrics);
        let requests = request_counts(&metrics);
        for rule in &rules {
            metrics.alert_active.with_label_values(&[rule.name]).set(0);
        }
        Self { metrics, rules, failures, buckets, requests }
    }

    /// The current value of every measure (None: nothing to judge yet).
    fn measure(&mut self, now: Instant) -> [(&'static str, Option<f64>); 4] {
        let failed = self.metrics.logins.with_label_values(&["failure"]).get();
        self.failures.push_back((now, failed));
        while self.failures.get(1).is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW) {
            self.failures.pop_front();
        }
        let since = self.failures.front().map_or(failed, |(_, n)| *n);
        let failed_last_minute = as_f64(failed.saturating_sub(since));

        let buckets = latency_buckets(&self.metrics);
        let previous = |i: usize| self.buckets.get(i).map_or(0, |(_, n)| *n);
        let delta: Vec<(f64, u64)> =
            buckets.iter().enumerate().map(|(i, (bound, n))| (*bound, n.saturating_sub(previous(i)))).collect();
        let total = delta.last().map_or(0, |(_, n)| *n);
        let p95 = (total > 0).then(|| {
            let rank = (as_f64(total) * 0.95).ceil();
            delta.iter().find(|(_, n)| as_f64(*n) >= rank).map_or(f64::INFINITY, |(bound, _)| bound * 1000.0)
        });
        self.buckets = buckets;

        let (all, errors) = request_counts(&self.metrics);
        let (d_all, d_errors) = (all.saturating_sub(self.requests.0), errors.saturating_sub(self.requests.1));
        self.requests = (all, errors);
        let error_rate = (d_all > 0).then(|| as_f64(d_errors) / as_f64(d_all));

        #[expect(clippy::cast_precision_loss, reason = "a count compared as f64")]
        let sessions = self.metrics.active_sessions.get() as f64;
        [
            ("failed_auth_per_minute", Some(failed_last_minute)),
            ("p95_latency_ms", p95),
            ("error_rate", error_rate.or(Some(0.0))),
            ("active_sessions", Some(sessions)),
        ]
    }
}

impl Evaluator {
    /// Measures, compares with every threshold, updates `uap_alert_active`
    /// and returns the rules whose state changed.
    fn evaluate(&mut self, now: Instant) -> Vec<Transition> {
        let values = self.measure(now);
        let mut transitions = Vec::new();
        for rule in &mut self.rules {
            let Some(value) = values.iter().find(|(name, _)| *name == rule.name).and_then(|(_, v)| *v) else {
                continue;
            };
            let firing = value > rule.threshold;
            if firing != rule.firing {
                rule.firing = firing;
                self.metrics.alert_active.with_label_values(&[rule.name]).set(i64::from(firing));
                transitions.push(Transition { name: rule.name, firing, value, threshold: rule.threshold });
            }
        }
        transitions
    }
}

/// A change of state to report.
#[derive(Debug, PartialEq)]
struct Transition {
    name: &'static str,
    firing: bool,
    value: f64,
    threshold: f64,
}

/// Evaluates `settings` every `interval_seconds`, forever.
pub async fn run(
    settings: AlertSettings,
    metrics: Metrics,
    sender: Option<AlertSender>,
    clock: Arc<dyn Clock>,
    service: String,
) {
    let mut evaluator = Evaluator::new(metrics, &settings);
    let mut tick = tokio::time::interval(Duration::from_secs(settings.interval_seconds.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let transitions = evaluator.evaluate(Instant::now());
        for t in transitions {
            let state = if t.firing { "firing" } else { "resolved" };
            tracing::warn!(target: "uap::alert", alert = t.name, state, value = t.value, threshold = t.threshold, "alert");
            let Some(sender) = &sender else { continue };
            let now = clock.now();
            let body = json!({
                "alert": t.name,
                "state": state,
                "value": t.value,
                "threshold": t.threshold,
                "service": service,
                "timestamp": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            });
            if let Err(err) = sender.send(&body, now.unix_timestamp()).await {
                tracing::warn!(target: "uap::alert", alert = t.name, error = %err, "alert webhook delivery failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::config::AlertSettings;

    use super::{Evaluator, Transition};
    use crate::metrics::Metrics;

    fn value(values: &[(&'static str, Option<f64>)], name: &str) -> Option<f64> {
        values.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v)
    }

    #[test]
    fn measures_come_from_the_metrics_of_the_interval_and_the_minute() {
        let metrics = Metrics::new().unwrap();
        let settings = AlertSettings { failed_auth_per_minute: Some(1), error_rate: Some(0.1), ..Default::default() };
        let mut evaluator = Evaluator::new(metrics.clone(), &settings);
        assert_eq!(evaluator.rules.len(), 2);
        assert_eq!(metrics.alert_active.with_label_values(&["error_rate"]).get(), 0);
        let start = Instant::now();

        // 19 fast requests and one slow 5xx.
        for _ in 0..19 {
            metrics.record_http("GET", "/api/v1/auth/validate", "200", 0.002);
        }
        metrics.record_http("POST", "/api/v1/auth/authenticate", "503", 0.4);
        metrics.logins.with_label_values(&["failure"]).inc_by(3);
        metrics.active_sessions.set(7);
        let values = evaluator.measure(start);
        assert_eq!(value(&values, "failed_auth_per_minute"), Some(3.0));
        assert_eq!(value(&values, "error_rate"), Some(0.05));
        assert_eq!(value(&values, "p95_latency_ms"), Some(2.5), "19 of 20 within the 2.5 ms bucket");
        assert_eq!(value(&values, "active_sessions"), Some(7.0));

        // The next interval: only slow requests; failures still in the minute.
        metrics.record_http("GET", "/api/v1/auth/validate", "200", 0.3);
        let values = evaluator.measure(start + Duration::from_secs(30));
        assert_eq!(value(&values, "p95_latency_ms"), Some(500.0));
        assert_eq!(value(&values, "error_rate"), Some(0.0));
        assert_eq!(value(&values, "failed_auth_per_minute"), Some(3.0));

        // A minute later the failures have left the window; no requests.
        metrics.logins.with_label_values(&["failure"]).inc();
        let values = evaluator.measure(start + Duration::from_secs(61));
        assert_eq!(value(&values, "failed_auth_per_minute"), Some(1.0));
        assert_eq!(value(&values, "p95_latency_ms"), None);
        let values = evaluator.measure(start + Duration::from_secs(125));
        assert_eq!(value(&values, "failed_auth_per_minute"), Some(0.0));
    }

    #[test]
    fn a_crossing_fires_once_and_the_return_resolves() {
        let metrics = Metrics::new().unwrap();
        let settings = AlertSettings { active_sessions: Some(10), ..Default::default() };
        let mut evaluator = Evaluator::new(metrics.clone(), &settings);
        let gauge = || metrics.alert_active.with_label_values(&["active_sessions"]).get();
        let start = Instant::now();

        metrics.active_sessions.set(10);
        assert_eq!(evaluator.evaluate(start), vec![], "at the threshold: not above");
        metrics.active_sessions.set(11);
        let fired = Transition { name: "active_sessions", firing: true, value: 11.0, threshold: 10.0 };
        assert_eq!(evaluator.evaluate(start + Duration::from_secs(1)), vec![fired]);
        assert_eq!(gauge(), 1);
        metrics.active_sessions.set(12);
        assert_eq!(evaluator.evaluate(start + Duration::from_secs(2)), vec![], "still firing: no new transition");
        metrics.active_sessions.set(3);
        let resolved = Transition { name: "active_sessions", firing: false, value: 3.0, threshold: 10.0 };
        assert_eq!(evaluator.evaluate(start + Duration::from_secs(3)), vec![resolved]);
        assert_eq!(gauge(), 0);
    }
}
