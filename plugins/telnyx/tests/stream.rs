//! Media streaming through `open_stream` and the `MediaStream` trait: the
//! golden session from `tests/fixtures`, L16, every malformed input, and
//! encode.

mod common;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use common::*;
use telnyx::TelnyxStream;
use voicegate_plugin_api::{
    codec::{alaw, mulaw},
    testkit::{OwnedFrame, Recorded},
    CallRequest, ErrorKind, MediaStream, OutboundAction, PluginError, ROption, RSlice, RStr,
    StreamEvent, StreamOpen, Transport, WsFrame,
};

fn open_with(t: &telnyx::Telnyx, call: Option<&CallRequest>) -> TelnyxStream {
    let req = Req::upgrade(SESSION_ID);
    t.open_stream(&StreamOpen {
        request: req.http(),
        session_id: RStr::from(SESSION_ID),
        call: call.map_or(ROption::RNone, ROption::RSome),
    })
    .unwrap()
}

fn open() -> TelnyxStream {
    open_with(&default_instance(), Some(&voice_call()))
}

fn feed(stream: &mut TelnyxStream, rec: &mut Recorded, text: &str) -> Result<(), PluginError> {
    rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(text)), out))
}

/// A stream that has seen `connected` and `start`.
fn started() -> (TelnyxStream, Recorded) {
    let mut stream = open();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("connected")).unwrap();
    feed(&mut stream, &mut rec, fixture("start")).unwrap();
    rec.events.clear();
    (stream, rec)
}

fn media(chunk: u64, timestamp: u64, payload: &str) -> String {
    format!(
        r#"{{"event":"media","sequence_number":"9","stream_id":"{STREAM_ID}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp}","payload":"{payload}"}}}}"#
    )
}

fn expect_err(stream: &mut TelnyxStream, text: &str, kind: ErrorKind, needle: &str) {
    let mut rec = Recorded::default();
    let err = feed(stream, &mut rec, text).unwrap_err();
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(needle), "`{needle}` not in: {err}");
    assert!(rec.events.is_empty() && rec.audio.is_empty(), "{rec:?}");
}

/// 440 Hz at amplitude 8000, as in the fixtures.
fn sine(n: usize, rate: f64) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| 8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate).sin())
}

// --- the golden session --------------------------------------------------

#[test]
fn golden_session() {
    let mut stream = open();
    let mut rec = Recorded::default();
    for (name, json) in FIXTURES {
        feed(&mut stream, &mut rec, json.trim_end()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(stream.stream_id(), Some(STREAM_ID));

    // Events: start, dtmf, mark, error (as an extension), stop.
    assert_eq!(rec.events.len(), 5, "{:?}", rec.events);
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!("first event is {:?}", rec.events[0]);
    };
    assert_eq!(start.call_id.as_str(), CALL_SID);
    assert_eq!(start.stream_id.as_str(), STREAM_ID);
    assert_eq!(start.from.as_str(), "+13122010094");
    assert_eq!(start.to.as_str(), "+13122123456");
    let tracks: Vec<_> = start.tracks.iter().map(|t| t.as_str()).collect();
    assert_eq!(tracks, ["inbound"]);
    let params: Vec<_> = start
        .custom_params
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    assert_eq!(
        params,
        [("session_id", SESSION_ID), ("caller_tier", "gold")]
    );
    assert_eq!(start.format.encoding.as_str(), "PCMU");
    assert_eq!(start.format.sample_rate, 8000);
    assert_eq!(start.format.channels, 1);
    assert!(start.new_call.is_none());
    let ext: serde_json::Value = serde_json::from_str(start.extensions_json.as_str()).unwrap();
    assert_eq!(
        ext["call_session_id"],
        "ff55a038-6f5d-11ef-9692-02420aeffb1f"
    );
    match &rec.events[1] {
        StreamEvent::Dtmf(d) => {
            assert_eq!(d.digit.as_str(), "7");
            assert_eq!(d.duration_ms, 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&rec.events[2], StreamEvent::Mark(m) if m.as_str() == "utt-1:480ms"));
    match &rec.events[3] {
        StreamEvent::Other(ext) => {
            assert_eq!(ext.kind.as_str(), "telnyx.error");
            let json: serde_json::Value = serde_json::from_str(ext.json.as_str()).unwrap();
            assert_eq!(json["payload"]["code"], 100003);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&rec.events[4], StreamEvent::Stop(r) if r.as_str() == "stopped"));

    // Audio: two 20 ms frames at 8 kHz with Telnyx's timestamps.
    assert_eq!(rec.audio_calls, [(8000, 5, 160), (8000, 25, 160)]);
    let (first, second) = rec.audio.split_at(160);
    // Frame 1 is the sine, µ-law encoded: within µ-law's step at that level.
    for (n, (&sample, want)) in first.iter().zip(sine(160, 8000.0)).enumerate() {
        assert!(
            (f64::from(sample) - want).abs() <= 256.0,
            "sample {n}: {sample} vs {want:.0}"
        );
    }
    // …and exactly the G.711 reference decode of the payload bytes.
    let payload: serde_json::Value = serde_json::from_str(fixture("media 1")).unwrap();
    let codes = STANDARD
        .decode(payload["media"]["payload"].as_str().unwrap())
        .unwrap();
    let want: Vec<i16> = codes.iter().map(|&c| mulaw::decode_sample(c)).collect();
    assert_eq!(first, want.as_slice());
    assert_eq!(&first[..4], [0, 2748, 5116, 6908]);
    assert!(second.iter().all(|&s| s == 0));
}

#[test]
fn l16_is_big_endian_and_may_be_16khz() {
    let mut stream = open();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, L16_START.trim_end()).unwrap();
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!()
    };
    assert_eq!(start.format.encoding.as_str(), "L16");
    assert_eq!(start.format.sample_rate, 16000);
    feed(&mut stream, &mut rec, L16_MEDIA.trim_end()).unwrap();
    assert_eq!(rec.audio_calls, [(16000, 0, 320)]);
    // Exact: L16 is lossless.
    for (n, (&sample, want)) in rec.audio.iter().zip(sine(320, 16000.0)).enumerate() {
        assert_eq!(sample, want.round() as i16, "sample {n}");
    }
    assert_eq!(&rec.audio[..4], [0, 1375, 2710, 3964]);
    // An odd number of bytes is not whole samples.
    let odd = media(2, 20, &STANDARD.encode([0u8, 1, 2]));
    expect_err(&mut stream, &odd, ErrorKind::INVALID_INPUT, "3 bytes");
}

#[test]
fn pcma_streams_decode_with_a_law() {
    let mut stream = open();
    let mut rec = Recorded::default();
    let start = fixture("start").replace(r#""encoding":"PCMU""#, r#""encoding":"PCMA""#);
    feed(&mut stream, &mut rec, &start).unwrap();
    let codes: Vec<u8> = sine(160, 8000.0)
        .map(|s| alaw::encode_sample(s.round() as i16))
        .collect();
    feed(
        &mut stream,
        &mut rec,
        &media(1, 0, &STANDARD.encode(&codes)),
    )
    .unwrap();
    let want: Vec<i16> = codes.iter().map(|&c| alaw::decode_sample(c)).collect();
    assert_eq!(rec.audio, want);
}

#[test]
fn start_without_a_bound_call_takes_from_and_to_from_the_stream() {
    let mut stream = open_with(&default_instance(), None);
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("start")).unwrap();
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!()
    };
    assert_eq!(start.call_id.as_str(), CALL_SID);
    assert_eq!(start.from.as_str(), "+13122010094");
}

#[test]
fn missing_timestamps_follow_the_audio_and_late_frames_are_dropped() {
    let (mut stream, mut rec) = started();
    let silence = STANDARD.encode([0xFFu8; 160]);
    let no_ts = |chunk: u64| {
        format!(
            r#"{{"event":"media","stream_id":"{STREAM_ID}","media":{{"chunk":{chunk},"payload":"{silence}"}}}}"#
        )
    };
    feed(&mut stream, &mut rec, &no_ts(1)).unwrap();
    feed(&mut stream, &mut rec, &no_ts(2)).unwrap();
    // Chunk 4 before chunk 3: 3 is late and dropped, as is a repeat of 4.
    feed(&mut stream, &mut rec, &media(4, 60, &silence)).unwrap();
    feed(&mut stream, &mut rec, &media(3, 40, &silence)).unwrap();
    feed(&mut stream, &mut rec, &media(4, 60, &silence)).unwrap();
    feed(&mut stream, &mut rec, &no_ts(5)).unwrap();
    let timestamps: Vec<_> = rec.audio_calls.iter().map(|c| c.1).collect();
    assert_eq!(timestamps, [0, 20, 60, 80]);
    assert_eq!(stream.late_frames(), 2);
    // Frames without a chunk number are always taken.
    let bare = format!(
        r#"{{"event":"media","stream_id":"{STREAM_ID}","media":{{"timestamp":"100","payload":"{silence}"}}}}"#
    );
    feed(&mut stream, &mut rec, &bare).unwrap();
    assert_eq!(rec.audio_calls.last().unwrap().1, 100);
}

#[test]
fn outbound_track_media_is_skipped() {
    let (mut stream, mut rec) = started();
    let json = media(1, 40, "//8=").replace(r#""track":"inbound""#, r#""track":"outbound""#);
    feed(&mut stream, &mut rec, &json).unwrap();
    assert!(rec.audio.is_empty());
}

// --- the session binding -------------------------------------------------

#[test]
fn a_start_for_another_session_is_fatal() {
    let mut stream = open();
    let forged = fixture("start").replace(SESSION_ID, "telnyx-other-0000");
    expect_err(
        &mut stream,
        &forged,
        ErrorKind::FATAL,
        "does not belong to this session",
    );
    // Another call without the session parameter: fatal.
    let mut stream = open();
    let other_call = fixture("start")
        .replace(CALL_SID, "v3:another-call")
        .replace(&format!(r#""session_id":"{SESSION_ID}","#), "");
    expect_err(
        &mut stream,
        &other_call,
        ErrorKind::FATAL,
        "no session_id parameter",
    );
    // Another call id, but the session echoed: accepted (logged).
    let mut stream = open();
    let mut rec = Recorded::default();
    let renamed = fixture("start").replace(CALL_SID, "v3:renamed");
    feed(&mut stream, &mut rec, &renamed).unwrap();
    // Neither: the URL's session binding is enough when the call matches.
    let mut stream = open();
    let plain = fixture("start").replace(&format!(r#""session_id":"{SESSION_ID}","#), "");
    feed(&mut stream, &mut rec, &plain).unwrap();
}

#[test]
fn unsupported_formats_are_fatal() {
    for (from, to, needle) in [
        (r#""encoding":"PCMU""#, r#""encoding":"G722""#, "G722"),
        (r#""encoding":"PCMU""#, r#""encoding":"OPUS""#, "OPUS"),
        (r#""sample_rate":8000"#, r#""sample_rate":48000"#, "48000"),
        (r#""channels":1"#, r#""channels":2"#, "channels 2"),
        (
            r#","media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}"#,
            "",
            "missing media_format",
        ),
    ] {
        let mut stream = open();
        let start = fixture("start").replace(from, to);
        assert_ne!(start, fixture("start"), "{from}");
        expect_err(&mut stream, &start, ErrorKind::FATAL, needle);
    }
}

// --- malformed input -----------------------------------------------------

#[test]
fn malformed_frames_are_invalid_input() {
    let (mut stream, _) = started();
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "malformed"),
        (r#"{"event":"party"}"#.into(), "unknown Telnyx event"),
        (r#"{"stream_id":"x"}"#.into(), "malformed"),
        (media(1, 0, "!!!"), "not base64"),
        (
            media(1, 0, "//8=").replace(STREAM_ID, "other-stream"),
            "not this stream's",
        ),
        (
            format!(r#"{{"event":"media","stream_id":"{STREAM_ID}"}}"#),
            "missing `media`",
        ),
        (
            format!(r#"{{"event":"dtmf","stream_id":"{STREAM_ID}","dtmf":{{"digit":"x"}}}}"#),
            "not one of",
        ),
        (
            format!(r#"{{"event":"dtmf","stream_id":"{STREAM_ID}"}}"#),
            "missing `dtmf`",
        ),
        (
            format!(r#"{{"event":"mark","stream_id":"{STREAM_ID}"}}"#),
            "missing `mark`",
        ),
        (fixture("start").to_owned(), "already started"),
        (
            media(1, 0, "//8=").replace(r#""timestamp":"0""#, r#""timestamp":"-1""#),
            "malformed",
        ),
    ];
    for (text, needle) in cases {
        expect_err(&mut stream, &text, ErrorKind::INVALID_INPUT, needle);
    }
    let mut rec = Recorded::default();
    let err = rec
        .events(|out| stream.on_frame(WsFrame::Binary(RSlice::from_slice(&[1, 2, 3])), out))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    let big = format!(r#"{{"event":"media","pad":"{}"}}"#, "x".repeat(70_000));
    expect_err(&mut stream, &big, ErrorKind::INVALID_INPUT, "limit");
}

#[test]
fn events_before_start_are_invalid_input() {
    for name in ["media 1", "dtmf", "mark"] {
        let mut stream = open();
        expect_err(
            &mut stream,
            fixture(name),
            ErrorKind::INVALID_INPUT,
            "before start",
        );
    }
    // A stop may come first (the stream failed early).
    let mut stream = open();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("stop")).unwrap();
    assert!(matches!(rec.events[0], StreamEvent::Stop(_)));
}

#[test]
fn bad_starts_are_invalid_input() {
    for (from, to, needle) in [
        (
            format!(r#""stream_id":"{STREAM_ID}","#),
            String::new(),
            "missing stream_id",
        ),
        (
            format!(r#""call_control_id":"{CALL_SID}","#),
            String::new(),
            "missing call_control_id",
        ),
        (
            CALL_SID.to_owned(),
            "v3 has spaces".to_owned(),
            "not a Telnyx id",
        ),
    ] {
        let mut stream = open();
        let start = fixture("start").replacen(&from, &to, 1);
        expect_err(&mut stream, &start, ErrorKind::INVALID_INPUT, needle);
    }
}

// --- outbound ------------------------------------------------------------

fn encode(stream: &mut TelnyxStream, action: OutboundAction<'_>) -> Vec<OwnedFrame> {
    let mut rec = Recorded::default();
    rec.frames(|out| stream.encode(&action, out)).unwrap();
    rec.frames
}

fn text(frames: &[OwnedFrame]) -> serde_json::Value {
    match frames {
        [OwnedFrame::Text(t)] => serde_json::from_str(t).unwrap(),
        other => panic!("expected one text frame, got {other:?}"),
    }
}

#[test]
fn outbound_audio_marks_and_clear() {
    let (mut stream, _) = started();
    let pcm: Vec<i16> = sine(160, 8000.0).map(|s| s.round() as i16).collect();
    let frames = encode(&mut stream, OutboundAction::Audio(RSlice::from_slice(&pcm)));
    let json = text(&frames);
    assert_eq!(json["event"], "media");
    assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
    let codes = STANDARD
        .decode(json["media"]["payload"].as_str().unwrap())
        .unwrap();
    let want: Vec<u8> = pcm.iter().map(|&s| mulaw::encode_sample(s)).collect();
    assert_eq!(codes, want);

    let json = text(&encode(
        &mut stream,
        OutboundAction::Mark(RStr::from("m\"1")),
    ));
    assert_eq!(
        json,
        serde_json::json!({"event":"mark","mark":{"name":"m\"1"}})
    );
    let json = text(&encode(&mut stream, OutboundAction::Clear));
    assert_eq!(json, serde_json::json!({"event":"clear"}));
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
fn outbound_audio_uses_the_bidirectional_codec() {
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","codec":"PCMA"}}"#,
        public_key()
    ));
    let mut stream = open_with(&t, Some(&voice_call()));
    let pcm = [0i16, 1000, -1000, 30000];
    let json = text(&encode(
        &mut stream,
        OutboundAction::Audio(RSlice::from_slice(&pcm)),
    ));
    let codes = STANDARD
        .decode(json["media"]["payload"].as_str().unwrap())
        .unwrap();
    let want: Vec<u8> = pcm.iter().map(|&s| alaw::encode_sample(s)).collect();
    assert_eq!(codes, want);
}
