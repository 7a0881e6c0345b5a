//! The load generator against the real host, small and short: 50 Twilio
//! callers (half speaking, half silent) for 10 s, VAD on, no STT. Keeps the
//! capacity tooling working and checks correctness under concurrency:
//! every call connects and completes, the host counts every message the
//! callers sent and decodes every audio frame, nothing is dropped. No
//! timing is asserted; speed is measured by scripts/capacity.sh.

use std::time::Duration;

use voicegate_e2e::{
    host::{Host, ADMIN_TOKEN},
    twilio::AUTH_TOKEN,
};
use voicegate_loadgen::{run, RunConfig, Target};

const PUBLIC_URL: &str = "https://voice.load.test";
const CALLS: usize = 50;

/// Load-test caller IDs are exempt from the per-caller rate limit, as an
/// operator's would be.
fn config(max_calls: usize) -> String {
    format!(
        r#"[server]
public_url = "{PUBLIC_URL}"
plugin_dir = "{{{{PLUGIN_DIR}}}}"

[admin]
token = "{ADMIN_TOKEN}"

[limits]
max_calls = {max_calls}

[transports.twilio]
plugin = "twilio"
auth_token = "{AUTH_TOKEN}"

[policies.default]
plugin = "policy"
rate_limit_exempt = ["+1500555*"]
"#
    )
}

fn target(host: &Host) -> Target {
    Target {
        base: host.base.clone(),
        public_url: PUBLIC_URL.to_owned(),
        instance: "twilio".to_owned(),
        auth_token: AUTH_TOKEN.to_owned(),
        from_prefix: "+1500555".to_owned(),
        to: "+15005550006".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_callers_for_ten_seconds_connect_complete_and_lose_no_frame() {
    let host = Host::start(&config(CALLS));
    let cfg = RunConfig {
        calls: CALLS,
        duration: Duration::from_secs(10),
        ramp_per_sec: 50.0,
        speaking_calls: CALLS / 2,
        settle: Duration::from_secs(1),
        host_pid: Some(host.pid()),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..RunConfig::default()
    };
    let report = run(target(&host), cfg).await.expect("the load runs");
    let summary = report.human();

    assert_eq!(report.connected, CALLS as u64, "{summary}");
    assert_eq!(report.failed, 0, "{summary}{:?}", report.failure_examples);
    assert_eq!(report.completed, CALLS as u64, "{summary}");
    assert!(report.media_sent > 0, "{summary}");
    // No TTS is configured: the host sends the callers nothing back.
    assert_eq!(report.media_received, 0, "{summary}");
    assert_eq!(report.marks_received, 0, "{summary}");

    let m = report.host_metrics.as_ref().expect("the host's /metrics");
    assert_eq!(report.frames_lost, Some(0), "{summary}");
    assert_eq!(m.audio_chunks_in as u64, report.media_sent, "{summary}");
    assert_eq!(m.decode_errors, 0.0, "{summary}");
    assert_eq!(m.frames_dropped, 0.0, "{summary}");
    assert_eq!(m.calls_busy, 0.0, "{summary}");
    // The loadgen reads an absent counter as 0: the zeros above only mean
    // something if the host exports these series.
    let metrics = voicegate_e2e::host::client()
        .get(format!("{}/metrics", host.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    for name in [
        "voicegate_decode_errors_total{",
        "voicegate_frames_dropped_total{",
        "voicegate_audio_chunks_in_total{",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    assert!(
        m.frame_lag_ms.as_ref().is_some_and(|q| q.count > 0),
        "the host measured frame lag: {summary}"
    );

    // The admin API's totals agree, and every call ended because the
    // carrier stopped it.
    let calls = host.admin_json("/api/calls").await;
    let stats = &calls["stats"];
    assert_eq!(stats["active_calls"], 0, "{stats}");
    assert_eq!(
        stats["streams"]["frames_in"].as_u64(),
        Some(report.messages_sent),
        "{stats}"
    );
    // Turn detection ran on the speakers' audio without an STT.
    assert!(
        stats["streams"]["utterances"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert!(
        stats["frame_lag"]["count"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    let ended = calls["ended"].as_array().expect("ended calls");
    assert_eq!(ended.len(), CALLS, "{calls}");
    assert!(
        ended.iter().all(|c| c["end_reason"] == "stopped"),
        "{calls}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_beyond_the_limit_are_turned_away_busy_and_the_rest_are_unharmed() {
    let host = Host::start(&config(5));
    let cfg = RunConfig {
        calls: 8,
        duration: Duration::from_secs(3),
        ramp_per_sec: 20.0,
        speaking_calls: 0,
        settle: Duration::from_secs(1),
        host_pid: Some(host.pid()),
        ..RunConfig::default()
    };
    let report = run(target(&host), cfg).await.expect("the load runs");
    let summary = report.human();
    // All eight are up at once: the first five are taken, three are busy.
    assert_eq!(report.failures.get("busy"), Some(&3), "{summary}");
    assert_eq!(report.failed, 3, "{summary}");
    assert_eq!(report.connected, 5, "{summary}");
    assert_eq!(report.completed, 5, "{summary}");
    assert!(
        report.failure_examples["busy"].contains(r#"<Reject reason="busy"/>"#),
        "{:?}",
        report.failure_examples
    );
    let m = report.host_metrics.as_ref().expect("the host's /metrics");
    assert_eq!(m.calls_busy, 3.0, "{summary}");
    assert_eq!(report.frames_lost, Some(0), "{summary}");
    assert!(host.logs().contains("at the concurrent-call limit"));
}
