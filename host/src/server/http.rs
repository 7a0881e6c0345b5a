//! Conversions between axum's HTTP types and the host's model.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};

use crate::model::{Route, WebRequest, WebResponse};

/// Collects what a transport needs from a request.
pub fn web_request(
    method: &Method,
    uri: &Uri,
    rel_path: &str,
    headers: &HeaderMap,
    body: Bytes,
    remote_addr: String,
    public_url: &str,
) -> WebRequest {
    WebRequest {
        method: method.as_str().to_owned(),
        path: rel_path.to_owned(),
        full_path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        remote_addr,
        public_url: public_url.to_owned(),
        peer_trusted: false,
    }
}

/// Turns a plugin's response into an axum response; invalid headers are
/// dropped with a log line rather than failing the request.
pub fn into_response(resp: WebResponse, who: &str) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or_else(|_| {
        tracing::warn!(
            instance = who,
            status = resp.status,
            "Plugin returned an invalid status; answering 500."
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = status;
    for (key, value) in &resp.headers {
        match (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                out.headers_mut().append(name, value);
            }
            _ => {
                tracing::warn!(instance = who, header = %key, "Plugin returned an invalid header; dropped.")
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
    let pattern = route.path.trim_matches('/');
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
        .trim_matches('/')
        .replace("{session_id}", session_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RouteKind;

    fn route(method: &str, path: &str, kind: RouteKind) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            kind,
            description: String::new(),
        }
    }

    #[test]
    fn matches_literal_and_session_routes() {
        let inbound = route("POST", "inbound", RouteKind::Http);
        let stream = route("GET", "stream/{session_id}", RouteKind::WebSocket);
        let root = route("GET", "", RouteKind::Http);
        assert_eq!(match_route(&inbound, "inbound"), Some(""));
        assert_eq!(match_route(&inbound, "inbound/x"), None);
        assert_eq!(match_route(&stream, "stream/abc"), Some("abc"));
        assert_eq!(match_route(&stream, "stream/"), None);
        assert_eq!(match_route(&stream, "stream"), None);
        assert_eq!(match_route(&root, ""), Some(""));
        assert_eq!(fill_route(&stream, "s1"), "stream/s1");
    }
}
