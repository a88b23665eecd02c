//! A fake UAP for local mode (JWKS, `/validate` and an endless SSE feed the
//! test writes into), and Ed25519 session tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

pub const SDK_KEY: &str = "sdk-key-for-tests";

/// An Ed25519 signing key with its JWK.
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let public = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap().public_key().as_ref().to_vec();
        Self { kid: kid.into(), pkcs8: pkcs8.as_ref().to_vec(), public }
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&self.public), "alg": "EdDSA", "use": "sig", "kid": self.kid})
    }

    /// A UAP-shaped session token.
    pub fn token(&self, session_id: &str, user_id: &str, iat: i64, exp: i64) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let claims = json!({"iss": "UAP", "sub": user_id, "session_id": session_id, "user_id": user_id,
                            "device_id": null, "exp": exp, "iat": iat});
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
    }
}

#[allow(clippy::disallowed_methods, reason = "tokens are judged against the wall clock")]
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// What the fake UAP answers and what it saw.
#[derive(Default)]
pub struct Fake {
    pub jwks: Mutex<Value>,
    /// token → the `/validate` body for it (others get 401).
    pub valid: Mutex<HashMap<String, Value>>,
    pub validate_down: AtomicBool,
    pub feed_down: AtomicBool,
    pub validate_calls: AtomicUsize,
    pub jwks_calls: AtomicUsize,
    /// The `Last-Event-ID` of each feed connection, in order.
    pub feed_connections: Mutex<Vec<Option<String>>>,
}

pub struct FakeUap {
    pub url: String,
    pub fake: Arc<Fake>,
    feed: broadcast::Sender<Option<String>>,
}

impl FakeUap {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake::default());
        *fake.jwks.lock().unwrap() = json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()});
        let (feed, _) = broadcast::channel(64);
        let (state, sender) = (Arc::clone(&fake), feed.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, Arc::clone(&state), sender.subscribe()));
            }
        });
        Self { url, fake, feed }
    }

    /// Sends one SSE event to every connected feed client.
    pub fn send(&self, event: &str, data: &Value, id: Option<&str>) {
        let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
        let _ = self.feed.send(Some(format!("{id}event: {event}\ndata: {data}\n\n")));
    }

    /// Closes every feed connection.
    pub fn drop_connections(&self) {
        let _ = self.feed.send(None);
    }

    /// Registers `token` as valid for `/validate`.
    pub fn accept(&self, token: &str, session_id: &str, user_id: &str, roles: &[&str]) {
        self.fake.valid.lock().unwrap().insert(
            token.to_owned(),
            json!({"valid": true, "session_id": session_id, "user_id": user_id,
                   "user_data": {"id": user_id, "roles": roles}, "expires_at": "2099-01-01T00:00:00Z"}),
        );
    }

    pub fn validate_calls(&self) -> usize {
        self.fake.validate_calls.load(Ordering::SeqCst)
    }
}

/// Waits until `condition` holds, at most `limit`.
pub async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &Value) {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
}

async fn serve(mut stream: TcpStream, fake: Arc<Fake>, mut feed: broadcast::Receiver<Option<String>>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).to_string();
    let mut lines = text.split("\r\n");
    let path = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    match path.as_str() {
        "/.well-known/jwks.json" => {
            fake.jwks_calls.fetch_add(1, Ordering::SeqCst);
            let jwks = fake.jwks.lock().unwrap().clone();
            respond(&mut stream, "200 OK", &jwks).await;
        }
        "/api/v1/auth/validate" => {
            fake.validate_calls.fetch_add(1, Ordering::SeqCst);
            if fake.validate_down.load(Ordering::SeqCst) {
                return respond(&mut stream, "503 Service Unavailable", &json!({"error": "session store down"})).await;
            }
            let token = headers.get("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
            let answer = fake.valid.lock().unwrap().get(token).cloned();
            match answer {
                Some(body) => respond(&mut stream, "200 OK", &body).await,
                None => respond(&mut stream, "401 Unauthorized", &json!({"valid": false})).await,
            }
        }
        "/api/v1/auth/events" => {
            if headers.get("x-api-key").map(String::as_str) != Some(SDK_KEY) {
                return respond(&mut stream, "401 Unauthorized", &json!({"error": "bad key"})).await;
            }
            if fake.feed_down.load(Ordering::SeqCst) {
                return respond(&mut stream, "503 Service Unavailable", &json!({"error": "down"})).await;
            }
            fake.feed_connections.lock().unwrap().push(headers.get("last-event-id").cloned());
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
            let ready = ": hello\n\nevent: ready\ndata: {\"instance\":\"fake\",\"heartbeat_seconds\":15}\n\n";
            if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(ready.as_bytes()).await.is_err() {
                return;
            }
            while let Ok(Some(event)) = feed.recv().await {
                if stream.write_all(event.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        _ => respond(&mut stream, "404 Not Found", &json!({"error": "no such route"})).await,
    }
}
