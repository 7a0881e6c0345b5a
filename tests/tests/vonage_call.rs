//! A phone call as Vonage makes it, against a host built before the Vonage
//! plugin existed: the plugin is compiled by its own cargo invocation after
//! the host, installed into a plugin directory, named in the config, and
//! served by the unchanged binary (its hash is checked). Signed (JWT)
//! answer webhook, NCCO, the Voice API WebSocket with a JSON first message
//! and spoken audio in binary 16 kHz L16 frames, DTMF, and a hang-up that is
//! just the socket closing. Plus refusals.

use std::{path::Path, time::Duration};

use serde_json::{json, Value};
use voicegate_e2e::{
    audio, carriers, file_sha256,
    host::{Host, ADMIN_TOKEN},
    host_binary,
    sse::{is, Events},
    vonage::{self, Signing},
};

/// What Vonage is configured to call; the test reaches the host on
/// loopback, as a TLS proxy would forward it.
const PUBLIC_URL: &str = "https://voice.example.test";
/// A caller the policy turns away.
/// Vonage sends it without the `+`; the plugin hands policies E.164.
const BLOCKED: &str = "19005550666";

fn config(plugin_dir: &Path, with_stt: bool) -> String {
    let stt = if with_stt {
        "[stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{MODEL}}\"\n\n[responders.echo]\nplugin = \"echo\"\n"
    } else {
        ""
    };
    format!(
        r#"[server]
public_url = "{PUBLIC_URL}"
plugin_dir = "{dir}"

[admin]
token = "{ADMIN_TOKEN}"

[transports.vonage]
plugin = "vonage"
signature_secret = "{secret}"

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 100, per = "1h" }}
blocklist = ["+{BLOCKED}"]

{stt}"#,
        dir = plugin_dir.display(),
        secret = vonage::SIGNATURE_SECRET,
    )
}

/// The host binary's hash, then the Vonage plugin built after it and
/// installed beside the host's whisper, echo and policy plugins.
fn host_then_plugin() -> (String, tempfile::TempDir) {
    let before = file_sha256(&host_binary());
    let built = carriers::build("voicegate-vonage");
    let dir = carriers::plugin_dir(&built, "vonage", &["whisper", "echo", "policy"]);
    (before, dir)
}

/// Answer webhook → NCCO → WebSocket endpoint → session id.
async fn place_call(host: &Host, call_uuid: &str, from: &str) -> (vonage::Endpoint, String) {
    let (status, body) = vonage::answer(
        &host.base,
        "vonage",
        call_uuid,
        from,
        "12015550100",
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 200, "answer webhook: {body}");
    let ncco: Value = serde_json::from_str(&body).expect("the NCCO is JSON");
    let endpoint = vonage::websocket_endpoint(&ncco).expect("a websocket endpoint in the NCCO");
    assert!(
        endpoint
            .uri
            .starts_with("wss://voice.example.test/api/voice/vonage/stream/"),
        "{ncco}"
    );
    assert_eq!(endpoint.content_type, "audio/l16;rate=16000");
    let session = endpoint.uri.rsplit('/').next().unwrap().to_owned();
    assert!(session.starts_with("vonage-"), "{session}");
    assert_eq!(endpoint.headers["session_id"], session.as_str());
    assert!(endpoint.headers["stream_token"].is_string(), "{ncco}");
    (endpoint, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vonage_call_is_transcribed_by_a_host_built_before_the_plugin() {
    voicegate_e2e::model_path();
    let (hash_before, plugins) = host_then_plugin();
    let sentence = "please schedule the budget review meeting for next tuesday";
    let speech = audio::speak(sentence, "en-us", 140, 16000, 300, 0);

    let mut host = Host::start(&config(plugins.path(), true));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let call_uuid = vonage::uuid(1);
    let (endpoint, session) = place_call(&host, &call_uuid, "14155550101").await;
    let created = events
        .wait_for("call.created", Duration::from_secs(5), |e| {
            is(e, "call.created", &session)
        })
        .await;
    assert_eq!(created["transport"], "vonage");
    assert_eq!(created["call_id"], call_uuid.as_str());

    let mut stream = vonage::connect(&host.ws_base(), &endpoint.uri)
        .await
        .expect("stream accepted");
    stream.connected(&endpoint).await;
    let started = events
        .wait_for("call.started", Duration::from_secs(5), |e| {
            is(e, "call.started", &session)
        })
        .await;
    // Vonage's socket names no call: the session's call is reported.
    assert_eq!(started["call_id"], call_uuid.as_str());
    // Vonage's `14155550101` reaches policies and events as E.164.
    assert_eq!(started["from"], "+14155550101");
    assert_eq!(started["encoding"], "audio/l16");
    assert_eq!(started["sample_rate"], 16000);
    assert_eq!(started["custom_params"]["session_id"], session.as_str());
    assert!(
        started["custom_params"].get("stream_token").is_none(),
        "{started}"
    );

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

    // Vonage has no stop message: the caller hangs up, the socket closes.
    stream.close().await;
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "disconnected");
    // The event webhook for the finished leg is acknowledged.
    let (status, _) = vonage::event(
        &host.base,
        "vonage",
        &json!({"uuid": call_uuid, "conversation_uuid": format!("CON-{call_uuid}"), "status": "completed", "direction": "inbound"}),
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 200);

    let view = host.admin_json(&format!("/api/calls/{session}")).await;
    assert_eq!(view["state"], "STOPPED");
    assert_eq!(view["call_id"], call_uuid.as_str());
    assert_eq!(view["stats"]["decode_errors"], 0, "{view}");
    assert!(
        view["stats"]["audio_chunks_in"].as_u64().unwrap() > 100,
        "{view}"
    );
    assert!(vonage::connect(&host.ws_base(), &endpoint.uri)
        .await
        .is_err());

    assert!(host.stop(), "graceful shutdown exits 0");
    assert_eq!(
        file_sha256(&host_binary()),
        hash_before,
        "the host binary was not rebuilt for the Vonage plugin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_are_refused_and_blocked_callers_are_turned_away() {
    let (hash_before, plugins) = host_then_plugin();
    let mut host = Host::start(&config(plugins.path(), false));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;

    for signing in [
        Signing::Missing,
        Signing::WrongSecret,
        Signing::Stale,
        Signing::Tampered,
        Signing::AlgNone,
    ] {
        let (status, body) = vonage::answer(
            &host.base,
            "vonage",
            &vonage::uuid(2),
            "14155550102",
            "12015550100",
            signing,
        )
        .await;
        assert_eq!(status, 403, "{signing:?}: {body}");
        assert!(!body.contains("websocket"), "{signing:?}: {body}");
    }
    let calls = host.admin_json("/api/calls").await;
    assert_eq!(
        calls["active"], 0,
        "no session for a refused webhook: {calls}"
    );

    // A caller on the blocklist hears the refusal; no WebSocket is offered.
    let (status, body) = vonage::answer(
        &host.base,
        "vonage",
        &vonage::uuid(3),
        BLOCKED,
        "12015550100",
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ncco: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ncco,
        json!([{"action": "talk", "text": "Sorry, this call cannot be accepted."}])
    );
    events
        .wait_for("call.denied", Duration::from_secs(5), |e| {
            e["type"] == "call.denied" && e["from"] == format!("+{BLOCKED}").as_str()
        })
        .await;

    // A signed final event ends a session that never streamed; an unsigned
    // one is refused.
    let call_uuid = vonage::uuid(4);
    let (_, session) = place_call(&host, &call_uuid, "14155550104").await;
    let completed = json!({"uuid": call_uuid, "status": "completed", "direction": "inbound"});
    let (status, _) = vonage::event(&host.base, "vonage", &completed, Signing::Missing).await;
    assert_eq!(status, 403);
    let (status, _) = vonage::event(&host.base, "vonage", &completed, Signing::Valid).await;
    assert_eq!(status, 200);
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "carrier:completed");

    // A socket that knows the session URL but not the NCCO's token is
    // closed at its first message (1008), and cannot inject audio.
    let call_uuid = vonage::uuid(5);
    let (mut endpoint, session) = place_call(&host, &call_uuid, "14155550105").await;
    endpoint.headers.remove("stream_token");
    let mut stream = vonage::connect(&host.ws_base(), &endpoint.uri)
        .await
        .unwrap();
    stream.connected(&endpoint).await;
    assert_eq!(stream.closed(Duration::from_secs(5)).await, Some(1008));
    let ended = events
        .wait_for("tokenless stream ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "protocol_error");

    // Streams for unknown sessions are refused.
    let unknown = format!("{PUBLIC_URL}/api/voice/vonage/stream/vonage-unknown-0123");
    assert!(vonage::connect(&host.ws_base(), &unknown).await.is_err());

    assert!(host.is_running());
    let logs = host.logs();
    assert!(!logs.contains("panicked"), "no panic: {logs}");
    assert!(host.stop());
    assert_eq!(file_sha256(&host_binary()), hash_before);
}
