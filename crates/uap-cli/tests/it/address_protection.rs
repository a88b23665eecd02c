//! Issue #9 items 3, 4, 5, 7 and 9 through the real binary: the client
//! address behind a trusted proxy (raw header bytes, ports, `Forwarded:`),
//! the per-address failure budget and hashing fairness, the CAPTCHA's own
//! failure count, per-user-id budgets on a case/accent-insensitive host, and
//! what a success resets.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Server, TempDir, free_port, uap};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

/// A server over a SQLite host with `bob` and `eve` (both "bob-password").
async fn start(extra: &str) -> (Server, TempDir) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&host)
        .arg(format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('eve', 'eve@example.com', '{BOB}', 'user');"
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let url = format!("sqlite://{}", host.display());
    let server = serve(&dir, &url, extra).await;
    (server, dir)
}

async fn serve(dir: &TempDir, host_url: &str, extra: &str) -> Server {
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"{host_url}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
             jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nbcrypt_cost = 4\n{extra}",
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    Server::start(command, port).await
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
