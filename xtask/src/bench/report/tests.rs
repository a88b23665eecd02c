//! Unit tests of the bench report: parsing, ratios, targets, rendering.

use super::*;

fn load(per_second: f64, p50_ms: f64, p99_ms: f64) -> Load {
    Load {
        connections: 64,
        requests: (per_second * 10.0) as u64,
        seconds: 10.0,
        per_second,
        p50_ms,
        p90_ms: p50_ms * 1.5,
        p99_ms,
        max_ms: p99_ms * 3.0,
        errors: 0,
    }
}

fn raw(algorithm: &str, per_second: f64) -> RawRate {
    RawRate {
        algorithm: algorithm.into(),
        threads: 2,
        verifies: (per_second * 10.0) as u64,
        seconds: 10.0,
        per_second,
        parts: vec![per_second * 1.02, per_second * 0.98],
    }
}

fn timing(family: &str, ratio: f64) -> FamilyTiming {
    FamilyTiming {
        family: family.into(),
        requests: 60,
        wrong_p50_ms: 80.0,
        unknown_p50_ms: 80.0 * ratio,
        ratio,
        slice_min: ratio - 0.05,
        slice_max: ratio + 0.05,
        slices: 20,
        errors: 0,
    }
}

/// A run that meets every target.
fn passing() -> Results {
    Results {
        machine: Machine {
            cpu: "AMD EPYC".into(),
            cores: 2,
            memory_gib: 23.5,
            kernel: "6.8.0".into(),
            load_before: "0.10 0.20 0.30".into(),
            load_after: "1.90 1.20 0.80".into(),
        },
        run: RunInfo {
            mode: "full",
            scenario_seconds: 15,
            wrk_threads: 1,
            connections: 64,
            login_connections: 4,
            batch_connections: 16,
            host_users: 100_000,
            argon2: "m=19456 t=2 p=1".into(),
            commit: "abc1234".into(),
            unix_time: 1_800_000_000,
        },
        trivial: load(50_000.0, 1.0, 3.0),
        validate_embedded: load(35_000.0, 1.5, 5.0),
        validate_memory: load(40_000.0, 1.3, 4.0),
        validate_redis: Outcome::Measured(load(25_000.0, 2.0, 5.5)),
        batch: Batch { tokens_per_call: 100, load: load(900.0, 15.0, 40.0), tokens_per_second: 90_000.0 },
        raw_argon2: raw("argon2id", 80.0),
        login_argon2: Load { connections: 4, ..load(76.0, 50.0, 70.0) },
        raw_bcrypt: raw("bcrypt", 30.0),
        login_bcrypt: Load { connections: 4, ..load(29.0, 130.0, 180.0) },
        unknown_user: Load { connections: 4, ..load(75.0, 51.0, 70.0) },
        wrong_password: Load { connections: 4, ..load(76.0, 50.0, 69.0) },
        refusal_timing: vec![timing("md5_crypt", 1.0), timing("bcrypt cost 10", 0.97)],
        idle_rss_embedded_mb: 14.2,
        idle_rss_memory_mb: 12.0,
        rss_after_logins_mb: 150.0,
        sessions: Sessions {
            store: "memory",
            requested: 100_000,
            users: 100_000,
            created: 100_000,
            errors: 0,
            seconds: 31.4,
            rss_mb: 96.3,
        },
        ready_embedded_ms: 85.0,
        ready_memory_ms: 40.0,
    }
}

fn verdict_of(checks: &[Check], target_part: &str) -> Verdict {
    checks
        .iter()
        .find(|c| c.target.contains(target_part))
        .unwrap_or_else(|| panic!("no check {target_part:?} in {checks:#?}"))
        .verdict
}

#[test]
fn a_run_meeting_every_target_passes_every_check() {
    let checks = checks(&passing());
    assert_eq!(checks.len(), 13);
    assert!(checks.iter().all(|c| c.verdict == Verdict::Pass), "{checks:#?}");
}

#[test]
fn each_target_fails_on_its_own_figure() {
    let mut r = passing();
    r.validate_embedded.per_second = 29_000.0; // 0.58× trivial
    assert_eq!(verdict_of(&checks(&r), "validate (embedded) ≥"), Verdict::Fail);

    let mut r = passing();
    r.validate_memory.p99_ms = 6.1; // > 2 × 3.0
    let c = checks(&r);
    assert_eq!(verdict_of(&c, "validate (memory) p99"), Verdict::Fail);
    assert_eq!(verdict_of(&c, "validate (embedded) p99"), Verdict::Pass);

    let mut r = passing();
    r.login_argon2.per_second = 71.0; // 0.89× raw
    assert_eq!(verdict_of(&checks(&r), "login argon2id"), Verdict::Fail);

    // The 4-connection halves carry no target any more: the per-family rows do.
    let mut r = passing();
    r.unknown_user.p50_ms = 56.0; // 1.12× wrong password
    assert!(checks(&r).iter().all(|c| c.verdict == Verdict::Pass));

    let mut r = passing();
    r.refusal_timing[1] = timing("bcrypt cost 10", 0.61);
    let c = checks(&r);
    assert_eq!(verdict_of(&c, "refused login timing (bcrypt cost 10)"), Verdict::Fail);
    assert_eq!(verdict_of(&c, "refused login timing (md5_crypt)"), Verdict::Pass);
    r.refusal_timing[1] = FamilyTiming { errors: 3, ..timing("bcrypt cost 10", 1.0) };
    assert_eq!(verdict_of(&checks(&r), "refused login timing (bcrypt cost 10)"), Verdict::Fail);

    let mut r = passing();
    r.idle_rss_embedded_mb = 30.5;
    r.sessions.rss_mb = 151.0;
    r.ready_memory_ms = 201.0;
    let c = checks(&r);
    assert_eq!(verdict_of(&c, "idle RSS (embedded"), Verdict::Fail);
    assert_eq!(verdict_of(&c, "idle RSS (memory"), Verdict::Pass);
    assert_eq!(verdict_of(&c, "sessions"), Verdict::Fail);
    assert_eq!(verdict_of(&c, "ready ≤ 200 ms (memory"), Verdict::Fail);
    assert_eq!(verdict_of(&c, "ready ≤ 200 ms (embedded"), Verdict::Pass);
}

#[test]
fn a_disturbed_raw_rate_is_flagged_in_the_row_and_the_check() {
    let mut r = passing();
    r.raw_argon2.parts = vec![117.0, 72.2];
    let rows = rows(&r);
    assert!(rows[5].notes.ends_with("⚠ unstable: other load on the machine"), "{}", rows[5].notes);
    let c = checks(&r);
    let login = c.iter().find(|c| c.target.starts_with("login argon2id")).unwrap();
    assert_eq!(login.verdict, Verdict::Pass);
    assert!(login.measured.ends_with("⚠ raw rate moved 117.0 → 72.2 /s during the run"), "{}", login.measured);
}

#[test]
fn redis_not_available_is_skipped_not_failed() {
    let mut r = passing();
    r.validate_redis = Outcome::NotAvailable("no Redis at 127.0.0.1:6379".into());
    let c = checks(&r);
    assert_eq!(verdict_of(&c, "validate (Redis) ≥"), Verdict::Skipped);
    assert_eq!(verdict_of(&c, "validate (Redis) p99"), Verdict::Skipped);
    assert!(c.iter().all(|c| c.verdict != Verdict::Fail));
}

#[test]
fn redis_below_its_ratio_fails() {
    let mut r = passing();
    r.validate_redis = Outcome::Measured(load(19_000.0, 2.0, 5.0)); // 0.38×
    assert_eq!(verdict_of(&checks(&r), "validate (Redis) ≥"), Verdict::Fail);
}

#[test]
fn errors_fail_the_targets_that_use_the_scenario() {
    let mut r = passing();
    r.trivial.errors = 3;
    let c = checks(&r);
    assert_eq!(verdict_of(&c, "validate (embedded) ≥"), Verdict::Fail);
    assert!(
        c.iter().find(|c| c.target.contains("validate (embedded) ≥")).unwrap().measured.contains("3 errors in trivial")
    );
    assert_eq!(verdict_of(&c, "login argon2id"), Verdict::Pass);

    let mut r = passing();
    r.wrong_password.errors = 1;
    assert!(rows(&r)[10].notes.starts_with("⚠ 1 errors of"), "{}", rows(&r)[10].notes);

    let mut r = passing();
    r.sessions.created = 99_990;
    r.sessions.errors = 10;
    assert_eq!(verdict_of(&checks(&r), "sessions"), Verdict::Fail);
}

#[test]
fn the_table_has_a_row_per_figure_in_the_issues_order() {
    let rows = rows(&passing());
    let scenarios: Vec<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
    assert_eq!(rows.len(), 19, "{scenarios:#?}");
    assert!(scenarios[0].starts_with("trivial"));
    assert!(scenarios[1].contains("embedded"));
    assert!(scenarios[4].starts_with("batch validate, 100 tokens"));
    assert_eq!(rows[0].throughput, "50,000 req/s");
    assert_eq!(rows[1].ratio, "0.70× trivial");
    assert_eq!(rows[4].notes, "90,000 tokens/s (embedded store)");
    assert_eq!(rows[5].throughput, "80.0 verifies/s");
    assert_eq!(rows[5].notes, "the login limit; 81.6 / 78.4 verifies/s before / after the logins");
    assert_eq!(rows[6].ratio, "0.95× raw");
    assert_eq!(rows[10].ratio, "unknown/wrong p50 = 1.02");
    assert_eq!(rows[12].scenario, "refused login, bcrypt cost 10: wrong password vs unknown user, 1 conn");
    assert_eq!(rows[12].throughput, "60 + 60 requests");
    assert_eq!(rows[12].ratio, "unknown/wrong p50 = 0.97");
    assert_eq!(rows[12].notes, "p50 80.00 ms wrong / 77.60 ms unknown; per-slice ratio 0.92–1.02 over 20 slices");
    assert_eq!(rows[15].throughput, "150.0 MB");
    assert_eq!(rows[16].scenario, "RSS after 100,000 sessions created, memory store");
    assert_eq!(rows[16].throughput, "96.3 MB");
    assert_eq!(rows[16].notes, "100,000 logins of 100,000 distinct users (md5_crypt) in 31.4 s");
}

#[test]
fn rows_flag_errors_and_unavailable_stores() {
    let mut r = passing();
    r.validate_embedded.errors = 12;
    r.validate_redis = Outcome::NotAvailable("session_store: not in this build".into());
    let rows = rows(&r);
    assert!(rows[1].notes.starts_with("⚠ 12 errors of 350,000 requests"), "{}", rows[1].notes);
    assert_eq!(rows[3].throughput, "not available");
    assert_eq!(rows[3].notes, "session_store: not in this build");
}

#[test]
fn renders_markdown() {
    let r = passing();
    let mut r2 = r.clone();
    r2.validate_redis = Outcome::NotAvailable("a | b\nc".into());
    let mut out = Vec::new();
    render(&r2, &checks(&r2), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("Machine: AMD EPYC, 2 cores, 23.5 GiB RAM, Linux 6.8.0; load average 0.10 0.20 0.30 before")
    );
    assert!(text.contains("Run: full (15 s per scenario, wrk with 1 thread(s)), 100,000 host users"));
    assert!(text.contains("| trivial `/health/live`, keep-alive, 64 conn | 50,000 req/s | 1.00 ms | 3.00 ms | — |"));
    assert!(text.contains("| validate, Redis store | not available | — | — | — | a \\| b c |"));
    assert!(text.contains("| validate (Redis) ≥ 0.4× trivial req/s | not available: a \\| b c | skipped |"));
    // Every line of the first table has the same number of unescaped separators.
    let table: Vec<&str> =
        text.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + 19);
    let pipes = |l: &str| l.replace("\\|", "").matches('|').count();
    assert!(table.iter().all(|l| pipes(l) == 7), "{table:#?}");
}

#[test]
fn json_names_every_figure_and_check() {
    let mut r = passing();
    r.validate_redis = Outcome::NotAvailable("no Redis".into());
    let c = checks(&r);
    let value: serde_json::Value = serde_json::from_str(&json(&r, &c).unwrap()).unwrap();
    assert_eq!(value["results"]["trivial"]["per_second"], 50_000.0);
    assert_eq!(value["results"]["validate_redis"]["not_available"], "no Redis");
    assert_eq!(value["results"]["raw_argon2"]["threads"], 2);
    assert_eq!(value["results"]["machine"]["cores"], 2);
    assert_eq!(value["results"]["sessions"]["created"], 100_000);
    assert_eq!(value["checks"].as_array().unwrap().len(), 13);
    assert_eq!(value["results"]["refusal_timing"][0]["family"], "md5_crypt");
    assert_eq!(value["checks"][1]["verdict"], "skipped");
    assert_eq!(value["checks"][0]["verdict"], "pass");
}

#[test]
fn number_formatting() {
    assert_eq!(grouped(0.0), "0");
    assert_eq!(grouped(999.4), "999");
    assert_eq!(grouped(1_000.0), "1,000");
    assert_eq!(grouped(1_234_567.8), "1,234,568");
    assert_eq!(rate(99.94, "req/s"), "99.9 req/s");
    assert_eq!(rate(12_345.6, "req/s"), "12,346 req/s");
    assert_eq!(ms(0.456), "0.46 ms");
    assert_eq!(ms(123.4), "123 ms");
    assert!(ratio(1.0, 0.0).abs() < f64::EPSILON);
}
