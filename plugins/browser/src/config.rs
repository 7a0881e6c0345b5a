//! The instance's config table (`[transports.<name>]` with `plugin = "browser"`).

use std::{collections::BTreeMap, fmt};

use serde::Deserialize;
use voicegate_plugin_api::{ConfigIssue, Context, PluginError};

/// Longest caller identity accepted, from any source.
pub const MAX_IDENTITY_LEN: usize = 128;

/// Shortest access token accepted: a token is a password in a URL.
pub const MIN_TOKEN_LEN: usize = 16;

/// The instance's configuration, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Let callers without a header identity or a token in: each is
    /// `client:anonymous@<their IP address>` (so the policy's rate limit
    /// counts per address). Right for a host listening on loopback; off by
    /// default.
    pub allow_anonymous: bool,
    /// Take the caller's identity from this request header (lower case),
    /// set by an authenticating reverse proxy in front of voicegate. Only
    /// safe when that proxy strips the header from what clients send.
    pub identity_header: Option<String>,
    /// Access tokens: identity → token. The page passes its token as
    /// `?token=…`; the caller is then `client:<identity>`.
    pub tokens: BTreeMap<String, String>,
    /// The called identity reported to policies (`CallRequest.to`).
    pub to: String,
    /// Origins (`https://app.example.com`) allowed to open the WebSocket
    /// besides `server.public_url`'s and a loopback page's own origin.
    pub allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            allow_anonymous: false,
            identity_header: None,
            tokens: BTreeMap::new(),
            to: "agent".to_owned(),
            allowed_origins: Vec::new(),
        }
    }
}

// Tokens are secrets: never print them.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("allow_anonymous", &self.allow_anonymous)
            .field("identity_header", &self.identity_header)
            .field(
                "tokens",
                &self
                    .tokens
                    .keys()
                    .map(|k| (k.as_str(), "<redacted>"))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("to", &self.to)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

/// Whether `id` may be used as a caller identity: printable ASCII without
/// spaces, so it is safe in logs, events and the policy's counter keys.
pub fn is_identity(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_IDENTITY_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Characters a token may use: URL-safe without percent-encoding.
fn is_token(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// `scheme://host[:port]`, http or https, no path.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    !rest.is_empty()
        && !rest.contains('/')
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl Config {
    /// Reads and validates the instance table, reporting every problem with
    /// its key.
    pub fn from_context(ctx: &Context) -> Result<Self, PluginError> {
        let mut config: Self = ctx.config()?;
        config.validate()?;
        if let Some(h) = &mut config.identity_header {
            h.make_ascii_lowercase();
        }
        for origin in &mut config.allowed_origins {
            origin.make_ascii_lowercase();
        }
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        let mut issues = Vec::new();
        let mut issue = |key: String, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message: message.into(),
            });
        };
        if let Some(header) = &self.identity_header {
            let valid = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
            if !valid {
                issue(
                    "identity_header".into(),
                    format!(
                        "{header:?} is not an HTTP header name; expected letters, digits, \
                         `-` and `_` (e.g. \"x-forwarded-user\")"
                    ),
                );
            } else if ["host", "origin", "cookie", "authorization", "user-agent"]
                .iter()
                .any(|h| header.eq_ignore_ascii_case(h))
            {
                issue(
                    "identity_header".into(),
                    format!(
                        "`{header}` is set by every browser, not by an authenticating proxy; \
                         name the header your proxy sets (e.g. \"x-forwarded-user\")"
                    ),
                );
            }
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (identity, token) in &self.tokens {
            let key = format!("tokens.{identity}");
            if !is_identity(identity) {
                issue(
                    key.clone(),
                    format!(
                        "the identity is not 1 to {MAX_IDENTITY_LEN} printable characters \
                         without spaces"
                    ),
                );
            } else if identity.starts_with("anonymous") {
                issue(
                    key.clone(),
                    "identities starting with `anonymous` are kept for anonymous callers"
                        .to_owned(),
                );
            }
            if token.len() < MIN_TOKEN_LEN || !is_token(token) {
                issue(
                    key.clone(),
                    format!(
                        "the token must be at least {MIN_TOKEN_LEN} characters from \
                         A-Z a-z 0-9 - _ . ~ (e.g. the output of `openssl rand -hex 16`)"
                    ),
                );
            } else if let Some(other) = seen.insert(token.as_str(), identity.as_str()) {
                issue(key, format!("has the same token as `tokens.{other}`"));
            }
        }
        if !is_identity(&self.to) {
            issue(
                "to".into(),
                format!(
                    "{:?} is not 1 to {MAX_IDENTITY_LEN} printable characters without spaces",
                    self.to
                ),
            );
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if !is_origin(origin) {
                issue(
                    format!("allowed_origins[{i}]"),
                    format!(
                        "{origin:?} is not an origin; expected scheme://host[:port] with \
                         http or https and no path (e.g. \"https://app.example.com\")"
                    ),
                );
            }
        }
        if !self.allow_anonymous && self.identity_header.is_none() && self.tokens.is_empty() {
            issue(
                "allow_anonymous".into(),
                "no caller could ever connect: set `identity_header`, add `tokens`, or set \
                 allow_anonymous = true (fine on a loopback-only host)"
                    .to_owned(),
            );
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PluginError::config(issues))
        }
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{testkit, ErrorKind};

    use super::*;

    fn load(json: &str) -> Result<Config, PluginError> {
        Config::from_context(&testkit::context("browser", "http://127.0.0.1:8080", json))
    }

    fn keys(err: &PluginError) -> Vec<&str> {
        err.issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn anonymous_alone_is_valid() {
        let config = load(r#"{"allow_anonymous":true}"#).unwrap();
        assert!(config.allow_anonymous);
        assert!(config.tokens.is_empty());
        assert_eq!(config.to, "agent");
        assert_eq!(config.identity_header, None);
    }

    #[test]
    fn every_key_parses() {
        let config = load(
            r#"{"allow_anonymous":false,"identity_header":"X-Forwarded-User",
                "tokens":{"alice":"0123456789abcdef0123","bob":"tok_bob-0123456789.~"},
                "to":"support","allowed_origins":["https://App.example.com","http://[::1]:8080"]}"#,
        )
        .unwrap();
        assert_eq!(config.identity_header.as_deref(), Some("x-forwarded-user"));
        assert_eq!(config.tokens.len(), 2);
        assert_eq!(config.to, "support");
        assert_eq!(
            config.allowed_origins,
            ["https://app.example.com", "http://[::1]:8080"]
        );
    }

    #[test]
    fn a_table_that_admits_nobody_is_an_error() {
        let err = load("{}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(keys(&err), ["allow_anonymous"]);
        assert!(load(r#"{"identity_header":"x-user"}"#).is_ok());
        assert!(load(r#"{"tokens":{"alice":"0123456789abcdef"}}"#).is_ok());
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load(r#"{"allow_anonymous":true,"identity_header":"x user"}"#).unwrap_err();
        assert_eq!(keys(&err), ["identity_header"]);
        let err = load(r#"{"allow_anonymous":true,"identity_header":"Cookie"}"#).unwrap_err();
        assert_eq!(keys(&err), ["identity_header"]);
        let err = load(r#"{"tokens":{"alice":"short"}}"#).unwrap_err();
        assert_eq!(keys(&err), ["tokens.alice"]);
        let err = load(r#"{"tokens":{"alice":"0123456789abcdef/+="}}"#).unwrap_err();
        assert_eq!(keys(&err), ["tokens.alice"]);
        let err = load(r#"{"tokens":{"a b":"0123456789abcdef"}}"#).unwrap_err();
        assert_eq!(keys(&err), ["tokens.a b"]);
        let err = load(r#"{"tokens":{"anonymous@1.2.3.4":"0123456789abcdef"}}"#).unwrap_err();
        assert_eq!(keys(&err), ["tokens.anonymous@1.2.3.4"]);
        let err =
            load(r#"{"tokens":{"a":"0123456789abcdef","b":"0123456789abcdef"}}"#).unwrap_err();
        assert_eq!(keys(&err), ["tokens.b"]);
        let err = load(r#"{"allow_anonymous":true,"to":""}"#).unwrap_err();
        assert_eq!(keys(&err), ["to"]);
        let err = load(r#"{"allow_anonymous":true,"allowed_origins":["https://a.example/x"]}"#)
            .unwrap_err();
        assert_eq!(keys(&err), ["allowed_origins[0]"]);
        let err = load(r#"{"allow_anonymous":true,"allowed_origins":["ftp://a"]}"#).unwrap_err();
        assert_eq!(keys(&err), ["allowed_origins[0]"]);
        let err = load(r#"{"allow_anonymous":"yes"}"#).unwrap_err();
        assert_eq!(keys(&err), ["allow_anonymous"]);
        let err = load(r#"{"allow_anonymus":true}"#).unwrap_err();
        assert!(err.to_string().contains("allow_anonymus"), "{err}");
    }

    #[test]
    fn debug_hides_tokens() {
        let config = load(r#"{"tokens":{"alice":"hunter2hunter2hunter2"}}"#).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("alice"), "{printed}");
    }
}
