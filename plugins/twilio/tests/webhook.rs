//! The HTTP routes through the `Transport` trait, as the host calls them.

mod common;

use common::*;
use voicegate_plugin_api::{
    lookup, Capabilities, Channel, ErrorKind, HttpOutcome, PluginError, RouteKind, Transport,
};

fn outcome(t: &twilio::Twilio, req: &Req) -> Result<HttpOutcome, PluginError> {
    t.handle_http(&req.http())
}

fn err_kind(t: &twilio::Twilio, req: &Req) -> ErrorKind {
    match outcome(t, req) {
        Ok(o) => panic!("expected an error, got {o:?}"),
        Err(e) => e.kind,
    }
}

#[test]
fn describe_connect_mode() {
    let info = connect().describe().unwrap();
    let routes: Vec<_> = info
        .routes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.kind))
        .collect();
    assert_eq!(
        routes,
        [
            ("POST", "inbound", RouteKind::HTTP),
            ("POST", "status", RouteKind::HTTP),
            ("GET", "stream/{session_id}", RouteKind::WEBSOCKET),
        ]
    );
    assert!(info.routes[2].binds_session());
    assert_eq!(
        info.capabilities,
        Capabilities::OUTBOUND_AUDIO
            .with(Capabilities::MARKS)
            .with(Capabilities::CLEAR)
            .with(Capabilities::DTMF)
            .with(Capabilities::HANGUP)
    );
    assert_eq!(info.outbound_format.encoding.as_str(), "audio/x-mulaw");
    assert_eq!(info.outbound_format.sample_rate, 8000);
    assert_eq!(info.outbound_format.channels, 1);
    assert_eq!(info.frame_ms, 20);
    assert_eq!(info.channel, Channel::PSTN);
}

#[test]
fn describe_listen_mode() {
    let info = listen().describe().unwrap();
    assert_eq!(info.capabilities, Capabilities::HANGUP);
    assert_eq!(info.routes.len(), 3);
}

#[test]
fn signed_webhook_reports_a_new_call() {
    let mut form = voice_form();
    form.push(("SipHeader_X-Tag", "a"));
    form.push(("SipHeader_X-Tag", "b"));
    let req = Req::form("inbound", &form).signed();
    let HttpOutcome::NewCall(call) = outcome(&connect(), &req).unwrap() else {
        panic!("not a new call");
    };
    assert_eq!(call.call_id.as_str(), CALL_SID);
    assert_eq!(call.account_id.as_str(), ACCOUNT_SID);
    assert_eq!(call.from.as_str(), "+14158675309");
    assert_eq!(call.to.as_str(), "+18005551212");
    assert_eq!(call.direction.as_str(), "inbound");
    assert_eq!(call.channel, Channel::PSTN);
    assert!(call.custom_params.is_empty());
    assert!(call.admin_token.is_none());
    assert_eq!(call.remote_addr.as_str(), "203.0.113.7:41234");
    // Every other field, in order, repeated names kept.
    let attributes: Vec<_> = call
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    assert_eq!(
        attributes,
        [
            ("ApiVersion", "2010-04-01"),
            ("CallStatus", "ringing"),
            ("Called", "+18005551212"),
            ("CalledCountry", "US"),
            ("Caller", "+14158675309"),
            ("CallerName", "JANE DOE"),
            ("FromCity", "SAN FRANCISCO"),
            ("FromCountry", "US"),
            ("FromState", "CA"),
            ("StirVerstat", "TN-Validation-Passed-A"),
            ("ToCountry", "US"),
            ("SipHeader_X-Tag", "a"),
            ("SipHeader_X-Tag", "b"),
        ]
    );
    assert_eq!(
        lookup(&call.attributes, "StirVerstat"),
        Some("TN-Validation-Passed-A")
    );
}

#[test]
fn form_with_charset_and_query_string() {
    let mut req = Req::form("inbound", &voice_form());
    req.headers = vec![voicegate_plugin_api::KeyValue::new(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    req.query = "tenant=acme&x=%27q%27".into();
    let req = req.signed();
    assert!(matches!(
        outcome(&connect(), &req),
        Ok(HttpOutcome::NewCall(_))
    ));
}

#[test]
fn missing_signature_is_unauthorized() {
    let req = Req::form("inbound", &voice_form());
    let err = outcome(&connect(), &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
    assert!(err.message.contains("X-Twilio-Signature"), "{err}");
}

#[test]
fn bad_signatures_are_unauthorized() {
    let t = connect();
    // Another token.
    let url = format!("{PUBLIC_URL}{INBOUND_PATH}");
    let req = Req::form("inbound", &voice_form()).signed_with("not-the-token", &url);
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
    // Another URL (a different host or path).
    let req = Req::form("inbound", &voice_form())
        .signed_with(TOKEN, "https://evil.example.com/api/voice/twilio/inbound");
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
    // A parameter changed after signing.
    let mut req = Req::form("inbound", &voice_form()).signed();
    req.body = String::from_utf8(req.body)
        .unwrap()
        .replace("JANE+DOE", "JOHN+DOE")
        .into_bytes();
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
    // A parameter added after signing.
    let mut req = Req::form("inbound", &voice_form()).signed();
    req.body.extend_from_slice(b"&Extra=1");
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
    // Garbage.
    let req = Req::form("inbound", &voice_form()).header("x-twilio-signature", "bm9wZQ==");
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
}

#[test]
fn port_forms_of_the_url_are_accepted() {
    let t = connect();
    for url in [
        format!("https://voice.example.com:443{INBOUND_PATH}"),
        format!("https://voice.example.com{INBOUND_PATH}"),
    ] {
        let req = Req::form("inbound", &voice_form()).signed_with(TOKEN, &url);
        assert!(
            matches!(outcome(&t, &req), Ok(HttpOutcome::NewCall(_))),
            "{url}"
        );
    }
    // A public URL with a non-default port: Twilio may drop it when signing.
    let mut req = Req::form("inbound", &voice_form());
    req.public_url = "https://voice.example.com:8443".into();
    let req = req.signed_with(TOKEN, &format!("https://voice.example.com{INBOUND_PATH}"));
    assert!(matches!(outcome(&t, &req), Ok(HttpOutcome::NewCall(_))));
    // But a different non-default port is not accepted.
    let req = Req::form("inbound", &voice_form()).signed_with(
        TOKEN,
        &format!("https://voice.example.com:8443{INBOUND_PATH}"),
    );
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
}

#[test]
fn protocol_vector_1_passes_the_signature_then_fails_the_sids() {
    // protocols.md b.4 row 1, through the webhook: the signature is right,
    // but `CA1234567890ABCDE` is not a real CallSid.
    let t = twilio(r#"{"auth_token":"12345"}"#);
    let mut req = Req::form(
        "inbound",
        &[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ],
    )
    .header("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    req.public_url = "https://mycompany.com".into();
    req.full_path = "/myapp.php".into();
    req.query = "foo=1&bar=2".into();
    let err = outcome(&t, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{err}");
    assert!(err.message.contains("CallSid"), "{err}");
}

#[test]
fn json_body_is_checked_through_body_sha256() {
    // protocols.md b.4 row 6.
    let t = twilio(r#"{"auth_token":"12345"}"#);
    let mut req = Req::form("inbound", &[]);
    req.headers = vec![
        voicegate_plugin_api::KeyValue::new("content-type", "application/json"),
        voicegate_plugin_api::KeyValue::new("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
    ];
    req.body = br#"{"property": "value", "boolean": true}"#.to_vec();
    req.public_url = "https://mycompany.com".into();
    req.full_path = "/myapp.php".into();
    req.query =
        "foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
            .into();
    // Authentic, but not a voice webhook.
    let err = outcome(&t, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{err}");
    req.body = br#"{"property": "value", "boolean": false}"#.to_vec();
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
    // A JSON body without bodySHA256 cannot be authenticated.
    req.query = "foo=1&bar=2".into();
    assert_eq!(err_kind(&t, &req), ErrorKind::UNAUTHORIZED);
}

#[test]
fn validation_off_accepts_unsigned_requests() {
    let t = twilio(r#"{"validate_signatures":false}"#);
    let req = Req::form("inbound", &voice_form());
    assert!(matches!(outcome(&t, &req), Ok(HttpOutcome::NewCall(_))));
    let req = Req::form("inbound", &voice_form()).header("x-twilio-signature", "wrong");
    assert!(matches!(outcome(&t, &req), Ok(HttpOutcome::NewCall(_))));
}

#[test]
fn malformed_sids_are_invalid_input() {
    let t = connect();
    let cases: [(&str, &str); 6] = [
        ("CallSid", "CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3"),
        ("CallSid", "CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3g"),
        ("CallSid", "AC5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3f"),
        ("AccountSid", "AC7b1f3e9c2d4a6b8e0f1c3d5e7a9b2c4d00"),
        ("AccountSid", "CA7b1f3e9c2d4a6b8e0f1c3d5e7a9b2c4d"),
        ("AccountSid", ""),
    ];
    for (key, value) in cases {
        let form: Vec<_> = voice_form()
            .into_iter()
            .map(|(k, v)| (k, if k == key { value } else { v }))
            .collect();
        let req = Req::form("inbound", &form).signed();
        let err = outcome(&t, &req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{key}={value}: {err}");
        assert!(err.message.contains(key), "{err}");
    }
    for missing in ["CallSid", "AccountSid"] {
        let form: Vec<_> = voice_form()
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
        let req = Req::form("inbound", &form).signed();
        let err = outcome(&t, &req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
        assert!(err.message.contains(missing), "{err}");
    }
    let mut form = voice_form();
    form.push(("CallSid", "CA00000000000000000000000000000000"));
    let req = Req::form("inbound", &form).signed();
    assert_eq!(err_kind(&t, &req), ErrorKind::INVALID_INPUT);
}

#[test]
fn status_callback_final_statuses_end_the_call() {
    let t = connect();
    for status in ["completed", "busy", "failed", "no-answer", "canceled"] {
        let req = Req::form(
            "status",
            &[
                ("AccountSid", ACCOUNT_SID),
                ("CallSid", CALL_SID),
                ("CallStatus", status),
                ("CallDuration", "42"),
            ],
        )
        .signed();
        let HttpOutcome::CallEnded(ended) = outcome(&t, &req).unwrap() else {
            panic!("{status}: not CallEnded");
        };
        assert_eq!(ended.call_id.as_str(), CALL_SID);
        assert_eq!(ended.reason.as_str(), status);
        assert_eq!(ended.response.status, 204);
        assert!(ended.response.body.is_empty());
    }
}

#[test]
fn status_callback_other_statuses_are_acknowledged() {
    let t = connect();
    for status in ["queued", "initiated", "ringing", "in-progress"] {
        let req = Req::form(
            "status",
            &[
                ("AccountSid", ACCOUNT_SID),
                ("CallSid", CALL_SID),
                ("CallStatus", status),
            ],
        )
        .signed();
        let HttpOutcome::Respond(resp) = outcome(&t, &req).unwrap() else {
            panic!("{status}: not Respond");
        };
        assert_eq!(resp.status, 204);
    }
    let unsigned = Req::form(
        "status",
        &[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", CALL_SID),
            ("CallStatus", "completed"),
        ],
    );
    assert_eq!(err_kind(&t, &unsigned), ErrorKind::UNAUTHORIZED);
    let no_status = Req::form(
        "status",
        &[("AccountSid", ACCOUNT_SID), ("CallSid", CALL_SID)],
    )
    .signed();
    assert_eq!(err_kind(&t, &no_status), ErrorKind::INVALID_INPUT);
}

#[test]
fn unknown_route_and_wrong_method() {
    let t = connect();
    let req = Req::form("elsewhere", &voice_form()).signed();
    assert_eq!(err_kind(&t, &req), ErrorKind::NOT_FOUND);
    let mut req = Req::form("inbound", &voice_form()).signed();
    req.method = "GET".into();
    assert_eq!(err_kind(&t, &req), ErrorKind::INVALID_INPUT);
}
