//! `/api/voice/{instance}/…`: every transport's declared routes, served
//! generically. Nothing here knows any carrier.

use std::{net::SocketAddr, sync::Arc};

use super::{
    calls::{admit, Admission},
    http::{error_response, into_response, match_route, web_request},
    stream, AppState,
};
use crate::{
    model::{Decision, FailureKind, RouteKind, StreamOpen, WebRequest, WebhookOutcome},
    plugins::{CallError, Transport},
};
use axum::extract::ws::WebSocketUpgrade;
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequestParts, Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Read buffer of a media WebSocket, bytes.
const STREAM_READ_BUFFER: usize = 4096;

/// `/api/voice/{instance}` and `/api/voice/{instance}/`.
pub async fn dispatch_root(
    state: State<Arc<AppState>>,
    Path(instance): Path<String>,
    connect: ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    handle(state, instance, String::new(), connect, req).await
}

/// `/api/voice/{instance}/{*path}`.
pub async fn dispatch(
    state: State<Arc<AppState>>,
    Path((instance, path)): Path<(String, String)>,
    connect: ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    handle(state, instance, path, connect, req).await
}

/// Maps a plugin error to an HTTP status and logs it. A client whose
/// request was malformed is told what was wrong with it; every other body
/// is generic: why a signature failed (the URL it was checked against, the
/// key to fix) is for the operator's log, not for whoever sent it.
fn plugin_error_response(error: &CallError) -> Response {
    let (status, text) = match error.kind() {
        FailureKind::Unauthorized => (
            StatusCode::FORBIDDEN,
            "forbidden: request signature or credentials rejected",
        ),
        FailureKind::InvalidInput => (StatusCode::BAD_REQUEST, "bad request"),
        FailureKind::NotFound => (StatusCode::NOT_FOUND, "not found"),
        FailureKind::Unsupported => (StatusCode::METHOD_NOT_ALLOWED, "not supported"),
        FailureKind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    if status.is_server_error() {
        tracing::error!(error = %error, "Plugin request failed.");
    } else {
        tracing::warn!(error = %error, status = status.as_u16(), "Plugin refused a request.");
    }
    metrics::counter!(
        "voicegate_plugin_errors_total",
        "instance" => error.id.instance.clone(),
        "op" => error.op,
        "kind" => error.kind().name()
    )
    .increment(1);
    if error.kind() == FailureKind::InvalidInput {
        let detail: String = error.error.message.chars().take(200).collect();
        return error_response(status, &format!("{text}: {detail}"));
    }
    error_response(status, text)
}

async fn handle(
    State(state): State<Arc<AppState>>,
    instance: String,
    path: String,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let Some(transport) = state.registry.transports.get(&instance).cloned() else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no transport named `{instance}`"),
        );
    };
    let method = req.method().clone();
    let route = transport.info.routes.iter().find_map(|r| {
        let captured = match_route(r, &path)?;
        let method_ok = r.kind == RouteKind::WebSocket
            || r.method == "*"
            || r.method.eq_ignore_ascii_case(method.as_str());
        method_ok.then(|| (r.clone(), captured.to_owned()))
    });
    let Some((route, session_id)) = route else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("transport `{instance}` has no {method} route `{path}`"),
        );
    };

    let (mut parts, body) = req.into_parts();
    if route.kind == RouteKind::WebSocket {
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => ws,
            Err(rejection) => return rejection.into_response(),
        };
        let owned = web_request(
            &parts.method,
            &parts.uri,
            &path,
            &parts.headers,
            Bytes::new(),
            remote.to_string(),
            &state.loaded.config.server.public_url,
        );
        return open_websocket(
            state,
            transport,
            route.binds_session(),
            session_id,
            owned,
            ws,
        )
        .await;
    }

    let body = match axum::body::to_bytes(body, super::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return error_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let owned = web_request(
        &parts.method,
        &parts.uri,
        &path,
        &parts.headers,
        body,
        remote.to_string(),
        &state.loaded.config.server.public_url,
    );
    webhook(state, transport, owned).await
}

async fn webhook(state: Arc<AppState>, transport: Arc<Transport>, req: WebRequest) -> Response {
    let who = transport.id.instance.clone();
    let outcome = match transport.handle_http(&req) {
        Ok(o) => o,
        Err(e) => return plugin_error_response(&e),
    };
    match outcome {
        WebhookOutcome::Respond(resp) => into_response(resp, &who),
        WebhookOutcome::NewCall(call) => {
            let (decision, call) = match admit(&state, &transport, call.clone(), false).await {
                Admission::Accepted(session, decision) => (decision, session.call.clone()),
                Admission::Rejected(decision) => (decision, call),
            };
            match transport.answer_call(&call, &decision) {
                Ok(resp) => into_response(resp, &who),
                Err(e) => {
                    // The carrier gets a plain error; the call cannot go on.
                    if let Decision::Accept(a) = &decision {
                        state.calls.end(&a.session_id, "answer_failed");
                    }
                    plugin_error_response(&e)
                }
            }
        }
        WebhookOutcome::CallEnded {
            call_id,
            reason,
            response,
        } => {
            if let Some(session) = state.sessions.find_by_call(&who, &call_id) {
                tracing::info!(session_id = %session.id, %reason, "Carrier reports the call ended.");
                state.calls.hang_up(&session, &format!("carrier:{reason}"));
            }
            into_response(response, &who)
        }
        WebhookOutcome::Other { kind, response } => {
            tracing::debug!(instance = %who, %kind, "Transport returned an extension outcome this host does not act on.");
            into_response(response, &who)
        }
    }
}

async fn open_websocket(
    state: Arc<AppState>,
    transport: Arc<Transport>,
    binds_session: bool,
    session_id: String,
    req: WebRequest,
    ws: WebSocketUpgrade,
) -> Response {
    let refused = |reason: &'static str| {
        metrics::counter!("voicegate_streams_refused_total", "transport" => transport.id.instance.clone(), "reason" => reason).increment(1);
    };
    let session = if binds_session {
        match state.sessions.get_live(&session_id) {
            Some(s) if s.transport.id.instance == transport.id.instance => Some(s),
            _ => {
                tracing::warn!(instance = %transport.id.instance, "Media stream refused: unknown or ended session.");
                refused("unknown_session");
                return error_response(StatusCode::NOT_FOUND, "unknown or ended session");
            }
        }
    } else {
        None
    };
    // The transport checks the upgrade (its signature) before the session
    // is claimed: an unauthenticated socket must not take a call's slot.
    let media = {
        let open = StreamOpen {
            request: &req,
            session_id: &session_id,
            call: session.as_ref().map(|s| &s.call),
        };
        match transport.open_stream(&open) {
            Ok(m) => m,
            Err(e) => return plugin_error_response(&e),
        }
    };
    if let Some(s) = &session {
        // One socket per session: the first to claim it wins.
        if !s.claim() {
            tracing::warn!(session_id = %s.id, "Media stream refused: the session's stream is already connected or ended.");
            refused("already_claimed");
            return error_response(
                StatusCode::CONFLICT,
                "this session's stream is already connected or ended",
            );
        }
    }
    let max = state.loaded.config.server.max_frame_bytes;
    // A media stream reads a few hundred bytes every 20 ms. tungstenite's
    // default 128 KiB read buffer is zero-filled before every read and ends
    // up resident for every call; 4 KiB holds a dozen frames.
    ws.read_buffer_size(STREAM_READ_BUFFER)
        .max_message_size(max.saturating_mul(16).max(1024 * 1024))
        .max_frame_size(max.saturating_mul(16).max(1024 * 1024))
        .on_upgrade(move |socket| stream::run(state, transport, session, media, socket))
}
