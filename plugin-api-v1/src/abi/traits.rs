//! FFI-safe trait objects. The host calls plugin-implemented ones and hands
//! plugins host-implemented ones (services, sinks).
//!
//! Every plugin-implemented method returns `RResult`: the adapters in
//! [`crate::adapters`] wrap each body in a panic guard, so a bug in one plugin
//! call becomes an error for that call instead of ending the process.

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
    Answer, CallDecision, CallRequest, HttpOutcome, HttpRequest, HttpResponse, LogLevel,
    OutboundAction, PluginError, StreamEvent, StreamOpen, SttInfo, SttRequest, Transcript,
    TransportInfo, TtsInfo, TtsRequest, Turn, Verdict, WsFrame,
};

/// Services the host offers every instance. Implemented by the host.
#[sabi_trait]
pub trait HostServicesFfi: Send + Sync {
    /// Wall-clock time, milliseconds since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
    /// The most verbose level the host will keep; plugins skip the rest.
    fn max_log_level(&self) -> LogLevel;
    /// Emits a log record tagged with the plugin and instance.
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>);
    /// Counts one hit for `key` and returns the hits within the last
    /// `window_ms`, this one included. May block if a shared store backs it.
    fn counter_hit(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError>;
    /// The hits within the last `window_ms`, without counting one.
    fn counter_get(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError>;
    /// Escape hatch for services added after interface v1.
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
    fn transcribe(&self, req: &SttRequest<'_>) -> RResult<Transcript, PluginError>;
    /// Warm whatever a new call needs (called when a call is accepted).
    fn prepare_call(&self, session_id: RStr<'_>) -> RResult<(), PluginError>;
    /// Free what `prepare_call` set up.
    fn end_call(&self, session_id: RStr<'_>) -> RResult<(), PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned STT instance.
pub type SttBox = SttFfi_TO<'static, RBox<()>>;

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

/// A responder instance.
#[sabi_trait]
pub trait ResponderFfi: Send + Sync {
    fn respond(&self, turn: &Turn) -> RResult<Answer, PluginError>;
    #[sabi(last_prefix_field)]
    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned responder instance.
pub type ResponderBox = ResponderFfi_TO<'static, RBox<()>>;
