//! Who is calling, decided from the WebSocket upgrade request (and the same
//! way for `GET whoami`, so the page can say why it would be refused before
//! it opens a socket: a browser cannot read a refused upgrade's response).

use std::net::SocketAddr;

use subtle::ConstantTimeEq;
use voicegate_plugin_api::{HttpRequest, PluginError};

use crate::config::{is_identity, Config};

/// How the identity was established (the `identity_source` call attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured `identity_header`, set by a proxy.
    Header,
    /// A `?token=` from the `tokens` table.
    Token,
    /// Nobody said; `allow_anonymous` let them in.
    Anonymous,
}

impl Source {
    /// The lower-case name used in attributes and `whoami`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Token => "token",
            Self::Anonymous => "anonymous",
        }
    }
}

/// A caller identity, `client:<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `client:alice`, `client:anonymous@127.0.0.1`.
    pub caller: String,
    /// Where it came from.
    pub source: Source,
}

/// The request's `token` query parameter, if any.
fn query_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// The IP part of the peer address the host reports (`127.0.0.1:5000`,
/// `[::1]:5000`); the text as given, made safe, if it is not one.
fn peer_ip(remote_addr: &str) -> String {
    match remote_addr.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => {
            let safe: String = remote_addr
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .collect();
            if safe.is_empty() {
                "unknown".to_owned()
            } else {
                safe
            }
        }
    }
}

/// Decides who is calling, or why nobody may.
///
/// Order: the proxy's header (when configured and present), then a token
/// (a wrong token is refused even when anonymous callers are allowed: it
/// is a mistake worth reporting), then anonymous.
pub fn resolve(config: &Config, req: &HttpRequest<'_>) -> Result<Identity, PluginError> {
    if let Some(name) = &config.identity_header {
        if let Some(value) = req.header(name).map(str::trim).filter(|v| !v.is_empty()) {
            if !is_identity(value) {
                return Err(PluginError::unauthorized(format!(
                    "header `{name}` does not carry a usable identity (1 to {} printable \
                     characters without spaces)",
                    crate::config::MAX_IDENTITY_LEN
                )));
            }
            return Ok(Identity {
                caller: format!("client:{value}"),
                source: Source::Header,
            });
        }
    }
    if let Some(token) = query_token(req.query.as_str()) {
        // Compare against every token without stopping early, so timing
        // does not tell how close a guess was or which entry matched.
        let mut found: Option<&str> = None;
        for (identity, expected) in &config.tokens {
            if bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(identity);
            }
        }
        return match found {
            Some(identity) => Ok(Identity {
                caller: format!("client:{identity}"),
                source: Source::Token,
            }),
            None => Err(PluginError::unauthorized(
                "the access token in the page's address (?token=…) is not valid",
            )),
        };
    }
    if config.allow_anonymous {
        return Ok(Identity {
            caller: format!("client:anonymous@{}", peer_ip(req.remote_addr.as_str())),
            source: Source::Anonymous,
        });
    }
    let mut ways = Vec::new();
    if let Some(name) = &config.identity_header {
        ways.push(format!("the `{name}` header from the sign-in proxy"));
    }
    if !config.tokens.is_empty() {
        ways.push("an access token in the page's address (?token=…)".to_owned());
    }
    Err(PluginError::unauthorized(format!(
        "this voice page needs {}; anonymous callers are not allowed",
        ways.join(" or ")
    )))
}

/// Checks a browser's `Origin` against `server.public_url`'s origin,
/// `allowed_origins`, and the page's own origin (from the `Host` header)
/// when that is a loopback address. Without it, any web site the user
/// visits could open a call from their browser. `Host` alone is not
/// trusted for other names: a site whose DNS name is re-pointed at this
/// host (DNS rebinding) sends a matching `Host` and `Origin` of its own.
/// Clients that send no `Origin` (not browsers) pass.
pub fn check_origin(config: &Config, req: &HttpRequest<'_>) -> Result<(), PluginError> {
    let Some(origin) = req.header("origin").map(str::trim) else {
        return Ok(());
    };
    let origin = origin.to_ascii_lowercase();
    let host = req.header("host").unwrap_or("").trim().to_ascii_lowercase();
    let public = req.public_url.as_str().trim_end_matches('/');
    let public_origin = public
        .find("://")
        .and_then(|i| public[i + 3..].find('/').map(|j| &public[..i + 3 + j]))
        .unwrap_or(public)
        .to_ascii_lowercase();
    let same_host = is_loopback(&host)
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    if same_host || origin == public_origin || config.allowed_origins.contains(&origin) {
        return Ok(());
    }
    Err(PluginError::unauthorized(format!(
        "origin {:?} may not open calls here; add it to `allowed_origins`",
        origin.chars().take(96).collect::<String>()
    )))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port: names no
/// other site can claim.
fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{ErrorKind, KeyValue, RSlice, RStr};

    use super::*;

    fn config(json: &str) -> Config {
        let config: Config = serde_json::from_str(json).unwrap();
        config.validate().unwrap();
        config
    }

    fn with_request<R>(
        query: &str,
        headers: &[(&str, &str)],
        remote: &str,
        f: impl FnOnce(&HttpRequest<'_>) -> R,
    ) -> R {
        let headers: Vec<KeyValue> = headers.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
        let req = HttpRequest {
            method: RStr::from("GET"),
            path: RStr::from("ws"),
            full_path: RStr::from("/api/voice/browser/ws"),
            query: RStr::from(query),
            headers: RSlice::from_slice(&headers),
            body: RSlice::from_slice(&[]),
            remote_addr: RStr::from(remote),
            public_url: RStr::from("https://voice.example.com"),
            peer_trusted: false,
        };
        f(&req)
    }

    const TOKENS: &str = r#"{"identity_header":"x-forwarded-user",
        "tokens":{"alice":"alice-token-0123456789","bob":"bob-token-0123456789ab"}}"#;

    #[test]
    fn anonymous_callers_are_counted_per_address() {
        let c = config(r#"{"allow_anonymous":true}"#);
        let id = with_request("", &[], "127.0.0.1:50000", |r| resolve(&c, r)).unwrap();
        assert_eq!(id.caller, "client:anonymous@127.0.0.1");
        assert_eq!(id.source, Source::Anonymous);
        let id = with_request("", &[], "[::1]:50000", |r| resolve(&c, r)).unwrap();
        assert_eq!(id.caller, "client:anonymous@::1");
        let id = with_request("", &[], "weird addr\n", |r| resolve(&c, r)).unwrap();
        assert_eq!(id.caller, "client:anonymous@weirdaddr");
    }

    #[test]
    fn tokens_and_headers_name_the_caller() {
        let c = config(TOKENS);
        let id = with_request("token=bob-token-0123456789ab", &[], "1.2.3.4:5", |r| {
            resolve(&c, r)
        })
        .unwrap();
        assert_eq!(id.caller, "client:bob");
        assert_eq!(id.source, Source::Token);
        // Percent-encoding is undone; other parameters are ignored.
        let id = with_request(
            "x=1&token=alice%2Dtoken-0123456789",
            &[],
            "1.2.3.4:5",
            |r| resolve(&c, r),
        )
        .unwrap();
        assert_eq!(id.caller, "client:alice");
        // The proxy's header wins.
        let id = with_request(
            "token=bob-token-0123456789ab",
            &[("x-forwarded-user", "carol@example.com")],
            "1.2.3.4:5",
            |r| resolve(&c, r),
        )
        .unwrap();
        assert_eq!(id.caller, "client:carol@example.com");
        assert_eq!(id.source, Source::Header);
    }

    #[test]
    fn refusals_say_what_is_missing() {
        let c = config(TOKENS);
        let err = with_request("", &[], "1.2.3.4:5", |r| resolve(&c, r)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(err.message.contains("x-forwarded-user"), "{err}");
        assert!(err.message.contains("?token="), "{err}");
        let err = with_request("token=nope", &[], "1.2.3.4:5", |r| resolve(&c, r)).unwrap_err();
        assert!(err.message.contains("not valid"), "{err}");
        // A wrong token is refused even where anonymous callers are let in.
        let anon = config(r#"{"allow_anonymous":true,"tokens":{"a":"0123456789abcdef"}}"#);
        assert!(with_request("token=wrong", &[], "1.2.3.4:5", |r| resolve(&anon, r)).is_err());
        let err = with_request(
            "",
            &[("x-forwarded-user", "Alice Smith")],
            "1.2.3.4:5",
            |r| resolve(&c, r),
        )
        .unwrap_err();
        assert!(err.message.contains("usable identity"), "{err}");
        // An empty header counts as absent.
        let err = with_request("", &[("x-forwarded-user", " ")], "1.2.3.4:5", |r| {
            resolve(&c, r)
        })
        .unwrap_err();
        assert!(err.message.contains("needs"), "{err}");
    }

    #[test]
    fn origins() {
        let c = config(r#"{"allow_anonymous":true,"allowed_origins":["https://app.example.org"]}"#);
        let check = |headers: &[(&str, &str)]| {
            with_request("", headers, "1.2.3.4:5", |r| check_origin(&c, r))
        };
        assert!(check(&[]).is_ok());
        assert!(check(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])
        .is_ok());
        assert!(check(&[("origin", "https://voice.example.com")]).is_ok());
        assert!(check(&[("origin", "https://APP.example.org")]).is_ok());
        let err = check(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ])
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(err.message.contains("allowed_origins"), "{err}");
        assert!(check(&[("origin", "null")]).is_err());
        for (origin, host) in [
            ("http://localhost:8080", "localhost:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("https://127.0.0.2", "127.0.0.2"),
        ] {
            assert!(
                check(&[("origin", origin), ("host", host)]).is_ok(),
                "{origin}"
            );
        }
        // DNS rebinding: a foreign name pointed at this host matches its
        // own Host header, and is still refused.
        for (origin, host) in [
            ("http://evil.example:8080", "evil.example:8080"),
            ("http://127.0.0.1.evil.example", "127.0.0.1.evil.example"),
            ("http://localhost.evil.example", "localhost.evil.example"),
        ] {
            assert!(
                check(&[("origin", origin), ("host", host)]).is_err(),
                "{origin}"
            );
        }
    }
}
