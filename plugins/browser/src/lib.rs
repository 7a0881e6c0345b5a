//! The browser transport: a web page that talks to the agent.
//!
//! Routes under `/api/voice/<instance>/`:
//!
//! * `GET ` (the instance's root): the page; `app.js`, `worklet.js`,
//!   `style.css` beside it. Everything ships inside this library
//!   (`include_str!`), and the page uses relative URLs only, so any
//!   instance name works and nothing is fetched from elsewhere.
//! * `GET whoami`: who the page would call as, or why it may not (a browser
//!   cannot read why a WebSocket upgrade was refused).
//! * `WS ws`: the call. The page sends `hello`, then 16 kHz 16-bit
//!   little-endian mono PCM in binary frames of 20 ms; it receives `ready`,
//!   the call's events, and the agent's speech as binary PCM with marks.
//!
//! The route has no `{session_id}`: the stream opens its own call, which
//! goes through the policy chain like a phone call (channel BROWSER, caller
//! `client:<identity>`). Protocol and configuration:
//! `docs/transports/browser.md`.

pub mod assets;
pub mod config;
pub mod identity;
pub mod protocol;
pub mod stream;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use voicegate_plugin_api::{
    CallDecision, CallRequest, Capabilities, Channel, Context, ErrorKind, Host, HttpOutcome,
    HttpRequest, HttpResponse, MediaFormat, PluginError, RString, Route, StreamOpen, Transport,
    TransportInfo,
};

pub use crate::{config::Config, stream::BrowserStream};

/// The WebSocket route, relative to the instance prefix.
pub const WS_PATH: &str = "ws";

/// One browser transport instance.
pub struct Browser {
    config: Config,
    host: Host,
    /// Numbers this instance's calls (with the clock, a unique call id).
    calls: AtomicU64,
}

impl Browser {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn next_call_id(&self) -> String {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        format!("web-{:x}-{n}", self.host.now_unix_ms())
    }
}

/// A JSON response that no cache keeps.
fn json_response(status: u16, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::new(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body.to_string().into_bytes())
}

impl Transport for Browser {
    type Stream = BrowserStream;

    fn new(ctx: Context) -> Result<Self, PluginError> {
        let config = Config::from_context(&ctx)?;
        if config.allow_anonymous {
            log::info!(
                "Browser transport `{}`: anonymous callers are allowed (allow_anonymous = true); \
                 expose it beyond this machine only with `tokens` or `identity_header`.",
                ctx.instance()
            );
        }
        Ok(Self {
            config,
            host: ctx.host().clone(),
            calls: AtomicU64::new(1),
        })
    }

    fn describe(&self) -> Result<TransportInfo, PluginError> {
        let mut routes = vec![Route::http(
            "GET",
            "",
            "the voice page (open it in a browser and talk)",
        )];
        for asset in assets::ASSETS {
            routes.push(Route::http("GET", asset.path, asset.description));
        }
        routes.push(Route::http(
            "GET",
            "whoami",
            "who the page calls as, or why it may not",
        ));
        routes.push(Route::websocket(
            WS_PATH,
            "browser call: JSON control, 16 kHz L16 audio both ways (protocol v1)",
        ));
        Ok(TransportInfo {
            routes: routes.into(),
            capabilities: Capabilities::OUTBOUND_AUDIO
                .with(Capabilities::MARKS)
                .with(Capabilities::CLEAR)
                .with(Capabilities::HANGUP)
                .with(Capabilities::EVENTS),
            outbound_format: MediaFormat {
                encoding: stream::ENCODING.into(),
                sample_rate: stream::OUTPUT_RATE,
                channels: 1,
            },
            frame_ms: stream::FRAME_MS,
            channel: Channel::BROWSER,
            extensions_json: RString::new(),
        })
    }

    fn handle_http(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
        let path = req.path.as_str().trim_matches('/');
        if path.is_empty() && !req.full_path.ends_with('/') {
            // The page's URLs are relative: `…/browser` would resolve
            // `app.js` against `/api/voice/`.
            let mut location = format!("{}/", req.full_path);
            if !req.query.is_empty() {
                location.push('?');
                location.push_str(req.query.as_str());
            }
            return Ok(HttpOutcome::Respond(
                HttpResponse::new(308).header("location", &location),
            ));
        }
        if path == "whoami" {
            let response = match identity::resolve(&self.config, req) {
                Ok(id) => json_response(
                    200,
                    &json!({
                        "identity": id.caller,
                        "source": id.source.name(),
                        "versions": protocol::VERSIONS,
                    }),
                ),
                Err(error) => json_response(
                    403,
                    &json!({ "error": error.message.as_str(), "code": "unauthorized" }),
                ),
            };
            return Ok(HttpOutcome::Respond(response));
        }
        match assets::find(path) {
            Some(asset) => Ok(HttpOutcome::Respond(asset.response())),
            None => Err(PluginError::new(
                ErrorKind::NOT_FOUND,
                format!("no page `{}`", protocol::shown(path, 64)),
            )),
        }
    }

    fn answer_call(
        &self,
        _call: &CallRequest,
        _decision: &CallDecision,
    ) -> Result<HttpResponse, PluginError> {
        // Browser calls start on the WebSocket, never through a webhook.
        Err(PluginError::unsupported(
            "the browser transport has no call webhook",
        ))
    }

    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Self::Stream, PluginError> {
        let req = &open.request;
        identity::check_origin(&self.config, req)?;
        let identity = identity::resolve(&self.config, req)?;
        let header = |name: &str| {
            req.header(name)
                .map(|v| protocol::shown(v, 200))
                .unwrap_or_default()
        };
        Ok(BrowserStream::new(stream::Caller {
            call_id: self.next_call_id(),
            identity,
            to: self.config.to.clone(),
            remote_addr: req.remote_addr.to_string(),
            user_agent: header("user-agent"),
            origin: header("origin"),
        }))
    }
}

voicegate_plugin_api::export_plugin!(transport = Browser);
