//! The consumer of `GET /api/v1/auth/events`: connect, apply events,
//! reconnect with `Last-Event-ID` and backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use secrecy::ExposeSecret as _;

use super::sse::SseParser;
use super::state::FeedEvent;
use super::{LocalConfig, Shared};
use crate::client::UapClient;

const MIN_BACKOFF: Duration = Duration::from_millis(200);

/// Runs until aborted (when the last validator is dropped).
pub(crate) async fn run(client: UapClient, shared: Arc<Shared>, config: LocalConfig) {
    let settings = client.settings();
    // No whole-request timeout: the stream is endless; silence is detected below.
    let http = match reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .user_agent(settings.user_agent.clone())
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the revocation feed's HTTP client: local checks stay off");
            return;
        }
    };
    let url = format!("{}/api/v1/auth/events", settings.base_url);
    let mut backoff = MIN_BACKOFF;
    loop {
        let became_ready = connect_once(&http, &url, &client, &shared, &config).await;
        shared.state().connection_lost();
        if became_ready {
            backoff = MIN_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.max_backoff.max(MIN_BACKOFF));
    }
}

/// One connection, until it ends; whether it reached `ready`.
async fn connect_once(
    http: &reqwest::Client,
    url: &str,
    client: &UapClient,
    shared: &Shared,
    config: &LocalConfig,
) -> bool {
    // Keys may have rotated while we were away.
    if let Err(err) = shared.keys.refetch(client).await {
        tracing::warn!(error = %err, "cannot fetch the JWKS; validating remotely until it can be fetched");
        return false;
    }
    let last_event_id = shared.state().last_event_id.clone();
    let fresh_connection = last_event_id.is_none();
    let mut request = http
        .get(url)
        .header("X-API-Key", config.sdk_api_key.expose_secret())
        .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(id) = &last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = match tokio::time::timeout(client.settings().timeout, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "revocation feed unreachable; validating remotely");
            return false;
        }
        Err(_) => {
            tracing::warn!("revocation feed did not answer in time; validating remotely");
            return false;
        }
    };
    match response.status().as_u16() {
        200 => {}
        401 => {
            tracing::error!("revocation feed refused the SDK key (401): check sdk_api_key; validating remotely");
            return false;
        }
        404 => {
            tracing::error!("revocation feed disabled on UAP (404: no sdk_api_key configured); validating remotely");
            return false;
        }
        status => {
            tracing::warn!(status, "revocation feed answered an error; validating remotely");
            return false;
        }
    }
    let mut stream = response.bytes_stream();
    let mut parser = SseParser::default();
    let mut ready = false;
    loop {
        let silence = shared.state().silence_limit();
        let chunk = match tokio::time::timeout(silence, stream.next()).await {
            Err(_) => {
                tracing::warn!(seconds = silence.as_secs(), "revocation feed silent; reconnecting");
                return ready;
            }
            Ok(None) => {
                tracing::info!("revocation feed closed; reconnecting");
                return ready;
            }
            Ok(Some(Err(err))) => {
                tracing::warn!(error = %err, "revocation feed broke; reconnecting");
                return ready;
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        shared.state().touch(Instant::now());
        let events = match parser.push(&chunk) {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "revocation feed sent garbage; reconnecting");
                return ready;
            }
        };
        for event in events {
            let refetch_keys = apply(shared, &event, fresh_connection, &mut ready);
            if refetch_keys && let Err(err) = shared.keys.refetch(client).await {
                // Unknown kids then go to UAP (see Local::verify); old kids stay until the next fetch.
                tracing::warn!(error = %err, "cannot refetch the JWKS after a key rotation");
            }
        }
    }
}

/// Applies one SSE event to the state; whether the keys must be refetched.
fn apply(shared: &Shared, event: &super::sse::SseEvent, fresh_connection: bool, ready: &mut bool) -> bool {
    let mut state = shared.state();
    if let Some(id) = &event.id {
        state.last_event_id = Some(id.clone());
    }
    match FeedEvent::parse(event) {
        Ok(decoded) => {
            state.apply(&decoded, fresh_connection, Instant::now());
            *ready |= matches!(decoded, FeedEvent::Ready { .. });
            matches!(decoded, FeedEvent::KeysRotated | FeedEvent::Resync)
        }
        Err(message) => {
            // A revocation we cannot read: forget every cached validation rather than miss it.
            tracing::warn!(%message, "unreadable revocation event; clearing the local cache");
            state.clear_cache();
            false
        }
    }
}
