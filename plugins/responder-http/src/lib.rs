//! The `responder-http` responder: each caller turn goes to the operator's
//! service over HTTP, and its answer is what the caller hears.
//!
//! Two wire contracts, chosen by `mode`:
//!
//! - `webhook`: `POST url` with the turn as JSON (ids, numbers, what the
//!   caller said, the recent history, the call context); the service answers
//!   `{"text": "...", "hangup": false}`.
//! - `openai`: `POST {base_url}/chat/completions` with a system prompt, the
//!   recent history and the new text as chat messages, `Authorization:
//!   Bearer <key from the environment>`; the answer is
//!   `choices[0].message.content`. Works with OpenAI and compatible servers
//!   (vLLM, llama.cpp, Ollama, LiteLLM …).
//!
//! A failing service never fails the call: on a timeout, a transport error,
//! a non-2xx status or a malformed body the caller hears the configured
//! apology, and the answer's `extensions_json` carries
//! `{"error": "...", "error_kind": "..."}` so the host can report it. See
//! `docs/responders/http.md`.
//!
//! The client is blocking (`ureq`): `respond` runs on the host's blocking
//! pool, so nothing async crosses the plugin boundary. One agent per
//! instance keeps connections alive between turns.

mod config;
#[cfg(test)]
mod test_server;
mod wire;

use std::time::{Duration, Instant};

use ureq::{
    http::header::{AUTHORIZATION, CONTENT_TYPE},
    tls::{RootCerts, TlsConfig},
    Agent,
};
use voicegate_plugin_api::{Action, AnswerOut, Context, PluginError, Responder, Turn};

use crate::{
    config::{Config, Mode, Settings, TlsRoots},
    wire::{ChatOptions, Reply},
};

/// Largest response body read; an answer to be spoken is far smaller.
const MAX_BODY_BYTES: u64 = 1 << 20;
/// How much of an error response's body goes into the error message.
const ERROR_BODY_CHARS: usize = 200;

/// Why an exchange with the service failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The whole exchange did not finish within `timeout_ms`.
    #[error("no complete answer from {url} within timeout_ms = {timeout_ms}")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The configured deadline.
        timeout_ms: u128,
    },
    /// Connecting, sending or receiving failed (refused, reset, DNS, TLS).
    #[error("request to {url} failed: {detail}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What the client reported.
        detail: String,
    },
    /// The service answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The body is not JSON.
    #[error("the response is not valid JSON: {0}")]
    Json(String),
    /// The body is JSON, but not the expected answer.
    #[error("the response is not the expected answer: {0}")]
    Shape(String),
}

impl CallError {
    /// A stable name for the class of failure (`error_kind`).
    fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::Status { .. } => "status",
            Self::Json(_) => "invalid_json",
            Self::Shape(_) => "invalid_response",
        }
    }

    fn from_ureq(error: ureq::Error, url: &str, timeout: Duration) -> Self {
        let timed_out = match &error {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        };
        if timed_out {
            Self::Timeout {
                url: url.to_owned(),
                timeout_ms: timeout.as_millis(),
            }
        } else {
            Self::Transport {
                url: url.to_owned(),
                detail: error.to_string(),
            }
        }
    }
}

/// The start of a body, on one line, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(ERROR_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(empty body)".to_owned(),
        None => line,
    }
}

/// A responder instance.
pub struct HttpResponder {
    instance: String,
    settings: Settings,
    agent: Agent,
}

impl HttpResponder {
    /// Builds an instance, reading the API key through `env`.
    fn build(ctx: &Context, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, PluginError> {
        let config: Config = ctx.config()?;
        let settings = config.resolve(env).map_err(PluginError::config)?;
        let roots = match settings.tls_roots {
            TlsRoots::System => RootCerts::PlatformVerifier,
            TlsRoots::Webpki => RootCerts::WebPki,
        };
        let agent = Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            // The total deadline: connection, request, response and body.
            .timeout_global(Some(settings.timeout))
            // Non-2xx answers are read (their body explains the failure).
            .http_status_as_error(false)
            // A redirected POST would silently become a GET: report 3xx.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!(
                "voicegate-responder-http/",
                env!("CARGO_PKG_VERSION")
            ))
            .accept("application/json")
            .build()
            .new_agent();
        Ok(Self {
            instance: ctx.instance().to_owned(),
            settings,
            agent,
        })
    }

    /// One request to the service and its parsed answer.
    fn exchange(&self, turn: &Turn) -> Result<Reply, CallError> {
        let settings = &self.settings;
        let (url, body) = match &settings.mode {
            Mode::Webhook { url } => (url, wire::webhook_request(turn, settings.max_history)),
            Mode::Openai {
                endpoint,
                model,
                system_prompt,
                max_tokens,
                temperature,
            } => (
                endpoint,
                wire::chat_request(
                    turn,
                    &ChatOptions {
                        model,
                        system_prompt,
                        max_tokens: *max_tokens,
                        temperature: *temperature,
                        max_history: settings.max_history,
                    },
                ),
            ),
        };
        let shown = &settings.shown_url;
        let failed = |e| CallError::from_ureq(e, shown, settings.timeout);

        let mut request = self
            .agent
            .post(url.as_str())
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in &settings.headers {
            request = request.header(name, value);
        }
        if let Some(authorization) = &settings.authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let mut response = request.send(body.as_bytes()).map_err(failed)?;
        let status = response.status();
        let read = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec();
        if !status.is_success() {
            // The status is the failure; the body, if readable, explains it.
            return Err(CallError::Status {
                url: shown.clone(),
                status: status.as_u16(),
                body: read.map(|b| snippet(&b)).unwrap_or_default(),
            });
        }
        let bytes = read.map_err(failed)?;
        match settings.mode {
            Mode::Webhook { .. } => wire::webhook_reply(&bytes),
            Mode::Openai { .. } => wire::chat_reply(&bytes),
        }
    }

    /// The apology, with the failure for the host to report.
    fn apologize(&self, error: &CallError, answer: &mut AnswerOut<'_>) {
        answer.degraded(error.kind(), &error.to_string());
        answer.say(&self.settings.apology);
    }
}

impl Responder for HttpResponder {
    fn new(ctx: Context) -> Result<Self, PluginError> {
        Self::build(&ctx, &|name| std::env::var(name).ok())
    }

    fn respond(&self, turn: &Turn, answer: &mut AnswerOut<'_>) -> Result<(), PluginError> {
        let started = Instant::now();
        match self.exchange(turn) {
            Ok(reply) => {
                log::debug!(
                    "Responder `{}` answered session {} in {} ms.",
                    self.instance,
                    turn.session_id,
                    started.elapsed().as_millis()
                );
                if answer.say(&reply.text) && reply.hangup {
                    answer.act(&Action::Hangup);
                }
                Ok(())
            }
            Err(error) => {
                log::warn!(
                    "Responder `{}` failed for session {} after {} ms, answering with the \
                     apology: {error}.",
                    self.instance,
                    turn.session_id,
                    started.elapsed().as_millis()
                );
                self.apologize(&error, answer);
                Ok(())
            }
        }
    }
}

voicegate_plugin_api::export_plugin!(responder = HttpResponder);

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use serde_json::{json, Value};
    use voicegate_plugin_api::{testkit, ErrorKind, KeyValue, Message, Role};

    use super::*;
    use crate::test_server::{Reply as Serve, Server};

    const KEY: &str = "sk-test-123";

    fn responder(config: Value) -> HttpResponder {
        let ctx = testkit::context("agent", "http://x", &config.to_string());
        HttpResponder::build(&ctx, &|name| {
            (name == "TEST_LLM_KEY").then(|| KEY.to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn turn(text: &str) -> Turn {
        Turn {
            session_id: "sess-1".into(),
            turn: 1,
            transport: "twilio".into(),
            call_id: "CA1".into(),
            from: "+15550001".into(),
            to: "+15550002".into(),
            text: text.into(),
            history: vec![
                Message {
                    role: Role::CALLER,
                    text: "Hi".into(),
                },
                Message {
                    role: Role::ASSISTANT,
                    text: "Hello, how can I help?".into(),
                },
            ]
            .into(),
            context: vec![KeyValue::new("account", "42")].into(),
            extensions_json: "{}".into(),
        }
    }

    /// What one answer said, whole.
    struct Said {
        text: String,
        hangup: bool,
        degraded: Option<(String, String)>,
    }

    fn ask(r: &HttpResponder, text: &str) -> Said {
        let mut recorded = testkit::RecordedAnswer::default();
        recorded
            .answer(|out| r.respond(&turn(text), out))
            .unwrap_or_else(|e| panic!("{e}"));
        Said {
            text: recorded.text(),
            hangup: recorded.actions.contains(&Action::Hangup),
            degraded: recorded.degraded.first().cloned(),
        }
    }

    /// Asserts the apology and returns the reported error.
    fn assert_apology(answer: &Said, apology: &str, kind: &str) -> String {
        assert_eq!(answer.text.as_str(), apology);
        assert!(!answer.hangup);
        let (found_kind, error) = answer.degraded.clone().expect("the failure is reported");
        assert_eq!(found_kind, kind, "{error}");
        error
    }

    #[test]
    fn webhook_happy_path() {
        let server = Server::start(vec![Serve::json(
            200,
            r#"{"text": "We open at nine.", "hangup": true, "ignored": 1}"#,
        )]);
        let r = responder(json!({
            "mode": "webhook",
            "url": format!("{}/hooks/turn", server.url),
            "headers": {"X-Tenant": "acme"},
        }));
        let answer = ask(&r, "When do you open?");
        assert_eq!(answer.text.as_str(), "We open at nine.");
        assert!(answer.hangup);
        assert!(answer.degraded.is_none());

        let seen = server.finish();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/hooks/turn")
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("x-tenant"), Some("acme"));
        assert_eq!(req.header("authorization"), None);
        assert_eq!(
            req.json(),
            json!({
                "session_id": "sess-1",
                "call_id": "CA1",
                "transport": "twilio",
                "from": "+15550001",
                "to": "+15550002",
                "text": "When do you open?",
                "history": [
                    {"role": "caller", "text": "Hi"},
                    {"role": "assistant", "text": "Hello, how can I help?"},
                ],
                "context": {"account": "42"},
            })
        );
    }

    #[test]
    fn webhook_hangup_is_optional_and_a_key_is_sent_when_configured() {
        let server = Server::start(vec![Serve::json(200, r#"{"text": "Sure."}"#)]);
        let r = responder(json!({
            "mode": "webhook",
            "url": server.url,
            "api_key_env": "TEST_LLM_KEY",
            "max_history": 1,
        }));
        let answer = ask(&r, "Can you?");
        assert_eq!(answer.text.as_str(), "Sure.");
        assert!(!answer.hangup);
        let seen = server.finish();
        assert_eq!(
            seen[0].header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(
            seen[0].json()["history"],
            json!([{"role": "assistant", "text": "Hello, how can I help?"}])
        );
    }

    #[test]
    fn openai_happy_path() {
        let server = Server::start(vec![Serve::json(
            200,
            r#"{"id": "chatcmpl-1", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": " We open at nine. "}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 5}}"#,
        )]);
        let r = responder(json!({
            "mode": "openai",
            "base_url": format!("{}/v1/", server.url),
            "model": "gpt-4o-mini",
            "system_prompt": "You are the front desk of Acme.",
            "api_key_env": "TEST_LLM_KEY",
            "max_tokens": 80,
            "temperature": 0.2,
        }));
        let answer = ask(&r, "When do you open?");
        assert_eq!(answer.text.as_str(), "We open at nine.");
        assert!(!answer.hangup);

        let seen = server.finish();
        let req = &seen[0];
        assert_eq!(req.path, "/v1/chat/completions");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        let body = req.json();
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["max_tokens"], 80);
        assert!((body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "You are the front desk of Acme."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello, how can I help?"},
                {"role": "user", "content": "When do you open?"},
            ])
        );
    }

    #[test]
    fn timeout_answers_with_the_apology_in_time() {
        let timeout_ms = 300;
        let server = Server::start(vec![Serve::json(200, r#"{"text": "too late"}"#)
            .after(Duration::from_millis(timeout_ms + 4000))]);
        let r = responder(json!({
            "mode": "webhook",
            "url": server.url,
            "timeout_ms": timeout_ms,
            "apology": "One moment please.",
        }));
        let started = Instant::now();
        let answer = ask(&r, "Hello?");
        let took = started.elapsed();
        assert!(
            // The server answers 4 s late; returning well before that shows
            // the deadline fired (the margin absorbs a loaded CI machine).
            took >= Duration::from_millis(timeout_ms - 50)
                && took < Duration::from_millis(timeout_ms + 2500),
            "{took:?}"
        );
        let error = assert_apology(&answer, "One moment please.", "timeout");
        assert!(error.contains("timeout_ms = 300"), "{error}");
        server.finish();
    }

    #[test]
    fn the_deadline_covers_a_slow_body() {
        let timeout_ms = 300;
        let server = Server::start(vec![Serve::stalled_body(Duration::from_millis(
            timeout_ms + 4000,
        ))]);
        let r = responder(json!({"mode": "webhook", "url": server.url, "timeout_ms": timeout_ms}));
        let started = Instant::now();
        let answer = ask(&r, "Hello?");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(timeout_ms + 2500), "{took:?}");
        assert_apology(&answer, config::DEFAULT_APOLOGY, "timeout");
        server.finish();
    }

    #[test]
    fn http_500_answers_with_the_apology_and_the_status() {
        let server = Server::start(vec![Serve::json(
            500,
            r#"{"error": {"message": "model overloaded"}}"#,
        )]);
        let r = responder(json!({
            "mode": "openai",
            "base_url": server.url,
            "model": "m",
            "api_key_env": "",
        }));
        let answer = ask(&r, "Hello?");
        let error = assert_apology(&answer, config::DEFAULT_APOLOGY, "status");
        assert!(error.contains("HTTP 500"), "{error}");
        assert!(error.contains("model overloaded"), "{error}");
        assert_eq!(server.finish()[0].header("authorization"), None);
    }

    #[test]
    fn redirects_are_failures_not_followed() {
        let server = Server::start(vec![Serve::json(302, "").with_header("Location", "/x")]);
        let r = responder(json!({"mode": "webhook", "url": server.url}));
        let answer = ask(&r, "Hello?");
        let error = assert_apology(&answer, config::DEFAULT_APOLOGY, "status");
        assert!(error.contains("HTTP 302"), "{error}");
        assert_eq!(server.finish().len(), 1);
    }

    #[test]
    fn invalid_json_answers_with_the_apology() {
        let server = Server::start(vec![
            Serve::json(200, "<html>Bad gateway</html>"),
            Serve::json(200, r#"{"reply": "x"}"#),
            Serve::json(200, r#"{"choices": []}"#),
        ]);
        let webhook = responder(json!({"mode": "webhook", "url": server.url}));
        let answer = ask(&webhook, "Hello?");
        assert_apology(&answer, config::DEFAULT_APOLOGY, "invalid_json");

        let answer = ask(&webhook, "Hello?");
        let error = assert_apology(&answer, config::DEFAULT_APOLOGY, "invalid_response");
        assert!(error.contains("missing field `text`"), "{error}");

        let openai = responder(json!({
            "mode": "openai", "base_url": server.url, "model": "m", "api_key_env": "TEST_LLM_KEY",
        }));
        let answer = ask(&openai, "Hello?");
        let error = assert_apology(&answer, config::DEFAULT_APOLOGY, "invalid_response");
        assert!(error.contains("`choices` is empty"), "{error}");
        assert_eq!(server.finish().len(), 3);
    }

    #[test]
    fn connection_refused_answers_with_the_apology_at_once() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let r = responder(json!({
            "mode": "webhook",
            "url": format!("http://127.0.0.1:{port}/turn"),
            "apology": "",
        }));
        let started = Instant::now();
        let answer = ask(&r, "Hello?");
        assert!(started.elapsed() < Duration::from_secs(5));
        let error = assert_apology(&answer, "", "transport");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    }

    #[test]
    fn errors_do_not_show_tokens_from_the_url() {
        let server = Server::start(vec![Serve::json(503, "busy")]);
        let url = server.url.replace("http://", "http://user:pw@");
        let r = responder(json!({"mode": "webhook", "url": format!("{url}/turn?token=s3cret")}));
        let answer = ask(&r, "Hello?");
        let error = assert_apology(&answer, config::DEFAULT_APOLOGY, "status");
        assert!(error.contains(&format!("{}/turn", server.url)), "{error}");
        assert!(
            !error.contains("s3cret") && !error.contains("pw"),
            "{error}"
        );
        let seen = server.finish();
        assert_eq!(seen[0].path, "/turn?token=s3cret");
    }

    #[test]
    fn config_errors_name_their_keys() {
        let ctx = testkit::context(
            "agent",
            "http://x",
            r#"{"mode": "openai", "model": "m",
                "api_key_env": "VOICEGATE_RESPONDER_HTTP_TEST_SURELY_UNSET"}"#,
        );
        let err = HttpResponder::new(ctx).err().unwrap();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues.len(), 1);
        assert_eq!(err.issues[0].key.as_str(), "api_key_env");
        assert!(
            err.to_string()
                .contains("VOICEGATE_RESPONDER_HTTP_TEST_SURELY_UNSET"),
            "{err}"
        );

        let ctx = testkit::context("agent", "http://x", r#"{"mode": "webhook"}"#);
        let err = HttpResponder::new(ctx).err().unwrap();
        assert_eq!(err.issues[0].key.as_str(), "url");

        let ctx = testkit::context(
            "agent",
            "http://x",
            r#"{"mode": "webhook", "url": "http://x", "timeout": 5}"#,
        );
        let err = HttpResponder::new(ctx).err().unwrap();
        assert!(err.to_string().contains("timeout"), "{err}");

        let ctx = testkit::context("agent", "http://x", r#"{"mode": "smtp"}"#);
        let err = HttpResponder::new(ctx).err().unwrap();
        assert_eq!(err.issues[0].key.as_str(), "mode");
    }

    #[test]
    fn snippets_are_short_single_lines() {
        assert_eq!(snippet(b""), "(empty body)");
        assert_eq!(snippet(b"a\n  b\tc"), "a b c");
        let long = "x".repeat(500);
        assert_eq!(
            snippet(long.as_bytes()).chars().count(),
            ERROR_BODY_CHARS + 1
        );
    }
}
