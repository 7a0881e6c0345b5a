//! Media streams: frames on the wire, normalized events, outbound actions.

use abi_stable::{
    std_types::{ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use super::{
    call::CallRequest,
    common::Extension,
    http::{HttpRequest, Route},
    KeyValue,
};

/// One WebSocket message, borrowed.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub enum WsFrame<'a> {
    /// A text message (JSON for every carrier we know).
    Text(RStr<'a>),
    /// A binary message (Vonage's L16 audio, the browser's PCM).
    Binary(RSlice<'a, u8>),
}

/// Audio format of a stream as the carrier describes it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct MediaFormat {
    /// Encoding name as the carrier spells it (`audio/x-mulaw`, `PCMU`, `L16`).
    pub encoding: RString,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

/// The start of a media stream.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct StreamStart {
    /// The carrier's call id.
    pub call_id: RString,
    /// The carrier's stream id (Twilio `streamSid`, Telnyx `stream_id`).
    pub stream_id: RString,
    /// The carrier account.
    pub account_id: RString,
    /// Caller, when the stream says.
    pub from: RString,
    /// Callee, when the stream says.
    pub to: RString,
    /// Tracks that will follow (`inbound`, `outbound`).
    pub tracks: RVec<RString>,
    /// Custom parameters echoed by the carrier.
    pub custom_params: RVec<KeyValue>,
    /// Inbound audio format.
    pub format: MediaFormat,
    /// For streams on routes without `{session_id}`: the call that this
    /// stream starts. The host runs the policy chain on it before anything
    /// else; a denied call's stream is closed.
    pub new_call: ROption<CallRequest>,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

/// A normalized, non-audio event from a stream. Audio goes through
/// [`crate::Events::audio`] to avoid a copy per frame.
// `Start` comes once per stream; boxing it would cost an FFI pointer type for
// no gain on the per-frame path, where events are rare.
#[allow(clippy::large_enum_variant)]
#[repr(u8)]
#[derive(StableAbi, Clone, Debug)]
pub enum StreamEvent {
    /// The stream started (Twilio `start`, Vonage `websocket:connected`).
    Start(StreamStart),
    /// A DTMF key press.
    Dtmf(Dtmf),
    /// A mark the host sent has been played.
    Mark(RString),
    /// The stream is ending; the reason in the carrier's words.
    Stop(RString),
    /// The transport's peer asked to end the call (browser hang-up button).
    Hangup(RString),
    /// A carrier event this interface has no variant for.
    Other(Extension),
}

/// A DTMF key press.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Dtmf {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: RString,
    /// Key press length when the carrier reports it, else 0.
    pub duration_ms: u32,
}

/// Something the host wants sent to the peer.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub enum OutboundAction<'a> {
    /// Audio to play, as PCM at [`TransportInfo::outbound_format`]'s rate:
    /// exactly one frame of [`TransportInfo::frame_ms`], paced by the host.
    Audio(RSlice<'a, i16>),
    /// Ask the peer to report when everything sent before it has played.
    Mark(RStr<'a>),
    /// Drop audio queued at the peer (barge-in).
    Clear,
    /// The host is ending the call; a last message, if the protocol has one.
    Hangup(RStr<'a>),
    /// An action this interface has no variant for.
    Other(RStr<'a>, RStr<'a>),
}

/// Bit set of optional transport features; the host emulates what is missing.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// Nothing optional.
    pub const NONE: Self = Self(0);
    /// The peer plays audio the host sends.
    pub const OUTBOUND_AUDIO: Self = Self(1);
    /// The peer echoes marks after playback.
    pub const MARKS: Self = Self(1 << 1);
    /// The peer can drop queued audio.
    pub const CLEAR: Self = Self(1 << 2);
    /// The peer reports DTMF.
    pub const DTMF: Self = Self(1 << 3);
    /// Closing the stream ends the call.
    pub const HANGUP: Self = Self(1 << 4);
    /// The peer wants the call's events (transcripts, answers, errors): the
    /// host sends each as [`OutboundAction::Other`] with kind `"event"` and
    /// the event's JSON (the same object `/api/events` carries) as payload.
    /// A constant added without a layout change: an older host ignores the
    /// bit, so a plugin must not rely on receiving events.
    pub const EVENTS: Self = Self(1 << 5);

    /// Union of two sets.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What a transport instance serves and how its media behaves.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct TransportInfo {
    /// Routes under `/api/voice/{instance}/`.
    pub routes: RVec<Route>,
    /// Optional features.
    pub capabilities: Capabilities,
    /// Format the host must give [`OutboundAction::Audio`] in (the encoding
    /// field is informative; the host always sends PCM).
    pub outbound_format: MediaFormat,
    /// Duration of one outbound audio frame in milliseconds (usually 20).
    pub frame_ms: u32,
    /// How the call reached us, for policy defaults.
    pub channel: super::Channel,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

/// A WebSocket upgrade the host is about to accept.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct StreamOpen<'a> {
    /// The upgrade request (for signature checks).
    pub request: HttpRequest<'a>,
    /// The session, when the route binds one; empty otherwise.
    pub session_id: RStr<'a>,
    /// The call that created the session, when there is one.
    pub call: ROption<&'a CallRequest>,
}
