//! The admin API: calls, hang-up, live events, the audit trail. Every route
//! takes `Authorization: Bearer <admin token>`: 401 without one, 403 with a
//! wrong one. Actions that change something, and audit queries, are
//! recorded in the audit trail with the client's address.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, Path, Query, Request, State},
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
use crate::audit::{AuditQuery, Record};

/// The client's socket address, when the server knows it.
type Remote = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

/// Queues an admin-action record (never waits).
fn record_action(state: &AppState, action: &str, target: &str, remote: &Remote) {
    if let Some(sink) = state.events.audit() {
        let addr = remote.as_ref().map(|r| r.0 .0.to_string());
        sink.record(Record::admin_action(action, target, addr));
    }
}

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
    let stats = crate::telemetry::export::summary(
        live.len(),
        &state.telemetry,
        &state.events,
        &state.sessions.totals(),
    );
    Json(json!({
        "active": live.len(),
        "max_calls": state.loaded.config.limits.max_calls,
        "stats": stats,
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
    remote: Remote,
    Path(session_id): Path<String>,
) -> Response {
    match state.sessions.get_live(&session_id) {
        Some(s) => {
            tracing::info!(session_id = %s.id, remote = ?remote.as_ref().map(|r| r.0 .0), "Admin hang-up.");
            record_action(&state, "call.hangup", &s.id, &remote);
            state.calls.hang_up(&s, "admin_hangup");
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
    let bus = state.events.clone();
    let stream =
        BroadcastStream::new(state.events.subscribe()).filter_map(move |item| match item {
            Ok(event) => {
                bus.received(&event);
                serde_json::to_string(&*event)
                    .ok()
                    .map(|json| Ok(SseEvent::default().event(event.kind).data(json)))
            }
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                bus.missed(n);
                tracing::warn!(
                    missed = n,
                    "An event subscriber fell behind; events were skipped."
                );
                Some(Ok(SseEvent::default()
                    .event("lagged")
                    .data(json!({ "type": "lagged", "missed": n }).to_string())))
            }
        });
    // End the stream when shutdown begins, so the connection can close.
    let mut shutting_down = state.shutting_down.subscribe();
    let shutdown = async move {
        let _ = shutting_down.wait_for(|s| *s).await;
    };
    let stream = futures_util::StreamExt::take_until(stream, shutdown);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /api/audit?call_id=&from=&since=&limit=`: matching calls with their
/// verdicts, transcripts and answers; denied calls; admin actions.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    remote: Remote,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(reader) = &state.audit else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit trail is off (audit.path is empty)",
        );
    };
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(rejection) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("bad query string: {}", rejection.body_text()),
            )
        }
    };
    let query = match AuditQuery::from_pairs(&pairs) {
        Ok(q) => q,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    record_action(&state, "audit.query", &query.describe(), &remote);
    match reader.query_async(query).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => {
            tracing::error!(%error, "Audit query failed.");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "audit query failed")
        }
    }
}
