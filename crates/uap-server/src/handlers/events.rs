//! `GET /api/v1/auth/events`: the revocation feed for SDKs that check tokens
//! in-process (see [`crate::events`] for the frames).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::admin;
use crate::api::{ApiError, ErrorShape};
use crate::state::AppState;

/// The longest `Last-Event-ID` read (an id is `<instance>.<sequence>`).
const MAX_LAST_EVENT_ID: usize = 128;

/// Server-sent events: `session_ended`, `user_sessions_ended`,
/// `session_refreshed`, `keys_rotated` (numbered; resume with
/// `Last-Event-ID`), `ready`, `heartbeat` every 15 s and `resync`.
#[utoipa::path(
    get,
    path = "/api/v1/auth/events",
    tag = "auth",
    params(
        ("X-API-Key" = String, Header, description = "`sdk_api_key`"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (else `resync` is sent)"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `event: <type>` and `data: <JSON>` per event", content_type = "text/event-stream"),
        (status = 401, description = "Missing or wrong `X-API-Key`"),
        (status = 404, description = "No `sdk_api_key` is configured"),
    )
)]
#[get("/events")]
pub async fn events(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(expected) = state.runtime().sdk_key else {
        return Err(ApiError::NotFound("The revocation feed is disabled (no sdk_api_key is configured)".into()));
    };
    let presented = request.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim);
    if !presented.is_some_and(|key| admin::same_key(&expected, key)) {
        return Err(ApiError::Unauthorized { shape: ErrorShape::Plain, message: "Missing or invalid SDK API key" });
    }
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_LAST_EVENT_ID);
    let hub = state.shared.events.clone();
    let subscription = hub.subscribe(last_event_id);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx: pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(subscription.live(hub, crate::events::HEARTBEAT)))
}
