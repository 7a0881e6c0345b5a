//! The protocol state of one Vonage WebSocket (docs/protocols.md e.2, e.3):
//! a JSON `websocket:connected` text message first, then binary frames of
//! 16-bit little-endian PCM both ways, and a few JSON text events.
//!
//! Text messages are rare (one per stream, plus DTMF and notify acks) and
//! parsed into `serde_json::Value`; the audio path decodes into a reused
//! buffer and allocates nothing per frame.

use serde_json::{json, Map, Value};
use voicegate_plugin_api::{
    codec::l16, CallRequest, Dtmf, Events, Frames, KeyValue, MediaFormat, MediaStream,
    OutboundAction, PluginError, RString, RVec, StreamEvent, StreamStart, WsFrame,
};

use crate::ncco::{token_matches, SESSION_HEADER, TOKEN_HEADER};

/// The encoding name reported in `StreamStart::format` and
/// `TransportInfo::outbound_format`.
pub const ENCODING: &str = "audio/l16";

/// Frames above this size are refused. A 20 ms frame is 320 or 640 bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// What the session's webhook said about the call.
#[derive(Debug, Default)]
struct Expected {
    call_id: String,
    account_id: String,
    from: String,
    to: String,
}

/// One Vonage WebSocket.
#[derive(Debug)]
pub struct VonageStream {
    session_id: String,
    expected: Expected,
    /// The rate the NCCO asked for; `websocket:connected` must agree.
    sample_rate: u32,
    /// The key of the session's stream token, when one is required.
    token_key: Option<String>,
    connected: bool,
    /// Milliseconds of inbound audio so far: Vonage frames carry no
    /// timestamp, so time is counted in samples.
    next_ms: u64,
    samples: u64,
    /// Inbound PCM of the last frame.
    pcm: Vec<i16>,
    /// Outbound L16 bytes.
    out_bytes: Vec<u8>,
}

impl VonageStream {
    /// A stream for `session_id`. `call` is the call the answer webhook
    /// reported (Vonage's WebSocket says nothing about the call itself);
    /// `token_key` is set when the stream must present the session's token.
    pub fn new(
        session_id: &str,
        call: Option<&CallRequest>,
        sample_rate: u32,
        token_key: Option<&str>,
    ) -> Self {
        let frame = (sample_rate / 50) as usize;
        Self {
            session_id: session_id.to_owned(),
            expected: call
                .map(|c| Expected {
                    call_id: c.call_id.to_string(),
                    account_id: c.account_id.to_string(),
                    from: c.from.to_string(),
                    to: c.to.to_string(),
                })
                .unwrap_or_default(),
            sample_rate,
            token_key: token_key.map(str::to_owned),
            connected: false,
            next_ms: 0,
            samples: 0,
            pcm: Vec::with_capacity(frame),
            out_bytes: Vec::with_capacity(frame * 2),
        }
    }

    /// Whether `websocket:connected` arrived.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    fn on_text(&mut self, text: &str, out: &mut Events<'_>) -> Result<(), PluginError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(PluginError::invalid_input(format!(
                "text frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit; not parsed",
                text.len()
            )));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PluginError::invalid_input(format!("malformed Vonage message: {e}")))?;
        let Value::Object(msg) = value else {
            return Err(PluginError::invalid_input(
                "Vonage message is not a JSON object",
            ));
        };
        let event = match msg.get("event") {
            Some(Value::String(e)) => Some(e.as_str()),
            None => None,
            Some(other) => {
                return Err(PluginError::invalid_input(format!(
                    "`event` is {other}, not a string"
                )))
            }
        };
        // Older Nexmo docs show the first message without `event`.
        let is_connected = event == Some("websocket:connected")
            || (event.is_none() && msg.contains_key("content-type"));
        if !self.connected {
            if is_connected {
                return self.on_connected(&msg, out);
            }
            return Err(PluginError::invalid_input(format!(
                "{} before websocket:connected",
                event.unwrap_or("a message without `event`")
            )));
        }
        match event {
            _ if is_connected => Err(PluginError::invalid_input(
                "a second websocket:connected on this stream",
            )),
            Some("websocket:dtmf") => on_dtmf(&msg, out),
            Some("websocket:notify") => {
                let name = msg
                    .get("payload")
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        PluginError::invalid_input(
                            "websocket:notify without payload.name (not a mark voicegate sent)",
                        )
                    })?;
                out.event(StreamEvent::Mark(name.into()));
                Ok(())
            }
            // The ack of a clear; nothing to do.
            Some("websocket:cleared") => Ok(()),
            Some(other) => Err(PluginError::invalid_input(format!(
                "unknown Vonage event {:?}",
                other.chars().take(48).collect::<String>()
            ))),
            None => Err(PluginError::invalid_input("a message without `event`")),
        }
    }

    fn on_connected(
        &mut self,
        msg: &Map<String, Value>,
        out: &mut Events<'_>,
    ) -> Result<(), PluginError> {
        let content_type = msg
            .get("content-type")
            .and_then(Value::as_str)
            .ok_or_else(|| PluginError::fatal("websocket:connected without content-type"))?;
        let rate = l16_rate(content_type).ok_or_else(|| {
            PluginError::fatal(format!(
                "websocket:connected: content-type {:?} is not audio/l16;rate=8000 or 16000",
                content_type.chars().take(64).collect::<String>()
            ))
        })?;
        if rate != self.sample_rate {
            return Err(PluginError::fatal(format!(
                "websocket:connected: Vonage streams {rate} Hz but the NCCO asked for {} Hz \
                 (audio sent back would play at the wrong speed)",
                self.sample_rate
            )));
        }
        if let Some(echoed) = msg.get(SESSION_HEADER) {
            if echoed.as_str() != Some(self.session_id.as_str()) {
                return Err(PluginError::fatal(format!(
                    "websocket:connected: header {SESSION_HEADER} {} does not belong to this \
                     session ({})",
                    echoed.to_string().chars().take(96).collect::<String>(),
                    self.session_id
                )));
            }
        }
        if let Some(key) = &self.token_key {
            let presented = msg.get(TOKEN_HEADER).and_then(Value::as_str).unwrap_or("");
            if !token_matches(key, &self.session_id, presented) {
                return Err(PluginError::unauthorized(format!(
                    "websocket:connected: {} {TOKEN_HEADER} header for session {} \
                     (the NCCO's headers must reach the WebSocket unchanged)",
                    if presented.is_empty() {
                        "no"
                    } else {
                        "a wrong"
                    },
                    self.session_id
                )));
            }
        }
        let custom_params: RVec<KeyValue> = msg
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "event" | "content-type" | TOKEN_HEADER))
            .map(|(k, v)| match v {
                Value::String(s) => KeyValue::new(k.as_str(), s.as_str()),
                other => KeyValue::new(k.as_str(), other.to_string()),
            })
            .collect();
        self.connected = true;
        out.event(StreamEvent::Start(StreamStart {
            call_id: self.expected.call_id.as_str().into(),
            // Vonage's WebSocket has no id of its own.
            stream_id: RString::new(),
            account_id: self.expected.account_id.as_str().into(),
            from: self.expected.from.as_str().into(),
            to: self.expected.to.as_str().into(),
            tracks: RVec::from(vec![RString::from("inbound")]),
            custom_params,
            format: MediaFormat {
                encoding: ENCODING.into(),
                sample_rate: rate,
                channels: 1,
            },
            ..StreamStart::default()
        }));
        Ok(())
    }

    fn on_binary(&mut self, bytes: &[u8], out: &mut Events<'_>) -> Result<(), PluginError> {
        if !self.connected {
            return Err(PluginError::invalid_input(format!(
                "binary frame of {} bytes before websocket:connected",
                bytes.len()
            )));
        }
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(PluginError::invalid_input(format!(
                "binary frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit",
                bytes.len()
            )));
        }
        if l16::has_trailing_byte(bytes) {
            return Err(PluginError::invalid_input(format!(
                "binary frame of {} bytes is not whole 16-bit samples",
                bytes.len()
            )));
        }
        if l16::decode_le(bytes, &mut self.pcm) == 0 {
            return Ok(());
        }
        out.audio(&self.pcm, self.sample_rate, self.next_ms);
        self.samples += self.pcm.len() as u64;
        self.next_ms = self.samples * 1000 / u64::from(self.sample_rate);
        Ok(())
    }
}

/// The rate of an `audio/l16;rate=N` content type, when it is one Vonage
/// offers.
pub fn l16_rate(content_type: &str) -> Option<u32> {
    let mut parts = content_type.split(';');
    let essence = parts.next()?.trim();
    if !essence.eq_ignore_ascii_case(ENCODING) {
        return None;
    }
    let rate = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("rate").then(|| v.trim())
    })?;
    rate.parse()
        .ok()
        .filter(|r| crate::config::SAMPLE_RATES.contains(r))
}

fn on_dtmf(msg: &Map<String, Value>, out: &mut Events<'_>) -> Result<(), PluginError> {
    // `{"digit":"5","duration":…}`, or nested in `dtmf` (Pipecat reads both).
    let nested = msg.get("dtmf");
    let field = |name: &str| msg.get(name).or_else(|| nested.and_then(|d| d.get(name)));
    let digit = field("digit")
        .and_then(Value::as_str)
        .ok_or_else(|| PluginError::invalid_input("websocket:dtmf without a digit"))?;
    let digit = match digit.as_bytes() {
        [d @ (b'0'..=b'9' | b'*' | b'#' | b'A'..=b'D')] => char::from(*d),
        [d @ b'a'..=b'd'] => char::from(d.to_ascii_uppercase()),
        _ => {
            return Err(PluginError::invalid_input(format!(
                "websocket:dtmf: digit {:?} is not one of 0-9 * # A-D",
                digit.chars().take(16).collect::<String>()
            )))
        }
    };
    let duration_ms = field("duration")
        .and_then(Value::as_u64)
        .map_or(0, |d| u32::try_from(d).unwrap_or(u32::MAX));
    out.event(StreamEvent::Dtmf(Dtmf {
        digit: RString::from(digit.to_string()),
        duration_ms,
    }));
    Ok(())
}

impl MediaStream for VonageStream {
    fn on_frame(&mut self, frame: WsFrame<'_>, out: &mut Events<'_>) -> Result<(), PluginError> {
        match frame {
            WsFrame::Binary(bytes) => self.on_binary(bytes.as_slice(), out),
            WsFrame::Text(text) => self.on_text(text.as_str(), out),
        }
    }

    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        out: &mut Frames<'_>,
    ) -> Result<(), PluginError> {
        match action {
            OutboundAction::Audio(pcm) => {
                if !pcm.is_empty() {
                    l16::encode_le(pcm.as_slice(), &mut self.out_bytes);
                    out.binary(&self.out_bytes);
                }
            }
            OutboundAction::Mark(name) => out.text(
                &json!({ "action": "notify", "payload": { "name": name.as_str() } }).to_string(),
            ),
            OutboundAction::Clear => out.text(r#"{"action":"clear"}"#),
            // Nothing to send: the host closes the socket, which ends the
            // `connect` action and, with nothing after it in the NCCO, the
            // call.
            OutboundAction::Hangup(_) => {}
            OutboundAction::Event(_) => {
                return Err(PluginError::unsupported(
                    "this transport does not show the call's events to its peer",
                ))
            }
            OutboundAction::Other(kind, _) => {
                return Err(PluginError::unsupported(format!(
                    "outbound action {:?} is not supported by Vonage",
                    kind.as_str().chars().take(48).collect::<String>()
                )))
            }
        }
        Ok(())
    }
}
