//! The instance table, its validation, and what it resolves to.

use std::{collections::BTreeMap, time::Duration};

use serde::Deserialize;
use ureq::http::{HeaderName, HeaderValue, Uri};
use voicegate_plugin_api::ConfigIssue;

/// Default `apology`.
pub(crate) const DEFAULT_APOLOGY: &str = "Sorry, I'm having trouble answering right now.";
/// Default `base_url` in openai mode.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default `api_key_env` in openai mode.
pub(crate) const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Default `system_prompt` in openai mode: the answer is spoken, not read.
pub(crate) const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant answering a phone \
    call. Your replies are read aloud by a speech synthesizer: answer in one to three short, \
    plain sentences, without lists, markdown, emoji or links.";
/// Largest accepted `timeout_ms` (ten minutes; a caller waits far less).
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Headers the client sets itself.
const RESERVED_HEADERS: [&str; 4] = [
    "content-length",
    "content-type",
    "host",
    "transfer-encoding",
];

/// Which wire contract an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeName {
    /// The voicegate JSON webhook.
    Webhook,
    /// OpenAI-compatible `POST {base_url}/chat/completions`.
    Openai,
}

impl ModeName {
    fn name(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Openai => "openai",
        }
    }
}

/// Which certificates HTTPS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TlsRoots {
    /// The operating system's store (Debian: `ca-certificates`, plus
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    #[default]
    System,
    /// Mozilla's roots, compiled in (webpki-roots).
    Webpki,
}

/// The instance table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    mode: ModeName,
    // webhook
    url: Option<String>,
    // openai
    base_url: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    // common
    api_key_env: Option<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default = "default_apology")]
    apology: String,
    #[serde(default = "default_max_history")]
    max_history: usize,
    #[serde(default)]
    tls_roots: TlsRoots,
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_apology() -> String {
    DEFAULT_APOLOGY.to_owned()
}

fn default_max_history() -> usize {
    20
}

/// The validated settings of an instance.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    /// Total deadline of one exchange, connection to last byte.
    pub(crate) timeout: Duration,
    /// Extra static headers, validated.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// `Bearer <key>`, when a key is configured. Never logged.
    pub(crate) authorization: Option<HeaderValue>,
    /// The endpoint as shown in logs and errors: no user info, no query
    /// (either may hold a token).
    pub(crate) shown_url: String,
    pub(crate) apology: String,
    pub(crate) max_history: usize,
    pub(crate) tls_roots: TlsRoots,
}

/// Mode-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// POST the turn to `url`.
    Webhook {
        /// The operator's endpoint.
        url: String,
    },
    /// POST a chat completion request.
    Openai {
        /// `{base_url}/chat/completions`.
        endpoint: String,
        model: String,
        /// Empty: no system message.
        system_prompt: String,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
    },
}

/// `url` without user info or query string, for logs and error messages.
pub(crate) fn shown_url(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(uri) => {
            let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.host().unwrap_or_default(),
                uri.path()
            )
        }
        Err(_) => "(invalid URL)".to_owned(),
    }
}

fn issue(key: impl Into<String>, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue {
        key: key.into().into(),
        message: message.into().into(),
    }
}

/// Checks that `url` is an absolute `http://` or `https://` URL.
fn check_url(key: &str, url: &str, issues: &mut Vec<ConfigIssue>) -> bool {
    let problem = match url.parse::<Uri>() {
        Err(e) => Some(format!("`{url}` is not a valid URL: {e}")),
        Ok(uri) if !matches!(uri.scheme_str(), Some("http" | "https")) => {
            Some(format!("`{url}` must start with http:// or https://"))
        }
        Ok(uri) if uri.host().is_none_or(str::is_empty) => Some(format!("`{url}` has no host")),
        Ok(_) => None,
    };
    match problem {
        Some(message) => {
            issues.push(issue(key, message));
            false
        }
        None => true,
    }
}

impl Config {
    /// Validates the table and reads the API key through `env` (the
    /// process environment outside tests). Returns every problem found, each
    /// with its key.
    pub(crate) fn resolve(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mode_name = self.mode.name();
        let only_for = |key: &str, other: ModeName, issues: &mut Vec<ConfigIssue>| {
            issues.push(issue(
                key,
                format!(
                    "only used with mode = \"{}\", this instance has mode = \"{mode_name}\"",
                    other.name()
                ),
            ));
        };

        let mode = match self.mode {
            ModeName::Webhook => {
                for (key, set) in [
                    ("base_url", self.base_url.is_some()),
                    ("model", self.model.is_some()),
                    ("system_prompt", self.system_prompt.is_some()),
                    ("max_tokens", self.max_tokens.is_some()),
                    ("temperature", self.temperature.is_some()),
                ] {
                    if set {
                        only_for(key, ModeName::Openai, &mut issues);
                    }
                }
                match self.url {
                    None => {
                        issues.push(issue("url", "required with mode = \"webhook\""));
                        None
                    }
                    Some(url) => {
                        check_url("url", &url, &mut issues).then_some(Mode::Webhook { url })
                    }
                }
            }
            ModeName::Openai => {
                if self.url.is_some() {
                    only_for("url", ModeName::Webhook, &mut issues);
                }
                let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
                let base_ok = check_url("base_url", &base_url, &mut issues);
                let model = self.model.unwrap_or_default();
                if model.trim().is_empty() {
                    issues.push(issue(
                        "model",
                        "required with mode = \"openai\" (e.g. \"gpt-4o-mini\")",
                    ));
                }
                if self.max_tokens == Some(0) {
                    issues.push(issue("max_tokens", "must be at least 1"));
                }
                if let Some(t) = self.temperature {
                    if !(0.0..=2.0).contains(&t) {
                        issues.push(issue("temperature", format!("{t} is not in 0.0..=2.0")));
                    }
                }
                base_ok.then(|| Mode::Openai {
                    endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
                    model,
                    system_prompt: self
                        .system_prompt
                        .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned()),
                    max_tokens: self.max_tokens,
                    temperature: self.temperature,
                })
            }
        };

        // The key: openai mode defaults to OPENAI_API_KEY; webhook mode sends
        // one only when asked. An empty name means "no key".
        let key_env = match (self.mode, self.api_key_env) {
            (_, Some(name)) => name,
            (ModeName::Openai, None) => DEFAULT_API_KEY_ENV.to_owned(),
            (ModeName::Webhook, None) => String::new(),
        };
        let authorization = if key_env.is_empty() {
            None
        } else {
            match env(&key_env).filter(|v| !v.trim().is_empty()) {
                None => {
                    issues.push(issue(
                        "api_key_env",
                        format!(
                            "the environment variable `{key_env}` is not set or empty (it holds \
                             the API key; set api_key_env = \"\" to send none)"
                        ),
                    ));
                    None
                }
                Some(key) => match HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        Some(value)
                    }
                    Err(_) => {
                        issues.push(issue(
                            "api_key_env",
                            format!(
                                "the environment variable `{key_env}` holds characters not \
                                 allowed in an HTTP header"
                            ),
                        ));
                        None
                    }
                },
            }
        };

        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            issues.push(issue(
                "timeout_ms",
                format!("{} is not in 1..={MAX_TIMEOUT_MS}", self.timeout_ms),
            ));
        }

        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                issues.push(issue(key, "not a valid HTTP header name"));
                continue;
            };
            if RESERVED_HEADERS.contains(&header.as_str()) {
                issues.push(issue(key, "set by the client, cannot be overridden"));
                continue;
            }
            if header == "authorization" && authorization.is_some() {
                issues.push(issue(
                    key,
                    format!(
                        "conflicts with the API key from `{key_env}`; set api_key_env = \"\" \
                         to send this header instead"
                    ),
                ));
                continue;
            }
            match HeaderValue::from_str(value) {
                Ok(value) => headers.push((header, value)),
                Err(_) => issues.push(issue(key, "not a valid HTTP header value")),
            }
        }

        match mode {
            Some(mode) if issues.is_empty() => Ok(Settings {
                shown_url: shown_url(match &mode {
                    Mode::Webhook { url } => url,
                    Mode::Openai { endpoint, .. } => endpoint,
                }),
                mode,
                timeout: Duration::from_millis(self.timeout_ms),
                headers,
                authorization,
                apology: self.apology,
                max_history: self.max_history,
                tls_roots: self.tls_roots,
            }),
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    fn env_with_key(name: &str) -> Option<String> {
        (name == "OPENAI_API_KEY" || name == "HOOK_TOKEN").then(|| "sk-test".to_owned())
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn webhook_defaults() {
        let s = parse(r#"{"mode": "webhook", "url": "http://agent.local/turn"}"#)
            .resolve(&no_env)
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(
            s.mode,
            Mode::Webhook {
                url: "http://agent.local/turn".into()
            }
        );
        assert_eq!(s.timeout, Duration::from_millis(5000));
        assert_eq!(s.apology, DEFAULT_APOLOGY);
        assert_eq!(s.max_history, 20);
        assert!(s.authorization.is_none());
        assert!(s.headers.is_empty());
        assert_eq!(s.tls_roots, TlsRoots::System);
    }

    #[test]
    fn openai_defaults() {
        let s = parse(r#"{"mode": "openai", "model": "gpt-4o-mini"}"#)
            .resolve(&env_with_key)
            .unwrap_or_else(|i| panic!("{i:?}"));
        match s.mode {
            Mode::Openai {
                endpoint,
                system_prompt,
                max_tokens,
                temperature,
                ..
            } => {
                assert_eq!(endpoint, "https://api.openai.com/v1/chat/completions");
                assert_eq!(system_prompt, DEFAULT_SYSTEM_PROMPT);
                assert_eq!((max_tokens, temperature), (None, None));
            }
            other => panic!("{other:?}"),
        }
        let auth = s.authorization.unwrap();
        assert_eq!(auth.to_str().unwrap(), "Bearer sk-test");
        assert!(auth.is_sensitive());
    }

    #[test]
    fn trailing_slash_in_base_url() {
        let s = parse(
            r#"{"mode": "openai", "model": "m", "base_url": "http://127.0.0.1:11434/v1/",
                "api_key_env": ""}"#,
        )
        .resolve(&no_env)
        .unwrap_or_else(|i| panic!("{i:?}"));
        assert!(
            matches!(&s.mode, Mode::Openai { endpoint, .. } if endpoint == "http://127.0.0.1:11434/v1/chat/completions")
        );
        assert!(s.authorization.is_none());
    }

    #[test]
    fn missing_key_names_api_key_env_and_the_variable() {
        let issues = parse(r#"{"mode": "openai", "model": "m"}"#)
            .resolve(&no_env)
            .err()
            .unwrap();
        assert_eq!(keys(&issues), ["api_key_env"]);
        assert!(issues[0].message.contains("`OPENAI_API_KEY`"), "{issues:?}");

        let issues = parse(r#"{"mode": "webhook", "url": "http://x", "api_key_env": "NOPE_KEY"}"#)
            .resolve(&no_env)
            .err()
            .unwrap();
        assert_eq!(keys(&issues), ["api_key_env"]);
        assert!(issues[0].message.contains("`NOPE_KEY`"), "{issues:?}");
    }

    #[test]
    fn webhook_may_send_a_bearer_key() {
        let s = parse(r#"{"mode": "webhook", "url": "http://x", "api_key_env": "HOOK_TOKEN"}"#)
            .resolve(&env_with_key)
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(s.authorization.unwrap().to_str().unwrap(), "Bearer sk-test");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let issues = parse(
            r#"{"mode": "webhook", "model": "m", "temperature": 1.0, "timeout_ms": 0,
                "headers": {"bad header": "x", "Content-Type": "text/plain", "X-Ok": "bad\nvalue"}}"#,
        )
        .resolve(&no_env)
        .err()
        .unwrap();
        assert_eq!(
            keys(&issues),
            [
                "model",
                "temperature",
                "url",
                "timeout_ms",
                "headers.Content-Type",
                "headers.X-Ok",
                "headers.bad header"
            ]
        );

        let issues = parse(
            r#"{"mode": "openai", "url": "http://x", "base_url": "ftp://x", "max_tokens": 0,
                "temperature": 3.5}"#,
        )
        .resolve(&env_with_key)
        .err()
        .unwrap();
        assert_eq!(
            keys(&issues),
            ["url", "base_url", "model", "max_tokens", "temperature"]
        );
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            shown_url("https://user:secret@agent.example.com:8443/turn?token=abc"),
            "https://agent.example.com:8443/turn"
        );
        assert_eq!(shown_url("http://127.0.0.1/"), "http://127.0.0.1/");
        let s = parse(r#"{"mode": "webhook", "url": "http://a.example/t?key=k"}"#)
            .resolve(&no_env)
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(s.shown_url, "http://a.example/t");
    }

    #[test]
    fn bad_urls() {
        for url in ["", "agent.local/turn", "http://", "not a url", "ws://x/y"] {
            let json = serde_json::json!({"mode": "webhook", "url": url}).to_string();
            let issues = parse(&json).resolve(&no_env).err().unwrap();
            assert_eq!(keys(&issues), ["url"], "{url}: {issues:?}");
        }
    }

    #[test]
    fn authorization_header_conflicts_with_a_key() {
        let json = r#"{"mode": "openai", "model": "m", "headers": {"Authorization": "Basic x"}}"#;
        let issues = parse(json).resolve(&env_with_key).err().unwrap();
        assert_eq!(keys(&issues), ["headers.Authorization"]);

        let json = r#"{"mode": "openai", "model": "m", "api_key_env": "",
                       "headers": {"Authorization": "Basic x"}}"#;
        let s = parse(json)
            .resolve(&no_env)
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(s.headers.len(), 1);
    }

    #[test]
    fn tls_roots_choice() {
        let s = parse(r#"{"mode": "webhook", "url": "https://x", "tls_roots": "webpki"}"#)
            .resolve(&no_env)
            .unwrap_or_else(|i| panic!("{i:?}"));
        assert_eq!(s.tls_roots, TlsRoots::Webpki);
        assert!(
            serde_json::from_str::<Config>(r#"{"mode": "webhook", "tls_roots": "os"}"#).is_err()
        );
    }

    #[test]
    fn unknown_mode_and_keys_fail_to_parse() {
        assert!(serde_json::from_str::<Config>(r#"{"mode": "grpc"}"#).is_err());
        assert!(serde_json::from_str::<Config>(r#"{"mode": "webhook", "urll": "x"}"#).is_err());
        assert!(serde_json::from_str::<Config>(r#"{"url": "http://x"}"#).is_err());
    }
}
