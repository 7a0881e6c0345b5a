//! The protocol state of one browser WebSocket (docs/transports/browser.md).
//!
//! The page's `hello` starts the call: the stream reports it in
//! `StreamStart::new_call`, and the host runs the policy chain and creates
//! the session. Audio is binary 16-bit little-endian PCM both ways; the
//! call's events come from the host as `OutboundAction::Event(…)`
//! and go to the page as `{"type":"event","event":{…}}`, the first of them
//! (`call.created`) preceded by `ready` with the session id.

use serde_json::{json, Value};
use voicegate_plugin_api::{
    codec::l16, CallRequest, Channel, Events, Frames, KeyValue, MediaFormat, MediaStream,
    OutboundAction, PluginError, RString, RVec, StreamEvent, StreamStart, WsFrame,
};

use crate::{
    identity::Identity,
    protocol::{self, ClientMessage, Hello, ProtocolError},
};

/// The encoding name reported in `StreamStart::format` and
/// `TransportInfo::outbound_format`.
pub const ENCODING: &str = "audio/l16";

/// The rate of audio sent to the page.
pub const OUTPUT_RATE: u32 = 16000;

/// Duration of one outbound frame.
pub const FRAME_MS: u32 = 20;

/// Longest binary frame accepted, in milliseconds of audio: the page sends
/// 20 ms; a client may batch a little, not a second.
pub const MAX_FRAME_MS: u32 = 200;

/// Error messages sent back per stream; past this, errors are only
/// counted by the host, so a broken client cannot make the server echo
/// every frame.
const MAX_ERROR_REPLIES: u32 = 10;

/// What the upgrade request said about the call.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The call id this plugin made up (`web-…`).
    pub call_id: String,
    /// Who is calling.
    pub identity: Identity,
    /// `to` from the instance's config.
    pub to: String,
    /// The peer address, for policies.
    pub remote_addr: String,
    /// The browser's `User-Agent`, shortened.
    pub user_agent: String,
    /// The page's `Origin`, if any.
    pub origin: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing but `hello` is accepted.
    AwaitingHello,
    /// The call started; audio at this rate.
    Live { rate: u32 },
    /// Refused; the host is closing the socket.
    Refused,
}

/// One browser WebSocket.
#[derive(Debug)]
pub struct BrowserStream {
    caller: Caller,
    phase: Phase,
    /// Known once the host admitted the call (its first event).
    session_id: Option<String>,
    /// Milliseconds of inbound audio so far; the page's frames carry no
    /// timestamp, so time is counted in samples.
    next_ms: u64,
    samples: u64,
    errors_replied: u32,
    /// Inbound PCM of the last frame.
    pcm: Vec<i16>,
    /// Outbound L16 bytes.
    out_bytes: Vec<u8>,
}

impl BrowserStream {
    /// A stream for a caller whose upgrade was accepted.
    pub fn new(caller: Caller) -> Self {
        let frame = (OUTPUT_RATE * FRAME_MS / 1000) as usize;
        Self {
            caller,
            phase: Phase::AwaitingHello,
            session_id: None,
            next_ms: 0,
            samples: 0,
            errors_replied: 0,
            pcm: Vec::with_capacity(frame),
            out_bytes: Vec::with_capacity(frame * 2),
        }
    }

    /// The session, once the host admitted the call.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Tells the page what was wrong, unless it was told often enough.
    fn reply_error(&mut self, error: &ProtocolError, out: &mut Events<'_>) {
        if self.errors_replied < MAX_ERROR_REPLIES {
            self.errors_replied += 1;
            out.reply_text(&error.to_json());
        }
    }

    /// Ends a stream whose first message was unusable: an `error` message,
    /// then a stop (the host closes the socket; no call was made).
    fn refuse(&mut self, error: &ProtocolError, out: &mut Events<'_>) -> Result<(), PluginError> {
        log::info!(
            "Browser client {} refused before its call started: {}: {}",
            self.caller.identity.caller,
            error.code,
            error.message
        );
        out.reply_text(&error.to_json());
        out.event(StreamEvent::Stop(RString::from(error.code)));
        self.phase = Phase::Refused;
        Ok(())
    }

    fn start(&mut self, hello: &Hello, out: &mut Events<'_>) {
        let caller = &self.caller;
        let custom_params: RVec<KeyValue> = hello
            .params
            .iter()
            .map(|(k, v)| KeyValue::new(k.as_str(), v.as_str()))
            .collect();
        let mut attributes = vec![KeyValue::new(
            "identity_source",
            caller.identity.source.name(),
        )];
        if !caller.user_agent.is_empty() {
            attributes.push(KeyValue::new("user_agent", caller.user_agent.as_str()));
        }
        if !caller.origin.is_empty() {
            attributes.push(KeyValue::new("origin", caller.origin.as_str()));
        }
        if !hello.client.is_empty() {
            attributes.push(KeyValue::new("client", protocol::shown(&hello.client, 64)));
        }
        let call = CallRequest {
            call_id: caller.call_id.as_str().into(),
            from: caller.identity.caller.as_str().into(),
            to: caller.to.as_str().into(),
            direction: "inbound".into(),
            channel: Channel::BROWSER,
            custom_params: custom_params.clone(),
            attributes: attributes.into(),
            remote_addr: caller.remote_addr.as_str().into(),
            ..CallRequest::default()
        };
        out.event(StreamEvent::Start(StreamStart {
            call_id: caller.call_id.as_str().into(),
            stream_id: caller.call_id.as_str().into(),
            from: caller.identity.caller.as_str().into(),
            to: caller.to.as_str().into(),
            tracks: RVec::from(vec![RString::from("inbound")]),
            custom_params,
            format: MediaFormat {
                encoding: ENCODING.into(),
                sample_rate: hello.sample_rate,
                channels: 1,
            },
            new_call: voicegate_plugin_api::ROption::RSome(call),
            ..StreamStart::default()
        }));
        self.phase = Phase::Live {
            rate: hello.sample_rate,
        };
    }

    fn on_text(&mut self, text: &str, out: &mut Events<'_>) -> Result<(), PluginError> {
        let parsed = protocol::parse(text);
        match (self.phase, parsed) {
            (Phase::AwaitingHello, Ok(ClientMessage::Hello(hello))) => match hello.validate() {
                Ok(()) => {
                    self.start(&hello, out);
                    Ok(())
                }
                Err(error) => self.refuse(&error, out),
            },
            (Phase::AwaitingHello, Ok(_)) => self.refuse(
                &ProtocolError {
                    code: "hello_required",
                    message: "the first message must be a hello".to_owned(),
                },
                out,
            ),
            (Phase::AwaitingHello, Err(error)) => self.refuse(&error, out),
            (Phase::Live { .. }, Ok(ClientMessage::Hello(_))) => {
                let error = ProtocolError {
                    code: "bad_message",
                    message: "a second hello on this socket".to_owned(),
                };
                self.reply_error(&error, out);
                Err(error.to_plugin_error())
            }
            (Phase::Live { .. }, Ok(ClientMessage::Mark(name))) => {
                out.event(StreamEvent::Mark(name.into()));
                Ok(())
            }
            (Phase::Live { .. }, Ok(ClientMessage::Hangup(reason))) => {
                log::info!(
                    "Browser caller {} hung up ({}).",
                    self.caller.identity.caller,
                    protocol::shown(&reason, 64)
                );
                // A fixed reason: the page's words are not the host's to
                // publish in call.ended and the audit trail.
                out.event(StreamEvent::Hangup("caller_hangup".into()));
                Ok(())
            }
            (Phase::Live { .. }, Err(error)) => {
                self.reply_error(&error, out);
                Err(error.to_plugin_error())
            }
            (Phase::Refused, _) => Err(PluginError::fatal("this socket was refused")),
        }
    }

    fn on_binary(&mut self, bytes: &[u8], out: &mut Events<'_>) -> Result<(), PluginError> {
        let rate = match self.phase {
            Phase::Live { rate } => rate,
            Phase::AwaitingHello => {
                return self.refuse(
                    &ProtocolError {
                        code: "hello_required",
                        message: format!(
                            "a binary frame of {} bytes before hello; send hello first",
                            bytes.len()
                        ),
                    },
                    out,
                )
            }
            Phase::Refused => return Err(PluginError::fatal("this socket was refused")),
        };
        let max = (rate * MAX_FRAME_MS / 1000) as usize * 2;
        let problem = if bytes.len() > max {
            Some(format!(
                "a binary frame of {} bytes is over {MAX_FRAME_MS} ms of audio ({max} bytes at \
                 {rate} Hz); send about 20 ms per frame",
                bytes.len()
            ))
        } else if l16::has_trailing_byte(bytes) {
            Some(format!(
                "a binary frame of {} bytes is not whole 16-bit samples",
                bytes.len()
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            let error = ProtocolError {
                code: "bad_audio",
                message,
            };
            self.reply_error(&error, out);
            return Err(error.to_plugin_error());
        }
        if l16::decode_le(bytes, &mut self.pcm) == 0 {
            return Ok(());
        }
        out.audio(&self.pcm, rate, self.next_ms);
        self.samples += self.pcm.len() as u64;
        self.next_ms = self.samples * 1000 / u64::from(rate);
        Ok(())
    }

    /// Forwards one of the call's events; the first that names the session
    /// (`call.created`, or `call.started` if that one was missed) is
    /// preceded by `ready`.
    fn on_event(&mut self, payload: &str, out: &mut Frames<'_>) -> Result<(), PluginError> {
        let event: Value = serde_json::from_str(payload)
            .map_err(|e| PluginError::invalid_input(format!("event is not JSON: {e}")))?;
        let Some(kind) = event.get("type").and_then(Value::as_str) else {
            return Err(PluginError::invalid_input("event without a `type`"));
        };
        if self.session_id.is_none() && matches!(kind, "call.created" | "call.started") {
            if let Some(session) = event
                .get("session_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                self.session_id = Some(session.to_owned());
                let rate = match self.phase {
                    Phase::Live { rate } => rate,
                    _ => OUTPUT_RATE,
                };
                let ready = json!({
                    "type": "ready",
                    "version": protocol::VERSIONS[protocol::VERSIONS.len() - 1],
                    "session_id": session,
                    "call_id": self.caller.call_id,
                    "identity": self.caller.identity.caller,
                    "tier": event.get("tier").cloned().unwrap_or(Value::Null),
                    "input": { "encoding": "s16le", "sample_rate": rate, "channels": 1 },
                    "output": {
                        "encoding": "s16le",
                        "sample_rate": OUTPUT_RATE,
                        "channels": 1,
                        "frame_ms": FRAME_MS,
                    },
                });
                out.text(&ready.to_string());
            }
        }
        out.text(&json!({ "type": "event", "event": event }).to_string());
        Ok(())
    }
}

impl MediaStream for BrowserStream {
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
            OutboundAction::Mark(name) => {
                out.text(&json!({ "type": "mark", "name": name.as_str() }).to_string());
            }
            OutboundAction::Clear => out.text(r#"{"type":"clear"}"#),
            OutboundAction::Hangup(reason) => {
                out.text(&json!({ "type": "hangup", "reason": reason.as_str() }).to_string());
            }
            OutboundAction::Event(payload) => {
                return self.on_event(payload.as_str(), out);
            }
            OutboundAction::Other(kind, _) => {
                return Err(PluginError::unsupported(format!(
                    "outbound action \"{}\" is not supported by the browser transport",
                    protocol::shown(kind.as_str(), 48)
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{
        testkit::{OwnedFrame, Recorded},
        ErrorKind, RSlice, RStr,
    };

    use super::*;
    use crate::identity::Source;

    fn caller() -> Caller {
        Caller {
            call_id: "web-1-1".into(),
            identity: Identity {
                caller: "client:alice".into(),
                source: Source::Token,
            },
            to: "agent".into(),
            remote_addr: "127.0.0.1:5000".into(),
            user_agent: "Test/1".into(),
            origin: "http://127.0.0.1:8080".into(),
        }
    }

    fn text(s: &mut BrowserStream, rec: &mut Recorded, t: &str) -> Result<(), PluginError> {
        rec.events(|out| s.on_frame(WsFrame::Text(RStr::from(t)), out))
    }

    fn binary(s: &mut BrowserStream, rec: &mut Recorded, b: &[u8]) -> Result<(), PluginError> {
        rec.events(|out| s.on_frame(WsFrame::Binary(RSlice::from_slice(b)), out))
    }

    fn encode(
        s: &mut BrowserStream,
        action: &OutboundAction<'_>,
    ) -> (Result<(), PluginError>, Vec<OwnedFrame>) {
        let mut rec = Recorded::default();
        let result = rec.frames(|out| s.encode(action, out));
        (result, rec.frames)
    }

    fn reply_json(rec: &Recorded, i: usize) -> Value {
        match &rec.frames[i] {
            OwnedFrame::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("frame {i} is {other:?}"),
        }
    }

    fn live() -> BrowserStream {
        let mut s = BrowserStream::new(caller());
        let mut rec = Recorded::default();
        text(&mut s, &mut rec, r#"{"type":"hello","version":1}"#).unwrap();
        s
    }

    #[test]
    fn hello_starts_a_browser_call() {
        let mut s = BrowserStream::new(caller());
        let mut rec = Recorded::default();
        text(
            &mut s,
            &mut rec,
            r#"{"type":"hello","version":1,"sample_rate":16000,"params":{"lang":"en"},"client":"voicegate-web/1"}"#,
        )
        .unwrap();
        assert!(
            rec.frames.is_empty(),
            "ready waits for the host's admission"
        );
        let [StreamEvent::Start(start)] = rec.events.as_slice() else {
            panic!("{:?}", rec.events)
        };
        assert_eq!(start.call_id.as_str(), "web-1-1");
        assert_eq!(start.from.as_str(), "client:alice");
        assert_eq!(start.to.as_str(), "agent");
        assert_eq!(start.format.encoding.as_str(), ENCODING);
        assert_eq!(start.format.sample_rate, 16000);
        assert_eq!(start.custom_params[0], KeyValue::new("lang", "en"));
        let call = start.new_call.as_ref().into_option().expect("a new call");
        assert_eq!(call.channel, Channel::BROWSER);
        assert_eq!(call.from.as_str(), "client:alice");
        assert_eq!(call.call_id.as_str(), "web-1-1");
        assert_eq!(call.direction.as_str(), "inbound");
        assert_eq!(call.remote_addr.as_str(), "127.0.0.1:5000");
        let attr = |k: &str| voicegate_plugin_api::lookup(&call.attributes, k).map(str::to_owned);
        assert_eq!(attr("identity_source").as_deref(), Some("token"));
        assert_eq!(attr("user_agent").as_deref(), Some("Test/1"));
        assert_eq!(attr("client").as_deref(), Some("voicegate-web/1"));
    }

    #[test]
    fn a_wrong_version_is_refused_with_a_message_and_a_stop() {
        let mut s = BrowserStream::new(caller());
        let mut rec = Recorded::default();
        text(&mut s, &mut rec, r#"{"type":"hello","version":2}"#).unwrap();
        let err = reply_json(&rec, 0);
        assert_eq!(err["type"], "error");
        assert_eq!(err["code"], "unsupported_version");
        assert_eq!(err["supported"], json!([1]));
        let [StreamEvent::Stop(reason)] = rec.events.as_slice() else {
            panic!("{:?}", rec.events)
        };
        assert_eq!(reason.as_str(), "unsupported_version");
        // Nothing more is accepted on a refused socket.
        let err = binary(&mut s, &mut rec, &[0, 0]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::FATAL);
    }

    #[test]
    fn anything_before_hello_is_refused() {
        for first in [
            r#"{"type":"mark","name":"x"}"#,
            "not json",
            r#"{"type":"dance"}"#,
        ] {
            let mut s = BrowserStream::new(caller());
            let mut rec = Recorded::default();
            text(&mut s, &mut rec, first).unwrap();
            assert_eq!(reply_json(&rec, 0)["type"], "error", "{first}");
            assert!(
                matches!(rec.events.as_slice(), [StreamEvent::Stop(_)]),
                "{first}"
            );
        }
        let mut s = BrowserStream::new(caller());
        let mut rec = Recorded::default();
        binary(&mut s, &mut rec, &[0; 640]).unwrap();
        assert_eq!(reply_json(&rec, 0)["code"], "hello_required");
        assert!(matches!(rec.events.as_slice(), [StreamEvent::Stop(_)]));
        assert!(rec.audio.is_empty());
    }

    #[test]
    fn audio_frames_are_decoded_with_a_running_clock() {
        let mut s = live();
        let mut rec = Recorded::default();
        let frame: Vec<u8> = (0..320i16).flat_map(|i| (i * 100).to_le_bytes()).collect();
        binary(&mut s, &mut rec, &frame).unwrap();
        binary(&mut s, &mut rec, &frame).unwrap();
        assert_eq!(rec.audio.len(), 640);
        assert_eq!(rec.audio[1], 100);
        assert_eq!(rec.audio[319], 31900);
        assert_eq!(rec.audio_calls, [(16000, 0, 320), (16000, 20, 320)]);
        // An empty frame is nothing, not an error.
        binary(&mut s, &mut rec, &[]).unwrap();
        assert_eq!(rec.audio_calls.len(), 2);
    }

    #[test]
    fn other_rates_follow_the_hello() {
        let mut s = BrowserStream::new(caller());
        let mut rec = Recorded::default();
        text(
            &mut s,
            &mut rec,
            r#"{"type":"hello","version":1,"sample_rate":48000}"#,
        )
        .unwrap();
        binary(&mut s, &mut rec, &[0; 1920]).unwrap();
        binary(&mut s, &mut rec, &[0; 1920]).unwrap();
        assert_eq!(rec.audio_calls, [(48000, 0, 960), (48000, 20, 960)]);
        // 200 ms at 48 kHz is the limit there.
        assert!(binary(&mut s, &mut rec, &[0; 19200]).is_ok());
        assert!(binary(&mut s, &mut rec, &[0; 19202]).is_err());
    }

    #[test]
    fn bad_frames_are_invalid_input_and_the_call_goes_on() {
        let mut s = live();
        let mut rec = Recorded::default();
        let err = binary(&mut s, &mut rec, &[0; 641]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        assert!(err.message.contains("16-bit"), "{err}");
        let err = binary(&mut s, &mut rec, &vec![0; 6402]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        assert!(err.message.contains("200 ms"), "{err}");
        assert!(binary(&mut s, &mut rec, &vec![0; 6400]).is_ok());
        let err = text(&mut s, &mut rec, "{oops").unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        let err = text(&mut s, &mut rec, r#"{"type":"hello","version":1}"#).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        let codes: Vec<Value> = (0..rec.frames.len())
            .map(|i| reply_json(&rec, i)["code"].clone())
            .collect();
        assert_eq!(codes, ["bad_audio", "bad_audio", "bad_json", "bad_message"]);
        assert!(rec.events.is_empty());
        assert_eq!(rec.audio.len(), 3200, "the good frame still counts");
    }

    #[test]
    fn error_replies_are_bounded() {
        let mut s = live();
        let mut rec = Recorded::default();
        for _ in 0..50 {
            assert!(binary(&mut s, &mut rec, &[1]).is_err());
        }
        assert_eq!(rec.frames.len(), MAX_ERROR_REPLIES as usize);
    }

    #[test]
    fn marks_and_hangups_from_the_page() {
        let mut s = live();
        let mut rec = Recorded::default();
        text(&mut s, &mut rec, r#"{"type":"mark","name":"vg-1-3200"}"#).unwrap();
        text(
            &mut s,
            &mut rec,
            r#"{"type":"hangup","reason":"user\nclicked"}"#,
        )
        .unwrap();
        match rec.events.as_slice() {
            [StreamEvent::Mark(m), StreamEvent::Hangup(r)] => {
                assert_eq!(m.as_str(), "vg-1-3200");
                assert_eq!(r.as_str(), "caller_hangup");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encodes_audio_marks_clear_and_hangup() {
        let mut s = live();
        let pcm: Vec<i16> = vec![1, -2, 300];
        let (r, frames) = encode(&mut s, &OutboundAction::Audio(RSlice::from_slice(&pcm)));
        r.unwrap();
        assert_eq!(
            frames,
            [OwnedFrame::Binary(vec![1, 0, 0xfe, 0xff, 0x2c, 0x01])]
        );
        let (r, frames) = encode(&mut s, &OutboundAction::Audio(RSlice::from_slice(&[])));
        r.unwrap();
        assert!(frames.is_empty());
        let json_of = |frames: &[OwnedFrame]| match frames {
            [OwnedFrame::Text(t)] => serde_json::from_str::<Value>(t).unwrap(),
            other => panic!("{other:?}"),
        };
        let (_, frames) = encode(&mut s, &OutboundAction::Mark(RStr::from("vg-1-\"320\"")));
        assert_eq!(
            json_of(&frames),
            json!({"type": "mark", "name": "vg-1-\"320\""})
        );
        let (_, frames) = encode(&mut s, &OutboundAction::Clear);
        assert_eq!(json_of(&frames), json!({"type": "clear"}));
        let (_, frames) = encode(&mut s, &OutboundAction::Hangup(RStr::from("admin_hangup")));
        assert_eq!(
            json_of(&frames),
            json!({"type": "hangup", "reason": "admin_hangup"})
        );
        let (r, _) = encode(
            &mut s,
            &OutboundAction::Other(RStr::from("dance"), RStr::from("{}")),
        );
        assert_eq!(r.unwrap_err().kind, ErrorKind::UNSUPPORTED);
    }

    #[test]
    fn the_first_event_of_the_session_brings_ready() {
        let mut s = live();
        let created = r#"{"type":"call.created","session_id":"browser-web11-abc","timestamp":"t","tier":"low","from":"client:alice"}"#;
        let (r, frames) = encode(&mut s, &OutboundAction::Event(RStr::from(created)));
        r.unwrap();
        assert_eq!(frames.len(), 2);
        let OwnedFrame::Text(ready) = &frames[0] else {
            panic!("{frames:?}")
        };
        let ready: Value = serde_json::from_str(ready).unwrap();
        assert_eq!(ready["type"], "ready");
        assert_eq!(ready["version"], 1);
        assert_eq!(ready["session_id"], "browser-web11-abc");
        assert_eq!(ready["call_id"], "web-1-1");
        assert_eq!(ready["identity"], "client:alice");
        assert_eq!(ready["tier"], "low");
        assert_eq!(ready["input"]["sample_rate"], 16000);
        assert_eq!(
            ready["output"],
            json!({"encoding":"s16le","sample_rate":16000,"channels":1,"frame_ms":20})
        );
        let OwnedFrame::Text(event) = &frames[1] else {
            panic!("{frames:?}")
        };
        let event: Value = serde_json::from_str(event).unwrap();
        assert_eq!(event["type"], "event");
        assert_eq!(
            event["event"],
            serde_json::from_str::<Value>(created).unwrap()
        );
        assert_eq!(s.session_id(), Some("browser-web11-abc"));

        // Later events are forwarded as they are, without another ready.
        let stt =
            r#"{"type":"voice.stt.final","session_id":"browser-web11-abc","text":"hello there"}"#;
        let started = r#"{"type":"call.started","session_id":"browser-web11-abc"}"#;
        for e in [started, stt] {
            let (r, frames) = encode(&mut s, &OutboundAction::Event(RStr::from(e)));
            r.unwrap();
            assert_eq!(frames.len(), 1, "{e}");
        }
        let (r, _) = encode(&mut s, &OutboundAction::Event(RStr::from("nope")));
        assert_eq!(r.unwrap_err().kind, ErrorKind::INVALID_INPUT);
    }
}
