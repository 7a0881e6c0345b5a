//! What the host asks of each kind of plugin instance, whatever interface
//! generation the plugin was built against. `v1` and `v2` implement these
//! traits over their FFI types; everything else in the host calls them.
//!
//! Contracts the host relies on (and the adapters keep): transport and
//! media-stream methods are quick and never block; STT `finish`, TTS,
//! policy and responder calls may block and run on the host's bounded
//! worker pools; no method panics across the boundary (a plugin panic
//! arrives as [`FailureKind::Panicked`](crate::model::FailureKind)).

use std::sync::Arc;

use crate::model::{
    AnswerPart, CallInfo, Decision, Decoded, Failure, Frame, Hypothesis, OutFrame, Outbound,
    StreamOpen, SttInfo, Transcript, TransportInfo, TtsInfo, Turn, Verdict, WebRequest,
    WebResponse, WebhookOutcome,
};

/// A transport instance.
pub trait TransportApi: Send + Sync {
    /// Routes and media behaviour.
    fn describe(&self) -> Result<TransportInfo, Failure>;
    /// A webhook request.
    fn handle_http(&self, req: &WebRequest) -> Result<WebhookOutcome, Failure>;
    /// The carrier's answer to the host's decision.
    fn answer_call(&self, call: &CallInfo, decision: &Decision) -> Result<WebResponse, Failure>;
    /// Checks an upgrade and creates the stream's protocol state.
    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Box<dyn MediaStreamApi>, Failure>;
}

/// The protocol state of one media WebSocket.
pub trait MediaStreamApi: Send {
    /// Decodes one frame into `out` (cleared by the caller).
    fn on_frame(&mut self, frame: Frame<'_>, out: &mut Decoded) -> Result<(), Failure>;
    /// Encodes one action, appending frames to `out`.
    fn encode(&mut self, action: &Outbound<'_>, out: &mut Vec<OutFrame>) -> Result<(), Failure>;
}

/// Where interim hypotheses of a call's STT session go; called from any
/// thread.
pub trait PartialSink: Send + Sync {
    /// One hypothesis.
    fn partial(&self, hypothesis: Hypothesis);
}

/// A speech-to-text instance.
pub trait SttApi: Send + Sync {
    /// Rate, concurrency, streaming.
    fn describe(&self) -> Result<SttInfo, Failure>;
    /// Opens one call's session. May block (called on the blocking pool).
    fn open_session(
        &self,
        session_id: &str,
        partials: Arc<dyn PartialSink>,
    ) -> Result<Box<dyn SttSessionApi>, Failure>;
}

/// One call's STT state; closed when dropped (drop it off the reactor).
pub trait SttSessionApi: Send + Sync {
    /// Appends audio to an utterance; quick.
    fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), Failure>;
    /// The final transcript of a complete utterance; may block.
    fn finish(&self, utterance: u64) -> Result<Transcript, Failure>;
    /// Abandons an utterance; quick.
    fn cancel(&self, utterance: u64);
}

/// A policy instance.
pub trait PolicyApi: Send + Sync {
    /// Judges a call; may block.
    fn evaluate(&self, call: &CallInfo) -> Result<Verdict, Failure>;
}

/// A text-to-speech instance.
pub trait TtsApi: Send + Sync {
    /// Output rate.
    fn describe(&self) -> Result<TtsInfo, Failure>;
    /// Synthesizes `text`, handing chunks to `sink` until it returns false;
    /// may block.
    fn synthesize(
        &self,
        text: &str,
        session_id: &str,
        sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), Failure>;
}

/// Where a responder's answer goes while it is written.
pub trait AnswerSink {
    /// One piece; `false` when the host no longer wants the answer.
    fn part(&mut self, part: AnswerPart) -> bool;
    /// Whether the host no longer wants the answer.
    fn stopped(&self) -> bool;
}

/// A responder instance.
pub trait ResponderApi: Send + Sync {
    /// Answers a turn into `sink`; may block.
    fn respond(&self, turn: &Turn, sink: &mut dyn AnswerSink) -> Result<(), Failure>;
}
