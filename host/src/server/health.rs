//! `/healthz`, `/readyz`, `/metrics`.

use std::sync::{atomic::Ordering, Arc};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: plugins are loaded and the host is not shutting down.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(handle) => {
            let mut text = handle.render();
            crate::telemetry::export::render(
                &mut text,
                &state.telemetry,
                &state.events,
                &state.sessions.totals(),
            );
            ([("content-type", "text/plain; version=0.0.4")], text).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}
