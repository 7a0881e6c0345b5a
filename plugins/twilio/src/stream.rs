//! The protocol state of one Media Streams WebSocket (docs/protocols.md a.3,
//! a.4): inbound JSON frames to events and PCM, outbound actions to frames.
//!
//! The decode and encode buffers live here and are reused, so a warm stream
//! allocates nothing per frame beyond what serde needs for escaped strings.

use base64::{
    alphabet,
    engine::{general_purpose::STANDARD, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use voicegate_plugin_api::{
    codec::mulaw, CallRequest, Dtmf, Events, Frames, KeyValue, MediaFormat, MediaStream,
    OutboundAction, PluginError, RString, RVec, StreamEvent, StreamStart, WsFrame,
};

use crate::{
    config::Mode,
    messages::{Inbound, OutMark, OutPayload, Outbound, Start, Text},
    sid::{self, shown},
    twiml::SESSION_PARAM,
};

/// Frames above this size are refused unparsed. A 20 ms media frame is
/// about 300 bytes; `start` with many parameters a few KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The only format Twilio streams carry.
pub const ENCODING: &str = "audio/x-mulaw";
/// Its sample rate.
pub const SAMPLE_RATE: u32 = 8000;

/// Standard base64 that tolerates a missing `=` padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the session's webhook said about the call.
#[derive(Debug, Default)]
struct Expected {
    call_id: String,
    account_id: String,
    from: String,
    to: String,
}

/// One Twilio media stream.
#[derive(Debug)]
pub struct TwilioStream {
    mode: Mode,
    session_id: String,
    expected: Option<Expected>,
    /// Set by `start`; every later message refers to it.
    stream_sid: Option<String>,
    /// Inbound: the base64-decoded µ-law of the last frame.
    codes: Vec<u8>,
    /// Inbound: its PCM.
    pcm: Vec<i16>,
    /// Outbound: µ-law of the frame being encoded.
    out_codes: Vec<u8>,
    /// Outbound: its base64.
    out_base64: String,
    /// Outbound: the JSON message.
    out_json: Vec<u8>,
}

impl TwilioStream {
    /// A stream for `session_id`; `call` is the call the webhook reported,
    /// whose SIDs the `start` message must carry.
    pub fn new(mode: Mode, session_id: &str, call: Option<&CallRequest>) -> Self {
        Self {
            mode,
            session_id: session_id.to_owned(),
            expected: call.map(|c| Expected {
                call_id: c.call_id.to_string(),
                account_id: c.account_id.to_string(),
                from: c.from.to_string(),
                to: c.to.to_string(),
            }),
            stream_sid: None,
            codes: Vec::with_capacity(160),
            pcm: Vec::with_capacity(160),
            out_codes: Vec::with_capacity(160),
            out_base64: String::with_capacity(216),
            out_json: Vec::with_capacity(320),
        }
    }

    /// The `streamSid`, once `start` arrived.
    pub fn stream_sid(&self) -> Option<&str> {
        self.stream_sid.as_deref()
    }

    fn started(&self, event: &str) -> Result<&str, PluginError> {
        self.stream_sid
            .as_deref()
            .ok_or_else(|| PluginError::invalid_input(format!("{event} before start")))
    }

    fn on_message(&mut self, msg: Inbound<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        match &*msg.event {
            "media" => self.on_media(&msg, out),
            "start" => self.on_start(msg, out),
            "connected" => match msg.protocol.as_deref() {
                None | Some("Call") => Ok(()),
                Some(other) => Err(PluginError::invalid_input(format!(
                    "connected: protocol {} is not \"Call\"",
                    shown(other)
                ))),
            },
            "dtmf" => {
                self.check_stream_sid("dtmf", &msg)?;
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
                self.check_stream_sid("mark", &msg)?;
                let mark = msg
                    .mark
                    .ok_or_else(|| PluginError::invalid_input("mark: missing `mark` object"))?;
                out.event(StreamEvent::Mark(RString::from(&*mark.name)));
                Ok(())
            }
            // A stop may come without a start (the stream failed early).
            "stop" => {
                if self.stream_sid.is_some() {
                    self.check_stream_sid("stop", &msg)?;
                }
                out.event(StreamEvent::Stop("stopped".into()));
                Ok(())
            }
            other => Err(PluginError::invalid_input(format!(
                "unknown Twilio event {}",
                shown(other)
            ))),
        }
    }

    /// Requires a started stream and, when the message names one, the same
    /// `streamSid`.
    fn check_stream_sid(&self, event: &str, msg: &Inbound<'_>) -> Result<(), PluginError> {
        let ours = self.started(event)?;
        match msg.stream_sid.as_deref() {
            Some(theirs) if theirs != ours => Err(PluginError::invalid_input(format!(
                "{event}: streamSid {} is not this stream's ({ours})",
                shown(theirs)
            ))),
            _ => Ok(()),
        }
    }

    fn on_media(&mut self, msg: &Inbound<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        self.check_stream_sid("media", msg)?;
        let media = msg
            .media
            .as_ref()
            .ok_or_else(|| PluginError::invalid_input("media: missing `media` object"))?;
        // With track="both_tracks" Twilio also sends what the caller hears.
        if media.track.as_deref().is_some_and(|t| t != "inbound") {
            return Ok(());
        }
        let timestamp = media
            .timestamp
            .ok_or_else(|| PluginError::invalid_input("media: missing `timestamp`"))?;
        self.codes.clear();
        BASE64_LENIENT
            .decode_vec(media.payload.as_bytes(), &mut self.codes)
            .map_err(|e| {
                PluginError::invalid_input(format!("media: payload is not base64: {e}"))
            })?;
        mulaw::decode_into(&self.codes, &mut self.pcm);
        if !self.pcm.is_empty() {
            out.audio(&self.pcm, SAMPLE_RATE, timestamp.0);
        }
        Ok(())
    }

    fn on_start(&mut self, msg: Inbound<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        if let Some(sid) = &self.stream_sid {
            return Err(PluginError::invalid_input(format!(
                "start: stream {sid} has already started"
            )));
        }
        let start = msg
            .start
            .ok_or_else(|| PluginError::invalid_input("start: missing `start` object"))?;
        let stream_sid = required_sid("streamSid", sid::STREAM, start.stream_sid.as_ref())?;
        if let Some(top) = msg.stream_sid.as_deref() {
            if top != stream_sid {
                return Err(PluginError::invalid_input(format!(
                    "start: streamSid {} differs from start.streamSid {stream_sid}",
                    shown(top)
                )));
            }
        }
        let call_sid = required_sid("callSid", sid::CALL, start.call_sid.as_ref())?;
        let account_sid = required_sid("accountSid", sid::ACCOUNT, start.account_sid.as_ref())?;
        if let Some(expected) = &self.expected {
            if !expected.call_id.is_empty() && expected.call_id != call_sid {
                return Err(PluginError::fatal(format!(
                    "start: callSid {call_sid} does not belong to this session ({}, call {})",
                    self.session_id, expected.call_id
                )));
            }
            if !expected.account_id.is_empty() && expected.account_id != account_sid {
                return Err(PluginError::fatal(format!(
                    "start: accountSid {account_sid} does not belong to this session ({}, account {})",
                    self.session_id, expected.account_id
                )));
            }
        }
        if let Some((_, echoed)) = start
            .custom_parameters
            .0
            .iter()
            .find(|(k, _)| &**k == SESSION_PARAM)
        {
            if !self.session_id.is_empty() && **echoed != *self.session_id {
                return Err(PluginError::fatal(format!(
                    "start: parameter {SESSION_PARAM} {} does not belong to this session ({})",
                    shown(echoed),
                    self.session_id
                )));
            }
        }
        let format = media_format(&start)?;
        let event = StreamStart {
            call_id: call_sid.into(),
            stream_id: stream_sid.into(),
            account_id: account_sid.into(),
            from: self
                .expected
                .as_ref()
                .map(|e| &*e.from)
                .unwrap_or_default()
                .into(),
            to: self
                .expected
                .as_ref()
                .map(|e| &*e.to)
                .unwrap_or_default()
                .into(),
            tracks: start.tracks.iter().map(|t| RString::from(&**t)).collect(),
            custom_params: start
                .custom_parameters
                .0
                .iter()
                .map(|(k, v)| KeyValue::new(&**k, &**v))
                .collect::<RVec<_>>(),
            format,
            ..StreamStart::default()
        };
        self.stream_sid = Some(stream_sid.to_owned());
        out.event(StreamEvent::Start(event));
        Ok(())
    }

    /// Serializes `msg` into the reused buffer and emits it.
    fn emit(
        out_json: &mut Vec<u8>,
        msg: &Outbound<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError> {
        out_json.clear();
        serde_json::to_writer(&mut *out_json, msg)
            .map_err(|e| PluginError::internal(format!("encoding a Twilio message: {e}")))?;
        let text = std::str::from_utf8(out_json)
            .map_err(|e| PluginError::internal(format!("encoding a Twilio message: {e}")))?;
        out.text(text);
        Ok(())
    }
}

fn required_sid<'m>(
    name: &str,
    prefix: &str,
    value: Option<&'m Text<'_>>,
) -> Result<&'m str, PluginError> {
    match value.map(|v| &**v) {
        Some(v) if sid::is_valid(prefix, v) => Ok(v),
        Some(v) => Err(PluginError::invalid_input(format!(
            "start: {name} {} is not a Twilio SID ({prefix} + 32 hex digits)",
            shown(v)
        ))),
        None => Err(PluginError::invalid_input(format!("start: missing {name}"))),
    }
}

/// `start.mediaFormat`, which must be what this adapter decodes.
fn media_format(start: &Start<'_>) -> Result<MediaFormat, PluginError> {
    let wire = start.media_format.as_ref();
    let encoding = wire.and_then(|f| f.encoding.as_deref()).unwrap_or(ENCODING);
    let sample_rate = wire.and_then(|f| f.sample_rate).unwrap_or(SAMPLE_RATE);
    let channels = wire.and_then(|f| f.channels).unwrap_or(1);
    if encoding != ENCODING || sample_rate != SAMPLE_RATE || channels != 1 {
        return Err(PluginError::fatal(format!(
            "start: unsupported mediaFormat {} {sample_rate} Hz {channels} channel(s); \
             expected {ENCODING} {SAMPLE_RATE} Hz mono",
            shown(encoding)
        )));
    }
    Ok(MediaFormat {
        encoding: ENCODING.into(),
        sample_rate,
        channels,
    })
}

impl MediaStream for TwilioStream {
    fn on_frame(&mut self, frame: WsFrame<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        let text = match frame {
            WsFrame::Text(text) => text.as_str(),
            WsFrame::Binary(bytes) => {
                return Err(PluginError::invalid_input(format!(
                    "binary frame of {} bytes; Twilio Media Streams send JSON text frames only",
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
            .map_err(|e| PluginError::invalid_input(format!("malformed Twilio message: {e}")))?;
        self.on_message(msg, out)
    }

    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError> {
        match action {
            // Nothing to send: the host closes the socket, which ends a
            // <Connect><Stream> call (and a listen-mode fork).
            OutboundAction::Hangup(_) => return Ok(()),
            OutboundAction::Event(_) => {
                return Err(PluginError::unsupported(
                    "this transport does not show the call's events to its peer",
                ))
            }
            OutboundAction::Other(kind, _) => {
                return Err(PluginError::unsupported(format!(
                    "outbound action {} is not supported by Twilio",
                    shown(kind)
                )))
            }
            _ if self.mode == Mode::Listen => {
                return Err(PluginError::unsupported(
                    "listen mode (<Start><Stream>) is receive-only: Twilio accepts no media, mark or clear",
                ))
            }
            _ => {}
        }
        let Some(stream_sid) = self.stream_sid.as_deref() else {
            return Err(PluginError::invalid_input(
                "cannot send to Twilio before the stream's start message",
            ));
        };
        let msg = match action {
            OutboundAction::Audio(pcm) => {
                if pcm.is_empty() {
                    return Ok(());
                }
                mulaw::encode_into(pcm.as_slice(), &mut self.out_codes);
                self.out_base64.clear();
                STANDARD.encode_string(&self.out_codes, &mut self.out_base64);
                Outbound::Media {
                    stream_sid,
                    media: OutPayload {
                        payload: &self.out_base64,
                    },
                }
            }
            OutboundAction::Mark(name) => Outbound::Mark {
                stream_sid,
                mark: OutMark {
                    name: name.as_str(),
                },
            },
            OutboundAction::Clear => Outbound::Clear { stream_sid },
            OutboundAction::Hangup(_) | OutboundAction::Event(_) | OutboundAction::Other(..) => {
                return Ok(())
            }
        };
        Self::emit(&mut self.out_json, &msg, out)
    }
}
