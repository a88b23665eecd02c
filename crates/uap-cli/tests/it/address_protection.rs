//! Issue #9 items 3, 4, 5, 7 and 9 through the real binary: the client
//! address behind a trusted proxy (raw header bytes, ports, `Forwarded:`),
//! the per-address failure budget and hashing fairness, the CAPTCHA's own
//! failure count, per-user-id budgets on a case/accent-insensitive host, and
//! what a success resets.

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uap_adapters_sql::testing::TestDb;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Server, TempDir, serve_in, serve_sqlite};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

/// A server over a SQLite host with `bob` and `eve` (both "bob-password").
async fn start(extra: &str) -> (Server, TempDir) {
    serve_sqlite(
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('eve', 'eve@example.com', '{BOB}', 'user');"
        ),
        &format!("bcrypt_cost = 4\n{extra}"),
    )
    .await
}

async fn serve(dir: &TempDir, host_url: &str, extra: &str) -> Server {
    serve_in(dir, host_url, &format!("bcrypt_cost = 4\n{extra}")).await
}

/// A login with the given extra header lines, sent as raw bytes; the status.
async fn raw_login(server: &Server, headers: &[&[u8]], body: &Value) -> u16 {
    let body = body.to_string();
    let mut request = format!(
        "POST /api/v1/auth/authenticate HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        server.port,
        body.len()
    )
    .into_bytes();
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let head = String::from_utf8_lossy(&response);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {head}"))
}

/// A login through reqwest; status, body and `Retry-After`.
async fn login(server: &Server, body: &Value, forwarded_for: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(body);
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

fn bob_ok() -> Value {
    json!({"username": "bob", "password": "bob-password"})
}

// Item 4 -------------------------------------------------------------------

#[tokio::test]
async fn forwarded_hops_are_parsed_from_raw_bytes_and_never_fall_back_to_the_proxy() {
    let extra = "trusted_proxies = [\"127.0.0.1/32\"]\n\
                 [[middleware_stack]]\nname = \"ip_rules\"\nenabled = true\ndeny = [\"198.51.100.0/24\", \"2001:db8::/32\"]\n";
    let (server, _dir) = start(extra).await;
    let ok = bob_ok();
    // The control: an allowed client behind the proxy logs in, with or without a port.
    assert_eq!(raw_login(&server, &[b"X-Forwarded-For: 192.0.2.1"], &ok).await, 200);
    assert_eq!(raw_login(&server, &[b"X-Forwarded-For: 192.0.2.1:5555"], &ok).await, 200);
    assert_eq!(raw_login(&server, &[], &ok).await, 200, "no header: the proxy itself");
    // Each of these used to resolve to the proxy (127.0.0.1) and pass the deny list.
    let denied: &[&[u8]] = &[
        b"X-Forwarded-For: \xff, 198.51.100.7",
        b"X-Forwarded-For: 198.51.100.7:4711",
        b"X-Forwarded-For: [2001:db8::7]:4711",
        b"X-Forwarded-For: 198.51.100.7, \xff",
        b"X-Forwarded-For: 198.51.100.7, garbage",
        b"Forwarded: for=\"[2001:db8::7]:4711\";proto=https",
        b"Forwarded: for=198.51.100.7",
        b"Forwarded: for=unknown",
    ];
    for header in denied {
        let status = raw_login(&server, &[header], &ok).await;
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(header));
    }
    // `Forwarded` wins over `X-Forwarded-For` when both are present.
    let both: &[&[u8]] = &[b"X-Forwarded-For: 192.0.2.1", b"Forwarded: for=198.51.100.7"];
    assert_eq!(raw_login(&server, both, &ok).await, 403);
    assert!(server.terminate().success());
}

// Item 3 -------------------------------------------------------------------

#[tokio::test]
async fn a_flood_from_one_address_does_not_starve_another() {
    // Default hashing (argon2id, 19 MiB): every unknown username costs a
    // dummy hash; 200 at once used to fill the whole hashing queue.
    let (server, _dir) = start("trusted_proxies = [\"127.0.0.1/32\"]\n").await;
    let url = server.url("/api/v1/auth/authenticate");
    let flood = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let requests = (0..200).map(|n| {
            let request = client
                .post(&url)
                .header("X-Forwarded-For", "203.0.113.66")
                .json(&json!({"username": format!("nobody-{n}"), "password": "x"}));
            async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        });
        join_all(requests).await
    });
    let mut owner = Vec::new();
    while !flood.is_finished() || owner.len() < 3 {
        owner.push(login(&server, &bob_ok(), Some("198.51.100.20")).await.0);
    }
    let flood = flood.await.unwrap();
    assert!(owner.iter().all(|s| *s == 200), "the other address got {owner:?}");
    assert!(flood.iter().all(|s| [401, 429, 503].contains(s)), "the flood is refused, shed or limited: {flood:?}");
    assert!(flood.contains(&503), "one address cannot have 200 hashes queued at once");
    assert!(server.terminate().success());
}

#[tokio::test]
async fn failures_from_one_address_are_budgeted_across_identifiers() {
    let extra = "trusted_proxies = [\"127.0.0.1/32\"]\naddress_max_failures = 3\n";
    let (server, _dir) = start(extra).await;
    for n in 0..3 {
        let body = json!({"username": format!("ghost{n}"), "password": "x"});
        assert_eq!(login(&server, &body, Some("203.0.113.66")).await.0, 401);
    }
    let (status, body, retry_after) = login(&server, &bob_ok(), Some("203.0.113.66")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("900"));
    assert_eq!(login(&server, &bob_ok(), Some("198.51.100.20")).await.0, 200, "another address");
    // IPv6: one /64 is one address.
    for n in 0..3 {
        let body = json!({"username": format!("ghost{n}"), "password": "x"});
        assert_eq!(login(&server, &body, Some(&format!("2001:db8:0:1::{}", n + 1))).await.0, 401);
    }
    assert_eq!(login(&server, &bob_ok(), Some("2001:db8:0:1::99")).await.0, 429);
    assert_eq!(login(&server, &bob_ok(), Some("2001:db8:0:2::1")).await.0, 200);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn the_address_protections_can_be_turned_off() {
    // For deployments where one address speaks for many users and cannot
    // forward the client's.
    let extra = "address_max_failures = 0\naddress_hash_concurrency = 0\n";
    let (server, _dir) = start(extra).await;
    for n in 0..6 {
        let body = json!({"username": format!("ghost{n}"), "password": "x"});
        assert_eq!(login(&server, &body, None).await.0, 401);
    }
    assert_eq!(login(&server, &bob_ok(), None).await.0, 200);
    assert!(server.terminate().success());
}

// Item 9 -------------------------------------------------------------------

#[tokio::test]
async fn with_key_ip_the_attackers_own_login_does_not_reset_the_address() {
    let extra = "trusted_proxies = [\"127.0.0.1/32\"]\n\
                 [[middleware_stack]]\nname = \"rate_limit\"\nenabled = true\nmax_attempts = 3\nkey = \"ip\"\n";
    let (server, _dir) = start(extra).await;
    let attacker = Some("203.0.113.66");
    let guess = json!({"username": "bob", "password": "guess"});
    assert_eq!(login(&server, &guess, attacker).await.0, 401);
    assert_eq!(login(&server, &guess, attacker).await.0, 401);
    let own = json!({"username": "eve", "password": "bob-password"});
    assert_eq!(login(&server, &own, attacker).await.0, 200, "the attacker's own account");
    assert_eq!(login(&server, &guess, attacker).await.0, 429, "the address keeps its count");
    assert!(server.terminate().success());
}

// Item 5 -------------------------------------------------------------------

async fn captcha_provider() -> MockServer {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .and(body_string_contains("response=human"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .mount(&provider)
        .await;
    provider
}

#[tokio::test]
async fn captcha_after_failures_counts_on_its_own() {
    let provider = captcha_provider().await;
    let captcha = |key: &str| {
        format!(
            "[[middleware_stack]]\nname = \"captcha\"\nenabled = true\nprovider = \"turnstile\"\n\
             secret_key = \"s\"\nafter_failures = 2\nkey = \"{key}\"\nverify_url = \"{}/siteverify\"\n",
            provider.uri()
        )
    };
    let with = |user: &str, password: &str, token: Option<&str>| json!({"username": user, "password": password, "captcha_token": token});

    // No rate limiter at all.
    let (server, _dir) = start(&format!("rate_limit_enabled = false\n{}", captcha("ip_identifier"))).await;
    assert_eq!(login(&server, &with("bob", "x", None), None).await.0, 401);
    assert_eq!(login(&server, &with("bob", "x", None), None).await.0, 401);
    let (status, body, _) = login(&server, &with("bob", "bob-password", None), None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("CAPTCHA required")), "{body}");
    assert_eq!(login(&server, &with("bob", "bob-password", Some("robot")), None).await.0, 403);
    assert_eq!(login(&server, &with("bob", "bob-password", Some("human")), None).await.0, 200);
    assert_eq!(login(&server, &with("bob", "bob-password", None), None).await.0, 200, "a success resets it");
    assert!(server.terminate().success());

    // The limiter counts per address and identifier, the CAPTCHA per address.
    let (server, _dir) = start(&captcha("ip")).await;
    assert_eq!(login(&server, &with("bob", "x", None), None).await.0, 401);
    assert_eq!(login(&server, &with("eve", "x", None), None).await.0, 401);
    assert_eq!(login(&server, &with("root", "bob-password", None), None).await.0, 403, "two failures from here");
    assert!(server.terminate().success());
}

// Item 7 -------------------------------------------------------------------

#[tokio::test]
async fn accent_and_case_variants_on_mariadb_share_one_budget() {
    let Some(host) = TestDb::mysql().await else {
        eprintln!("skipping accent_and_case_variants_on_mariadb_share_one_budget: UAP_TEST_MYSQL_URL not set");
        return;
    };
    host.execute(
        "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, \
         username VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci UNIQUE, password VARCHAR(255))",
    )
    .await;
    host.execute(&format!("INSERT INTO users (username, password) VALUES ('alice', '{BOB}')")).await;
    let dir = TempDir::new();
    let server = serve(&dir, &host.url, "trusted_proxies = [\"127.0.0.1/32\"]\nmax_attempts = 3\n").await;
    let variants = [
        "alice",
        "Alice",
        "ALICE",
        "aLiCe",
        "ÀLÎÇË",
        "àlîçë",
        "Álice",
        "alïce",
        "ålicè",
        "ÂLICÉ",
        "aLÍçe",
        "ALÏCE",
        "âlice",
        "alicê",
        "ÄLICE",
        "alÌce",
    ];
    let from = Some("203.0.113.66");
    let mut statuses = Vec::new();
    for variant in variants {
        for _ in 0..3 {
            statuses.push(login(&server, &json!({"username": variant, "password": "guess"}), from).await.0);
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "guesses that reached the hash: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 45);
    // The real password under yet another spelling is refused too.
    let (status, _, retry_after) =
        login(&server, &json!({"username": "ALIcÉ", "password": "bob-password"}), from).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    // The owner, from her own address, is not locked out.
    let owner = login(&server, &json!({"username": "alice", "password": "bob-password"}), Some("198.51.100.20")).await;
    assert_eq!(owner.0, 200);
    assert!(server.terminate().success());
    host.cleanup().await;
}
