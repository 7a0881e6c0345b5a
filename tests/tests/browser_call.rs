//! Browser calls against the real host with the browser, whisper, espeak,
//! policy and echo plugins.
//!
//! * In Debian's headless Chromium (driven by `tests/browser/drive.mjs`):
//!   the fake microphone plays a sentence spoken by espeak-ng; the page
//!   must show its transcript and the answer and play the answer back
//!   (marks echoed), the dashboard must list the call with both, and its
//!   hang-up button must end the call on the page. Screenshots of both
//!   pages go to `target/browser-test/` (and to `docs/screenshots/` with
//!   `VOICEGATE_UPDATE_SCREENSHOTS=1`).
//! * Over a plain WebSocket client: the protocol's refusals (identity,
//!   origin, version, policy) and its error messages.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode, Message,
};
use voicegate_e2e::{
    audio,
    browser::{self, DriveArgs},
    host::{client, Host, ADMIN_TOKEN},
    sse::{is, Events},
    workspace_root,
};

/// The transport instance: not `browser`, to show the page's relative URLs
/// work under any instance name.
const INSTANCE: &str = "web";
const TESTER_TOKEN: &str = "e2e-browser-token-0123456789";
const BLOCKED_TOKEN: &str = "e2e-blocked-token-0123456789";
const SENTENCE: &str = "please schedule the budget review meeting for next tuesday";

fn config() -> String {
    format!(
        r#"[server]
plugin_dir = "{{{{PLUGIN_DIR}}}}"

[admin]
token = "{ADMIN_TOKEN}"

[transports.{INSTANCE}]
plugin = "browser"
tokens = {{ tester = "{TESTER_TOKEN}", blocked = "{BLOCKED_TOKEN}" }}

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 100, per = "1h" }}
blocklist = ["client:blocked"]

[stt.whisper]
plugin = "whisper"
model = "{{{{MODEL}}}}"

[tts.espeak]
plugin = "espeak"

[responders.echo]
plugin = "echo"

[audit]
path = ""
"#
    )
}

async fn call_view(host: &Host, session: &str) -> Value {
    host.admin_json(&format!("/api/calls/{session}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_call_in_chromium_is_transcribed_answered_and_listed_on_the_dashboard() {
    voicegate_e2e::model_path();
    // Before the host starts: a missing browser fails here, with the fix.
    browser::chromium();
    let work = tempfile::tempdir().expect("temp dir");
    let wav = work.path().join("speech.wav");
    // Lead silence covers the time between getUserMedia (where the file
    // starts) and the worklet running; the tail ends the turn.
    audio::speak_wav(SENTENCE, "en-us", 140, 16000, 800, 2500, &wav);
    let shots = workspace_root().join("target/browser-test");
    std::fs::create_dir_all(&shots).expect("screenshot folder");

    let host = Host::start(&config());
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let args = DriveArgs {
        base: host.base.clone(),
        page: format!("/api/voice/{INSTANCE}/?token={TESTER_TOKEN}&processing=off"),
        admin_token: ADMIN_TOKEN.to_owned(),
        wav: wav.clone(),
        out: shots.clone(),
        budget: Duration::from_secs(150),
    };
    let started = std::time::Instant::now();
    let drive = tokio::task::spawn_blocking(move || browser::drive(&args))
        .await
        .expect("driver thread");
    let elapsed = started.elapsed();
    let r = &drive.report;
    assert!(
        drive.ok,
        "the browser run failed (screenshots in {}): {:#}\n---- driver stderr ----\n{}",
        shots.display(),
        r,
        drive.stderr
    );
    eprintln!("browser run: {elapsed:?}, timings {}", r["timings"]);

    // The page: who it called as, a microphone that was heard, the
    // transcript and the answer.
    assert_eq!(r["identity"], "client:tester", "{r:#}");
    let session = r["sessionId"].as_str().expect("a session id").to_owned();
    assert!(session.starts_with(&format!("{INSTANCE}-web")), "{session}");
    assert!(
        r["micMaxPeakDbfs"].as_f64().unwrap_or(-120.0) > -50.0,
        "{r:#}"
    );
    let transcripts: Vec<&str> = r["transcripts"]
        .as_array()
        .expect("transcripts")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let heard = transcripts.join(" ");
    let wer = audio::wer(SENTENCE, &heard);
    eprintln!("transcript {heard:?}, WER {wer:.3}");
    assert!(wer <= 0.25, "WER {wer:.3}: {heard:?} for {SENTENCE:?}");
    let answers: Vec<&str> = r["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        answers.first().copied(),
        Some(format!("You said: {}", transcripts[0]).as_str()),
        "{r:#}"
    );
    assert_eq!(r["pageErrors"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["afterHangup"]["errors"], serde_json::json!([]), "{r:#}");
    assert!(r["afterHangup"]["marksEchoed"].as_u64().unwrap_or(0) > 0);
    assert!(r["afterHangup"]["framesReceived"].as_u64().unwrap_or(0) > 0);

    // The dashboard listed the call, its caller, transcript and answer.
    let d = &r["dashboard"];
    assert_eq!(d["transport"], INSTANCE, "{d:#}");
    assert_eq!(d["from"], "client:tester", "{d:#}");
    assert_eq!(d["state"], "ACTIVE", "{d:#}");
    assert_eq!(d["caller"][0].as_str(), Some(transcripts[0]), "{d:#}");
    assert_eq!(d["agent"][0].as_str(), answers.first().copied(), "{d:#}");
    assert!(d["marksIn"].as_u64().unwrap_or(0) > 0, "{d:#}");

    // Its hang-up button ended the call, and the page saw it end with a
    // clean close: the host completes the closing handshake before dropping
    // the socket, so the page's unread audio cannot turn the close into a
    // reset (1006).
    let after = &r["afterHangup"];
    assert_eq!(after["closeCode"].as_u64(), Some(1000), "{r:#}");
    assert_eq!(after["state"], "ended", "{r:#}");
    assert_eq!(r["endedReason"], "admin_hangup", "{r:#}");

    // The host's own account agrees: one call through the policy chain,
    // the same transcript, the page's marks, no bad frames.
    let created = events
        .wait_for("call.created", Duration::from_secs(5), |e| {
            is(e, "call.created", &session)
        })
        .await;
    assert_eq!(created["transport"], INSTANCE);
    assert_eq!(created["from"], "client:tester");
    assert_eq!(created["tier"], "low");
    let started = events
        .wait_for("call.started", Duration::from_secs(5), |e| {
            is(e, "call.started", &session)
        })
        .await;
    assert_eq!(started["encoding"], "audio/l16");
    assert_eq!(started["sample_rate"], 16000);
    let stt = events
        .wait_for("voice.stt.final", Duration::from_secs(5), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    assert_eq!(stt["text"].as_str(), Some(transcripts[0]));
    let ended = events
        .wait_for("call.ended", Duration::from_secs(10), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "admin_hangup");
    let view = call_view(&host, &session).await;
    let stats = &view["stats"];
    assert_eq!(view["state"], "STOPPED", "{view:#}");
    assert!(stats["frames_in"].as_u64().unwrap_or(0) > 100, "{view:#}");
    assert!(stats["marks_in"].as_u64().unwrap_or(0) > 0, "{view:#}");
    assert_eq!(stats["decode_errors"], 0, "{view:#}");
    assert_eq!(stats["utterances"], 1, "{view:#}");

    if std::env::var_os("VOICEGATE_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).expect("docs/screenshots");
        for name in ["browser.png", "dashboard.png"] {
            std::fs::copy(shots.join(name), docs.join(name)).expect("copy screenshot");
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(host: &Host, query: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let mut req = format!("{}/api/voice/{INSTANCE}/ws{query}", host.ws_base())
        .into_client_request()
        .expect("request");
    if let Some(origin) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("origin"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

/// The next text message as JSON, skipping nothing; `None` on close.
async fn next_json(ws: &mut Socket) -> Result<Value, Option<(CloseCode, String)>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("JSON")),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (f.code, f.reason.to_string())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Reads until a message of `kind` (skipping events), failing on close.
async fn until(ws: &mut Socket, kind: &str) -> Value {
    loop {
        match next_json(ws).await {
            Ok(v) if v["type"] == kind => return v,
            Ok(_) => continue,
            Err(close) => panic!("closed ({close:?}) before a {kind} message"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_protocol_refuses_clearly_and_ends_calls_like_phone_calls() {
    let host = Host::start(&config());
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let http = client();

    // The page is served under the instance name, with its files beside it.
    let page = http
        .get(format!("{}/api/voice/{INSTANCE}/", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let worklet = http
        .get(format!("{}/api/voice/{INSTANCE}/worklet.js", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        worklet.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let dashboard = http
        .get(format!("{}/dashboard/", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    let whoami: Value = http
        .get(format!("{}/api/voice/{INSTANCE}/whoami", host.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        whoami["error"].as_str().unwrap_or("").contains("?token="),
        "{whoami}"
    );

    // No identity, a wrong token, a foreign origin: refused at the upgrade.
    assert_eq!(open(&host, "", None).await.err(), Some(403));
    assert_eq!(
        open(&host, "?token=wrong-token-0123456789", None)
            .await
            .err(),
        Some(403)
    );
    let token = format!("?token={TESTER_TOKEN}");
    assert_eq!(
        open(&host, &token, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );

    // A version this server does not speak: an error message, then close.
    let mut ws = open(&host, &token, None).await.expect("upgrade");
    ws.send(Message::Text(r#"{"type":"hello","version":2}"#.into()))
        .await
        .unwrap();
    let err = next_json(&mut ws).await.expect("an error message");
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "unsupported_version");
    assert_eq!(err["supported"], serde_json::json!([1]));
    let close = next_json(&mut ws).await.expect_err("then the close");
    assert_eq!(close.map(|c| c.0), Some(CloseCode::Normal));

    // A caller the policy blocks: refused with 1008, no session.
    let mut ws = open(&host, &format!("?token={BLOCKED_TOKEN}"), None)
        .await
        .expect("upgrade");
    ws.send(Message::Text(r#"{"type":"hello","version":1}"#.into()))
        .await
        .unwrap();
    let close = next_json(&mut ws).await.expect_err("closed");
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, CloseCode::Policy);
    assert_eq!(reason, "call denied");
    let denied = events
        .wait_for("call.denied", Duration::from_secs(5), |e| {
            e["type"] == "call.denied" && e["from"] == "client:blocked"
        })
        .await;
    assert_eq!(denied["reason"], "blocklisted");
    assert_eq!(denied["transport"], INSTANCE);

    // A call: ready with the session, its events, errors for bad input
    // (the call goes on), and a hang-up from the page.
    let mut ws = open(&host, &token, Some(&host.base))
        .await
        .expect("upgrade");
    ws.send(Message::Text(
        r#"{"type":"hello","version":1,"sample_rate":16000,"params":{"lang":"en"}}"#.into(),
    ))
    .await
    .unwrap();
    let ready = until(&mut ws, "ready").await;
    let session = ready["session_id"].as_str().expect("session id").to_owned();
    assert_eq!(ready["identity"], "client:tester");
    assert_eq!(ready["tier"], "low");
    assert_eq!(ready["output"]["sample_rate"], 16000);
    assert_eq!(ready["output"]["frame_ms"], 20);
    let first = until(&mut ws, "event").await;
    assert_eq!(first["event"]["type"], "call.created", "{first}");
    assert_eq!(first["event"]["session_id"], session.as_str());
    ws.send(Message::Binary(vec![0u8; 641].into()))
        .await
        .unwrap();
    let err = until(&mut ws, "error").await;
    assert_eq!(err["code"], "bad_audio");
    ws.send(Message::Text("{oops".into())).await.unwrap();
    let err = until(&mut ws, "error").await;
    assert_eq!(err["code"], "bad_json");
    ws.send(Message::Binary(vec![0u8; 640].into()))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"type":"hangup","reason":"user"}"#.into()))
        .await
        .unwrap();
    let close = loop {
        match next_json(&mut ws).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    assert_eq!(
        close,
        Some((CloseCode::Normal, "call ended".to_owned())),
        "the page's hang-up ends the call"
    );
    let ended = events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;
    assert_eq!(ended["reason"], "caller_hangup");
    let started = events
        .wait_for("call.started", Duration::from_secs(5), |e| {
            is(e, "call.started", &session)
        })
        .await;
    assert_eq!(started["custom_params"]["lang"], "en");
    let view = call_view(&host, &session).await;
    assert_eq!(view["stats"]["decode_errors"], 2, "{view:#}");
    assert_eq!(view["stats"]["audio_chunks_in"], 1, "{view:#}");

    // An operator's hang-up: a hangup message, then a normal close.
    let mut ws = open(&host, &token, None).await.expect("upgrade");
    ws.send(Message::Text(r#"{"type":"hello","version":1}"#.into()))
        .await
        .unwrap();
    let session = until(&mut ws, "ready").await["session_id"]
        .as_str()
        .expect("session id")
        .to_owned();
    let resp = http
        .post(format!("{}/api/calls/{session}/hangup", host.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let hangup = until(&mut ws, "hangup").await;
    assert_eq!(hangup["reason"], "admin_hangup");
    let close = loop {
        match next_json(&mut ws).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    assert_eq!(close, Some((CloseCode::Normal, "call ended".to_owned())));
}
