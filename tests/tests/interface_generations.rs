//! Interface generations side by side in one host: a library built against
//! the frozen voicegate-plugin-api 1.0 (tests/fixtures/v1-plugins, outside
//! the workspace) carries real calls in the current host binary, as a
//! transport and as an STT and a responder; plugin log lines carry the
//! instance and the call whichever generation wrote them; a generation-2
//! plugin whose `Drop` panics ends one call, not the host.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use voicegate_e2e::{
    audio, carriers, fixtures,
    host::{client, run_cli, write_config, Host, ADMIN_TOKEN},
    phone::Call,
    sse::{is, Events},
    twilio::{self, sid, PUBLIC_URL},
};

/// The host's JSON log lines.
fn log_lines(host: &Host) -> Vec<Value> {
    host.logs()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The first plugin log line whose message contains `text`.
fn plugin_line(host: &Host, text: &str) -> Option<Value> {
    log_lines(host).into_iter().find(|l| {
        l["target"] == "plugin" && l["message"].as_str().is_some_and(|m| m.contains(text))
    })
}

fn base_config(plugin_dir: &str, rest: &str) -> String {
    format!(
        r#"[server]
public_url = "{PUBLIC_URL}"
plugin_dir = "{plugin_dir}"

[admin]
token = "{ADMIN_TOKEN}"

[log]
format = "json"

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 1000, per = "1h" }}

[tts.espeak]
plugin = "espeak"

{rest}
"#
    )
}

/// Calls a transport that speaks Twilio's wire format on `instance`.
async fn call(host: &Host, instance: &str, n: u64) -> (twilio::Stream, String) {
    let call_sid = sid("CA", n);
    let (status, twiml) = twilio::webhook(
        &host.base,
        PUBLIC_URL,
        instance,
        &call_sid,
        "+14155550123",
        "+15005550006",
        None,
    )
    .await;
    assert_eq!(status, 200, "webhook answered: {twiml}");
    let url = twilio::stream_url(&twiml)
        .unwrap_or_else(|| panic!("no <Stream url=…> in the TwiML: {twiml}"));
    let session = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut stream = twilio::connect(&host.ws_base(), &url)
        .await
        .expect("stream accepted");
    stream
        .start(&call_sid, &sid("MZ", n), serde_json::json!({}))
        .await;
    (stream, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v1_transport_carries_a_call_end_to_end_in_the_current_host() {
    voicegate_e2e::model_path();
    let built = fixtures::build(false);
    let dir = carriers::plugin_dir(&built, "v1kit", &["whisper", "echo", "espeak", "policy"]);
    // Two instances of one v1 library, with no keys but `plugin`.
    let config = base_config(
        &dir.path().display().to_string(),
        "[transports.phone_a]\nplugin = \"v1kit\"\n\n[transports.phone_b]\nplugin = \"v1kit\"\n\n\
         [stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{MODEL}}\"\n\n[responders.echo]\nplugin = \"echo\"\n",
    );
    let (_cfg_dir, path) = write_config(&config);
    let listed = run_cli(&voicegate_e2e::host_binary(), &path, &["plugins"]);
    assert!(listed.success, "{}", listed.stderr);
    assert!(
        listed.stdout.contains(
            "v1kit 1.0.0 (plugin-api 1.0.0, interface v1, kinds: transport, stt, responder)"
        ),
        "{}",
        listed.stdout
    );

    let host = Host::start(&config);
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let question = "what time does the library open on saturday";
    let speech = audio::speak(question, "en-us", 150, 8000, 300, 0);
    let (mut stream, session) = call(&host, "phone_b", 1).await;
    let mut call = Call::default();
    let reply = stream.ask(&mut call, &speech).await;

    let heard = events
        .wait_for("the transcript", Duration::from_secs(10), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    let text = heard["text"].as_str().unwrap_or_default();
    let wer = audio::wer(question, text);
    assert!(wer <= 0.5, "WER {wer:.2}: {text:?}");
    let answer = events
        .wait_for("the answer", Duration::from_secs(10), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("You said: "),
        "{answer}"
    );
    let rms = audio::mulaw_rms(&reply);
    assert!(
        rms > 300.0,
        "the spoken answer is near silent (RMS {rms:.0})"
    );
    assert!(
        !call.marks_echoed.is_empty(),
        "marks went through the v1 stream"
    );

    // The v1 bridge sends every record through the library's first
    // instance; the host names the instance and call it was calling.
    let line = plugin_line(&host, "v1kit stream").expect("the v1 plugin's log line");
    assert_eq!(line["plugin"], "v1kit", "{line}");
    assert_eq!(line["instance"], "phone_b", "{line}");
    assert_eq!(line["session_id"], session.as_str(), "{line}");

    stream.stop(&sid("CA", 1)).await;
    events
        .wait_for("the end of the call", Duration::from_secs(10), |e| {
            is(e, "call.ended", &session)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v1_stt_and_a_v1_responder_serve_a_call_on_a_v2_transport() {
    let built = fixtures::build(false);
    let dir = carriers::plugin_dir(&built, "v1kit", &["twilio", "espeak", "policy"]);
    let config = base_config(
        &dir.path().display().to_string(),
        &format!(
            "[transports.twilio]\nplugin = \"twilio\"\nauth_token = \"{}\"\n\n\
             [stt.measure]\nplugin = \"v1kit\"\n\n[responders.reply]\nplugin = \"v1kit\"\n",
            twilio::AUTH_TOKEN
        ),
    );
    let host = Host::start(&config);
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let speech = audio::speak(
        "one two three four five six seven",
        "en-us",
        150,
        8000,
        300,
        0,
    );
    let spoken_s = speech.len() as f64 / 8000.0;
    let (mut stream, session) = call(&host, "twilio", 2).await;
    let mut call = Call::default();
    let reply = stream.ask(&mut call, &speech).await;

    let heard = events
        .wait_for("the transcript", Duration::from_secs(10), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    // "heard 2 point 3 seconds": the whole utterance reached the v1 engine
    // at the rate it asked for.
    let text = heard["text"].as_str().unwrap_or_default().to_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let seconds: f64 = match words.as_slice() {
        ["heard", whole, "point", tenth, "seconds"] => {
            format!("{whole}.{tenth}").parse().unwrap_or(-1.0)
        }
        _ => panic!("not the v1 engine's transcript: {text:?}"),
    };
    assert!(
        (seconds - spoken_s).abs() < 0.8,
        "the v1 engine got {seconds} s of a {spoken_s:.2} s utterance"
    );
    let answer = events
        .wait_for("the answer", Duration::from_secs(10), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    assert_eq!(
        answer["text"],
        format!("Version one answers turn 1: {text}").as_str(),
        "{answer}"
    );
    let rms = audio::mulaw_rms(&reply);
    assert!(
        rms > 300.0,
        "the spoken answer is near silent (RMS {rms:.0})"
    );
}

/// Opens a text call on the hello fixture's `ws` route.
async fn text_call(
    host: &Host,
    instance: &str,
    caller: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/api/voice/{instance}/ws", host.ws_base());
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("text stream accepted");
    ws.send(Message::Text(format!("start {caller}").into()))
        .await
        .expect("send start");
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_drop_in_a_plugin_ends_one_call_not_the_host() {
    let built = fixtures::build(false);
    let dir = tempfile::tempdir().expect("temp dir");
    fixtures::install(&built, "hello", dir.path());
    let config = format!(
        "[server]\nplugin_dir = \"{}\"\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n[log]\nformat = \"json\"\n\
         [transports.text]\nplugin = \"hello\"\ngreeting = \"hi\"\npanic_on_drop = true\n\
         [transports.text2]\nplugin = \"hello\"\ngreeting = \"hi\"\n",
        dir.path().display()
    );
    let mut host = Host::start(&config);
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;

    for (n, caller) in ["alice", "bob"].into_iter().enumerate() {
        let mut ws = text_call(&host, "text", caller).await;
        let created = events
            .wait_for("the call", Duration::from_secs(10), |e| {
                e["type"] == "call.created" && e["from"] == caller
            })
            .await;
        let session = created["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        ws.send(Message::Text("bye".into()))
            .await
            .expect("send bye");
        events
            .wait_for("the end of the call", Duration::from_secs(10), |e| {
                is(e, "call.ended", &session)
            })
            .await;
        // The stream's Drop ran (and panicked) when the call ended; the
        // host still answers, and the next call works.
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
        let health = client()
            .get(format!("{}/healthz", host.base))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200, "after call {n}");
        assert!(host.is_running(), "the host survived call {n}");
        if n == 0 {
            let line =
                plugin_line(&host, "hello call from alice ends").expect("the v2 plugin's log line");
            assert_eq!(line["instance"], "text", "{line}");
            assert_eq!(line["session_id"], session.as_str(), "{line}");
        }
    }
    voicegate_e2e::eventually(
        "the drop's panic in the log",
        Duration::from_secs(5),
        || async {
            host.logs()
                .contains("a bug in a third-party plugin's Drop")
                .then_some(())
        },
    )
    .await;

    // A second instance of the same library logs as itself.
    let mut ws = text_call(&host, "text2", "carol").await;
    let created = events
        .wait_for("carol's call", Duration::from_secs(10), |e| {
            e["type"] == "call.created" && e["from"] == "carol"
        })
        .await;
    ws.send(Message::Text("bye".into()))
        .await
        .expect("send bye");
    let line = voicegate_e2e::eventually("carol's log line", Duration::from_secs(5), || async {
        plugin_line(&host, "hello call from carol ends")
    })
    .await;
    assert_eq!(line["instance"], "text2", "{line}");
    assert_eq!(line["session_id"], created["session_id"], "{line}");
    assert!(host.stop(), "graceful shutdown exits 0");
}
