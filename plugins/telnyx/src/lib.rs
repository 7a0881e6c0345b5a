//! The Telnyx transport, through TeXML.
//!
//! * `POST inbound`: the TeXML application's voice webhook. Checks the
//!   Ed25519 signature (`telnyx-signature-ed25519` over
//!   `"{telnyx-timestamp}|{body}"`), reports the call to the host
//!   ([`HttpOutcome::NewCall`]) and, once the host has decided, answers
//!   TeXML: `<Connect><Stream bidirectionalMode="rtp">` to the session's
//!   stream URL, or a refusal.
//! * `POST status`: the call status callback; a final status ends the call.
//! * `WS stream/{session_id}`: Telnyx media streaming. JSON text frames in,
//!   PCMU/PCMA (or L16, big-endian) at 8 or 16 kHz decoded to PCM; audio,
//!   marks and clear out in the bidirectional codec.
//!
//! Why TeXML rather than Call Control: TeXML answers the call in the webhook
//! response, which is what a sans-I/O plugin can do; Call Control needs the
//! application to call Telnyx's REST API (`actions/answer` with
//! `stream_url`), an outbound request the host does not make for plugins.
//! Operator guide: `docs/transports/telnyx.md`; protocol facts:
//! `docs/protocols.md` (d).

pub mod config;
pub mod messages;
pub mod signature;
pub mod stream;
pub mod texml;
pub mod webhook;

use voicegate_plugin_api::{
    CallDecision, CallRequest, Capabilities, Channel, Context, Host, HttpOutcome, HttpRequest,
    HttpResponse, MediaFormat, PluginError, RString, Route, StreamOpen, Transport, TransportInfo,
};

pub use crate::{
    config::{Config, DenyAction, StreamCodec},
    signature::Verifier,
    stream::TelnyxStream,
};

/// Duration of one outbound frame: 160 samples at 8 kHz.
pub const FRAME_MS: u32 = 20;

/// One Telnyx transport instance.
pub struct Telnyx {
    config: Config,
    /// `None` when `validate_signatures = false`.
    verifier: Option<Verifier>,
    host: Host,
}

impl Telnyx {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Transport for Telnyx {
    type Stream = TelnyxStream;

    fn new(ctx: Context) -> Result<Self, PluginError> {
        let (config, verifier) = Config::from_context(&ctx)?;
        if verifier.is_none() {
            log::warn!(
                "Telnyx transport `{}`: signature validation is OFF (validate_signatures = false): \
                 anyone who can reach its webhook URL can start calls. \
                 Use this for local tests only, never in production.",
                ctx.instance()
            );
        }
        if config.allow_get {
            log::warn!(
                "Telnyx transport `{}`: allow_get = true: the query of a GET webhook is not \
                 covered by Telnyx's signature; prefer POST.",
                ctx.instance()
            );
        }
        if ctx.public_url().starts_with("http://") {
            log::info!(
                "Telnyx transport `{}`: server.public_url is http://, so stream URLs are ws://; \
                 Telnyx connects to wss:// in production (fine for local tests).",
                ctx.instance()
            );
        }
        Ok(Self {
            config,
            verifier,
            host: ctx.host().clone(),
        })
    }

    fn describe(&self) -> Result<TransportInfo, PluginError> {
        // Every method reaches the plugin, so a GET from a TeXML application
        // left at Telnyx's default method gets a 400 that says what to change
        // rather than the host's bare 404.
        Ok(TransportInfo {
            routes: vec![
                Route::http(
                    "*",
                    webhook::INBOUND,
                    "Telnyx TeXML voice URL (POST; GET with allow_get): answers TeXML",
                ),
                Route::http(
                    "*",
                    webhook::STATUS,
                    "Telnyx TeXML status callback (POST; GET with allow_get): \
                     ends the session on a final status",
                ),
                Route::websocket("stream/{session_id}", "Telnyx media streaming WebSocket"),
            ]
            .into(),
            capabilities: Capabilities::OUTBOUND_AUDIO
                .with(Capabilities::MARKS)
                .with(Capabilities::CLEAR)
                .with(Capabilities::DTMF)
                .with(Capabilities::HANGUP),
            outbound_format: MediaFormat {
                encoding: self.config.codec.name().into(),
                sample_rate: stream::OUTBOUND_RATE,
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
            allow_get: self.config.allow_get,
            host: &self.host,
        }
        .handle(req)
    }

    fn answer_call(
        &self,
        _call: &CallRequest,
        decision: &CallDecision,
    ) -> Result<HttpResponse, PluginError> {
        let body = match decision {
            CallDecision::Accept(accepted) => texml::accept(&self.config, accepted),
            CallDecision::Reject(rejected) => texml::reject(&self.config, rejected),
        };
        Ok(HttpResponse::ok("text/xml", body))
    }

    /// Telnyx signs no WebSocket upgrade for TeXML streams: the session id
    /// in the URL (unguessable, single use, bound to the signed webhook's
    /// call) is the credential, and `start` must echo the session.
    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Self::Stream, PluginError> {
        Ok(TelnyxStream::new(
            open.session_id.as_str(),
            open.call.into_option(),
            self.config.codec,
        ))
    }
}

voicegate_plugin_api::export_plugin!(transport = Telnyx);
