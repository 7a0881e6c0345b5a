//! A phone call as Twilio makes it, against the real host with the real
//! twilio, whisper, policy and echo plugins, over real sockets: signed
//! webhook, TwiML, signed Media Streams WebSocket, spoken audio in 20 ms
//! μ-law frames, DTMF, stop. Plus every kind of bad input.

use std::time::Duration;

use serde_json::{json, Value};
use voicegate_e2e::{
    audio,
    host::{Host, ADMIN_TOKEN},
    sse::{is, Events},
    twilio::{self, sid, AUTH_TOKEN},
};

/// What Twilio is configured to call; the test reaches the host on
/// loopback, as a TLS proxy would forward it.
const PUBLIC_URL: &str = "https://voice.example.test";

fn config(with_stt: bool) -> String {
    let stt = if with_stt {
        "[stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{MODEL}}\"\n\n[responders.echo]\nplugin = \"echo\"\n"
    } else {
        ""
    };
    format!(
        r#"[server]
public_url = "{PUBLIC_URL}"
plugin_dir = "{{{{PLUGIN_DIR}}}}"

[admin]
token = "{ADMIN_TOKEN}"

[transports.twilio]
plugin = "twilio"
auth_token = "{AUTH_TOKEN}"

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 100, per = "1h" }}

{stt}"#
    )
}

async fn call_view(host: &Host, session: &str) -> Value {
    host.admin_json(&format!("/api/calls/{session}")).await
}

/// Webhook → TwiML → stream URL → session id.
async fn place_call(host: &Host, call_sid: &str, from: &str) -> (String, String) {
    let (status, twiml) = twilio::webhook(
        &host.base,
        PUBLIC_URL,
        "twilio",
        call_sid,
        from,
        "+15005550006",
        None,
    )
    .await;
    assert_eq!(status, 200, "webhook answered: {twiml}");
    assert!(twiml.contains("<Connect>"), "bidirectional stream: {twiml}");
    let url = twilio::stream_url(&twiml).expect("a <Stream url=…> in the TwiML");
    assert!(
        url.starts_with("wss://voice.example.test/api/voice/twilio/stream/"),
        "{url}"
    );
    let session = url.rsplit('/').next().unwrap().to_owned();
    assert!(session.starts_with("twilio-"), "{session}");
    (url, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_is_transcribed_answered_and_cleaned_up() {
    voicegate_e2e::model_path();
    let sentence = "please schedule the budget review meeting for next tuesday";
    let speech = audio::speak(sentence, "en-us", 140, 8000, 300, 0);

    let host = Host::start(&config(true));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let call_sid = sid("CA", 1);
    let (url, session) = place_call(&host, &call_sid, "+14155550100").await;
    events
        .wait_for("call.created", Duration::from_secs(5), |e| {
            is(e, "call.created", &session)
        })
        .await;
    assert_eq!(call_view(&host, &session).await["state"], "CREATED");

    let mut stream = twilio::connect(&host.ws_base(), &url)
        .await
        .expect("stream accepted");
    let stream_sid = sid("MZ", 1);
    stream
        .start(&call_sid, &stream_sid, json!({ "session_id": session }))
        .await;
    let started = events
        .wait_for("call.started", Duration::from_secs(5), |e| {
            is(e, "call.started", &session)
        })
        .await;
    assert_eq!(started["stream_id"], stream_sid.as_str());
    assert_eq!(call_view(&host, &session).await["state"], "ACTIVE");

    stream.silence(400, true).await;
    stream.play(&speech, true).await;
    stream.silence(900, true).await;
    stream.dtmf("5").await;

    let dtmf = events
        .wait_for("call.dtmf", Duration::from_secs(5), |e| {
            is(e, "call.dtmf", &session)
        })
        .await;
    assert_eq!(dtmf["digit"], "5");
    let final_ = events
        .wait_for("voice.stt.final", Duration::from_secs(30), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    let text = final_["text"].as_str().unwrap_or_default().to_owned();
    let wer = audio::wer(sentence, &text);
    assert!(
        wer <= 0.25,
        "transcript {text:?} is too far from {sentence:?} (WER {wer:.2})"
    );
    let answer = events
        .wait_for("voice.assistant.text", Duration::from_secs(10), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    assert_eq!(answer["text"], format!("You said: {text}"));

    stream.stop(&call_sid).await;
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "stopped");
    for event in events.seen() {
        assert!(
            event["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{event}"
        );
    }

    let view = call_view(&host, &session).await;
    assert_eq!(view["state"], "STOPPED");
    assert_eq!(view["call_id"], call_sid.as_str());
    assert_eq!(view["stream_id"], stream_sid.as_str());
    assert_eq!(view["stats"]["decode_errors"], 0);
    assert!(
        view["stats"]["audio_chunks_in"].as_u64().unwrap() > 100,
        "{view}"
    );
    assert!(view["stats"]["utterances"].as_u64().unwrap() >= 1, "{view}");
    let calls = host.admin_json("/api/calls").await;
    assert_eq!(calls["active"], 0, "the session is freed: {calls}");

    // A stopped session's stream URL is refused.
    assert!(twilio::connect(&host.ws_base(), &url).await.is_err());
    let logs = host.logs();
    assert!(
        logs.contains(&call_sid) && logs.contains(&stream_sid),
        "audit lines carry the SIDs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_and_badly_signed_webhooks_are_refused() {
    let host = Host::start(&config(false));
    let call_sid = sid("CA", 2);
    let (status, body) = twilio::webhook(
        &host.base,
        PUBLIC_URL,
        "twilio",
        &call_sid,
        "+14155550101",
        "+15005550006",
        Some(""),
    )
    .await;
    assert_eq!(status, 403, "unsigned: {body}");
    let (status, _) = twilio::webhook(
        &host.base,
        PUBLIC_URL,
        "twilio",
        &call_sid,
        "+14155550101",
        "+15005550006",
        Some("bm90IGEgc2lnbmF0dXJl"),
    )
    .await;
    assert_eq!(status, 403, "bad signature");
    // Signed for another URL.
    let (status, _) = twilio::webhook(
        &host.base,
        "https://evil.example",
        "twilio",
        &call_sid,
        "+14155550101",
        "+15005550006",
        None,
    )
    .await;
    assert_eq!(status, 403, "signed for another host");
    let calls = host.admin_json("/api/calls").await;
    assert_eq!(calls["active"], 0);
    assert!(host.logs().contains("refused"), "a log line per refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_for_unknown_sessions_or_without_signature_are_refused() {
    let host = Host::start(&config(false));
    let url = format!("{PUBLIC_URL}/api/voice/twilio/stream/twilio-CAunknown-0123");
    assert!(
        twilio::connect(&host.ws_base(), &url).await.is_err(),
        "unknown session"
    );

    let (url, _session) = place_call(&host, &sid("CA", 3), "+14155550102").await;
    // Right session, no signature.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let path = url.splitn(4, '/').nth(3).unwrap();
    let req = format!("{}/{path}", host.ws_base())
        .into_client_request()
        .unwrap();
    assert!(
        tokio_tungstenite::connect_async(req).await.is_err(),
        "unsigned upgrade"
    );
    // Properly signed works.
    assert!(twilio::connect(&host.ws_base(), &url).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_frames_are_counted_and_do_not_disturb_other_calls() {
    let mut host = Host::start(&config(false));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;

    // A healthy call beside the abused ones.
    let good_sid = sid("CA", 10);
    let (good_url, good) = place_call(&host, &good_sid, "+14155550110").await;
    let mut good_stream = twilio::connect(&host.ws_base(), &good_url).await.unwrap();
    good_stream
        .start(&good_sid, &sid("MZ", 10), json!({}))
        .await;

    // Bad input on one stream: media before start, then after start bad
    // JSON, bad base64, an unknown event, a binary frame.
    let bad_sid = sid("CA", 11);
    let (bad_url, bad) = place_call(&host, &bad_sid, "+14155550111").await;
    let mut bad_stream = twilio::connect(&host.ws_base(), &bad_url).await.unwrap();
    bad_stream.stream_sid = sid("MZ", 11);
    bad_stream.media(&[0xFF; 160]).await;
    bad_stream.start(&bad_sid, &sid("MZ", 11), json!({})).await;
    bad_stream.send_text("{not json").await;
    bad_stream
        .send_text(json!({"event":"media","streamSid":sid("MZ", 11),"media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"!!!not base64!!!"}}).to_string())
        .await;
    bad_stream
        .send_text(json!({"event":"party","streamSid":sid("MZ", 11)}).to_string())
        .await;
    bad_stream.send_binary(vec![1, 2, 3]).await.unwrap();
    bad_stream.dtmf("7").await;
    events
        .wait_for("dtmf after bad frames", Duration::from_secs(5), |e| {
            is(e, "call.dtmf", &bad) && e["digit"] == "7"
        })
        .await;
    let view = call_view(&host, &bad).await;
    assert_eq!(view["stats"]["decode_errors"], 5, "{view}");
    assert_eq!(view["state"], "ACTIVE", "the call goes on");

    // A 1 MiB frame closes that stream with 1009.
    bad_stream.send_text("x".repeat(1024 * 1024)).await;
    assert_eq!(bad_stream.closed(Duration::from_secs(5)).await, Some(1009));
    events
        .wait_for("bad call ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &bad)
        })
        .await;

    // A flood on a third stream: excess frames are dropped, then it is closed.
    let flood_sid = sid("CA", 12);
    let (flood_url, flood) = place_call(&host, &flood_sid, "+14155550112").await;
    let mut flood_stream = twilio::connect(&host.ws_base(), &flood_url).await.unwrap();
    flood_stream
        .start(&flood_sid, &sid("MZ", 12), json!({}))
        .await;
    for _ in 0..1000 {
        // The host closes the stream mid-flood; later sends may be reset.
        if flood_stream.try_media(&[0xFF; 160]).await.is_err() {
            break;
        }
    }
    let code = flood_stream.closed(Duration::from_secs(10)).await;
    assert!(
        matches!(code, Some(1008) | None),
        "closed with 1008 (or reset before the close frame was read): {code:?}"
    );
    let ended = events
        .wait_for("flood call ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &flood)
        })
        .await;
    assert_eq!(ended["reason"], "flood");
    let view = call_view(&host, &flood).await;
    assert!(
        view["stats"]["frames_dropped"].as_u64().unwrap() > 0,
        "{view}"
    );

    // The healthy call was not disturbed.
    good_stream.dtmf("1").await;
    events
        .wait_for("good call still works", Duration::from_secs(5), |e| {
            is(e, "call.dtmf", &good) && e["digit"] == "1"
        })
        .await;
    let view = call_view(&host, &good).await;
    assert_eq!(view["state"], "ACTIVE");
    assert_eq!(view["stats"]["decode_errors"], 0);
    assert!(host.is_running());
    let logs = host.logs();
    assert!(logs.contains("Bad media frame"), "decode errors are logged");
    assert!(!logs.contains("panicked"), "no panic: {logs}");
}
