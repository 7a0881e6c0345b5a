//! Media streams: frames, normalized events, what the host sends back, and
//! what a transport says about itself.

use super::{Channel, Pair, Route};

/// One WebSocket message, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// Text (JSON for every carrier we know).
    Text(&'a str),
    /// Binary (L16 audio of Vonage and the browser).
    Binary(&'a [u8]),
}

/// One WebSocket message to send, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutFrame {
    /// Text.
    Text(String),
    /// Binary.
    Binary(Vec<u8>),
}

impl OutFrame {
    /// Its payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Audio format as the carrier describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaFormat {
    /// Encoding name as the carrier spells it.
    pub encoding: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

/// The start of a media stream.
#[derive(Debug, Clone, Default)]
pub struct StreamStart {
    /// The carrier's call id.
    pub call_id: String,
    /// The carrier's stream id.
    pub stream_id: String,
    /// Custom parameters echoed by the carrier.
    pub custom_params: Vec<Pair>,
    /// Inbound audio format.
    pub format: MediaFormat,
    /// For streams that open their own call: the call to admit.
    pub new_call: Option<super::CallInfo>,
}

/// A non-audio event from a stream.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The stream started.
    Start(Box<StreamStart>),
    /// A key press.
    Dtmf {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: String,
    },
    /// A mark the host sent has played.
    Mark(String),
    /// The stream is ending; the reason in the carrier's words.
    Stop(String),
    /// The peer asked to end the call.
    Hangup(String),
    /// Something the host does not act on (its kind).
    Other(String),
}

/// What a stream decoded from one frame; the host reuses it frame to frame.
#[derive(Debug, Default)]
pub struct Decoded {
    /// PCM of every audio piece, concatenated.
    pub audio: Vec<i16>,
    /// `(sample_rate, timestamp_ms, start, len)` into `audio`.
    pub chunks: Vec<(u32, u64, usize, usize)>,
    /// Non-audio events.
    pub events: Vec<StreamEvent>,
    /// Frames to send back at once.
    pub replies: Vec<OutFrame>,
}

impl Decoded {
    /// Empties it for the next frame, keeping the buffers.
    pub fn clear(&mut self) {
        self.audio.clear();
        self.chunks.clear();
        self.events.clear();
        self.replies.clear();
    }

    /// Adds one piece of audio.
    pub fn push_audio(&mut self, pcm: &[i16], sample_rate: u32, timestamp_ms: u64) {
        let start = self.audio.len();
        self.audio.extend_from_slice(pcm);
        self.chunks
            .push((sample_rate, timestamp_ms, start, pcm.len()));
    }
}

/// Something the host wants sent to the peer.
#[derive(Debug, Clone, Copy)]
pub enum Outbound<'a> {
    /// One frame of PCM at the transport's outbound rate.
    Audio(&'a [i16]),
    /// Report back when everything before has played.
    Mark(&'a str),
    /// Drop audio queued at the peer.
    Clear,
    /// The host is ending the call.
    Hangup(&'a str),
    /// One of the call's events as JSON (transports with `events`).
    Event(&'a str),
}

/// Optional transport features; the host emulates what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// The peer plays audio the host sends.
    pub outbound_audio: bool,
    /// The peer echoes marks after playback.
    pub marks: bool,
    /// The peer can drop queued audio.
    pub clear: bool,
    /// The peer reports DTMF.
    pub dtmf: bool,
    /// Closing the stream ends the call.
    pub hangup: bool,
    /// The peer wants the call's events.
    pub events: bool,
}

/// What a transport instance serves and how its media behaves.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// Routes under `/api/voice/{instance}/`.
    pub routes: Vec<Route>,
    /// Optional features.
    pub capabilities: Capabilities,
    /// Format outbound audio must have.
    pub outbound_format: MediaFormat,
    /// Duration of one outbound frame, ms.
    pub frame_ms: u32,
    /// How calls reach it.
    pub channel: Channel,
}

/// A WebSocket upgrade the host is about to accept.
#[derive(Debug, Clone, Copy)]
pub struct StreamOpen<'a> {
    /// The upgrade request.
    pub request: &'a super::WebRequest,
    /// The session, when the route binds one; empty otherwise.
    pub session_id: &'a str,
    /// The call that created the session, when there is one.
    pub call: Option<&'a super::CallInfo>,
}
