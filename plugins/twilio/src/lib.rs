//! The Twilio Media Streams transport.
//!
//! * `POST inbound`: the voice webhook. Checks `X-Twilio-Signature`, reports
//!   the call to the host ([`HttpOutcome::NewCall`]) and, once the host has
//!   decided, answers TwiML: `<Connect><Stream>` (or `<Start><Stream>` in
//!   listen mode) to the session's stream URL, or a polite refusal.
//! * `POST status`: the call status callback; a final status ends the call.
//! * `WS stream/{session_id}`: Media Streams. JSON text frames in, µ-law
//!   8 kHz decoded to PCM; audio, marks and clear out.
//!
//! Sans-I/O: the host owns every socket. Operator guide:
//! `docs/transports/twilio.md`; protocol facts: `docs/protocols.md` (a)–(c).

pub mod config;
pub mod messages;
pub mod sid;
pub mod signature;
pub mod stream;
pub mod twiml;
pub mod webhook;

use voicegate_plugin_api::{
    CallDecision, CallRequest, Capabilities, Channel, Context, HttpOutcome, HttpRequest,
    HttpResponse, MediaFormat, PluginError, RString, Route, StreamOpen, Transport, TransportInfo,
};

pub use crate::{
    config::{Config, DenyAction, Mode},
    signature::Signer,
    stream::TwilioStream,
};

/// Duration of one outbound frame: 160 samples at 8 kHz.
pub const FRAME_MS: u32 = 20;

/// One Twilio transport instance.
pub struct Twilio {
    config: Config,
    /// `None` when `validate_signatures = false`.
    signer: Option<Signer>,
}

impl Twilio {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Transport for Twilio {
    type Stream = TwilioStream;

    fn new(ctx: Context) -> Result<Self, PluginError> {
        let config = Config::from_context(&ctx)?;
        let signer = config.signing_key().map(Signer::new);
        if signer.is_none() {
            log::warn!(
                "Twilio transport `{}`: signature validation is OFF (validate_signatures = false): \
                 anyone who can reach its webhook and stream URLs can start calls and inject audio. \
                 Use this for local tests only, never in production.",
                ctx.instance()
            );
        }
        if ctx.public_url().starts_with("http://") {
            log::info!(
                "Twilio transport `{}`: server.public_url is http://, so stream URLs are ws://; \
                 Twilio itself only connects to wss:// (fine for local tests).",
                ctx.instance()
            );
        }
        Ok(Self { config, signer })
    }

    fn describe(&self) -> Result<TransportInfo, PluginError> {
        let capabilities = match self.config.mode {
            Mode::Connect => Capabilities::OUTBOUND_AUDIO
                .with(Capabilities::MARKS)
                .with(Capabilities::CLEAR)
                .with(Capabilities::DTMF)
                .with(Capabilities::HANGUP),
            Mode::Listen => Capabilities::HANGUP,
        };
        Ok(TransportInfo {
            routes: vec![
                Route::http(
                    "POST",
                    webhook::INBOUND,
                    "Twilio voice webhook (A call comes in): answers TwiML",
                ),
                Route::http(
                    "POST",
                    webhook::STATUS,
                    "Twilio call status callback: ends the session on a final status",
                ),
                Route::websocket("stream/{session_id}", "Twilio Media Streams WebSocket"),
            ]
            .into(),
            capabilities,
            outbound_format: MediaFormat {
                encoding: stream::ENCODING.into(),
                sample_rate: stream::SAMPLE_RATE,
                channels: 1,
            },
            frame_ms: FRAME_MS,
            channel: Channel::PSTN,
            extensions_json: RString::new(),
        })
    }

    fn handle_http(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
        webhook::handle(self.signer.as_ref(), req)
    }

    fn answer_call(
        &self,
        _call: &CallRequest,
        decision: &CallDecision,
    ) -> Result<HttpResponse, PluginError> {
        let body = match decision {
            CallDecision::Accept(accepted) => twiml::accept(&self.config, accepted),
            CallDecision::Reject(rejected) => twiml::reject(&self.config, rejected),
        };
        Ok(HttpResponse::ok("text/xml", body))
    }

    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Self::Stream, PluginError> {
        if let Some(signer) = &self.signer {
            signer.check_upgrade(&open.request)?;
        }
        Ok(TwilioStream::new(
            self.config.mode,
            open.session_id.as_str(),
            open.call.into_option(),
        ))
    }
}

voicegate_plugin_api::export_plugin!(transport = Twilio);
