//! The author layer: plain Rust traits a plugin implements.
//!
//! Implement one or more of these for your types and name them in
//! [`crate::export_plugin!`]. Every method, and dropping every object you
//! hand the host, runs inside a panic guard; a panic becomes an error of
//! kind [`crate::ErrorKind::PANICKED`] for that one call.
//!
//! Threading: the host may call a `&self` method from several threads at
//! once (instances are shared), and calls `&mut self` stream methods from one
//! task at a time. Transport methods must not block: no sleeps, no network,
//! no locks held for long; the host calls them on its network threads.
//! Policy, STT `finish`, TTS and responder methods run on the host's bounded
//! worker pools, each with a deadline, and may take their time within it.

mod answer;
mod context;
mod host;
mod io;
mod stt;

pub use answer::AnswerOut;
pub use context::Context;
pub use host::Host;
pub use io::{AudioOut, Events, Frames};
pub(crate) use stt::Buffered;
pub use stt::{Cancel, Partials, SttSession};

use crate::types::{
    CallDecision, CallRequest, HttpOutcome, HttpRequest, HttpResponse, OutboundAction, PluginError,
    StreamOpen, SttInfo, SttRequest, SttSessionOpen, Transcript, TransportInfo, TtsInfo,
    TtsRequest, Turn, Verdict, WsFrame,
};

fn no_extension(op: &str) -> Result<String, PluginError> {
    Err(PluginError::unsupported(format!(
        "extension operation `{op}` is not supported"
    )))
}

/// A carrier or client protocol adapter: sans-I/O, the host owns sockets.
pub trait Transport: Send + Sync + Sized + 'static {
    /// The per-WebSocket protocol state.
    type Stream: MediaStream;

    /// Creates an instance from its config table.
    fn new(ctx: Context) -> Result<Self, PluginError>;

    /// The routes served and the media behaviour.
    fn describe(&self) -> Result<TransportInfo, PluginError>;

    /// Handles a request on one of the HTTP routes.
    fn handle_http(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError>;

    /// Renders the host's decision on a call this transport reported through
    /// [`HttpOutcome::NewCall`] as the carrier's response (TwiML, NCCO …).
    fn answer_call(
        &self,
        call: &CallRequest,
        decision: &CallDecision,
    ) -> Result<HttpResponse, PluginError>;

    /// Validates a WebSocket upgrade and creates its protocol state.
    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Self::Stream, PluginError>;

    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// The protocol state of one media WebSocket.
pub trait MediaStream: Send + 'static {
    /// Decodes one inbound frame into audio and events.
    fn on_frame(&mut self, frame: WsFrame<'_>, out: &mut Events<'_>) -> Result<(), PluginError>;

    /// Encodes one outbound action into zero or more frames.
    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError>;

    /// Escape hatch for operations without a method yet.
    fn call_ext(&mut self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// Speech to text, one whole utterance at a time (whisper.cpp and most
/// local engines). The host turns it into an STT session: it buffers what
/// it pushes and calls [`Stt::transcribe`] when the utterance is finished,
/// with a [`Cancel`] that trips when the host abandons the utterance.
/// Engines that transcribe while audio arrives implement [`StreamingStt`].
pub trait Stt: Send + Sync + Sized + 'static {
    /// Creates an instance (load the model here, once).
    fn new(ctx: Context) -> Result<Self, PluginError>;
    /// The sample rate wanted and the useful concurrency.
    fn describe(&self) -> Result<SttInfo, PluginError>;
    /// Transcribes one utterance. Called on one of the host's STT workers;
    /// check `cancel` where the engine allows and return
    /// [`PluginError::cancelled`] when it trips.
    fn transcribe(&self, req: &SttRequest<'_>, cancel: &Cancel) -> Result<Transcript, PluginError>;
    /// Warms per-call state when a call is accepted.
    fn prepare_call(&self, _session_id: &str) -> Result<(), PluginError> {
        Ok(())
    }
    /// Frees per-call state.
    fn end_call(&self, _session_id: &str) -> Result<(), PluginError> {
        Ok(())
    }
    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// Speech to text that works while the caller speaks (a remote streaming
/// API, an incremental local engine): one session per call, interim
/// hypotheses through [`Partials`] from any thread.
pub trait StreamingStt: Send + Sync + Sized + 'static {
    /// One call's state.
    type Session: SttSession;
    /// Creates an instance.
    fn new(ctx: Context) -> Result<Self, PluginError>;
    /// The sample rate, concurrency, and `streaming` (set it to `true` to
    /// get audio frame by frame while the caller speaks).
    fn describe(&self) -> Result<SttInfo, PluginError>;
    /// Opens the session of one call.
    fn open_session(
        &self,
        open: &SttSessionOpen<'_>,
        partials: Partials,
    ) -> Result<Self::Session, PluginError>;
    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// Call admission policy.
pub trait Policy: Send + Sync + Sized + 'static {
    /// Creates an instance.
    fn new(ctx: Context) -> Result<Self, PluginError>;
    /// Judges a call. Counters and the clock come from the [`Host`] in the
    /// construction context.
    fn evaluate(&self, call: &CallRequest) -> Result<Verdict, PluginError>;
    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// Text to speech.
pub trait Tts: Send + Sync + Sized + 'static {
    /// Creates an instance.
    fn new(ctx: Context) -> Result<Self, PluginError>;
    /// The sample rate of the audio produced.
    fn describe(&self) -> Result<TtsInfo, PluginError>;
    /// Synthesizes `req.text`, streaming chunks into `out` as they are ready.
    fn synthesize(&self, req: &TtsRequest<'_>, out: &mut AudioOut<'_>) -> Result<(), PluginError>;
    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}

/// The agent: answers a caller's turn, streaming the answer as it is
/// written.
pub trait Responder: Send + Sync + Sized + 'static {
    /// Creates an instance.
    fn new(ctx: Context) -> Result<Self, PluginError>;
    /// Answers one turn: write text with [`AnswerOut::say`] as it arrives
    /// (the host starts speaking before the answer is complete) and actions
    /// with [`AnswerOut::act`]. When either returns `false`, or
    /// [`AnswerOut::stopped`] turns true, the host no longer wants the
    /// answer: return promptly. Called on one of the host's responder
    /// workers.
    fn respond(&self, turn: &Turn, answer: &mut AnswerOut<'_>) -> Result<(), PluginError>;
    /// Escape hatch for operations without a method yet.
    fn call_ext(&self, op: &str, _payload: &str) -> Result<String, PluginError> {
        no_extension(op)
    }
}
