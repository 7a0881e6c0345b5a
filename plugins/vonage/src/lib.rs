//! The Vonage Voice API transport.
//!
//! * `GET answer` (POST too): the answer webhook. Checks the signed-webhook
//!   JWT (`Authorization: Bearer`, HS256 with the signature secret, `iat`
//!   and `payload_hash`), reports the call to the host
//!   ([`HttpOutcome::NewCall`]) and, once the host has decided, answers an
//!   NCCO: `connect` to the session's WebSocket with
//!   `audio/l16;rate=16000` (or 8000), or a `talk` that ends the call.
//! * `POST event` (GET too): the event webhook; a final status of the
//!   call's leg ends the session.
//! * `WS stream/{session_id}`: Vonage's WebSocket. A JSON
//!   `websocket:connected` first, then binary 16-bit little-endian PCM both
//!   ways; DTMF and notify acks as JSON text. There is no stop message: the
//!   socket closing ends the stream.
//!
//! Vonage does not sign the WebSocket upgrade. The session id in the URL
//! (unguessable, single use, bound to the signed answer webhook's call) is
//! the credential; on top of it, a per-session token travels in the NCCO's
//! headers and must come back in `websocket:connected`.
//! Operator guide: `docs/transports/vonage.md`; protocol facts:
//! `docs/protocols.md` (e).

pub mod config;
pub mod jwt;
pub mod ncco;
pub mod stream;
pub mod webhook;

use voicegate_plugin_api::{
    CallDecision, CallRequest, Capabilities, Channel, Context, Host, HttpOutcome, HttpRequest,
    HttpResponse, MediaFormat, PluginError, RString, Route, StreamOpen, Transport, TransportInfo,
};

pub use crate::{config::Config, jwt::Verifier, stream::VonageStream};

/// Duration of one outbound frame (320 or 640 bytes).
pub const FRAME_MS: u32 = 20;

/// One Vonage transport instance.
pub struct Vonage {
    config: Config,
    /// `None` when `validate_signatures = false`.
    verifier: Option<Verifier>,
    host: Host,
}

impl Vonage {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Transport for Vonage {
    type Stream = VonageStream;

    fn new(ctx: Context) -> Result<Self, PluginError> {
        let config = Config::from_context(&ctx)?;
        let verifier = config.verifier();
        if verifier.is_none() {
            log::warn!(
                "Vonage transport `{}`: signature validation is OFF (validate_signatures = false): \
                 anyone who can reach its webhook URLs can start and end calls. \
                 Use this for local tests only, never in production.",
                ctx.instance()
            );
        }
        if config.stream_token_key().is_none() {
            log::info!(
                "Vonage transport `{}`: no stream token; the WebSocket is authenticated by its \
                 session URL alone.",
                ctx.instance()
            );
        }
        Ok(Self {
            verifier,
            config,
            host: ctx.host().clone(),
        })
    }

    fn describe(&self) -> Result<TransportInfo, PluginError> {
        Ok(TransportInfo {
            routes: vec![
                Route::http(
                    "*",
                    webhook::ANSWER,
                    "Vonage answer webhook (GET or POST): answers an NCCO",
                ),
                Route::http(
                    "*",
                    webhook::EVENT,
                    "Vonage event webhook (POST or GET): ends the session on a final status",
                ),
                Route::websocket("stream/{session_id}", "Vonage Voice API WebSocket (L16)"),
            ]
            .into(),
            capabilities: Capabilities::OUTBOUND_AUDIO
                .with(Capabilities::MARKS)
                .with(Capabilities::CLEAR)
                .with(Capabilities::DTMF)
                .with(Capabilities::HANGUP),
            outbound_format: MediaFormat {
                encoding: stream::ENCODING.into(),
                sample_rate: self.config.sample_rate,
                channels: 1,
            },
            frame_ms: FRAME_MS,
            channel: Channel::PSTN,
            extensions_json: RString::new(),
        })
    }

    fn handle_http(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
        webhook::Webhooks {
            verifier: self.verifier.as_ref(),
            host: &self.host,
        }
        .handle(req)
    }

    fn answer_call(
        &self,
        _call: &CallRequest,
        decision: &CallDecision,
    ) -> Result<HttpResponse, PluginError> {
        let ncco = match decision {
            CallDecision::Accept(accepted) => ncco::accept(&self.config, accepted),
            CallDecision::Reject(rejected) => ncco::reject(&self.config, rejected),
        };
        Ok(HttpResponse::ok("application/json", ncco.to_string()))
    }

    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Self::Stream, PluginError> {
        Ok(VonageStream::new(
            open.session_id.as_str(),
            open.call.into_option(),
            self.config.sample_rate,
            self.config.stream_token_key(),
        ))
    }
}

voicegate_plugin_api::export_plugin!(transport = Vonage);
