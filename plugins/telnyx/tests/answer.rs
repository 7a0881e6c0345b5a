//! TeXML for each decision, parsed back to prove it is well-formed.

mod common;

use common::*;
use voicegate_plugin_api::{
    Accepted, CallDecision, KeyValue, Reason, RejectCause, Rejected, RiskTier, Transport,
};

const STREAM_URL: &str = "wss://voice.example.com/api/voice/telnyx/stream/telnyx-v39X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbV-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a";

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
fn answer(t: &telnyx::Telnyx, decision: &CallDecision) -> String {
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
fn accept_connects_a_bidirectional_rtp_stream() {
    let xml = answer(&default_instance(), &accept(&[("caller_tier", "gold")]));
    assert_eq!(
        shape(&xml),
        [
            "Connect []".to_owned(),
            format!(
                "  Stream [url={STREAM_URL:?} track=\"inbound_track\" codec=\"PCMU\" \
                 bidirectionalMode=\"rtp\" bidirectionalCodec=\"PCMU\"]"
            ),
            format!("    Parameter [name=\"session_id\" value={SESSION_ID:?}]"),
            "    Parameter [name=\"caller_tier\" value=\"gold\"]".to_owned(),
        ]
    );
}

#[test]
fn the_configured_codec_is_asked_for_both_ways() {
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","codec":"PCMA"}}"#,
        public_key()
    ));
    let xml = answer(&t, &accept(&[]));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let stream = doc
        .descendants()
        .find(|n| n.has_tag_name("Stream"))
        .unwrap();
    assert_eq!(stream.attribute("codec"), Some("PCMA"));
    assert_eq!(stream.attribute("bidirectionalCodec"), Some("PCMA"));
    assert_eq!(stream.attribute("bidirectionalMode"), Some("rtp"));
}

#[test]
fn accepted_params_cannot_replace_the_session_id() {
    let xml = answer(
        &default_instance(),
        &accept(&[("session_id", "forged"), ("a", "1")]),
    );
    assert!(!xml.contains("forged"), "{xml}");
    assert_eq!(xml.matches("<Parameter").count(), 2);
}

#[test]
fn policy_reject_says_and_hangs_up_by_default() {
    let xml = answer(&default_instance(), &reject(RejectCause::POLICY));
    assert_eq!(
        shape(&xml),
        [
            "Say [] \"Sorry, this call cannot be accepted.\"",
            "Hangup []"
        ]
    );
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","deny_message":"Nope & <bye>","voice":"female"}}"#,
        public_key()
    ));
    let xml = answer(&t, &reject(RejectCause::POLICY));
    assert_eq!(
        shape(&xml),
        ["Say [voice=\"female\"] \"Nope & <bye>\"", "Hangup []"]
    );
}

#[test]
fn policy_reject_with_deny_action_reject() {
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","deny_action":"reject"}}"#,
        public_key()
    ));
    assert_eq!(
        shape(&answer(&t, &reject(RejectCause::POLICY))),
        ["Reject []"]
    );
}

#[test]
fn busy_rejects_with_busy() {
    let xml = answer(&default_instance(), &reject(RejectCause::BUSY));
    assert_eq!(shape(&xml), ["Reject [reason=\"busy\"]"]);
}

#[test]
fn error_apologises_and_hangs_up() {
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","error_message":"Oops."}}"#,
        public_key()
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
    let xml = answer(&default_instance(), &hostile);
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
