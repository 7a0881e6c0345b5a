//! Webhook requests and responses, and the routes transports declare.

use bytes::Bytes;

use super::{CallInfo, Pair};

/// Whether a route is plain HTTP or a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Answered by the transport's webhook handler.
    Http,
    /// Upgraded and driven by a media stream.
    WebSocket,
}

/// One route a transport serves, below `/api/voice/{instance}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, … or `*` (ignored for WebSockets).
    pub method: String,
    /// Path below the instance prefix, without a leading slash.
    pub path: String,
    /// HTTP or WebSocket.
    pub kind: RouteKind,
    /// One line for `voicegate plugins`.
    pub description: String,
}

impl Route {
    /// Whether the path binds the stream to a session the webhook created.
    pub fn binds_session(&self) -> bool {
        self.path.contains("{session_id}")
    }
}

/// A request for a transport, owned by the host.
#[derive(Debug, Clone)]
pub struct WebRequest {
    /// Upper-case method.
    pub method: String,
    /// Path below the instance prefix.
    pub path: String,
    /// The full path as received, for signatures.
    pub full_path: String,
    /// Raw query without `?`.
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    pub headers: Vec<Pair>,
    /// The body.
    pub body: Bytes,
    /// The peer's address as the host sees it.
    pub remote_addr: String,
    /// `server.public_url`, no trailing slash.
    pub public_url: String,
    /// The TCP peer is a trusted proxy (`server.trusted_proxies`).
    pub peer_trusted: bool,
}

/// A transport's response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<Pair>,
    /// Body.
    pub body: Vec<u8>,
}

/// What a transport made of a webhook request.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    /// Answer with this; nothing else happens.
    Respond(WebResponse),
    /// A call is starting: admission runs, then `answer_call`.
    NewCall(CallInfo),
    /// The carrier reports that a call ended.
    CallEnded {
        /// The carrier's call id.
        call_id: String,
        /// Why, in the carrier's words.
        reason: String,
        /// What to answer.
        response: WebResponse,
    },
    /// An outcome this host does not act on; answered and logged.
    Other {
        /// The extension's kind.
        kind: String,
        /// What to answer.
        response: WebResponse,
    },
}
