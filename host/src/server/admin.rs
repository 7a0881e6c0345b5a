//! The admin API: calls, hang-up, live events. Every route takes
//! `Authorization: Bearer <admin token>`: 401 without one, 403 with a wrong one.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{
        sse::{Event as SseEvent, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Json,
};
use futures_util::Stream;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio_stream::{wrappers::BroadcastStream, StreamExt as _};

use super::{http::error_response, AppState};

/// Checks the bearer token in constant time against every configured token.
pub async fn require_admin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented.filter(|t| !t.is_empty()) else {
        tracing::warn!(path = %req.uri().path(), "Admin request without a bearer token.");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "admin token required: Authorization: Bearer <token>\n",
        )
            .into_response();
    };
    // Compare against all tokens without stopping early.
    let mut ok = subtle::Choice::from(0);
    for token in &state.admin_tokens {
        ok |= token.as_bytes().ct_eq(presented.as_bytes());
    }
    if !bool::from(ok) {
        tracing::warn!(path = %req.uri().path(), "Admin request with a wrong token.");
        return error_response(StatusCode::FORBIDDEN, "forbidden: wrong admin token");
    }
    next.run(req).await
}

/// `GET /api/calls`: live calls and recently ended ones, with totals.
pub async fn list_calls(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let live: Vec<_> = state.sessions.live().iter().map(|s| s.view()).collect();
    let ended: Vec<_> = state
        .sessions
        .ended()
        .iter()
        .rev()
        .map(|s| s.view())
        .collect();
    Json(json!({
        "active": live.len(),
        "max_calls": state.loaded.config.limits.max_calls,
        "stt": state.pipeline.stats(),
        "calls": live,
        "ended": ended,
    }))
}

/// `GET /api/calls/{session_id}`.
pub async fn get_call(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
) -> Response {
    match state.sessions.get(&session_id) {
        Some(s) => Json(s.view()).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "no such session"),
    }
}

/// `POST /api/calls/{session_id}/hangup`.
pub async fn hangup(
    State(state): State<Arc<AppState>>,
    Path(session_id): Path<String>,
) -> Response {
    match state.sessions.get_live(&session_id) {
        Some(s) => {
            tracing::info!(session_id = %s.id, "Admin hang-up.");
            s.hangup.send_replace(Some("admin_hangup".to_owned()));
            if s.state() == crate::sessions::SessionState::Created {
                if let Some(s) = state.sessions.finish(&s.id, "admin_hangup") {
                    state.pipeline.end_call(&s.id);
                    state.events.publish(
                        crate::events::Event::new(crate::events::kinds::CALL_ENDED, &s.id)
                            .with("reason", "admin_hangup"),
                    );
                }
            }
            (
                StatusCode::ACCEPTED,
                Json(json!({ "session_id": session_id, "status": "hanging_up" })),
            )
                .into_response()
        }
        None => error_response(StatusCode::NOT_FOUND, "no live session with that id"),
    }
}

/// `GET /api/events`: Server-Sent Events, one JSON event per message.
pub async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(state.events.subscribe()).filter_map(|item| match item {
        Ok(event) => serde_json::to_string(&*event)
            .ok()
            .map(|json| Ok(SseEvent::default().event(event.kind).data(json))),
        Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
            tracing::warn!(
                missed = n,
                "An event subscriber fell behind; events were skipped."
            );
            Some(Ok(SseEvent::default()
                .event("lagged")
                .data(json!({ "type": "lagged", "missed": n }).to_string())))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
