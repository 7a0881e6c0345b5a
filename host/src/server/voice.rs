//! `/api/voice/{instance}/…`: every transport's declared routes, served
//! generically. Nothing here knows any carrier.

use std::{net::SocketAddr, sync::Arc};

use axum::extract::ws::WebSocketUpgrade;
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequestParts, Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use voicegate_plugin_api::{
    CallDecision, ErrorKind, HttpOutcome, ROption, RStr, RouteKind, StreamOpen,
};

use super::{
    calls::{admit, Admission},
    http::{error_response, into_response, match_route, OwnedRequest},
    stream, AppState,
};
use crate::{
    events::{kinds, Event},
    plugins::{CallError, Transport},
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

/// Maps a plugin error to an HTTP status and logs it.
fn plugin_error_response(error: &CallError) -> Response {
    let (status, text) = match error.kind() {
        ErrorKind::UNAUTHORIZED => (
            StatusCode::FORBIDDEN,
            "forbidden: request signature or credentials rejected",
        ),
        ErrorKind::INVALID_INPUT => (StatusCode::BAD_REQUEST, "bad request"),
        ErrorKind::NOT_FOUND => (StatusCode::NOT_FOUND, "not found"),
        ErrorKind::UNSUPPORTED => (StatusCode::METHOD_NOT_ALLOWED, "not supported"),
        ErrorKind::BUSY => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
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
    let message = match error.kind() {
        // Tell the client what was wrong with its input; never internals.
        ErrorKind::INVALID_INPUT | ErrorKind::UNAUTHORIZED | ErrorKind::NOT_FOUND => {
            format!("{text}: {}", error.error.message)
        }
        _ => text.to_owned(),
    };
    error_response(status, &message)
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
        let method_ok = r.kind == RouteKind::WEBSOCKET
            || r.method.as_str() == "*"
            || r.method.as_str().eq_ignore_ascii_case(method.as_str());
        method_ok.then(|| (r.clone(), captured.to_owned()))
    });
    let Some((route, session_id)) = route else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("transport `{instance}` has no {method} route `{path}`"),
        );
    };

    let (mut parts, body) = req.into_parts();
    if route.kind == RouteKind::WEBSOCKET {
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => ws,
            Err(rejection) => return rejection.into_response(),
        };
        let owned = OwnedRequest::new(
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
    let owned = OwnedRequest::new(
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

async fn webhook(state: Arc<AppState>, transport: Arc<Transport>, req: OwnedRequest) -> Response {
    let who = transport.id.instance.clone();
    let outcome = match transport.handle_http(&req.as_ffi()) {
        Ok(o) => o,
        Err(e) => return plugin_error_response(&e),
    };
    match outcome {
        HttpOutcome::Respond(resp) => into_response(resp, &who),
        HttpOutcome::NewCall(call) => {
            let (decision, call) = match admit(&state, &transport, call.clone(), false).await {
                Admission::Accepted(session, decision) => (decision, session.call.clone()),
                Admission::Rejected(decision) => (decision, call),
            };
            match transport.answer_call(&call, &decision) {
                Ok(resp) => into_response(resp, &who),
                Err(e) => {
                    // The carrier gets a plain error; the call cannot go on.
                    if let CallDecision::Accept(a) = &decision {
                        state
                            .sessions
                            .finish(a.session_id.as_str(), "answer_failed");
                    }
                    plugin_error_response(&e)
                }
            }
        }
        HttpOutcome::CallEnded(ended) => {
            if let Some(session) = state.sessions.find_by_call(&who, ended.call_id.as_str()) {
                tracing::info!(session_id = %session.id, reason = %ended.reason, "Carrier reports the call ended.");
                session
                    .hangup
                    .send_replace(Some(format!("carrier:{}", ended.reason)));
                // A session that never connected has no stream task to end it.
                if session.state() == crate::sessions::SessionState::Created {
                    if let Some(s) = state
                        .sessions
                        .finish(&session.id, &format!("carrier:{}", ended.reason))
                    {
                        state.pipeline.end_call(&s.id);
                        state.events.publish(
                            Event::new(kinds::CALL_ENDED, &s.id)
                                .with("reason", format!("carrier:{}", ended.reason)),
                        );
                    }
                }
            }
            into_response(ended.response, &who)
        }
        HttpOutcome::Other(other) => {
            tracing::debug!(instance = %who, kind = %other.extension.kind, "Transport returned an extension outcome this host does not act on.");
            into_response(other.response, &who)
        }
    }
}

async fn open_websocket(
    state: Arc<AppState>,
    transport: Arc<Transport>,
    binds_session: bool,
    session_id: String,
    req: OwnedRequest,
    ws: WebSocketUpgrade,
) -> Response {
    let session = if binds_session {
        match state.sessions.get_live(&session_id) {
            Some(s) if s.transport.id.instance == transport.id.instance => Some(s),
            _ => {
                tracing::warn!(instance = %transport.id.instance, session_id = %session_id, "Media stream refused: unknown or ended session.");
                metrics::counter!("voicegate_streams_refused_total", "transport" => transport.id.instance.clone(), "reason" => "unknown_session").increment(1);
                return error_response(StatusCode::NOT_FOUND, "unknown or ended session");
            }
        }
    } else {
        None
    };
    if let Some(s) = &session {
        if s.state() != crate::sessions::SessionState::Created {
            return error_response(
                StatusCode::CONFLICT,
                "this session's stream is already connected or ended",
            );
        }
    }
    let media = {
        let open = StreamOpen {
            request: req.as_ffi(),
            session_id: RStr::from(session_id.as_str()),
            call: match &session {
                Some(s) => ROption::RSome(&s.call),
                None => ROption::RNone,
            },
        };
        match transport.open_stream(&open) {
            Ok(m) => m,
            Err(e) => return plugin_error_response(&e),
        }
    };
    let max = state.loaded.config.server.max_frame_bytes;
    // A media stream reads a few hundred bytes every 20 ms. tungstenite's
    // default 128 KiB read buffer is zero-filled before every read and ends
    // up resident for every call; 4 KiB holds a dozen frames.
    ws.read_buffer_size(STREAM_READ_BUFFER)
        .max_message_size(max.saturating_mul(16).max(1024 * 1024))
        .max_frame_size(max.saturating_mul(16).max(1024 * 1024))
        .on_upgrade(move |socket| stream::run(state, transport, session, media, socket))
}
