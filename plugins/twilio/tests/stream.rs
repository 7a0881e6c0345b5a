//! Media Streams through `open_stream` and the `MediaStream` trait: the
//! golden session from `tests/fixtures`, every malformed input, and encode.

mod common;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use common::*;
use twilio::{Signer, TwilioStream};
use voicegate_plugin_api::{
    codec::mulaw,
    testkit::{OwnedFrame, Recorded},
    CallRequest, ErrorKind, MediaStream, OutboundAction, PluginError, ROption, RSlice, RStr,
    StreamEvent, StreamOpen, Transport, WsFrame,
};

/// Opens the session's stream with a correctly signed upgrade.
fn open_with(t: &twilio::Twilio, call: Option<&CallRequest>) -> Result<TwilioStream, PluginError> {
    let url = format!("wss://voice.example.com/api/voice/twilio/stream/{SESSION_ID}");
    let sig = Signer::new(TOKEN).sign(&url, &[]);
    let req = Req::upgrade(SESSION_ID).header("x-twilio-signature", &sig);
    t.open_stream(&StreamOpen {
        request: req.http(),
        session_id: RStr::from(SESSION_ID),
        call: call.map_or(ROption::RNone, ROption::RSome),
    })
}

fn open() -> TwilioStream {
    open_with(&connect(), Some(&voice_call())).unwrap()
}

fn feed(stream: &mut TwilioStream, rec: &mut Recorded, text: &str) -> Result<(), PluginError> {
    rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(text)), out))
}

/// A stream that has seen `connected` and `start`.
fn started() -> (TwilioStream, Recorded) {
    let mut stream = open();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("connected")).unwrap();
    feed(&mut stream, &mut rec, fixture("start")).unwrap();
    rec.events.clear();
    (stream, rec)
}

fn media(timestamp: &str, payload: &str) -> String {
    format!(
        r#"{{"event":"media","sequenceNumber":"9","streamSid":"{STREAM_SID}","media":{{"track":"inbound","chunk":"7","timestamp":"{timestamp}","payload":"{payload}"}}}}"#
    )
}

fn start_with(call: &str, account: &str, stream: &str) -> String {
    fixture("start")
        .replace(CALL_SID, call)
        .replace(ACCOUNT_SID, account)
        .replace(STREAM_SID, stream)
}

fn expect_err(stream: &mut TwilioStream, text: &str, kind: ErrorKind, needle: &str) {
    let mut rec = Recorded::default();
    let err = feed(stream, &mut rec, text).unwrap_err();
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(needle), "`{needle}` not in: {err}");
    assert!(rec.events.is_empty() && rec.audio.is_empty(), "{rec:?}");
}

// --- opening -------------------------------------------------------------

#[test]
fn upgrade_signature_is_checked() {
    let t = connect();
    assert!(open_with(&t, Some(&voice_call())).is_ok());
    let open = |req: &Req| {
        t.open_stream(&StreamOpen {
            request: req.http(),
            session_id: RStr::from(SESSION_ID),
            call: ROption::RSome(&voice_call()),
        })
    };
    // https:// and port forms are accepted too.
    for url in [
        format!("https://voice.example.com/api/voice/twilio/stream/{SESSION_ID}"),
        format!("wss://voice.example.com:443/api/voice/twilio/stream/{SESSION_ID}"),
    ] {
        let sig = Signer::new(TOKEN).sign(&url, &[]);
        assert!(
            open(&Req::upgrade(SESSION_ID).header("x-twilio-signature", &sig)).is_ok(),
            "{url}"
        );
    }
    let err = open(&Req::upgrade(SESSION_ID)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
    // Signed for another session.
    let sig = Signer::new(TOKEN).sign("wss://voice.example.com/api/voice/twilio/stream/other", &[]);
    let err = open(&Req::upgrade(SESSION_ID).header("x-twilio-signature", &sig)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
    // Validation off: no header needed.
    let t = twilio(r#"{"validate_signatures":false}"#);
    let req = Req::upgrade(SESSION_ID);
    assert!(t
        .open_stream(&StreamOpen {
            request: req.http(),
            session_id: RStr::from(SESSION_ID),
            call: ROption::RNone,
        })
        .is_ok());
}

// --- the golden session --------------------------------------------------

#[test]
fn golden_session() {
    let mut stream = open();
    let mut rec = Recorded::default();
    for (name, json) in FIXTURES {
        feed(&mut stream, &mut rec, json.trim_end()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(stream.stream_sid(), Some(STREAM_SID));

    // Events: start, dtmf, mark, stop (connected produces none).
    assert_eq!(rec.events.len(), 4, "{:?}", rec.events);
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!("first event is {:?}", rec.events[0]);
    };
    assert_eq!(start.call_id.as_str(), CALL_SID);
    assert_eq!(start.stream_id.as_str(), STREAM_SID);
    assert_eq!(start.account_id.as_str(), ACCOUNT_SID);
    assert_eq!(start.from.as_str(), "+14158675309");
    assert_eq!(start.to.as_str(), "+18005551212");
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
    assert_eq!(start.format.encoding.as_str(), "audio/x-mulaw");
    assert_eq!(start.format.sample_rate, 8000);
    assert_eq!(start.format.channels, 1);
    assert!(start.new_call.is_none());
    match &rec.events[1] {
        StreamEvent::Dtmf(d) => {
            assert_eq!(d.digit.as_str(), "7");
            assert_eq!(d.duration_ms, 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&rec.events[2], StreamEvent::Mark(m) if m.as_str() == "utt-1:480ms"));
    assert!(matches!(&rec.events[3], StreamEvent::Stop(r) if r.as_str() == "stopped"));

    // Audio: two 20 ms frames at 8 kHz with Twilio's timestamps.
    assert_eq!(rec.audio_calls, [(8000, 5, 160), (8000, 25, 160)]);
    let (first, second) = rec.audio.split_at(160);
    // Frame 1 is a 440 Hz sine of amplitude 8000, µ-law encoded: the PCM
    // matches it within µ-law's quantisation step at that level (256).
    for (n, &sample) in first.iter().enumerate() {
        let want = 8000.0 * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin();
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
    assert_eq!(codes.len(), 160);
    let want: Vec<i16> = codes.iter().map(|&c| mulaw::decode_sample(c)).collect();
    assert_eq!(first, want.as_slice());
    assert_eq!(&first[..4], [0, 2748, 5116, 6908]);
    // Frame 2 is µ-law silence (0xFF).
    assert!(second.iter().all(|&s| s == 0));
}

#[test]
fn start_without_a_bound_call_is_accepted() {
    let mut stream = open_with(&connect(), None).unwrap();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("start")).unwrap();
    let StreamEvent::Start(start) = &rec.events[0] else {
        panic!()
    };
    assert_eq!(start.call_id.as_str(), CALL_SID);
    assert!(start.from.is_empty());
}

#[test]
fn outbound_track_media_is_skipped() {
    let (mut stream, mut rec) = started();
    let json = media("40", "//8=").replace(r#""track":"inbound""#, r#""track":"outbound""#);
    feed(&mut stream, &mut rec, &json).unwrap();
    assert!(rec.audio.is_empty() && rec.events.is_empty());
}

#[test]
fn media_details() {
    let (mut stream, mut rec) = started();
    // Unpadded base64, escaped slashes, and an empty payload.
    feed(&mut stream, &mut rec, &media("60", "//8")).unwrap();
    feed(&mut stream, &mut rec, &media("80", r"\/\/8=")).unwrap();
    feed(&mut stream, &mut rec, &media("100", "")).unwrap();
    assert_eq!(rec.audio_calls, [(8000, 60, 2), (8000, 80, 2)]);
    assert_eq!(rec.audio, [0, 0, 0, 0]);
    // A large timestamp (hours into a call).
    feed(&mut stream, &mut rec, &media("14400000", "AIA=")).unwrap();
    assert_eq!(rec.audio_calls[2], (8000, 14_400_000, 2));
    assert_eq!(&rec.audio[4..], [-32124, 32124]);
}

#[test]
fn dtmf_digits() {
    let (mut stream, mut rec) = started();
    for digit in ["0", "9", "*", "#", "A", "d"] {
        let json = fixture("dtmf").replace(r#""digit":"7""#, &format!(r#""digit":"{digit}""#));
        feed(&mut stream, &mut rec, &json).unwrap();
    }
    let digits: Vec<_> = rec
        .events
        .iter()
        .map(|e| match e {
            StreamEvent::Dtmf(d) => d.digit.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(digits, ["0", "9", "*", "#", "A", "D"]);
    for bad in ["", "12", "E", "x"] {
        let json = fixture("dtmf").replace(r#""digit":"7""#, &format!(r#""digit":"{bad}""#));
        expect_err(&mut stream, &json, ErrorKind::INVALID_INPUT, "digit");
    }
}

#[test]
fn stop_before_start_still_stops() {
    let mut stream = open();
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, fixture("stop")).unwrap();
    assert!(matches!(&rec.events[..], [StreamEvent::Stop(_)]));
}

// --- malformed input -----------------------------------------------------

#[test]
fn malformed_json() {
    let (mut stream, _) = started();
    for bad in [
        "",
        "{",
        "not json",
        "[]",
        r#"{"event":5}"#,
        r#"{"streamSid":"x"}"#,
        "{\"event\":\"media\"}}",
    ] {
        expect_err(
            &mut stream,
            bad,
            ErrorKind::INVALID_INPUT,
            "malformed Twilio message",
        );
    }
    // A media body of the wrong shape.
    expect_err(
        &mut stream,
        r#"{"event":"media","media":{"timestamp":"5"}}"#,
        ErrorKind::INVALID_INPUT,
        "payload",
    );
    expect_err(
        &mut stream,
        r#"{"event":"media","media":{"timestamp":"-5","payload":""}}"#,
        ErrorKind::INVALID_INPUT,
        "malformed",
    );
    expect_err(
        &mut stream,
        r#"{"event":"media","media":{"payload":"//8="}}"#,
        ErrorKind::INVALID_INPUT,
        "timestamp",
    );
    expect_err(
        &mut stream,
        r#"{"event":"media"}"#,
        ErrorKind::INVALID_INPUT,
        "`media`",
    );
    expect_err(
        &mut stream,
        r#"{"event":"dtmf"}"#,
        ErrorKind::INVALID_INPUT,
        "`dtmf`",
    );
    expect_err(
        &mut stream,
        r#"{"event":"mark"}"#,
        ErrorKind::INVALID_INPUT,
        "`mark`",
    );
    // The stream goes on afterwards.
    let mut rec = Recorded::default();
    feed(&mut stream, &mut rec, &media("5", "//8=")).unwrap();
    assert_eq!(rec.audio.len(), 2);
}

#[test]
fn bad_base64() {
    let (mut stream, _) = started();
    for bad in ["!!!!", "//8=//8=x", "/", "ÿÿ"] {
        expect_err(
            &mut stream,
            &media("5", bad),
            ErrorKind::INVALID_INPUT,
            "base64",
        );
    }
}

#[test]
fn events_before_start() {
    let mut stream = open();
    expect_err(
        &mut stream,
        fixture("media 1"),
        ErrorKind::INVALID_INPUT,
        "media before start",
    );
    expect_err(
        &mut stream,
        fixture("dtmf"),
        ErrorKind::INVALID_INPUT,
        "dtmf before start",
    );
    expect_err(
        &mut stream,
        fixture("mark"),
        ErrorKind::INVALID_INPUT,
        "mark before start",
    );
}

#[test]
fn unknown_event_is_named() {
    let (mut stream, _) = started();
    expect_err(
        &mut stream,
        r#"{"event":"transcription","streamSid":"MZ9c4e1a7b3d5f2e8c0a6b4d2f1e3a5c7b"}"#,
        ErrorKind::INVALID_INPUT,
        "unknown Twilio event `transcription`",
    );
    // A long name is shortened in the message.
    let long = format!(r#"{{"event":"{}"}}"#, "x".repeat(5000));
    let mut rec = Recorded::default();
    let err = feed(&mut stream, &mut rec, &long).unwrap_err();
    assert!(err.message.len() < 200, "{}", err.message.len());
}

#[test]
fn connected_with_another_protocol() {
    let mut stream = open();
    expect_err(
        &mut stream,
        r#"{"event":"connected","protocol":"Conference","version":"1.0.0"}"#,
        ErrorKind::INVALID_INPUT,
        "protocol",
    );
}

#[test]
fn malformed_sids_in_start() {
    let cases = [
        (start_with("CA123", ACCOUNT_SID, STREAM_SID), "callSid"),
        (start_with(CALL_SID, "ACxyz", STREAM_SID), "accountSid"),
        (
            start_with(CALL_SID, ACCOUNT_SID, "MZ9c4e1a7b3d5f2e8c0a6b4d2f1e3a5c7"),
            "streamSid",
        ),
        (
            start_with(CALL_SID, ACCOUNT_SID, "XX9c4e1a7b3d5f2e8c0a6b4d2f1e3a5c7b"),
            "streamSid",
        ),
        (
            fixture("start").replace(r#""callSid":"CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3f","#, ""),
            "missing callSid",
        ),
        (
            fixture("start").replacen(STREAM_SID, "MZ00000000000000000000000000000000", 1),
            "differs",
        ),
        (
            r#"{"event":"start","streamSid":"MZ9c4e1a7b3d5f2e8c0a6b4d2f1e3a5c7b"}"#.to_owned(),
            "`start`",
        ),
    ];
    for (json, needle) in cases {
        let mut stream = open();
        expect_err(&mut stream, &json, ErrorKind::INVALID_INPUT, needle);
        assert_eq!(stream.stream_sid(), None);
    }
}

#[test]
fn start_for_another_call_is_fatal() {
    let other_call = "CA00000000000000000000000000000001";
    let mut stream = open();
    expect_err(
        &mut stream,
        &start_with(other_call, ACCOUNT_SID, STREAM_SID),
        ErrorKind::FATAL,
        "does not belong to this session",
    );
    let mut stream = open();
    expect_err(
        &mut stream,
        &start_with(CALL_SID, "AC00000000000000000000000000000001", STREAM_SID),
        ErrorKind::FATAL,
        "accountSid",
    );
    let mut stream = open();
    expect_err(
        &mut stream,
        &fixture("start").replace(SESSION_ID, "twilio-other"),
        ErrorKind::FATAL,
        "session_id",
    );
}

#[test]
fn unsupported_media_format_is_fatal() {
    let mut stream = open();
    let json = fixture("start").replace(r#""sampleRate":8000"#, r#""sampleRate":16000"#);
    expect_err(&mut stream, &json, ErrorKind::FATAL, "mediaFormat");
    let json = fixture("start").replace("audio/x-mulaw", "audio/x-alaw");
    expect_err(&mut stream, &json, ErrorKind::FATAL, "mediaFormat");
}

#[test]
fn second_start_is_refused() {
    let (mut stream, _) = started();
    expect_err(
        &mut stream,
        fixture("start"),
        ErrorKind::INVALID_INPUT,
        "already started",
    );
}

#[test]
fn messages_for_another_stream() {
    let (mut stream, _) = started();
    let other = "MZ00000000000000000000000000000000";
    for name in ["media 1", "dtmf", "mark", "stop"] {
        let json = fixture(name).replace(STREAM_SID, other);
        expect_err(&mut stream, &json, ErrorKind::INVALID_INPUT, "streamSid");
    }
}

#[test]
fn oversized_frame_is_refused_unparsed() {
    let (mut stream, _) = started();
    let huge = media("5", &"A".repeat(1 << 20));
    expect_err(&mut stream, &huge, ErrorKind::INVALID_INPUT, "limit");
    // Just over 64 KiB of garbage: refused for its size, not its syntax.
    let garbage = "x".repeat(64 * 1024 + 1);
    expect_err(&mut stream, &garbage, ErrorKind::INVALID_INPUT, "limit");
    // Exactly 64 KiB is parsed.
    let mut rec = Recorded::default();
    let exact = "x".repeat(64 * 1024);
    let err = feed(&mut stream, &mut rec, &exact).unwrap_err();
    assert!(err.message.contains("malformed"), "{err}");
}

#[test]
fn binary_frame_is_refused() {
    let (mut stream, _) = started();
    let mut rec = Recorded::default();
    let bytes = [0xFFu8; 160];
    let err = rec
        .events(|out| stream.on_frame(WsFrame::Binary(RSlice::from_slice(&bytes)), out))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("binary"), "{err}");
    assert!(rec.audio.is_empty());
}

// --- encode --------------------------------------------------------------

fn encode(
    stream: &mut TwilioStream,
    action: OutboundAction<'_>,
) -> Result<Vec<String>, PluginError> {
    let mut rec = Recorded::default();
    rec.frames(|out| stream.encode(&action, out))?;
    Ok(rec
        .frames
        .into_iter()
        .map(|f| match f {
            OwnedFrame::Text(t) => t,
            OwnedFrame::Binary(b) => panic!("binary frame {b:?}"),
        })
        .collect())
}

#[test]
fn encode_audio() {
    let (mut stream, _) = started();
    let pcm: Vec<i16> = (0..160).map(|n| ((n as i16) - 80) * 300).collect();
    let frames = encode(&mut stream, OutboundAction::Audio(RSlice::from_slice(&pcm))).unwrap();
    assert_eq!(frames.len(), 1);
    let value: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(value["event"], "media");
    assert_eq!(value["streamSid"], STREAM_SID);
    assert_eq!(value.as_object().unwrap().len(), 3);
    assert_eq!(value["media"].as_object().unwrap().len(), 1);
    let codes = STANDARD
        .decode(value["media"]["payload"].as_str().unwrap())
        .unwrap();
    let mut want = Vec::new();
    mulaw::encode_into(&pcm, &mut want);
    assert_eq!(codes, want);
    assert!(frames[0].starts_with(&format!(
        r#"{{"event":"media","streamSid":"{STREAM_SID}","media":{{"payload":""#
    )));
    // Buffers are reused: a second, different frame is not polluted.
    let silence = [0i16; 160];
    let frames2 = encode(
        &mut stream,
        OutboundAction::Audio(RSlice::from_slice(&silence)),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&frames2[0]).unwrap();
    let codes = STANDARD
        .decode(value["media"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(codes, [0xFF; 160]);
    // An empty frame sends nothing.
    assert!(
        encode(&mut stream, OutboundAction::Audio(RSlice::from_slice(&[])))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn encode_mark_clear_hangup() {
    let (mut stream, _) = started();
    let frames = encode(&mut stream, OutboundAction::Mark(RStr::from("utt-1:480ms"))).unwrap();
    assert_eq!(
        frames,
        [format!(
            r#"{{"event":"mark","streamSid":"{STREAM_SID}","mark":{{"name":"utt-1:480ms"}}}}"#
        )]
    );
    let frames = encode(&mut stream, OutboundAction::Mark(RStr::from("a\"b\\c"))).unwrap();
    let value: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(value["mark"]["name"], "a\"b\\c");
    let frames = encode(&mut stream, OutboundAction::Clear).unwrap();
    assert_eq!(
        frames,
        [format!(r#"{{"event":"clear","streamSid":"{STREAM_SID}"}}"#)]
    );
    let frames = encode(&mut stream, OutboundAction::Hangup(RStr::from("policy"))).unwrap();
    assert!(frames.is_empty());
    let err = encode(
        &mut stream,
        OutboundAction::Other(RStr::from("dial"), RStr::from("{}")),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNSUPPORTED);
    assert!(err.message.contains("dial"), "{err}");
}

#[test]
fn encode_before_start() {
    let mut stream = open();
    let pcm = [0i16; 160];
    for action in [
        OutboundAction::Audio(RSlice::from_slice(&pcm)),
        OutboundAction::Mark(RStr::from("m")),
        OutboundAction::Clear,
    ] {
        let err = encode(&mut stream, action).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{action:?}");
        assert!(err.message.contains("before"), "{err}");
    }
    // Hanging up needs no frame, so it needs no stream either.
    assert!(encode(&mut stream, OutboundAction::Hangup(RStr::from("")))
        .unwrap()
        .is_empty());
}

#[test]
fn listen_mode_is_receive_only() {
    let mut stream = open_with(&listen(), Some(&voice_call())).unwrap();
    let mut rec = Recorded::default();
    for (name, json) in FIXTURES {
        feed(&mut stream, &mut rec, json.trim_end()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(rec.audio.len(), 320);
    let pcm = [0i16; 160];
    for action in [
        OutboundAction::Audio(RSlice::from_slice(&pcm)),
        OutboundAction::Mark(RStr::from("m")),
        OutboundAction::Clear,
    ] {
        let err = encode(&mut stream, action).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNSUPPORTED, "{action:?}");
    }
    assert!(encode(&mut stream, OutboundAction::Hangup(RStr::from("")))
        .unwrap()
        .is_empty());
}
