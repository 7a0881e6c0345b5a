//! Conversions between axum's HTTP types and the plugin API's.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use voicegate_plugin_api::{HttpRequest, HttpResponse, KeyValue, RSlice, RStr, Route};

/// A request's parts, owned by the host while a plugin borrows them.
#[derive(Debug)]
pub struct OwnedRequest {
    method: String,
    path: String,
    full_path: String,
    query: String,
    headers: Vec<KeyValue>,
    body: Bytes,
    remote_addr: String,
    public_url: String,
}

impl OwnedRequest {
    /// Collects what a plugin needs from a request.
    pub fn new(
        method: &Method,
        uri: &Uri,
        rel_path: &str,
        headers: &HeaderMap,
        body: Bytes,
        remote_addr: String,
        public_url: &str,
    ) -> Self {
        Self {
            method: method.as_str().to_owned(),
            path: rel_path.to_owned(),
            full_path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| KeyValue::new(k.as_str(), String::from_utf8_lossy(v.as_bytes())))
                .collect(),
            body,
            remote_addr,
            public_url: public_url.to_owned(),
        }
    }

    /// The borrowed form plugins take.
    pub fn as_ffi(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: RStr::from(self.method.as_str()),
            path: RStr::from(self.path.as_str()),
            full_path: RStr::from(self.full_path.as_str()),
            query: RStr::from(self.query.as_str()),
            headers: RSlice::from_slice(&self.headers),
            body: RSlice::from_slice(&self.body),
            remote_addr: RStr::from(self.remote_addr.as_str()),
            public_url: RStr::from(self.public_url.as_str()),
        }
    }
}

/// Turns a plugin's response into an axum response; invalid headers are
/// dropped with a log line rather than failing the request.
pub fn into_response(resp: HttpResponse, who: &str) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or_else(|_| {
        tracing::warn!(
            instance = who,
            status = resp.status,
            "Plugin returned an invalid status; answering 500."
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut out = Response::new(Body::from(resp.body.into_vec()));
    *out.status_mut() = status;
    for kv in resp.headers.iter() {
        match (
            HeaderName::from_bytes(kv.key.as_bytes()),
            HeaderValue::from_str(kv.value.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                out.headers_mut().append(name, value);
            }
            _ => {
                tracing::warn!(instance = who, header = %kv.key, "Plugin returned an invalid header; dropped.")
            }
        }
    }
    out
}

/// A short plain-text error response (never a stack trace).
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Matches a relative request path against a route pattern whose segments
/// may be `{name}` placeholders. Returns the `{session_id}` capture (empty
/// when the pattern has none) on a match.
pub fn match_route<'a>(route: &Route, path: &'a str) -> Option<&'a str> {
    let pattern = route.path.as_str().trim_matches('/');
    let path = path.trim_matches('/');
    let mut session = "";
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(session),
            (Some(p), Some(actual)) => {
                if p.starts_with('{') && p.ends_with('}') {
                    if actual.is_empty() {
                        return None;
                    }
                    if p == "{session_id}" {
                        session = actual;
                    }
                } else if p != actual {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Fills `{session_id}` in a route path.
pub fn fill_route(route: &Route, session_id: &str) -> String {
    route
        .path
        .as_str()
        .trim_matches('/')
        .replace("{session_id}", session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literal_and_session_routes() {
        let inbound = Route::http("POST", "inbound", "");
        let stream = Route::websocket("stream/{session_id}", "");
        let root = Route::http("GET", "", "");
        assert_eq!(match_route(&inbound, "inbound"), Some(""));
        assert_eq!(match_route(&inbound, "inbound/x"), None);
        assert_eq!(match_route(&stream, "stream/abc"), Some("abc"));
        assert_eq!(match_route(&stream, "stream/"), None);
        assert_eq!(match_route(&stream, "stream"), None);
        assert_eq!(match_route(&root, ""), Some(""));
        assert_eq!(fill_route(&stream, "s1"), "stream/s1");
    }
}
