//! The bench users: the host table, access tokens, and the many sessions of
//! the RSS row.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::AUTHENTICATE;
use super::hashing::{ARGON2_USER, BCRYPT_USER, FAST_PASSWORD, FAST_USER, Hashes};
use super::http::Client;
use super::report::Sessions;
use super::server::Server;
use super::timing::{USERS_PER_FAMILY, families, user};

/// The name of filler user `n` (1-based).
fn filler_user(n: u64) -> String {
    format!("user{n:07}")
}

/// The host table: the three bench users, a few users per stored family for
/// the refused-login timing (`timing_<family>_<n>`), then `users` filler rows
/// (`user0000001`, …) with the fast user's md5-crypt hash, whose logins
/// create the many sessions of the RSS row.
fn host_db_sql(hashes: &Hashes, users: u64) -> String {
    let quote = |value: &str| format!("'{}'", value.replace('\'', "''"));
    let mut sql = String::from(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT);\nBEGIN;\n",
    );
    let mut rows: Vec<(String, String)> =
        [(ARGON2_USER, &hashes.argon2), (BCRYPT_USER, &hashes.bcrypt), (FAST_USER, &hashes.fast)]
            .into_iter()
            .map(|(user, hash)| (user.to_owned(), hash.clone()))
            .collect();
    for (index, family) in families(hashes).into_iter().enumerate() {
        rows.extend((0..USERS_PER_FAMILY).map(|n| (user(index, n), family.stored.clone())));
    }
    for (user, hash) in rows {
        sql.push_str(&format!(
            "INSERT INTO users (username, email, password) VALUES ({}, {}, {});\n",
            quote(&user),
            quote(&format!("{user}@bench.test")),
            quote(&hash)
        ));
    }
    sql.push_str(&format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {users})\n\
         INSERT INTO users (username, email, password)\n\
         SELECT printf('user%07d', n), printf('user%07d@bench.test', n), {} FROM seq;\nCOMMIT;\n",
        quote(&hashes.fast)
    ));
    sql
}

pub fn create_host_db(path: &Path, hashes: &Hashes, users: u64) -> Result<()> {
    let mut child = Command::new("sqlite3")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run sqlite3")?;
    child.stdin.take().context("no stdin for sqlite3")?.write_all(host_db_sql(hashes, users).as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() || !output.stderr.is_empty() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn fast_login_body() -> String {
    json!({ "username": FAST_USER, "password": FAST_PASSWORD }).to_string()
}

/// `count` access tokens of the fast user (one session each).
pub fn login_tokens(addr: SocketAddr, count: usize) -> Result<Vec<String>> {
    let mut client = Client::connect(addr)?;
    let body = fast_login_body();
    (0..count)
        .map(|_| {
            let response = client.post_json(AUTHENTICATE, &body)?;
            if response.status != 200 {
                bail!("login for a token failed ({}): {}", response.status, response.body);
            }
            let value: serde_json::Value = serde_json::from_str(&response.body)?;
            value["token"].as_str().map(str::to_owned).context("the login answer has no token")
        })
        .collect()
}

/// `count` logins spread over the `users` filler users (one session each
/// while `count` ≤ `users`) on `threads` keep-alive connections, then the
/// server's RSS.
pub fn create_sessions(server: &Server, count: u64, users: u64, threads: usize) -> Result<Sessions> {
    let threads = u64::try_from(threads.max(1))?;
    let users = users.max(1);
    let started = Instant::now();
    let outcomes: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                scope.spawn(move || {
                    let mut client = Client::connect(server.addr())?;
                    let (mut ok, mut failed) = (0, 0);
                    for k in (first..count).step_by(usize::try_from(threads)?) {
                        let body = json!({ "username": filler_user(k % users + 1), "password": FAST_PASSWORD });
                        if client.post_json(AUTHENTICATE, &body.to_string())?.status == 200 {
                            ok += 1;
                        } else {
                            failed += 1;
                        }
                    }
                    Ok((ok, failed))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a login thread panicked"))))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let (mut created, mut errors) = (0, 0);
    for outcome in outcomes {
        let (ok, failed) = outcome?;
        created += ok;
        errors += failed;
    }
    let rss_mb = server.rss_mb()?;
    eprintln!("{created} sessions in {seconds:.1} s ({errors} failed logins), RSS {rss_mb:.1} MB");
    Ok(Sessions { store: "memory", requested: count, users: count.min(users), created, errors, seconds, rss_mb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_table_sql() {
        let hashes = Hashes { argon2: "$argon2id$x".into(), bcrypt: "$2b$10$y".into(), fast: "$1$it's".into() };
        let sql = host_db_sql(&hashes, 5);
        assert!(sql.starts_with("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE"));
        assert!(sql.contains("VALUES ('fast_user', 'fast_user@bench.test', '$1$it''s');"));
        assert!(sql.contains("VALUES ('timing_1_2', 'timing_1_2@bench.test', '$2b$10$y');"));
        assert!(sql.contains("VALUES ('timing_7_0', 'timing_7_0@bench.test', '{ROT13}cynva');"));
        assert!(sql.contains("WHERE n < 5)"));
        assert!(sql.contains("printf('user%07d@bench.test', n), '$1$it''s' FROM seq;"));
        assert_eq!(filler_user(42), "user0000042");
    }
}
