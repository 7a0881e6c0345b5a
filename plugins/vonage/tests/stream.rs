//! The WebSocket through `open_stream` and the `MediaStream` trait: the
//! golden session from `tests/fixtures`, the session binding, every
//! malformed input, and encode.

mod common;

use common::*;
use serde_json::json;
use voicegate_plugin_api::{
    testkit::{OwnedFrame, Recorded},
    CallRequest, ErrorKind, MediaStream, OutboundAction, PluginError, ROption, RSlice, RStr,
    StreamEvent, StreamOpen, Transport, WsFrame,
};
use vonage::VonageStream;

fn open_with(t: &vonage::Vonage, call: Option<&CallRequest>) -> VonageStream {
    let req = Req::upgrade(SESSION_ID);
    t.open_stream(&StreamOpen {
        request: req.http(),
        session_id: RStr::from(SESSION_ID),
        call: call.map_or(ROption::RNone, ROption::RSome),
    })
    .unwrap()
}

fn open() -> VonageStream {
    open_with(&default_instance(), Some(&voice_call()))
}

fn text(stream: &mut VonageStream, rec: &mut Recorded, text: &str) -> Result<(), PluginError> {
    rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(text.trim_end())), out))
}

fn binary(stream: &mut VonageStream, rec: &mut Recorded, bytes: &[u8]) -> Result<(), PluginError> {
    rec.events(|out| stream.on_frame(WsFrame::Binary(RSlice::from_slice(bytes)), out))
}

fn connected() -> (VonageStream, Recorded) {
    let mut stream = open();
    let mut rec = Recorded::default();
    text(&mut stream, &mut rec, CONNECTED).unwrap();
    rec.events.clear();
    (stream, rec)
}

fn expect_text_err(stream: &mut VonageStream, msg: &str, kind: ErrorKind, needle: &str) {
    let mut rec = Recorded::default();
    let err = text(stream, &mut rec, msg).unwrap_err();
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(needle), "`{needle}` not in: {err}");
    assert!(rec.events.is_empty() && rec.audio.is_empty(), "{rec:?}");
}

/// The connected message with one field changed (or removed with `None`).
fn connected_with(key: &str, value: Option<serde_json::Value>) -> String {
    let mut msg: serde_json::Value = serde_json::from_str(CONNECTED).unwrap();
    match value {
        Some(v) => msg[key] = v,
        None => {
            msg.as_object_mut().unwrap().remove(key);
        }
    }
    msg.to_string()
}

#[test]
fn golden_session() {
    let mut stream = open();
    let mut rec = Recorded::default();
    text(&mut stream, &mut rec, CONNECTED).unwrap();
    assert!(stream.is_connected());
    binary(&mut stream, &mut rec, AUDIO).unwrap();
    binary(&mut stream, &mut rec, &[0u8; 640]).unwrap();
    text(&mut stream, &mut rec, DTMF).unwrap();
    text(&mut stream, &mut rec, NOTIFY).unwrap();
    text(&mut stream, &mut rec, CLEARED).unwrap();

    // Events: start, dtmf, mark (cleared produces none; there is no stop).
    assert_eq!(rec.events.len(), 3, "{:?}", rec.events);
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!("first event is {:?}", rec.events[0]);
    };
    // The call comes from the session: Vonage's socket does not name it.
    assert_eq!(start.call_id.as_str(), UUID);
    assert_eq!(start.account_id.as_str(), API_KEY);
    assert_eq!(start.from.as_str(), "+447700900001");
    assert_eq!(start.to.as_str(), "+447700900000");
    assert!(start.stream_id.is_empty());
    let mut params: Vec<_> = start
        .custom_params
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    params.sort_unstable();
    // The token is a credential: not passed on.
    assert_eq!(
        params,
        [("caller_tier", "gold"), ("session_id", SESSION_ID)]
    );
    assert_eq!(start.format.encoding.as_str(), "audio/l16");
    assert_eq!(start.format.sample_rate, 16000);
    assert_eq!(start.format.channels, 1);
    match &rec.events[1] {
        StreamEvent::Dtmf(d) => {
            assert_eq!(d.digit.as_str(), "7");
            assert_eq!(d.duration_ms, 250);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&rec.events[2], StreamEvent::Mark(m) if m.as_str() == "utt-1:480ms"));

    // Audio: two 20 ms frames at 16 kHz, timestamps counted in samples.
    assert_eq!(rec.audio_calls, [(16000, 0, 320), (16000, 20, 320)]);
    let (first, second) = rec.audio.split_at(320);
    for (n, &sample) in first.iter().enumerate() {
        let want = 8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 16000.0).sin();
        assert_eq!(sample, want.round() as i16, "sample {n}");
    }
    assert_eq!(&first[..4], [0, 1375, 2710, 3964]);
    assert!(second.iter().all(|&s| s == 0));
}

#[test]
fn eight_khz_streams() {
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","sample_rate":8000}}"#
    ));
    let mut stream = open_with(&t, Some(&voice_call()));
    let mut rec = Recorded::default();
    let msg = connected_with("content-type", Some(json!("audio/l16;rate=8000")));
    text(&mut stream, &mut rec, &msg).unwrap();
    binary(&mut stream, &mut rec, &[0u8; 320]).unwrap();
    binary(&mut stream, &mut rec, &[0u8; 320]).unwrap();
    assert_eq!(rec.audio_calls, [(8000, 0, 160), (8000, 20, 160)]);
    // A rate other than the NCCO's is fatal.
    let mut stream = open_with(&t, Some(&voice_call()));
    expect_text_err(
        &mut stream,
        CONNECTED,
        ErrorKind::FATAL,
        "asked for 8000 Hz",
    );
}

#[test]
fn the_older_connected_message_without_event_is_accepted() {
    let mut stream = open();
    let mut rec = Recorded::default();
    text(&mut stream, &mut rec, &connected_with("event", None)).unwrap();
    assert!(matches!(rec.events[0], StreamEvent::Start(_)));
}

#[test]
fn dtmf_may_be_nested_and_lower_case() {
    let (mut stream, mut rec) = connected();
    text(
        &mut stream,
        &mut rec,
        r#"{"event":"websocket:dtmf","dtmf":{"digit":"b","duration":80}}"#,
    )
    .unwrap();
    text(
        &mut stream,
        &mut rec,
        r##"{"event":"websocket:dtmf","digit":"#"}"##,
    )
    .unwrap();
    let digits: Vec<_> = rec
        .events
        .iter()
        .map(|e| match e {
            StreamEvent::Dtmf(d) => (d.digit.to_string(), d.duration_ms),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(digits, [("B".to_owned(), 80), ("#".to_owned(), 0)]);
}

// --- the session binding -------------------------------------------------

#[test]
fn the_token_and_session_must_be_echoed() {
    // No token.
    let mut stream = open();
    let msg = connected_with("stream_token", None);
    expect_text_err(
        &mut stream,
        &msg,
        ErrorKind::UNAUTHORIZED,
        "no stream_token",
    );
    // Another session's token.
    let mut stream = open();
    let other = vonage::ncco::stream_token(SECRET, "vonage-other-1");
    let msg = connected_with("stream_token", Some(json!(other)));
    expect_text_err(
        &mut stream,
        &msg,
        ErrorKind::UNAUTHORIZED,
        "a wrong stream_token",
    );
    // Another session id.
    let mut stream = open();
    let msg = connected_with("session_id", Some(json!("vonage-other-1")));
    expect_text_err(&mut stream, &msg, ErrorKind::FATAL, "does not belong");
    let mut stream = open();
    let msg = connected_with("session_id", Some(json!(42)));
    expect_text_err(&mut stream, &msg, ErrorKind::FATAL, "does not belong");
    // Tokens off: neither needed.
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","stream_token":false}}"#
    ));
    let mut stream = open_with(&t, Some(&voice_call()));
    let mut rec = Recorded::default();
    let msg = r#"{"event":"websocket:connected","content-type":"audio/l16;rate=16000"}"#;
    text(&mut stream, &mut rec, msg).unwrap();
}

#[test]
fn bad_content_types_are_fatal() {
    for ct in [
        json!("audio/l16;rate=44100"),
        json!("audio/l16"),
        json!("audio/x-mulaw;rate=8000"),
        json!(16000),
    ] {
        let mut stream = open();
        let msg = connected_with("content-type", Some(ct.clone()));
        let mut rec = Recorded::default();
        let err = text(&mut stream, &mut rec, &msg).unwrap_err();
        assert_eq!(err.kind, ErrorKind::FATAL, "{ct}: {err}");
    }
    // Parameters in any case and spacing.
    let mut stream = open();
    let mut rec = Recorded::default();
    let msg = connected_with("content-type", Some(json!("Audio/L16; Rate = 16000")));
    text(&mut stream, &mut rec, &msg).unwrap();
}

// --- malformed input -----------------------------------------------------

#[test]
fn anything_before_connected_is_invalid_input() {
    let mut stream = open();
    let mut rec = Recorded::default();
    let err = binary(&mut stream, &mut rec, AUDIO).unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("before websocket:connected"), "{err}");
    expect_text_err(
        &mut stream,
        DTMF,
        ErrorKind::INVALID_INPUT,
        "before websocket:connected",
    );
    expect_text_err(
        &mut stream,
        r#"{"digit":"1"}"#,
        ErrorKind::INVALID_INPUT,
        "before websocket:connected",
    );
    // And the stream still starts afterwards.
    text(&mut stream, &mut rec, CONNECTED).unwrap();
}

#[test]
fn malformed_frames_are_invalid_input() {
    let (mut stream, mut rec) = connected();
    for (msg, needle) in [
        ("{not json", "malformed"),
        ("[1]", "not a JSON object"),
        (r#"{"event":7}"#, "not a string"),
        (r#"{"event":"websocket:party"}"#, "unknown Vonage event"),
        (r#"{"digit":"1"}"#, "without `event`"),
        (r#"{"event":"websocket:dtmf"}"#, "without a digit"),
        (r#"{"event":"websocket:dtmf","digit":"12"}"#, "not one of"),
        (
            r#"{"event":"websocket:notify","payload":{}}"#,
            "payload.name",
        ),
        (CONNECTED, "second websocket:connected"),
    ] {
        expect_text_err(&mut stream, msg, ErrorKind::INVALID_INPUT, needle);
    }
    let err = binary(&mut stream, &mut rec, &[1, 2, 3]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("3 bytes"), "{err}");
    let err = binary(&mut stream, &mut rec, &vec![0; 70_000]).unwrap_err();
    assert!(err.message.contains("limit"), "{err}");
    let big = format!(r#"{{"event":"x","pad":"{}"}}"#, "x".repeat(70_000));
    expect_text_err(&mut stream, &big, ErrorKind::INVALID_INPUT, "limit");
    // An empty frame is nothing.
    binary(&mut stream, &mut rec, &[]).unwrap();
    assert!(rec.audio.is_empty());
}

// --- outbound ------------------------------------------------------------

fn encode(stream: &mut VonageStream, action: OutboundAction<'_>) -> Vec<OwnedFrame> {
    let mut rec = Recorded::default();
    rec.frames(|out| stream.encode(&action, out)).unwrap();
    rec.frames
}

#[test]
fn outbound_audio_is_binary_l16_and_marks_are_notify() {
    let (mut stream, _) = connected();
    let pcm = [0i16, 1, -2, 0x1234, i16::MIN];
    let frames = encode(&mut stream, OutboundAction::Audio(RSlice::from_slice(&pcm)));
    assert_eq!(
        frames,
        [OwnedFrame::Binary(vec![
            0, 0, 1, 0, 0xFE, 0xFF, 0x34, 0x12, 0x00, 0x80
        ])]
    );
    let frames = encode(&mut stream, OutboundAction::Mark(RStr::from("m\"1")));
    let [OwnedFrame::Text(t)] = frames.as_slice() else {
        panic!("{frames:?}")
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(t).unwrap(),
        json!({"action":"notify","payload":{"name":"m\"1"}})
    );
    assert_eq!(
        encode(&mut stream, OutboundAction::Clear),
        [OwnedFrame::Text(r#"{"action":"clear"}"#.to_owned())]
    );
    assert!(encode(&mut stream, OutboundAction::Hangup(RStr::from("bye"))).is_empty());
    assert!(encode(&mut stream, OutboundAction::Audio(RSlice::from_slice(&[]))).is_empty());
    let mut rec = Recorded::default();
    let err = rec
        .frames(|out| {
            stream.encode(
                &OutboundAction::Other(RStr::from("transfer"), RStr::from("{}")),
                out,
            )
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNSUPPORTED);
}

#[test]
fn a_notify_ack_round_trips_as_the_same_mark() {
    let (mut stream, mut rec) = connected();
    let frames = encode(&mut stream, OutboundAction::Mark(RStr::from("utt-2:120ms")));
    let [OwnedFrame::Text(sent)] = frames.as_slice() else {
        panic!()
    };
    // Vonage echoes the payload in websocket:notify.
    let sent: serde_json::Value = serde_json::from_str(sent).unwrap();
    let ack = json!({"event":"websocket:notify","payload":sent["payload"]}).to_string();
    text(&mut stream, &mut rec, &ack).unwrap();
    assert!(matches!(&rec.events[0], StreamEvent::Mark(m) if m.as_str() == "utt-2:120ms"));
}
