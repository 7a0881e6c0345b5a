//! FFI-safe trait objects. The host calls plugin-implemented ones and hands
//! plugins host-implemented ones (services, sinks).
//!
//! Every plugin-implemented method returns `RResult` (or a plain value) and
//! runs inside the author layer's panic guard, and so does dropping a
//! plugin object: a bug in one plugin call becomes an error for that call
//! instead of ending the process. The host guards its own implementations
//! the same way.
//!
//! Growth within 2.x: a later minor may append methods after a trait's
//! `last_prefix_field`, each with a default body; a host or plugin that
//! lacks them falls back to the default at run time (see
//! docs/plugin-api-versioning.md). Nothing above that line ever changes.

// The generated code of `#[sabi_trait]` trips these.
#![allow(
    missing_docs,
    non_camel_case_types,
    non_local_definitions,
    clippy::needless_lifetimes
)]

use abi_stable::{
    sabi_trait,
    sabi_types::RMut,
    std_types::{RArc, RBox, RResult, RSlice, RStr, RString},
};

use crate::types::{
    Action, CallDecision, CallRequest, HttpOutcome, HttpRequest, HttpResponse, Hypothesis,
    LogLevel, LogRecord, OutboundAction, PluginError, StreamEvent, StreamOpen, SttInfo,
    SttSessionOpen, Transcript, TransportInfo, TtsInfo, TtsRequest, Turn, Verdict, WsFrame,
};

/// Services the host offers every instance. Implemented by the host, one
/// object per instance (its logs carry the instance's name).
#[sabi_trait]
pub trait HostServicesFfi: Send + Sync {
    /// Wall-clock time, milliseconds since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
    /// The most verbose level the host will keep; plugins skip the rest.
    fn max_log_level(&self) -> LogLevel;
    /// Emits a log record tagged with the plugin and instance.
    fn log(&self, record: &LogRecord<'_>);
    /// Counts one hit for `key` and returns the hits within the last
    /// `window_ms`, this one included. May block if a shared store backs
    /// it: the host calls policies on its policy workers, never on the
    /// reactor.
    fn counter_hit(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError>;
    /// The hits within the last `window_ms`, without counting one.
    fn counter_get(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError>;
    /// Escape hatch for services without a method yet.
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// Shared handle to the host's services.
pub type HostServicesBox = HostServicesFfi_TO<'static, RArc<()>>;

/// Another handle to the same host services (a reference-count increment).
pub fn clone_host(host: &HostServicesBox) -> HostServicesBox {
    HostServicesFfi_TO::from_sabi(host.obj.shallow_clone())
}

/// Receives what a media stream decoded from one frame. Implemented by the host.
#[sabi_trait]
pub trait EventSinkFfi {
    /// PCM audio at `sample_rate`, `timestamp_ms` from the stream start.
    fn audio(&mut self, pcm: RSlice<'_, i16>, sample_rate: u32, timestamp_ms: u64);
    /// A non-audio event.
    fn event(&mut self, event: StreamEvent);
    /// A frame to send back to the peer right away (protocol replies).
    #[sabi(last_prefix_field)]
    fn reply(&mut self, frame: WsFrame<'_>);
}

/// Borrowed event sink.
pub type EventSinkMut<'a> = EventSinkFfi_TO<'a, RMut<'a, ()>>;

/// Receives the frames an outbound action encodes to. Implemented by the host.
#[sabi_trait]
pub trait FrameSinkFfi {
    /// One frame to send.
    #[sabi(last_prefix_field)]
    fn frame(&mut self, frame: WsFrame<'_>);
}

/// Borrowed frame sink.
pub type FrameSinkMut<'a> = FrameSinkFfi_TO<'a, RMut<'a, ()>>;

/// Receives synthesized audio. Implemented by the host.
#[sabi_trait]
pub trait AudioSinkFfi {
    /// One chunk of PCM; returns `false` when the host wants synthesis to stop
    /// (the caller barged in).
    #[sabi(last_prefix_field)]
    fn chunk(&mut self, pcm: RSlice<'_, i16>) -> bool;
}

/// Borrowed audio sink.
pub type AudioSinkMut<'a> = AudioSinkFfi_TO<'a, RMut<'a, ()>>;

/// Receives a responder's answer while it is being written. Implemented by
/// the host.
#[sabi_trait]
pub trait AnswerSinkFfi {
    /// More answer text. Returns `false` when the host wants the answer to
    /// stop (barge-in, hang-up, shutdown): return promptly.
    fn text(&mut self, delta: RStr<'_>) -> bool;
    /// An action; `false` as for [`AnswerSinkFfi::text`].
    fn action(&mut self, action: &Action) -> bool;
    /// The answer is an apology for a failure the caller should not hear
    /// about; the host reports it as an `error` event with `kind` (a short
    /// lower-case code: `timeout`, `status`, …) as its `error_kind`.
    fn degraded(&mut self, kind: RStr<'_>, message: RStr<'_>);
    /// Whether the host wants the answer to stop; poll it while waiting.
    #[sabi(last_prefix_field)]
    fn is_stopped(&self) -> bool;
}

/// Borrowed answer sink.
pub type AnswerSinkMut<'a> = AnswerSinkFfi_TO<'a, RMut<'a, ()>>;

/// Receives interim hypotheses from an STT session, from any thread, for as
/// long as the session lives. Implemented by the host.
#[sabi_trait]
pub trait HypothesisSinkFfi: Send + Sync {
    /// An interim hypothesis.
    #[sabi(last_prefix_field)]
    fn partial(&self, hypothesis: &Hypothesis<'_>);
}

/// Shared hypothesis sink.
pub type HypothesisSinkBox = HypothesisSinkFfi_TO<'static, RArc<()>>;

/// A transport instance.
#[sabi_trait]
pub trait TransportFfi: Send + Sync {
    fn describe(&self) -> RResult<TransportInfo, PluginError>;
    fn handle_http(&self, req: &HttpRequest<'_>) -> RResult<HttpOutcome, PluginError>;
    fn answer_call(
        &self,
        call: &CallRequest,
        decision: &CallDecision,
    ) -> RResult<HttpResponse, PluginError>;
    fn open_stream(&self, open: &StreamOpen<'_>) -> RResult<MediaStreamBox, PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned transport instance.
pub type TransportBox = TransportFfi_TO<'static, RBox<()>>;

/// The protocol state of one media WebSocket.
#[sabi_trait]
pub trait MediaStreamFfi: Send {
    fn on_frame(&mut self, frame: WsFrame<'_>, sink: EventSinkMut<'_>) -> RResult<(), PluginError>;
    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        sink: FrameSinkMut<'_>,
    ) -> RResult<(), PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&mut self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned media stream.
pub type MediaStreamBox = MediaStreamFfi_TO<'static, RBox<()>>;

/// A speech-to-text instance.
#[sabi_trait]
pub trait SttFfi: Send + Sync {
    fn describe(&self) -> RResult<SttInfo, PluginError>;
    /// Opens the STT session of one call (when the call is accepted).
    fn open_session(
        &self,
        open: &SttSessionOpen<'_>,
        partials: HypothesisSinkBox,
    ) -> RResult<SttSessionBox, PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned STT instance.
pub type SttBox = SttFfi_TO<'static, RBox<()>>;

/// The STT state of one call. Utterances are numbered by the host; methods
/// for different utterances may run at the same time on different threads.
#[sabi_trait]
pub trait SttSessionFfi: Send + Sync {
    /// Appends audio to `utterance`. Must not block.
    fn push(&self, utterance: u64, pcm: RSlice<'_, i16>) -> RResult<(), PluginError>;
    /// `utterance` is complete: its final transcript. May block (the host
    /// calls it on an STT worker).
    fn finish(&self, utterance: u64) -> RResult<Transcript, PluginError>;
    /// Abandons `utterance`: a `finish` in progress returns promptly with
    /// [`ErrorKind::CANCELLED`]. Must not block.
    fn cancel(&self, utterance: u64);
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned STT session (closed when dropped).
pub type SttSessionBox = SttSessionFfi_TO<'static, RBox<()>>;

/// A policy instance.
#[sabi_trait]
pub trait PolicyFfi: Send + Sync {
    fn evaluate(&self, call: &CallRequest) -> RResult<Verdict, PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned policy instance.
pub type PolicyBox = PolicyFfi_TO<'static, RBox<()>>;

/// A text-to-speech instance.
#[sabi_trait]
pub trait TtsFfi: Send + Sync {
    fn describe(&self) -> RResult<TtsInfo, PluginError>;
    fn synthesize(&self, req: &TtsRequest<'_>, sink: AudioSinkMut<'_>) -> RResult<(), PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned TTS instance.
pub type TtsBox = TtsFfi_TO<'static, RBox<()>>;

/// The responder trait, written once for both shapes of the crate: as
/// released, and with the method the growth rehearsal appends (the
/// `rehearse-next-minor` feature; see tests/tests/interface_growth.rs).
macro_rules! responder_ffi {
    ($($appended:tt)*) => {
        /// A responder instance.
        #[sabi_trait]
        pub trait ResponderFfi: Send + Sync {
            /// Answers one turn into `sink`, as the text arrives. May block
            /// (the host calls it on a responder worker).
            fn respond(&self, turn: &Turn, sink: AnswerSinkMut<'_>) -> RResult<(), PluginError>;
            #[sabi(last_prefix_field)]
            fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
            $($appended)*
        }
    };
}

#[cfg(not(feature = "rehearse-next-minor"))]
responder_ffi!();

#[cfg(feature = "rehearse-next-minor")]
responder_ffi!(
    /// Appended by the rehearsal: what a 2.1 method looks like.
    fn rehearsal_probe(&self) -> u32 {
        0
    }
);

/// An owned responder instance.
pub type ResponderBox = ResponderFfi_TO<'static, RBox<()>>;
