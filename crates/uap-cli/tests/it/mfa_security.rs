//! MFA hardening through the real binary (issue #9, items 8 and 11): the
//! `mfa_token` is opaque, tamper-proof and purpose-bound.

use serde_json::{Value, json};
use uap_domain::mfa::{Totp, TotpSecret};

use crate::support::{Server, TempDir, free_port, uap};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// `bob` (role `user`) and `root` (role `admin`), both with "bob-password";
/// the `mfa` middleware with `required_roles`.
async fn start(required_roles: &str) -> (Server, TempDir) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&host)
        .arg(format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('root', 'root@example.com', '{BOB}', 'admin');"
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"sqlite://{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
             jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nbcrypt_cost = 4\nencryption_key = \"{KEY}\"\n\
             [[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\nrequired_roles = {required_roles}\n",
            host.display(),
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    (Server::start(command, port).await, dir)
}

async fn post(server: &Server, route: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(route)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether `GET /validate` accepts `token` as a session.
async fn validates(server: &Server, token: &str) -> bool {
    let response =
        reqwest::Client::new().get(server.url("/api/v1/auth/validate")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status == 200, body["valid"] == json!(true), "{status} {body}");
    status == 200
}

async fn login(server: &Server, user: &str) -> (u16, Value) {
    post(server, "/api/v1/auth/authenticate", None, json!({"username": user, "password": "bob-password"})).await
}

/// TOTP codes for an enrolled secret against the wall clock (the server's).
struct Codes {
    secret: TotpSecret,
    totp: Totp,
}

impl Codes {
    fn of(enroll: &Value) -> Self {
        let secret = TotpSecret::from_bytes(
            data_encoding::BASE32_NOPAD.decode(enroll["secret"].as_str().unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        Self { secret, totp: Totp::default() }
    }

    /// The code `offset` steps from now.
    #[allow(clippy::disallowed_methods, reason = "codes are computed against the server's wall clock")]
    fn at(&self, offset: i64) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        self.totp.code_at_step(&self.secret, self.totp.step_at(now) + offset)
    }
}

/// Every base64url segment of a token, decoded and joined (a JWT's header
/// and payload included), as text.
fn decoded(token: &str) -> String {
    let bytes: Vec<u8> = token
        .split('.')
        .filter_map(|part| data_encoding::BASE64URL_NOPAD.decode(part.trim_end_matches('=').as_bytes()).ok())
        .flatten()
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Flips one character in the middle of a token.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn the_mfa_token_is_opaque_and_tamper_proof() {
    let (server, _dir) = start("[]").await;
    let (status, session) = login(&server, "bob").await;
    assert_eq!(status, 200);
    let bearer = session["token"].as_str().unwrap().to_owned();
    let (status, enroll) =
        post(&server, "/api/v1/auth/mfa/totp/enroll", Some(&bearer), json!({"password": "bob-password"})).await;
    assert_eq!(status, 200, "{enroll}");
    let codes = Codes::of(&enroll);
    let (status, _) =
        post(&server, "/api/v1/auth/mfa/totp/confirm", Some(&bearer), json!({"code": codes.at(-1)})).await;
    assert_eq!(status, 200);

    let (status, challenge) = login(&server, "bob").await;
    assert_eq!((status, &challenge["mfa_required"]), (401, &json!(true)), "{challenge}");
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    assert_ne!(mfa_token.split('.').count(), 3, "not a JWT: {mfa_token}");
    let readable = decoded(&mfa_token);
    for clear in ["user_data", "roles", "bob@example.com", "\"user\"", "\"bob\""] {
        assert!(!readable.contains(clear), "{clear} is readable in the mfa_token: {readable}");
    }

    // Altered: refused, and the original still completes the login once.
    let server = &server;
    let verify = |token: String, code: String| async move {
        post(server, "/api/v1/auth/mfa/verify", None, json!({"mfa_token": token, "code": code})).await
    };
    let (status, body) = verify(tampered(&mfa_token), codes.at(0)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = verify(mfa_token.clone(), codes.at(0)).await;
    assert_eq!(status, 200, "{body}");
    assert!(validates(server, body["token"].as_str().unwrap()).await, "{body}");
    // Spent: the same ticket with the next code is refused.
    assert_eq!(verify(mfa_token, codes.at(1)).await.0, 401);
}
