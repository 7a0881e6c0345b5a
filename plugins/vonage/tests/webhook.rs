//! The HTTP routes through the `Transport` trait: signed answer and event
//! webhooks, every way a JWT can be wrong, and the NCCOs.

mod common;

use common::*;
use serde_json::{json, Value};
use voicegate_plugin_api::{
    lookup, Accepted, CallDecision, Channel, ErrorKind, HttpOutcome, KeyValue, PluginError, Reason,
    RejectCause, Rejected, RiskTier, Transport,
};

fn handle(t: &vonage::Vonage, req: &Req) -> Result<HttpOutcome, PluginError> {
    t.handle_http(&req.http())
}

fn expect_err(t: &vonage::Vonage, req: &Req, kind: ErrorKind, needle: &str) {
    let err = handle(t, req).unwrap_err();
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(needle), "`{needle}` not in: {err}");
}

#[test]
fn describes_its_routes_and_media() {
    let info = default_instance().describe().unwrap();
    let routes: Vec<_> = info
        .routes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.binds_session()))
        .collect();
    assert_eq!(
        routes,
        [
            ("*", "answer", false),
            ("*", "event", false),
            ("GET", "stream/{session_id}", true)
        ]
    );
    assert_eq!(info.outbound_format.encoding.as_str(), "audio/l16");
    assert_eq!(info.outbound_format.sample_rate, 16000);
    assert_eq!(info.frame_ms, 20);
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","sample_rate":8000}}"#
    ));
    assert_eq!(t.describe().unwrap().outbound_format.sample_rate, 8000);
}

#[test]
fn a_signed_answer_webhook_is_a_new_call() {
    let req = Req::get("answer", answer_query()).signed();
    let HttpOutcome::NewCall(call) = handle(&default_instance(), &req).unwrap() else {
        panic!("not a new call");
    };
    assert_eq!(call.call_id.as_str(), UUID);
    assert_eq!(call.account_id.as_str(), API_KEY);
    assert_eq!(call.from.as_str(), "+447700900001");
    assert_eq!(call.to.as_str(), "+447700900000");
    assert_eq!(call.direction.as_str(), "inbound");
    assert_eq!(call.channel, Channel::PSTN);
    let attrs = call.attributes.as_slice();
    assert_eq!(lookup(attrs, "conversation_uuid"), Some(CONVERSATION_UUID));
    assert_eq!(
        lookup(attrs, "region_url"),
        Some("https://api-eu-1.vonage.com")
    );
    assert_eq!(lookup(attrs, "application_id"), Some(APPLICATION_ID));
    assert_eq!(lookup(attrs, "uuid"), None, "call fields are not repeated");
}

#[test]
fn a_post_answer_webhook_works_too() {
    let body = format!(
        r#"{{"from":"447700900001","to":"447700900000","uuid":"{UUID}","conversation_uuid":"{CONVERSATION_UUID}","endpoint_type":"sip"}}"#
    );
    let req = Req::post("answer", &body).signed();
    let HttpOutcome::NewCall(call) = handle(&default_instance(), &req).unwrap() else {
        panic!()
    };
    assert_eq!(call.call_id.as_str(), UUID);
    assert_eq!(call.channel, Channel::SIP);
}

#[test]
fn unsigned_or_badly_signed_webhooks_are_unauthorized() {
    let t = default_instance();
    let query = answer_query();
    let now = now_secs();
    expect_err(
        &t,
        &Req::get("answer", query),
        ErrorKind::UNAUTHORIZED,
        "missing `Authorization",
    );
    expect_err(
        &t,
        &Req::get("answer", query).signed_with("wrong secret", default_claims(now)),
        ErrorKind::UNAUTHORIZED,
        "signature_secret",
    );
    expect_err(
        &t,
        &Req::get("answer", query).signed_with(SECRET, default_claims(now - 301)),
        ErrorKind::UNAUTHORIZED,
        "300 s window",
    );
    // Parameters changed after signing: the payload hash catches it.
    let mut req = Req::get("answer", query).signed();
    req.query = req.query.replace("447700900001", "15555550000");
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "payload_hash");
    // Parameters reordered: also a different payload.
    let mut req = Req::get("answer", query).signed();
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.swap(0, 1);
    req.query = pairs.join("&");
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "payload_hash");
    // A token without payload_hash.
    let req = Req::get("answer", query).signed_with(
        SECRET,
        json!({"iat": now, "api_key": API_KEY, "payload_hash": Value::Null}),
    );
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "payload_hash");
}

#[test]
fn optional_checks_follow_the_config() {
    // Hash checks off: a token without payload_hash passes.
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","verify_payload_hash":false}}"#
    ));
    let mut req = Req::get("answer", answer_query()).signed();
    req.query.push_str("&extra=1");
    assert!(handle(&t, &req).is_ok());
    // api_key pinned.
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","api_key":"other"}}"#
    ));
    let req = Req::get("answer", answer_query()).signed();
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "api_key");
    // A short window.
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","signature_max_age_secs":10}}"#
    ));
    let req =
        Req::get("answer", answer_query()).signed_with(SECRET, default_claims(now_secs() - 30));
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "10 s window");
    // Validation off.
    let t = vonage(r#"{"validate_signatures":false}"#);
    assert!(handle(&t, &Req::get("answer", answer_query())).is_ok());
}

#[test]
fn signed_but_malformed_webhooks_are_invalid_input() {
    let t = default_instance();
    let q = |query: &str| Req::get("answer", query).signed();
    expect_err(
        &t,
        &q("to=1&from=2"),
        ErrorKind::INVALID_INPUT,
        "missing `uuid`",
    );
    expect_err(
        &t,
        &q("uuid=a&uuid=b"),
        ErrorKind::INVALID_INPUT,
        "repeats `uuid`",
    );
    expect_err(
        &t,
        &q("uuid=has%20space"),
        ErrorKind::INVALID_INPUT,
        "not a Vonage id",
    );
    expect_err(
        &t,
        &Req::post("answer", "[1,2]").signed(),
        ErrorKind::INVALID_INPUT,
        "not a JSON object",
    );
    expect_err(
        &t,
        &Req::post("answer", "{nope").signed(),
        ErrorKind::INVALID_INPUT,
        "not JSON",
    );
    let mut put = Req::get("answer", answer_query()).signed();
    put.method = "PUT".into();
    expect_err(&t, &put, ErrorKind::INVALID_INPUT, "GET or POST");
    expect_err(
        &t,
        &Req::get("hangup", answer_query()).signed(),
        ErrorKind::NOT_FOUND,
        "hangup",
    );
}

#[test]
fn final_events_end_the_call() {
    let t = default_instance();
    let req = Req::post("event", EVENT_COMPLETED.trim_end()).signed();
    let HttpOutcome::CallEnded(ended) = handle(&t, &req).unwrap() else {
        panic!("completed did not end the call");
    };
    assert_eq!(ended.call_id.as_str(), UUID);
    assert_eq!(ended.reason.as_str(), "completed");
    assert_eq!(ended.response.status, 200);
    for status in [
        "busy",
        "cancelled",
        "failed",
        "rejected",
        "timeout",
        "unanswered",
    ] {
        let body = format!(r#"{{"uuid":"{UUID}","status":"{status}"}}"#);
        let req = Req::post("event", &body).signed();
        assert!(
            matches!(handle(&t, &req).unwrap(), HttpOutcome::CallEnded(_)),
            "{status}"
        );
    }
    // Not final, or not a status event at all.
    for body in [
        EVENT_ANSWERED.trim_end().to_owned(),
        format!(r#"{{"uuid":"{UUID}","dtmf":{{"digits":"1"}}}}"#),
        String::new(),
    ] {
        let req = Req::post("event", &body).signed();
        let HttpOutcome::Respond(resp) = handle(&t, &req).unwrap() else {
            panic!("{body} ended the call");
        };
        assert_eq!(resp.status, 200);
    }
    // A GET event webhook.
    let req = Req::get("event", &format!("uuid={UUID}&status=completed")).signed();
    assert!(matches!(
        handle(&t, &req).unwrap(),
        HttpOutcome::CallEnded(_)
    ));
    // Unsigned events cannot end calls.
    let req = Req::post("event", EVENT_COMPLETED.trim_end());
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "missing");
    // A body changed after signing.
    let mut req = Req::post("event", EVENT_ANSWERED.trim_end()).signed();
    req.body = String::from_utf8(req.body)
        .unwrap()
        .replace("answered", "completed")
        .into_bytes();
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "payload_hash");
}

// --- NCCOs ---------------------------------------------------------------

const STREAM_URL: &str = "wss://voice.example.com/api/voice/vonage/stream/vonage-63f618634a514f6b86e146edebcf9356-5b1e0c2d9a8f7e6d5c4b3a2918070605";

fn accept(params: &[(&str, &str)]) -> CallDecision {
    CallDecision::Accept(Accepted {
        session_id: SESSION_ID.into(),
        stream_url: STREAM_URL.into(),
        params: params.iter().map(|&(k, v)| KeyValue::new(k, v)).collect(),
        tier: RiskTier::MEDIUM,
    })
}

fn reject(cause: RejectCause) -> CallDecision {
    CallDecision::Reject(Rejected {
        cause,
        reasons: vec![Reason::new("blocklisted", "caller is blocklisted")].into(),
        message: "Policy says no.".into(),
    })
}

fn answer(t: &vonage::Vonage, decision: &CallDecision) -> Value {
    let resp = t.answer_call(&voice_call(), decision).unwrap();
    assert_eq!(resp.status, 200);
    let content_type: Vec<_> = resp
        .headers
        .iter()
        .filter(|kv| kv.key.eq_ignore_ascii_case("content-type"))
        .map(|kv| kv.value.as_str())
        .collect();
    assert_eq!(content_type, ["application/json"]);
    serde_json::from_slice(&resp.body).unwrap()
}

#[test]
fn accept_connects_the_websocket() {
    let ncco = answer(
        &default_instance(),
        &accept(&[("session_id", SESSION_ID), ("caller_tier", "gold")]),
    );
    assert_eq!(
        ncco,
        json!([{
            "action": "connect",
            "endpoint": [{
                "type": "websocket",
                "uri": STREAM_URL,
                "content-type": "audio/l16;rate=16000",
                "headers": {
                    "session_id": SESSION_ID,
                    "stream_token": STREAM_TOKEN,
                    "caller_tier": "gold",
                },
            }],
        }])
    );
}

#[test]
fn greeting_rate_and_token_follow_the_config() {
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","sample_rate":8000,"stream_token":false,
            "greeting":"Connecting you.","language":"en-GB"}}"#
    ));
    let ncco = answer(&t, &accept(&[]));
    assert_eq!(
        ncco[0],
        json!({"action":"talk","text":"Connecting you.","language":"en-GB"})
    );
    let endpoint = &ncco[1]["endpoint"][0];
    assert_eq!(endpoint["content-type"], "audio/l16;rate=8000");
    assert_eq!(endpoint["headers"], json!({"session_id": SESSION_ID}));
}

#[test]
fn params_cannot_replace_the_session_or_token_and_headers_stay_small() {
    let long = "x".repeat(300);
    let ncco = answer(
        &default_instance(),
        &accept(&[
            ("session_id", "forged"),
            ("stream_token", "forged"),
            ("a", &long),
            ("b", &long),
        ]),
    );
    let headers = &ncco[0]["endpoint"][0]["headers"];
    assert_eq!(headers["session_id"], SESSION_ID);
    assert_eq!(headers["stream_token"], STREAM_TOKEN);
    assert_eq!(headers["a"], long.as_str());
    assert!(headers.get("b").is_none(), "over 512 bytes: {headers}");
    assert!(headers.to_string().len() <= 512);
}

#[test]
fn refusals_talk_and_end_the_call() {
    let t = default_instance();
    assert_eq!(
        answer(&t, &reject(RejectCause::POLICY)),
        json!([{"action":"talk","text":"Sorry, this call cannot be accepted."}])
    );
    assert_eq!(
        answer(&t, &reject(RejectCause::BUSY)),
        json!([{"action":"talk","text":"Sorry, all our lines are busy. Please try again later."}])
    );
    let t = vonage(&format!(
        r#"{{"signature_secret":"{SECRET}","error_message":"Oops \"quoted\".","language":"de-DE"}}"#
    ));
    for cause in [RejectCause::ERROR, RejectCause(42)] {
        assert_eq!(
            answer(&t, &reject(cause)),
            json!([{"action":"talk","text":"Oops \"quoted\".","language":"de-DE"}])
        );
    }
}
