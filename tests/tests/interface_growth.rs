//! How interface v2 grows within 2.x, rehearsed with real libraries.
//!
//! plugin-api's `rehearse-next-minor` feature builds it as a 2.1 release
//! would be: one field appended to the root module (what a new plugin kind
//! is) and one method appended to the responder trait, each after the
//! `last_prefix_field` line. tests/fixtures-next holds a responder built
//! that way and a small "2.1 host" that loads libraries with plugin-api's
//! own check. Both directions must work: the current (2.0) host serves the
//! 2.1 responder, and the 2.1 host loads the shipped 2.0 echo responder,
//! where the appended field reads as absent and the appended method falls
//! back to its default.

use std::{process::Command, time::Duration};

use serde_json::Value;
use voicegate_e2e::{
    audio, carriers, fixtures,
    host::{run_cli, write_config, Host, ADMIN_TOKEN},
    phone::Call,
    sse::{is, Events},
    twilio,
};

#[test]
fn a_host_from_the_next_minor_loads_the_shipped_plugins() {
    let next = fixtures::build_next_minor();
    let echo = voicegate_e2e::release_dir().join("libecho.so");
    let future = next.join("libfuture.so");
    let v1 = fixtures::build(false).join("libv1kit.so");
    let out = Command::new(next.join("rehearsal-host"))
        .args([&echo, &future, &v1])
        .output()
        .expect("run the rehearsal host");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    // A 2.0 library in a 2.1 host: loads, answers, and what it lacks reads
    // as absent (the root field) or as the default (the method).
    assert_eq!(lines[0]["answer"], "You said: hello", "{}", lines[0]);
    assert_eq!(lines[0]["root_probe"], Value::Null, "{}", lines[0]);
    assert_eq!(lines[0]["method_probe"], 0, "{}", lines[0]);
    // A 2.1 library in a 2.1 host uses both.
    assert_eq!(lines[1]["root_probe"], 21, "{}", lines[1]);
    assert_eq!(lines[1]["method_probe"], 21, "{}", lines[1]);
    // Generation 2's check names a generation-1 library's generation (the
    // host loads those through its v1 adapter instead).
    assert!(
        lines[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("voicegate_plugin_v1")),
        "{}",
        lines[2]
    );
    // The 2.1 layout only appends to what 2.0 shipped, by the same rule the
    // snapshot test enforces on every change.
    assert_eq!(lines[3]["snapshot_differs"], true, "{}", lines[3]);
    assert_eq!(lines[3]["only_appends"], true, "{}", lines[3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_host_serves_a_responder_from_the_next_minor() {
    let next = fixtures::build_next_minor();
    let built = fixtures::build(false);
    let dir = carriers::plugin_dir(&built, "v1kit", &["twilio", "espeak", "policy"]);
    fixtures::install(&next, "future", dir.path());
    let config = twilio::config("[stt.measure]\nplugin = \"v1kit\"\n\n[tts.espeak]\nplugin = \"espeak\"\n\n[responders.future]\nplugin = \"future\"\n")
        .replace("{{PLUGIN_DIR}}", &dir.path().display().to_string());
    let (_cfg, path) = write_config(&config);
    let listed = run_cli(&voicegate_e2e::host_binary(), &path, &["plugins"]);
    assert!(listed.success, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .contains("future 2.1.0 (plugin-api 2.0.0, interface v2, kinds: responder)"),
        "{}",
        listed.stdout
    );

    let host = Host::start(&config);
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let (mut stream, session, _) = twilio::call(&host, 1, "+14155550123").await;
    let speech = audio::speak("one two three four", "en-us", 150, 8000, 300, 0);
    let mut call = Call::default();
    let reply = stream.ask(&mut call, &speech).await;
    let answer = events
        .wait_for("the answer", Duration::from_secs(10), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    assert!(
        answer["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("From the next minor: heard ")),
        "{answer}"
    );
    assert!(audio::mulaw_rms(&reply) > 300.0, "the answer is spoken");
}
