//! The HTTP routes through the `Transport` trait: signed TeXML webhooks,
//! status callbacks, every way a signature can be wrong.

mod common;

use common::*;
use voicegate_plugin_api::{lookup, Channel, ErrorKind, HttpOutcome, PluginError, Transport};

fn handle(t: &telnyx::Telnyx, req: &Req) -> Result<HttpOutcome, PluginError> {
    t.handle_http(&req.http())
}

fn expect_err(t: &telnyx::Telnyx, req: &Req, kind: ErrorKind, needle: &str) {
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
            ("*", "inbound", false),
            ("*", "status", false),
            ("GET", "stream/{session_id}", true)
        ]
    );
    assert_eq!(info.outbound_format.encoding.as_str(), "PCMU");
    assert_eq!(info.outbound_format.sample_rate, 8000);
    assert_eq!(info.frame_ms, 20);
    assert_eq!(info.channel, Channel::PSTN);
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","codec":"PCMA","allow_get":true}}"#,
        public_key()
    ));
    let info = t.describe().unwrap();
    assert_eq!(info.outbound_format.encoding.as_str(), "PCMA");
}

#[test]
fn a_signed_voice_webhook_is_a_new_call() {
    let req = Req::form("inbound", &voice_form()).signed();
    let HttpOutcome::NewCall(call) = handle(&default_instance(), &req).unwrap() else {
        panic!("not a new call");
    };
    assert_eq!(call.call_id.as_str(), CALL_SID);
    assert_eq!(call.account_id.as_str(), ACCOUNT_SID);
    assert_eq!(call.from.as_str(), "+13122010094");
    assert_eq!(call.to.as_str(), "+13122123456");
    assert_eq!(call.direction.as_str(), "inbound");
    assert_eq!(call.channel, Channel::PSTN);
    assert_eq!(call.remote_addr.as_str(), "203.0.113.7:41234");
    let attrs = call.attributes.as_slice();
    assert_eq!(lookup(attrs, "ConnectionId"), Some("1568109700606592442"));
    assert_eq!(lookup(attrs, "ShakenStirAttestation"), Some("A"));
    assert_eq!(lookup(attrs, "CallStatus"), Some("ringing"));
    assert_eq!(
        lookup(attrs, "CallSid"),
        None,
        "call fields are not repeated"
    );
    assert!(call.custom_params.is_empty());
}

#[test]
fn direction_defaults_to_inbound() {
    let form: Vec<_> = voice_form()
        .into_iter()
        .filter(|(k, _)| *k != "Direction")
        .collect();
    let req = Req::form("inbound", &form).signed();
    let HttpOutcome::NewCall(call) = handle(&default_instance(), &req).unwrap() else {
        panic!()
    };
    assert_eq!(call.direction.as_str(), "inbound");
}

#[test]
fn unsigned_or_badly_signed_webhooks_are_unauthorized() {
    let t = default_instance();
    let form = voice_form();
    let now = now_secs();
    // No headers at all.
    expect_err(
        &t,
        &Req::form("inbound", &form),
        ErrorKind::UNAUTHORIZED,
        "missing telnyx-timestamp",
    );
    // Another account's key.
    expect_err(
        &t,
        &Req::form("inbound", &form).signed_with(&other_key(), now),
        ErrorKind::UNAUTHORIZED,
        "public_key",
    );
    // A stale and a future timestamp, correctly signed.
    expect_err(
        &t,
        &Req::form("inbound", &form).signed_with(&account_key(), now - 301),
        ErrorKind::UNAUTHORIZED,
        "tolerance 300 s",
    );
    expect_err(
        &t,
        &Req::form("inbound", &form).signed_with(&account_key(), now + 400),
        ErrorKind::UNAUTHORIZED,
        "tolerance 300 s",
    );
    // A body changed after signing.
    let mut req = Req::form("inbound", &form).signed();
    req.body = String::from_utf8(req.body)
        .unwrap()
        .replace("%2B13122010094", "%2B19005550000")
        .into_bytes();
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "does not match");
    // The signature is checked before the body is parsed.
    let req = Req::form("inbound", &[("nonsense", "x")]);
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "missing");
}

#[test]
fn a_configured_tolerance_is_used() {
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","signature_tolerance_secs":10}}"#,
        public_key()
    ));
    let now = now_secs();
    let req = Req::form("inbound", &voice_form()).signed_with(&account_key(), now - 5);
    assert!(handle(&t, &req).is_ok());
    let req = Req::form("inbound", &voice_form()).signed_with(&account_key(), now - 30);
    let err = handle(&t, &req).unwrap_err();
    assert!(err.message.contains("tolerance 10 s"), "{err}");
}

#[test]
fn validation_off_needs_no_signature() {
    let t = telnyx(r#"{"validate_signatures":false}"#);
    let req = Req::form("inbound", &voice_form());
    assert!(matches!(handle(&t, &req).unwrap(), HttpOutcome::NewCall(_)));
}

#[test]
fn signed_but_malformed_webhooks_are_invalid_input() {
    let t = default_instance();
    let without = |name: &str| -> Vec<(&'static str, &'static str)> {
        voice_form()
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect()
    };
    expect_err(
        &t,
        &Req::form("inbound", &without("CallSid")).signed(),
        ErrorKind::INVALID_INPUT,
        "missing `CallSid`",
    );
    expect_err(
        &t,
        &Req::form("inbound", &without("AccountSid")).signed(),
        ErrorKind::INVALID_INPUT,
        "missing `AccountSid`",
    );
    let mut form = voice_form();
    form.push(("CallSid", "v3:other"));
    expect_err(
        &t,
        &Req::form("inbound", &form).signed(),
        ErrorKind::INVALID_INPUT,
        "repeats `CallSid`",
    );
    let mut form = without("CallSid");
    form.push(("CallSid", "has space"));
    expect_err(
        &t,
        &Req::form("inbound", &form).signed(),
        ErrorKind::INVALID_INPUT,
        "not a Telnyx id",
    );
}

#[test]
fn get_is_refused_unless_allowed() {
    let t = default_instance();
    let req = Req::get("inbound", &voice_form()).signed();
    expect_err(&t, &req, ErrorKind::INVALID_INPUT, "POST");
    let t = telnyx(&format!(
        r#"{{"public_key":"{}","allow_get":true}}"#,
        public_key()
    ));
    let HttpOutcome::NewCall(call) = handle(&t, &req).unwrap() else {
        panic!()
    };
    assert_eq!(call.call_id.as_str(), CALL_SID);
    // Still signed: the (empty) body and the timestamp.
    let unsigned = Req::get("inbound", &voice_form());
    expect_err(&t, &unsigned, ErrorKind::UNAUTHORIZED, "missing");
    // Other methods never.
    let mut put = Req::form("inbound", &voice_form()).signed();
    put.method = "PUT".into();
    expect_err(&t, &put, ErrorKind::INVALID_INPUT, "takes POST");
}

#[test]
fn unknown_routes_are_not_found() {
    let req = Req::form("outbound", &voice_form()).signed();
    expect_err(&default_instance(), &req, ErrorKind::NOT_FOUND, "outbound");
}

#[test]
fn final_status_callbacks_end_the_call() {
    let t = default_instance();
    for status in ["completed", "busy", "failed", "no-answer", "canceled"] {
        let req = Req::form(
            "status",
            &[
                ("AccountSid", ACCOUNT_SID),
                ("CallSid", CALL_SID),
                ("CallStatus", status),
                ("CallbackSource", "call-progress-events"),
            ],
        )
        .signed();
        let HttpOutcome::CallEnded(ended) = handle(&t, &req).unwrap() else {
            panic!("{status} did not end the call");
        };
        assert_eq!(ended.call_id.as_str(), CALL_SID);
        assert_eq!(ended.reason.as_str(), status);
        assert_eq!(ended.response.status, 204);
    }
    for status in ["initiated", "ringing", "in-progress"] {
        let req = Req::form("status", &[("CallSid", CALL_SID), ("CallStatus", status)]).signed();
        let HttpOutcome::Respond(resp) = handle(&t, &req).unwrap() else {
            panic!("{status} ended the call");
        };
        assert_eq!(resp.status, 204);
    }
    // A stream status callback.
    let req = Req::form(
        "status",
        &[("CallSid", CALL_SID), ("StreamEvent", "stream-started")],
    )
    .signed();
    assert!(matches!(handle(&t, &req).unwrap(), HttpOutcome::Respond(_)));
    // Unsigned status callbacks cannot end calls.
    let req = Req::form(
        "status",
        &[("CallSid", CALL_SID), ("CallStatus", "completed")],
    );
    expect_err(&t, &req, ErrorKind::UNAUTHORIZED, "missing");
    let req = Req::form("status", &[("CallSid", CALL_SID)]).signed();
    expect_err(&t, &req, ErrorKind::INVALID_INPUT, "CallStatus");
}
