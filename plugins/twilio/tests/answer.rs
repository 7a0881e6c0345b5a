//! TwiML for each decision, parsed back to prove it is well-formed.

mod common;

use common::*;
use voicegate_plugin_api::{
    Accepted, CallDecision, KeyValue, Reason, RejectCause, Rejected, RiskTier, Transport,
};

const STREAM_URL: &str =
    "wss://voice.example.com/api/voice/twilio/stream/twilio-CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3f-q8Xv3KpT2mWz";

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

/// Answers and returns the body, checking the envelope.
fn answer(t: &twilio::Twilio, decision: &CallDecision) -> String {
    let resp = t.answer_call(&voice_call(), decision).unwrap();
    assert_eq!(resp.status, 200);
    let content_type: Vec<_> = resp
        .headers
        .iter()
        .filter(|kv| kv.key.eq_ignore_ascii_case("content-type"))
        .map(|kv| kv.value.as_str())
        .collect();
    assert_eq!(content_type, ["text/xml"]);
    let body = String::from_utf8(resp.body.to_vec()).unwrap();
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#),
        "{body}"
    );
    body
}

/// The document as nested (tag, attributes, text) for easy comparison.
fn shape(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    let mut out = Vec::new();
    for node in root.descendants().skip(1).filter(|n| n.is_element()) {
        let depth = node.ancestors().filter(|a| a.is_element()).count() - 2;
        let attrs: Vec<_> = node
            .attributes()
            .map(|a| format!("{}={:?}", a.name(), a.value()))
            .collect();
        let text = node.text().map(|t| format!(" {t:?}")).unwrap_or_default();
        out.push(format!(
            "{}{} [{}]{}",
            "  ".repeat(depth),
            node.tag_name().name(),
            attrs.join(" "),
            text
        ));
    }
    out
}

#[test]
fn connect_mode_accept() {
    let xml = answer(&connect(), &accept(&[("caller_tier", "gold")]));
    assert_eq!(
        shape(&xml),
        [
            "Connect []".to_owned(),
            format!("  Stream [url={STREAM_URL:?}]"),
            format!("    Parameter [name=\"session_id\" value={SESSION_ID:?}]"),
            "    Parameter [name=\"caller_tier\" value=\"gold\"]".to_owned(),
        ]
    );
    assert!(!xml.contains("track="), "{xml}");
}

#[test]
fn accepted_params_cannot_replace_the_session_id() {
    let xml = answer(&connect(), &accept(&[("session_id", "forged"), ("a", "1")]));
    assert!(!xml.contains("forged"), "{xml}");
    assert_eq!(xml.matches("<Parameter").count(), 2);
}

#[test]
fn listen_mode_accept() {
    let t = twilio(&format!(
        r#"{{"auth_token":"{TOKEN}","mode":"listen","greeting":"We are listening.","voice":"Polly.Joanna","track":"both_tracks"}}"#
    ));
    let xml = answer(&t, &accept(&[]));
    assert_eq!(
        shape(&xml),
        [
            "Start []".to_owned(),
            format!("  Stream [url={STREAM_URL:?} track=\"both_tracks\"]"),
            format!("    Parameter [name=\"session_id\" value={SESSION_ID:?}]"),
            "Say [voice=\"Polly.Joanna\"] \"We are listening.\"".to_owned(),
            "Pause [length=\"3600\"]".to_owned(),
        ]
    );
}

#[test]
fn listen_mode_defaults_and_empty_greeting() {
    let xml = answer(&listen(), &accept(&[]));
    let shape = shape(&xml);
    assert_eq!(
        shape[1],
        format!("  Stream [url={STREAM_URL:?} track=\"inbound_track\"]")
    );
    assert!(shape[3].starts_with("Say [] "), "{shape:?}");
    let t = twilio(&format!(
        r#"{{"auth_token":"{TOKEN}","mode":"listen","greeting":""}}"#
    ));
    let xml = answer(&t, &accept(&[]));
    assert!(!xml.contains("<Say"), "{xml}");
    assert!(
        xml.ends_with(r#"</Start><Pause length="3600"/></Response>"#),
        "{xml}"
    );
}

#[test]
fn policy_reject_says_and_hangs_up_by_default() {
    let xml = answer(&connect(), &reject(RejectCause::POLICY));
    assert_eq!(
        shape(&xml),
        [
            "Say [] \"Sorry, this call cannot be accepted.\"",
            "Hangup []"
        ]
    );
    let t = twilio(&format!(
        r#"{{"auth_token":"{TOKEN}","deny_message":"Nope & <bye>","voice":"alice"}}"#
    ));
    let xml = answer(&t, &reject(RejectCause::POLICY));
    assert_eq!(
        shape(&xml),
        ["Say [voice=\"alice\"] \"Nope & <bye>\"", "Hangup []"]
    );
}

#[test]
fn policy_reject_with_deny_action_reject() {
    let t = twilio(&format!(
        r#"{{"auth_token":"{TOKEN}","deny_action":"reject"}}"#
    ));
    let xml = answer(&t, &reject(RejectCause::POLICY));
    assert_eq!(shape(&xml), ["Reject []"]);
}

#[test]
fn busy_rejects_with_busy() {
    let xml = answer(&connect(), &reject(RejectCause::BUSY));
    assert_eq!(shape(&xml), ["Reject [reason=\"busy\"]"]);
}

#[test]
fn error_apologises_and_hangs_up() {
    let t = twilio(&format!(
        r#"{{"auth_token":"{TOKEN}","error_message":"Oops."}}"#
    ));
    for cause in [RejectCause::ERROR, RejectCause(42)] {
        let xml = answer(&t, &reject(cause));
        assert_eq!(shape(&xml), ["Say [] \"Oops.\"", "Hangup []"], "{cause:?}");
    }
}

#[test]
fn every_value_is_escaped() {
    let hostile = CallDecision::Accept(Accepted {
        session_id: "s\"/><Hangup/>".into(),
        stream_url: "wss://h.example/s?a=1&b=<2>".into(),
        params: vec![KeyValue::new("n'&\"", "v<\n>\t")].into(),
        tier: RiskTier::LOW,
    });
    let xml = answer(&connect(), &hostile);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let stream = doc
        .descendants()
        .find(|n| n.has_tag_name("Stream"))
        .unwrap();
    assert_eq!(stream.attribute("url"), Some("wss://h.example/s?a=1&b=<2>"));
    let params: Vec<_> = stream
        .children()
        .filter(|n| n.is_element())
        .map(|n| (n.attribute("name").unwrap(), n.attribute("value").unwrap()))
        .collect();
    assert_eq!(
        params,
        [("session_id", "s\"/><Hangup/>"), ("n'&\"", "v<\n>\t")]
    );
    assert!(!doc.descendants().any(|n| n.has_tag_name("Hangup")));
}
