//! A phone call as Telnyx makes it, against a host built before the Telnyx
//! plugin existed: the plugin is compiled by its own cargo invocation after
//! the host, installed into a plugin directory, named in the config, and
//! served by the unchanged binary (its hash is checked). Signed TeXML
//! webhook, TeXML answer, media streaming WebSocket with spoken audio in
//! 20 ms PCMU frames, DTMF, stop. Plus refusals.

use std::{path::Path, time::Duration};

use serde_json::json;
use voicegate_e2e::{
    audio, carriers, file_sha256,
    host::{client, Host, ADMIN_TOKEN},
    host_binary,
    sse::{is, Events},
    telnyx::{self, Signing},
};

/// What Telnyx is configured to call; the test reaches the host on
/// loopback, as a TLS proxy would forward it.
const PUBLIC_URL: &str = "https://voice.example.test";
/// A caller the policy turns away.
const BLOCKED: &str = "+19005550666";

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

[transports.telnyx]
plugin = "telnyx"
public_key = "{key}"

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 100, per = "1h" }}
blocklist = ["{BLOCKED}"]

{stt}"#,
        dir = plugin_dir.display(),
        key = telnyx::public_key(),
    )
}

/// The host binary's hash, then the Telnyx plugin built after it and
/// installed beside the host's whisper, echo and policy plugins.
fn host_then_plugin() -> (String, tempfile::TempDir) {
    let before = file_sha256(&host_binary());
    let built = carriers::build("voicegate-telnyx");
    let dir = carriers::plugin_dir(&built, "telnyx", &["whisper", "echo", "policy"]);
    (before, dir)
}

/// Webhook → TeXML → stream URL → session id.
async fn place_call(host: &Host, call_id: &str, from: &str) -> (String, String) {
    let (status, texml) = telnyx::webhook(
        &host.base,
        "telnyx",
        call_id,
        from,
        "+13125550100",
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 200, "webhook answered: {texml}");
    assert!(texml.contains("<Connect><Stream"), "bidirectional: {texml}");
    assert_eq!(
        telnyx::attribute(&texml, "Stream", "bidirectionalMode").as_deref(),
        Some("rtp"),
        "{texml}"
    );
    assert_eq!(
        telnyx::attribute(&texml, "Stream", "bidirectionalCodec").as_deref(),
        Some("PCMU")
    );
    let url = telnyx::stream_url(&texml).expect("a <Stream url=…> in the TeXML");
    assert!(
        url.starts_with("wss://voice.example.test/api/voice/telnyx/stream/"),
        "{url}"
    );
    let session = url.rsplit('/').next().unwrap().to_owned();
    assert!(session.starts_with("telnyx-"), "{session}");
    (url, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_telnyx_call_is_transcribed_by_a_host_built_before_the_plugin() {
    voicegate_e2e::model_path();
    let (hash_before, plugins) = host_then_plugin();
    let sentence = "please schedule the budget review meeting for next tuesday";
    let speech = audio::speak(sentence, "en-us", 140, 8000, 300, 0);

    let mut host = Host::start(&config(plugins.path(), true));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let call_id = telnyx::call_id(1);
    let (url, session) = place_call(&host, &call_id, "+14155550100").await;
    let created = events
        .wait_for("call.created", Duration::from_secs(5), |e| {
            is(e, "call.created", &session)
        })
        .await;
    assert_eq!(created["transport"], "telnyx");
    assert_eq!(created["call_id"], call_id.as_str());

    let mut stream = telnyx::connect(&host.ws_base(), &url)
        .await
        .expect("stream accepted");
    let stream_id = "32de0dea-53cb-4b21-89a4-9e1819c043bc";
    stream
        .start(
            &call_id,
            stream_id,
            "+14155550100",
            "+13125550100",
            json!({ "session_id": session }),
        )
        .await;
    let started = events
        .wait_for("call.started", Duration::from_secs(5), |e| {
            is(e, "call.started", &session)
        })
        .await;
    assert_eq!(started["stream_id"], stream_id);
    assert_eq!(started["encoding"], "PCMU");
    assert_eq!(started["sample_rate"], 8000);

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

    stream.stop(&call_id).await;
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "stopped");

    let view = host.admin_json(&format!("/api/calls/{session}")).await;
    assert_eq!(view["state"], "STOPPED");
    assert_eq!(view["call_id"], call_id.as_str());
    assert_eq!(view["stream_id"], stream_id);
    assert_eq!(view["stats"]["decode_errors"], 0, "{view}");
    assert!(
        view["stats"]["audio_chunks_in"].as_u64().unwrap() > 100,
        "{view}"
    );
    // A stopped session's stream URL is refused.
    assert!(telnyx::connect(&host.ws_base(), &url).await.is_err());

    assert!(host.stop(), "graceful shutdown exits 0");
    assert_eq!(
        file_sha256(&host_binary()),
        hash_before,
        "the host binary was not rebuilt for the Telnyx plugin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_are_refused_and_blocked_callers_are_turned_away() {
    let (hash_before, plugins) = host_then_plugin();
    let mut host = Host::start(&config(plugins.path(), false));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;

    for signing in [
        Signing::Missing,
        Signing::WrongKey,
        Signing::Stale,
        Signing::Tampered,
    ] {
        let (status, body) = telnyx::webhook(
            &host.base,
            "telnyx",
            &telnyx::call_id(2),
            "+14155550101",
            "+13125550100",
            signing,
        )
        .await;
        assert_eq!(status, 403, "{signing:?}: {body}");
        assert!(!body.contains("<Response"), "{signing:?}: {body}");
    }
    let calls = host.admin_json("/api/calls").await;
    assert_eq!(
        calls["active"], 0,
        "no session for a refused webhook: {calls}"
    );
    // A TeXML application left at Telnyx's default method (GET) is told what
    // to change.
    let resp = client()
        .get(format!(
            "{}/api/voice/telnyx/inbound?CallSid=v3%3Ax",
            host.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("POST"));

    // A caller on the blocklist hears the refusal; no stream is offered.
    let (status, texml) = telnyx::webhook(
        &host.base,
        "telnyx",
        &telnyx::call_id(3),
        BLOCKED,
        "+13125550100",
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 200, "{texml}");
    assert!(
        texml.contains("<Say>") && texml.ends_with("<Hangup/></Response>"),
        "{texml}"
    );
    assert!(!texml.contains("<Stream"), "{texml}");
    events
        .wait_for("call.denied", Duration::from_secs(5), |e| {
            e["type"] == "call.denied" && e["from"] == BLOCKED
        })
        .await;

    // Streams for unknown sessions are refused.
    let unknown = format!("{PUBLIC_URL}/api/voice/telnyx/stream/telnyx-v3unknown-0123");
    assert!(telnyx::connect(&host.ws_base(), &unknown).await.is_err());

    // A signed final status callback ends a session that never streamed;
    // an unsigned one is refused.
    let call_id = telnyx::call_id(4);
    let (_, session) = place_call(&host, &call_id, "+14155550104").await;
    let status_params = [
        ("AccountSid", telnyx::ACCOUNT_SID),
        ("CallSid", call_id.as_str()),
        ("CallStatus", "completed"),
        ("CallbackSource", "call-progress-events"),
    ];
    let (status, _) = telnyx::post_form(
        &host.base,
        "telnyx",
        "status",
        &status_params,
        Signing::Missing,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = telnyx::post_form(
        &host.base,
        "telnyx",
        "status",
        &status_params,
        Signing::Valid,
    )
    .await;
    assert_eq!(status, 204);
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "carrier:completed");

    // A stream whose start names another session is closed (1008).
    let call_id = telnyx::call_id(5);
    let (url, session) = place_call(&host, &call_id, "+14155550105").await;
    let mut stream = telnyx::connect(&host.ws_base(), &url).await.unwrap();
    stream
        .start(
            &call_id,
            "stream-5",
            "+14155550105",
            "+13125550100",
            json!({ "session_id": "telnyx-someone-else" }),
        )
        .await;
    assert_eq!(stream.closed(Duration::from_secs(5)).await, Some(1008));
    events
        .wait_for("forged stream ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;

    assert!(host.is_running());
    let logs = host.logs();
    assert!(!logs.contains("panicked"), "no panic: {logs}");
    assert!(host.stop());
    assert_eq!(file_sha256(&host_binary()), hash_before);
}
