//! The protocol state of one Telnyx media WebSocket (docs/protocols.md d.2,
//! d.3): inbound JSON frames to events and PCM, outbound actions to frames.
//!
//! Decode and encode buffers live here and are reused, so a warm stream
//! allocates nothing per frame beyond what serde needs for escaped strings.

use base64::{
    alphabet,
    engine::{general_purpose::STANDARD, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use voicegate_plugin_api::{
    codec::Codec, CallRequest, Dtmf, Events, Extension, Frames, KeyValue, MediaFormat, MediaStream,
    OutboundAction, PluginError, RString, RVec, StreamEvent, StreamStart, WsFrame,
};

use crate::{
    config::StreamCodec,
    messages::{Inbound, OutMark, OutPayload, Outbound, Start},
    signature::shown,
    texml::SESSION_PARAM,
    webhook::is_id,
};

/// Frames above this size are refused unparsed. A 20 ms PCMU frame is
/// about 300 bytes, 20 ms of L16 at 16 kHz about 1 KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Sample rates the stream may announce.
pub const SAMPLE_RATES: [u32; 2] = [8000, 16000];

/// The rate of the audio the host sends back (G.711).
pub const OUTBOUND_RATE: u32 = 8000;

/// Standard base64 that tolerates a missing `=` padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the session's webhook said about the call.
#[derive(Debug, Default)]
struct Expected {
    call_id: String,
    from: String,
    to: String,
}

/// The stream once `start` arrived.
#[derive(Debug)]
struct Started {
    stream_id: String,
    codec: Codec,
    sample_rate: u32,
    /// The last `media.chunk` delivered; older frames are late.
    last_chunk: Option<u64>,
    /// Milliseconds of inbound audio delivered, for frames without a
    /// timestamp.
    next_ms: u64,
}

/// One Telnyx media stream.
#[derive(Debug)]
pub struct TelnyxStream {
    session_id: String,
    expected: Option<Expected>,
    /// The codec the host's audio is encoded in (`bidirectionalCodec`).
    outbound: StreamCodec,
    started: Option<Started>,
    /// Frames dropped because they came after a later one.
    late_frames: u64,
    /// `error` messages Telnyx sent.
    errors_reported: u64,
    /// Inbound: the decoded payload bytes of the last frame.
    bytes: Vec<u8>,
    /// Inbound: its PCM.
    pcm: Vec<i16>,
    /// Outbound: the encoded payload.
    out_bytes: Vec<u8>,
    /// Outbound: its base64.
    out_base64: String,
    /// Outbound: the JSON message.
    out_json: Vec<u8>,
}

impl TelnyxStream {
    /// A stream for `session_id`; `call` is the call the webhook reported.
    pub fn new(session_id: &str, call: Option<&CallRequest>, outbound: StreamCodec) -> Self {
        Self {
            session_id: session_id.to_owned(),
            expected: call.map(|c| Expected {
                call_id: c.call_id.to_string(),
                from: c.from.to_string(),
                to: c.to.to_string(),
            }),
            outbound,
            started: None,
            late_frames: 0,
            errors_reported: 0,
            bytes: Vec::with_capacity(320),
            pcm: Vec::with_capacity(320),
            out_bytes: Vec::with_capacity(160),
            out_base64: String::with_capacity(216),
            out_json: Vec::with_capacity(320),
        }
    }

    /// The `stream_id`, once `start` arrived.
    pub fn stream_id(&self) -> Option<&str> {
        self.started.as_ref().map(|s| s.stream_id.as_str())
    }

    /// Frames dropped so far because a later frame had already been
    /// delivered (Telnyx does not guarantee order).
    pub fn late_frames(&self) -> u64 {
        self.late_frames
    }

    fn on_message(
        &mut self,
        msg: Inbound<'_>,
        raw: &str,
        out: &mut Events<'_>,
    ) -> Result<(), PluginError> {
        match &*msg.event {
            "media" => self.on_media(&msg, out),
            "start" => self.on_start(msg, out),
            "connected" => Ok(()),
            "dtmf" => {
                self.check_stream_id("dtmf", &msg)?;
                let dtmf = msg
                    .dtmf
                    .ok_or_else(|| PluginError::invalid_input("dtmf: missing `dtmf` object"))?;
                let digit = match dtmf.digit.as_bytes() {
                    [d @ (b'0'..=b'9' | b'*' | b'#' | b'A'..=b'D')] => char::from(*d),
                    [d @ b'a'..=b'd'] => char::from(d.to_ascii_uppercase()),
                    _ => {
                        return Err(PluginError::invalid_input(format!(
                            "dtmf: digit {} is not one of 0-9 * # A-D",
                            shown(&dtmf.digit)
                        )))
                    }
                };
                out.event(StreamEvent::Dtmf(Dtmf {
                    digit: RString::from(digit.to_string()),
                    duration_ms: 0,
                }));
                Ok(())
            }
            "mark" => {
                self.check_stream_id("mark", &msg)?;
                let mark = msg
                    .mark
                    .ok_or_else(|| PluginError::invalid_input("mark: missing `mark` object"))?;
                out.event(StreamEvent::Mark(RString::from(&*mark.name)));
                Ok(())
            }
            // A stop may come without a start (the stream failed early).
            "stop" => {
                if self.started.is_some() {
                    self.check_stream_id("stop", &msg)?;
                }
                out.event(StreamEvent::Stop("stopped".into()));
                Ok(())
            }
            // Telnyx reports a problem (often with what we sent); the stream
            // goes on. Logged here and handed to the host as an extension.
            "error" => {
                self.errors_reported += 1;
                // The first few, then a sample: a noisy stream cannot flood the log.
                if self.errors_reported <= 5 || self.errors_reported.is_multiple_of(100) {
                    log::warn!(
                        "Telnyx reported a stream error (session {}, #{}): {}",
                        self.session_id,
                        self.errors_reported,
                        raw.chars().take(512).collect::<String>()
                    );
                }
                out.event(StreamEvent::Other(Extension {
                    kind: "telnyx.error".into(),
                    json: raw.into(),
                }));
                Ok(())
            }
            other => Err(PluginError::invalid_input(format!(
                "unknown Telnyx event {}",
                shown(other)
            ))),
        }
    }

    /// Requires a started stream and, when the message names one, the same
    /// `stream_id`.
    fn check_stream_id(&self, event: &str, msg: &Inbound<'_>) -> Result<&Started, PluginError> {
        let started = self
            .started
            .as_ref()
            .ok_or_else(|| PluginError::invalid_input(format!("{event} before start")))?;
        match msg.stream_id.as_deref() {
            Some(theirs) if theirs != started.stream_id => {
                Err(PluginError::invalid_input(format!(
                    "{event}: stream_id {} is not this stream's ({})",
                    shown(theirs),
                    started.stream_id
                )))
            }
            _ => Ok(started),
        }
    }

    fn on_media(&mut self, msg: &Inbound<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        self.check_stream_id("media", msg)?;
        let media = msg
            .media
            .as_ref()
            .ok_or_else(|| PluginError::invalid_input("media: missing `media` object"))?;
        // With track="both_tracks" Telnyx also sends what the caller hears.
        if media.track.as_deref().is_some_and(|t| t != "inbound") {
            return Ok(());
        }
        self.bytes.clear();
        BASE64_LENIENT
            .decode_vec(media.payload.as_bytes(), &mut self.bytes)
            .map_err(|e| {
                PluginError::invalid_input(format!("media: payload is not base64: {e}"))
            })?;
        let Some(started) = self.started.as_mut() else {
            // check_stream_id proved it is there.
            return Err(PluginError::invalid_input("media before start"));
        };
        if started.codec.bytes_per_sample() == 2 && self.bytes.len() % 2 == 1 {
            return Err(PluginError::invalid_input(format!(
                "media: L16 payload of {} bytes is not whole 16-bit samples",
                self.bytes.len()
            )));
        }
        // Telnyx does not guarantee order: a frame older than one already
        // delivered would land in the wrong place, so it is dropped.
        if let Some(chunk) = media.chunk.map(|c| c.0) {
            if started.last_chunk.is_some_and(|last| chunk <= last) {
                self.late_frames += 1;
                log::debug!(
                    "Telnyx media chunk {chunk} arrived after chunk {:?} (session {}); dropped",
                    started.last_chunk,
                    self.session_id
                );
                return Ok(());
            }
            started.last_chunk = Some(chunk);
        }
        started.codec.decode_into(&self.bytes, &mut self.pcm);
        if self.pcm.is_empty() {
            return Ok(());
        }
        let timestamp = media.timestamp.map_or(started.next_ms, |t| t.0);
        let duration = self.pcm.len() as u64 * 1000 / u64::from(started.sample_rate);
        started.next_ms = timestamp + duration;
        out.audio(&self.pcm, started.sample_rate, timestamp);
        Ok(())
    }

    fn on_start(&mut self, msg: Inbound<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        if let Some(started) = &self.started {
            return Err(PluginError::invalid_input(format!(
                "start: stream {} has already started",
                started.stream_id
            )));
        }
        let stream_id = match msg.stream_id.as_deref() {
            Some(id) if is_id(id) => id,
            Some(id) => {
                return Err(PluginError::invalid_input(format!(
                    "start: stream_id {} is not a Telnyx id",
                    shown(id)
                )))
            }
            None => return Err(PluginError::invalid_input("start: missing stream_id")),
        };
        let start = msg
            .start
            .ok_or_else(|| PluginError::invalid_input("start: missing `start` object"))?;
        let call_control_id = match start.call_control_id.as_deref() {
            Some(id) if is_id(id) => id,
            Some(id) => {
                return Err(PluginError::invalid_input(format!(
                    "start: call_control_id {} is not a Telnyx id",
                    shown(id)
                )))
            }
            None => return Err(PluginError::invalid_input("start: missing call_control_id")),
        };
        self.check_binding(&start, call_control_id)?;
        let (codec, format) = media_format(&start)?;
        let expected = self.expected.as_ref();
        let from = start
            .from
            .as_deref()
            .or(expected.map(|e| e.from.as_str()))
            .unwrap_or_default();
        let to = start
            .to
            .as_deref()
            .or(expected.map(|e| e.to.as_str()))
            .unwrap_or_default();
        let event = StreamStart {
            call_id: call_control_id.into(),
            stream_id: stream_id.into(),
            from: from.into(),
            to: to.into(),
            tracks: RVec::from(vec![RString::from("inbound")]),
            custom_params: start
                .custom_parameters
                .0
                .iter()
                .map(|(k, v)| KeyValue::new(&**k, &**v))
                .collect::<RVec<_>>(),
            extensions_json: match start.call_session_id.as_deref() {
                Some(id) => serde_json::json!({ "call_session_id": id })
                    .to_string()
                    .into(),
                None => RString::new(),
            },
            format: format.clone(),
            ..StreamStart::default()
        };
        self.started = Some(Started {
            stream_id: stream_id.to_owned(),
            codec,
            sample_rate: format.sample_rate,
            last_chunk: None,
            next_ms: 0,
        });
        out.event(StreamEvent::Start(event));
        Ok(())
    }

    /// The stream must belong to this session. The session id in the URL
    /// already binds it; on top of that, the `session_id` parameter the
    /// TeXML carried must be echoed unchanged, and without it the call id
    /// must be the webhook's `CallSid`.
    fn check_binding(&self, start: &Start<'_>, call_control_id: &str) -> Result<(), PluginError> {
        let echoed = start
            .custom_parameters
            .0
            .iter()
            .find(|(k, _)| &**k == SESSION_PARAM)
            .map(|(_, v)| &**v);
        if let Some(echoed) = echoed {
            if !self.session_id.is_empty() && echoed != self.session_id {
                return Err(PluginError::fatal(format!(
                    "start: parameter {SESSION_PARAM} {} does not belong to this session ({})",
                    shown(echoed),
                    self.session_id
                )));
            }
        }
        let Some(expected) = self.expected.as_ref().filter(|e| !e.call_id.is_empty()) else {
            return Ok(());
        };
        if expected.call_id == call_control_id {
            return Ok(());
        }
        if echoed.is_some() {
            log::warn!(
                "Telnyx stream for session {} carries call_control_id {call_control_id}, \
                 the webhook said CallSid {}; accepted on the echoed session_id",
                self.session_id,
                expected.call_id
            );
            Ok(())
        } else {
            Err(PluginError::fatal(format!(
                "start: call_control_id {call_control_id} does not belong to this session \
                 ({}, call {}) and no {SESSION_PARAM} parameter was echoed",
                self.session_id, expected.call_id
            )))
        }
    }

    /// Serializes `msg` into the reused buffer and emits it.
    fn emit(
        out_json: &mut Vec<u8>,
        msg: &Outbound<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError> {
        out_json.clear();
        serde_json::to_writer(&mut *out_json, msg)
            .map_err(|e| PluginError::internal(format!("encoding a Telnyx message: {e}")))?;
        let text = std::str::from_utf8(out_json)
            .map_err(|e| PluginError::internal(format!("encoding a Telnyx message: {e}")))?;
        out.text(text);
        Ok(())
    }
}

/// `start.media_format`: the codec and rate of the inbound payloads.
fn media_format(start: &Start<'_>) -> Result<(Codec, MediaFormat), PluginError> {
    let wire = start
        .media_format
        .as_ref()
        .ok_or_else(|| PluginError::fatal("start: missing media_format"))?;
    let encoding = wire.encoding.as_deref().unwrap_or_default();
    let sample_rate = wire.sample_rate.map_or(0, |r| r.0);
    let channels = wire.channels.map_or(1, |c| c.0);
    // RTP payload names (RFC 3551): L16 is big-endian network order.
    let codec = match encoding.to_ascii_uppercase().as_str() {
        "PCMU" => Codec::MuLaw,
        "PCMA" => Codec::ALaw,
        "L16" => Codec::L16Be,
        _ => {
            return Err(PluginError::fatal(format!(
                "start: media_format.encoding {} cannot be decoded; expected PCMU, PCMA or L16 \
                 (the call's codec is used when Telnyx cannot transcode: G722, OPUS and AMR-WB \
                 are not supported)",
                shown(encoding)
            )))
        }
    };
    let sample_rate = u32::try_from(sample_rate)
        .ok()
        .filter(|r| SAMPLE_RATES.contains(r))
        .ok_or_else(|| {
            PluginError::fatal(format!(
                "start: media_format.sample_rate {sample_rate} is not 8000 or 16000"
            ))
        })?;
    if channels != 1 {
        return Err(PluginError::fatal(format!(
            "start: media_format.channels {channels} is not 1 (mono)"
        )));
    }
    Ok((
        codec,
        MediaFormat {
            encoding: encoding.to_ascii_uppercase().into(),
            sample_rate,
            channels: 1,
        },
    ))
}

impl MediaStream for TelnyxStream {
    fn on_frame(&mut self, frame: WsFrame<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        let text = match frame {
            WsFrame::Text(text) => text.as_str(),
            WsFrame::Binary(bytes) => {
                return Err(PluginError::invalid_input(format!(
                    "binary frame of {} bytes; Telnyx media streaming sends JSON text frames only",
                    bytes.len()
                )))
            }
        };
        if text.len() > MAX_FRAME_BYTES {
            return Err(PluginError::invalid_input(format!(
                "frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit; not parsed",
                text.len()
            )));
        }
        let msg: Inbound<'_> = serde_json::from_str(text)
            .map_err(|e| PluginError::invalid_input(format!("malformed Telnyx message: {e}")))?;
        self.on_message(msg, text, out)
    }

    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError> {
        let msg = match action {
            OutboundAction::Audio(pcm) => {
                if pcm.is_empty() {
                    return Ok(());
                }
                self.outbound
                    .codec()
                    .encode_into(pcm.as_slice(), &mut self.out_bytes);
                self.out_base64.clear();
                STANDARD.encode_string(&self.out_bytes, &mut self.out_base64);
                Outbound::Media {
                    media: OutPayload {
                        payload: &self.out_base64,
                    },
                }
            }
            OutboundAction::Mark(name) => Outbound::Mark {
                mark: OutMark {
                    name: name.as_str(),
                },
            },
            OutboundAction::Clear => Outbound::Clear,
            // Nothing to send: the host closes the socket, which ends the
            // <Connect><Stream> and, with no TeXML after it, the call.
            OutboundAction::Hangup(_) => return Ok(()),
            OutboundAction::Event(_) => {
                return Err(PluginError::unsupported(
                    "this transport does not show the call's events to its peer",
                ))
            }
            OutboundAction::Other(kind, _) => {
                return Err(PluginError::unsupported(format!(
                    "outbound action {} is not supported by Telnyx",
                    shown(kind)
                )))
            }
        };
        Self::emit(&mut self.out_json, &msg, out)
    }
}
