//! HTTP requests and responses as transports see them, and the routes they declare.

use abi_stable::{
    std_types::{RSlice, RStr, RString, RVec},
    StableAbi,
};

use super::{call::CallRequest, common::Extension, KeyValue};

/// Whether a route is a plain HTTP endpoint or a WebSocket.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct RouteKind(pub u8);

impl RouteKind {
    /// A plain HTTP route, answered by [`crate::Transport::handle_http`].
    pub const HTTP: Self = Self(0);
    /// A WebSocket route, driven by [`crate::Transport::open_stream`].
    pub const WEBSOCKET: Self = Self(1);
}

/// One route a transport serves, relative to `/api/voice/{instance}/`.
///
/// A WebSocket path may contain the placeholder `{session_id}`: the host then
/// accepts the upgrade only for a live session that the transport's webhook
/// created, and builds the stream URL it hands to
/// [`crate::Transport::answer_call`] from this route. A WebSocket route
/// without the placeholder opens calls by itself (a browser): its stream
/// reports the new call in [`crate::StreamStart::new_call`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, … or `*` for any method (ignored for WebSockets).
    pub method: RString,
    /// Path below the instance prefix, without a leading slash; may be empty.
    pub path: RString,
    /// HTTP or WebSocket.
    pub kind: RouteKind,
    /// One line for `voicegate plugins` and the docs.
    pub description: RString,
}

impl Route {
    /// An HTTP route.
    pub fn http(method: &str, path: &str, description: &str) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            kind: RouteKind::HTTP,
            description: description.into(),
        }
    }

    /// A WebSocket route.
    pub fn websocket(path: &str, description: &str) -> Self {
        Self {
            method: "GET".into(),
            path: path.into(),
            kind: RouteKind::WEBSOCKET,
            description: description.into(),
        }
    }

    /// Whether the path binds the stream to an existing session.
    pub fn binds_session(&self) -> bool {
        self.path.contains("{session_id}")
    }
}

/// An HTTP request, borrowed from the host for the duration of one call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// Upper-case method.
    pub method: RStr<'a>,
    /// Path below the instance prefix, without a leading slash.
    pub path: RStr<'a>,
    /// The full path as received (`/api/voice/twilio/inbound`), for signatures.
    pub full_path: RStr<'a>,
    /// Raw query string without `?`; empty if none.
    pub query: RStr<'a>,
    /// Headers with lower-case names, in arrival order.
    pub headers: RSlice<'a, KeyValue>,
    /// Raw body bytes.
    pub body: RSlice<'a, u8>,
    /// The peer's address as the host saw it.
    pub remote_addr: RStr<'a>,
    /// The operator's public base URL (`server.public_url`), no trailing slash.
    pub public_url: RStr<'a>,
}

impl<'a> HttpRequest<'a> {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .as_slice()
            .iter()
            .find(|kv| kv.key.eq_ignore_ascii_case(name))
            .map(|kv| kv.value.as_str())
    }

    /// The URL the client asked for, rebuilt on the public base URL.
    pub fn public_request_url(&self) -> String {
        let mut url = String::with_capacity(
            self.public_url.len() + self.full_path.len() + self.query.len() + 1,
        );
        url.push_str(self.public_url.as_str());
        url.push_str(self.full_path.as_str());
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(self.query.as_str());
        }
        url
    }
}

/// An HTTP response produced by a plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: RVec<KeyValue>,
    /// Body bytes.
    pub body: RVec<u8>,
}

impl HttpResponse {
    /// An empty response with this status.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: RVec::new(),
            body: RVec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, key: &str, value: &str) -> Self {
        self.headers.push(KeyValue::new(key, value));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = RVec::from(body.into());
        self
    }

    /// A `200 OK` with a content type and body.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(200)
            .header("content-type", content_type)
            .body(body)
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }
}

/// What a transport made of a webhook request.
// Boxing the large variant would add an allocation per webhook and an FFI
// pointer type; one webhook per call does not need the space saved.
#[allow(clippy::large_enum_variant)]
#[repr(u8)]
#[derive(StableAbi, Clone, Debug)]
pub enum HttpOutcome {
    /// Answer the request with this response; nothing else happens.
    Respond(HttpResponse),
    /// A call is starting: the host runs the policy chain, creates a session
    /// if allowed and asks [`crate::Transport::answer_call`] for the response.
    NewCall(CallRequest),
    /// The carrier reports that a call ended (a status callback).
    CallEnded(CallEnded),
    /// Something this version of the host may not understand; it answers with
    /// the response and logs the extension.
    Other(HttpOther),
}

/// A carrier's notice that a call ended.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct CallEnded {
    /// The carrier's call id.
    pub call_id: RString,
    /// Why, in the carrier's words (`completed`, `busy`, …).
    pub reason: RString,
    /// What to answer the carrier.
    pub response: HttpResponse,
}

/// An outcome that later hosts may act on.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct HttpOther {
    /// The extension.
    pub extension: Extension,
    /// What to answer.
    pub response: HttpResponse,
}
