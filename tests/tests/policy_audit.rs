//! Policy, admin protection and the audit trail against the real host with
//! the real twilio and policy plugins (and whisper + echo where a call must
//! be transcribed): rate limits and block lists turn calls away with TwiML
//! and a `call.denied` event; admin routes answer 401/403; short tokens are
//! refused at load; an allowed call's audit rows survive a restart and are
//! read back through `GET /api/audit` and `voicegate audit`.

use std::{path::Path, time::Duration};

use serde_json::{json, Value};
use voicegate_e2e::{
    audio,
    host::{client, run_cli, write_config, Host, ADMIN_TOKEN},
    host_binary,
    sse::{is, Events},
    twilio::{self, sid, AUTH_TOKEN},
};

const PUBLIC_URL: &str = "https://voice.example.test";
const CALLEE: &str = "+15005550006";

/// Twilio + policy; `extra` is appended (STT, audit, …).
fn config(policy: &str, extra: &str) -> String {
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
{policy}

{extra}"#
    )
}

fn with_stt_and_audit(db: &Path) -> String {
    config(
        "rate_limit = { calls = 100, per = \"1h\" }",
        &format!(
            "[stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{{{MODEL}}}}\"\n\n[responders.echo]\nplugin = \"echo\"\n\n[audit]\npath = \"{}\"\n",
            db.display()
        ),
    )
}

async fn webhook(host: &Host, call_sid: &str, from: &str) -> String {
    let (status, twiml) = twilio::webhook(
        &host.base, PUBLIC_URL, "twilio", call_sid, from, CALLEE, None,
    )
    .await;
    assert_eq!(status, 200, "webhook answered: {twiml}");
    twiml
}

/// Webhook → TwiML with a stream → (stream URL, session id).
async fn place_call(host: &Host, call_sid: &str, from: &str) -> (String, String) {
    let twiml = webhook(host, call_sid, from).await;
    let url = twilio::stream_url(&twiml).unwrap_or_else(|| panic!("a <Stream> in {twiml}"));
    let session = url.rsplit('/').next().unwrap().to_owned();
    (url, session)
}

async fn get_audit(host: &Host, query: &str) -> reqwest::Response {
    client()
        .get(format!("{}/api/audit{query}", host.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

async fn audit_json(host: &Host, query: &str) -> Value {
    let resp = get_audit(host, query).await;
    assert_eq!(resp.status(), 200, "GET /api/audit{query}");
    resp.json().await.unwrap()
}

fn assert_denied_twiml(twiml: &str) {
    assert!(
        twiml.contains("<Hangup/>") && !twiml.contains("<Connect>"),
        "a denied call is hung up (deny_action say_hangup): {twiml}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eleventh_call_in_the_window_is_rate_limited() {
    let host = Host::start(&config("rate_limit = { calls = 10, per = \"1h\" }", ""));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let caller = "+14155550120";
    for n in 1..=10 {
        let twiml = webhook(&host, &sid("CA", 100 + n), caller).await;
        assert!(
            twiml.contains("<Connect>") && twiml.contains("<Stream"),
            "call {n} of 10 is allowed: {twiml}"
        );
    }
    let eleventh = sid("CA", 111);
    let twiml = webhook(&host, &eleventh, caller).await;
    assert_denied_twiml(&twiml);

    let denied = events
        .wait_for(
            "call.denied for the 11th call",
            Duration::from_secs(5),
            |e| is(e, "call.denied", "") && e["call_id"] == eleventh.as_str(),
        )
        .await;
    assert_eq!(denied["reason"], "rate_limited", "{denied}");
    assert_eq!(denied["from"], caller);
    assert_eq!(denied["session_id"], "");
    assert_eq!(denied["tier"], "medium", "{denied}");
    assert!(
        denied["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "rate_limited"),
        "{denied}"
    );
    let created = events
        .seen()
        .iter()
        .filter(|e| e["type"] == "call.created")
        .count();
    assert_eq!(created, 10, "the first ten were admitted");

    // Another caller is not affected.
    let twiml = webhook(&host, &sid("CA", 112), "+14155550121").await;
    assert!(twiml.contains("<Connect>"), "{twiml}");

    // The audit trail has the verdicts (the host's default audit.path,
    // next to its config).
    let report = eventually_audit(&host, &format!("?from=%2B{}", &caller[1..]), |r| {
        Some(r["denied"].as_array()?.len() == 1 && r["calls"].as_array()?.len() == 10)
    })
    .await;
    assert_eq!(report["denied"][0]["call_id"], eleventh.as_str());
    assert_eq!(report["denied"][0]["allowed"], false);
    assert_eq!(report["denied"][0]["tier"], "medium");
    assert_eq!(report["denied"][0]["reasons"][0]["code"], "rate_limited");
    assert!(report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["verdicts"][0]["allowed"] == true && c["from"] == caller));
}

/// Polls `GET /api/audit` (records are written asynchronously) until
/// `check` holds.
async fn eventually_audit(
    host: &Host,
    query: &str,
    check: impl Fn(&Value) -> Option<bool> + Copy,
) -> Value {
    voicegate_e2e::eventually("the audit rows", Duration::from_secs(10), || async move {
        let report = audit_json(host, query).await;
        check(&report).unwrap_or(false).then_some(report)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocklisted_number_is_denied() {
    let host = Host::start(&config("blocklist = [\"+14155550199\", \"+1900*\"]", ""));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    for (n, caller) in [(1u64, "+14155550199"), (2, "+19005550123")] {
        let call_sid = sid("CA", 200 + n);
        let twiml = webhook(&host, &call_sid, caller).await;
        assert_denied_twiml(&twiml);
        let denied = events
            .wait_for("call.denied", Duration::from_secs(5), |e| {
                is(e, "call.denied", "") && e["call_id"] == call_sid.as_str()
            })
            .await;
        assert_eq!(denied["reason"], "blocklisted", "{denied}");
        assert_eq!(denied["from"], caller);
    }
    // A number next to the blocked one gets through.
    let twiml = webhook(&host, &sid("CA", 203), "+14155550198").await;
    assert!(twiml.contains("<Connect>"), "{twiml}");
    let calls = host.admin_json("/api/calls").await;
    assert_eq!(calls["active"], 1, "denied calls get no session: {calls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_calls_audit_rows_survive_a_restart() {
    voicegate_e2e::model_path();
    let sentence = "please schedule the budget review meeting for next tuesday";
    let speech = audio::speak(sentence, "en-us", 140, 8000, 300, 0);
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("voicegate.db");
    let config = with_stt_and_audit(&db);

    let mut host = Host::start(&config);
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let caller = "+14155550130";
    let call_sid = sid("CA", 300);
    let stream_sid = sid("MZ", 300);
    let (url, session) = place_call(&host, &call_sid, caller).await;
    let mut stream = twilio::connect(&host.ws_base(), &url)
        .await
        .expect("stream accepted");
    stream
        .start(&call_sid, &stream_sid, json!({ "session_id": session }))
        .await;
    stream.silence(400, true).await;
    stream.play(&speech, true).await;
    stream.silence(900, true).await;
    let final_ = events
        .wait_for("voice.stt.final", Duration::from_secs(30), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    let text = final_["text"].as_str().unwrap().to_owned();
    assert!(
        audio::wer(sentence, &text) <= 0.25,
        "transcript {text:?} is too far from {sentence:?}"
    );
    let answer = events
        .wait_for("voice.assistant.text", Duration::from_secs(10), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    let answer = answer["text"].as_str().unwrap().to_owned();
    stream.stop(&call_sid).await;
    events
        .wait_for("call.ended", Duration::from_secs(5), |e| {
            is(e, "call.ended", &session)
        })
        .await;

    // A second call, hung up by an admin: an admin action on record.
    let hung_sid = sid("CA", 301);
    let (_, hung) = place_call(&host, &hung_sid, "+14155550131").await;
    let resp = client()
        .post(format!("{}/api/calls/{hung}/hangup", host.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // A denied call: a verdict without a session.
    let denied_sid = sid("CA", 302);
    let twiml = webhook(&host, &denied_sid, "anonymous").await;
    assert!(twiml.contains("<Hangup/>"), "{twiml}");

    // Stop right away: whatever is still queued must be written first.
    assert!(host.stop(), "a clean exit on SIGTERM:\n{}", host.logs());
    assert!(db.is_file());

    let host = Host::start(&config);
    let report = audit_json(&host, &format!("?call_id={call_sid}")).await;
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{report:#}");
    let call = &calls[0];
    assert_eq!(call["session_id"], session.as_str());
    assert_eq!(call["transport"], "twilio");
    assert_eq!(call["call_id"], call_sid.as_str());
    assert_eq!(call["stream_id"], stream_sid.as_str());
    assert_eq!(call["from"], caller);
    assert_eq!(call["to"], CALLEE);
    assert_eq!(call["end_reason"], "stopped");
    assert!(call["started_at"].as_str().unwrap() <= call["ended_at"].as_str().unwrap());
    let verdicts = call["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{call:#}");
    assert_eq!(verdicts[0]["allowed"], true);
    assert_eq!(verdicts[0]["tier"], "medium");
    assert!(verdicts[0]["reasons"].is_array());
    assert_eq!(call["transcripts"][0]["text"], text.as_str(), "{call:#}");
    assert!(call["transcripts"][0]["latency_ms"].as_u64().is_some());
    assert_eq!(call["answers"][0]["text"], answer.as_str(), "{call:#}");
    assert_eq!(answer, format!("You said: {text}"));

    let report = audit_json(&host, &format!("?call_id={hung_sid}")).await;
    assert_eq!(
        report["calls"][0]["end_reason"], "admin_hangup",
        "{report:#}"
    );
    let action = &report["admin_actions"][0];
    assert_eq!(action["action"], "call.hangup", "{report:#}");
    assert_eq!(action["target"], hung.as_str());
    assert!(
        action["remote_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{action}"
    );
    let report = audit_json(&host, &format!("?call_id={denied_sid}")).await;
    assert!(report["calls"].as_array().unwrap().is_empty());
    assert_eq!(report["denied"][0]["allowed"], false, "{report:#}");
    assert_eq!(report["denied"][0]["from"], "anonymous");
    // `+` unencoded in a query string is a space; both spellings work.
    for from in [format!("%2B{}", &caller[1..]), caller.to_owned()] {
        let report = audit_json(&host, &format!("?from={from}&limit=5")).await;
        assert_eq!(report["calls"].as_array().unwrap().len(), 1, "{from}");
    }
    // The audit queries themselves are on record.
    let all = eventually_audit(&host, "", |r| {
        Some(
            r["admin_actions"]
                .as_array()?
                .iter()
                .any(|a| a["action"] == "audit.query"),
        )
    })
    .await;
    assert_eq!(all["calls"].as_array().unwrap().len(), 2);

    // The CLI reads the same database.
    let (_cli_dir, cli_config) = write_config(&config);
    let out = run_cli(
        &host_binary(),
        &cli_config,
        &["audit", "--call-id", &call_sid, "--json"],
    );
    assert!(out.success, "{}", out.stderr);
    let cli: Value = serde_json::from_str(&out.stdout).expect("JSON from voicegate audit --json");
    assert_eq!(cli["calls"][0]["session_id"], session.as_str());
    assert_eq!(cli["calls"][0]["transcripts"][0]["text"], text.as_str());
    assert_eq!(cli["calls"][0]["answers"][0]["text"], answer.as_str());
    let out = run_cli(&host_binary(), &cli_config, &["audit", "--from", caller]);
    assert!(out.success, "{}", out.stderr);
    for needle in [
        session.as_str(),
        call_sid.as_str(),
        stream_sid.as_str(),
        "verdict  allowed  tier medium",
        text.as_str(),
        answer.as_str(),
        "(stopped)",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} in:\n{}",
            out.stdout
        );
    }
    let out = run_cli(&host_binary(), &cli_config, &["audit", "--limit", "0"]);
    assert!(!out.success);
    assert!(out.stderr.contains("`--limit`"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_routes_answer_401_without_a_token_and_403_with_a_wrong_one() {
    let host = Host::start(&config("", ""));
    let http = client();
    let routes = [
        ("GET", "/api/calls"),
        ("GET", "/api/calls/twilio-CAx-0"),
        ("POST", "/api/calls/twilio-CAx-0/hangup"),
        ("GET", "/api/events"),
        ("GET", "/api/audit"),
        ("GET", "/api/audit?limit=5"),
    ];
    for (method, path) in routes {
        let req = |auth: Option<&str>| {
            let mut r = http.request(method.parse().unwrap(), format!("{}{path}", host.base));
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.send()
        };
        let resp = req(None).await.unwrap();
        assert_eq!(resp.status(), 401, "{method} {path} without a token");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        for auth in ["Bearer ", "Basic YWRtaW46YWRtaW4=", ADMIN_TOKEN] {
            let resp = req(Some(auth)).await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} with {auth:?}");
        }
        let wrong = format!("{}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
        for token in [wrong.as_str(), "admin-wrongwrongwrongwrongwrong", "x"] {
            let resp = req(Some(&format!("Bearer {token}"))).await.unwrap();
            assert_eq!(resp.status(), 403, "{method} {path} with a wrong token");
        }
    }
    // The right token: the audit API answers, and names bad parameters.
    let report = audit_json(&host, "").await;
    for list in ["calls", "denied", "admin_actions"] {
        assert!(report[list].is_array(), "{report}");
    }
    for (query, param) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=many", "limit"),
        ("?since=yesterday", "since"),
        ("?from=%2B1*415", "from"),
        ("?colour=blue", "colour"),
        ("?limit=1&limit=2", "limit"),
    ] {
        let resp = get_audit(&host, query).await;
        assert_eq!(resp.status(), 400, "{query}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(&format!("`{param}`")), "{query}: {body}");
    }
    let report = audit_json(&host, "?since=2020-01-01T00:00:00Z&limit=1000").await;
    assert!(report["calls"].is_array());
}

#[test]
fn a_short_policy_admin_token_is_refused_at_load_without_echoing_it() {
    let short = "admin-tooShort123";
    let (_dir, path) = write_config(&config(&format!("admin_tokens = [\"{short}\"]"), ""));
    let out = run_cli(&host_binary(), &path, &["check"]);
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stderr.contains("`policies.default.admin_tokens[0]`"),
        "the key is named: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("20 characters"),
        "the rule is stated: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(short) && !out.stderr.contains("tooShort"),
        "never echo a token: {}",
        out.stderr
    );
    // The host refuses to serve it too.
    let out = run_cli(&host_binary(), &path, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.success);
    assert!(out.stderr.contains("admin_tokens[0]"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_audit_path_turns_the_trail_off_with_a_warning() {
    let mut host = Host::start(&config("", "[audit]\npath = \"\"\n"));
    let resp = get_audit(&host, "").await;
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("audit.path"));
    assert!(host.stop());
    assert!(
        host.logs().contains("The audit trail is off"),
        "{}",
        host.logs()
    );
    let dir = host.config.parent().unwrap().to_path_buf();
    assert!(!dir.join("voicegate.db").exists(), "no database is created");
}
