//! The transport as the host sees it: routes, the page and its files,
//! `whoami`, and which WebSocket upgrades become calls.

use browser::Browser;
use serde_json::Value;
use voicegate_plugin_api::{
    testkit, Capabilities, Channel, ErrorKind, HttpOutcome, HttpRequest, HttpResponse, KeyValue,
    PluginError, ROption, RSlice, RStr, RouteKind, StreamOpen, Transport,
};

const PUBLIC_URL: &str = "http://127.0.0.1:8080";
const ALICE_TOKEN: &str = "alice-token-0123456789";

fn instance(config_json: &str) -> Browser {
    match Browser::new(testkit::context("browser", PUBLIC_URL, config_json)) {
        Ok(b) => b,
        Err(e) => panic!("config {config_json}: {e}"),
    }
}

fn with_request<R>(
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    f: impl FnOnce(&HttpRequest<'_>) -> R,
) -> R {
    let headers: Vec<KeyValue> = headers.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
    let full_path = if path.is_empty() {
        "/api/voice/browser/".to_owned()
    } else {
        format!("/api/voice/browser/{path}")
    };
    let req = HttpRequest {
        method: RStr::from("GET"),
        path: RStr::from(path.trim_matches('/')),
        full_path: RStr::from(full_path.as_str()),
        query: RStr::from(query),
        headers: RSlice::from_slice(&headers),
        body: RSlice::from_slice(&[]),
        remote_addr: RStr::from("127.0.0.1:40000"),
        public_url: RStr::from(PUBLIC_URL),
        peer_trusted: false,
    };
    f(&req)
}

fn get(b: &Browser, path: &str, query: &str) -> Result<HttpResponse, PluginError> {
    with_request(path, query, &[], |req| match b.handle_http(req)? {
        HttpOutcome::Respond(resp) => Ok(resp),
        other => panic!("{other:?}"),
    })
}

fn header<'a>(resp: &'a HttpResponse, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .find(|kv| kv.key.eq_ignore_ascii_case(name))
        .map(|kv| kv.value.as_str())
}

fn open(b: &Browser, query: &str, headers: &[(&str, &str)]) -> Result<(), PluginError> {
    with_request("ws", query, headers, |req| {
        b.open_stream(&StreamOpen {
            request: *req,
            session_id: RStr::from(""),
            call: ROption::RNone,
        })
        .map(|_| ())
    })
}

#[test]
fn describes_a_browser_transport_that_opens_its_own_calls() {
    let info = instance(r#"{"allow_anonymous":true}"#).describe().unwrap();
    assert_eq!(info.channel, Channel::BROWSER);
    assert_eq!(info.outbound_format.sample_rate, 16000);
    assert_eq!(info.outbound_format.channels, 1);
    assert_eq!(info.frame_ms, 20);
    for cap in [
        Capabilities::OUTBOUND_AUDIO,
        Capabilities::MARKS,
        Capabilities::CLEAR,
        Capabilities::HANGUP,
        Capabilities::EVENTS,
    ] {
        assert!(info.capabilities.contains(cap), "{cap:?}");
    }
    assert!(!info.capabilities.contains(Capabilities::DTMF));
    let ws: Vec<_> = info
        .routes
        .iter()
        .filter(|r| r.kind == RouteKind::WEBSOCKET)
        .collect();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].path.as_str(), "ws");
    assert!(!ws[0].binds_session(), "the stream must open its own call");
    let http: Vec<&str> = info
        .routes
        .iter()
        .filter(|r| r.kind == RouteKind::HTTP)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(http, ["", "app.js", "worklet.js", "style.css", "whoami"]);
}

#[test]
fn serves_the_page_and_its_files() {
    let b = instance(r#"{"allow_anonymous":true}"#);
    let page = get(&b, "", "").unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&page, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    // Relative URLs only, so any instance name works.
    for needle in [r#"src="app.js""#, r#"href="style.css""#] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    for (path, content_type, needle) in [
        (
            "app.js",
            "text/javascript; charset=utf-8",
            "addModule('worklet.js')",
        ),
        (
            "worklet.js",
            "text/javascript; charset=utf-8",
            "registerProcessor('pcm-capture'",
        ),
        ("style.css", "text/css; charset=utf-8", ".log"),
    ] {
        let resp = get(&b, path, "").unwrap();
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(header(&resp, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
        let body = String::from_utf8(resp.body.to_vec()).unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
        // Nothing from another origin (no CDN can be reached).
        assert!(!body.contains("://"), "{path} names an absolute URL");
    }
    let err = get(&b, "secret.txt", "").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NOT_FOUND);
}

#[test]
fn the_root_without_a_slash_redirects_keeping_the_query() {
    let b = instance(r#"{"allow_anonymous":true}"#);
    let req_headers: Vec<KeyValue> = Vec::new();
    let req = HttpRequest {
        method: RStr::from("GET"),
        path: RStr::from(""),
        full_path: RStr::from("/api/voice/web"),
        query: RStr::from("token=abc"),
        headers: RSlice::from_slice(&req_headers),
        body: RSlice::from_slice(&[]),
        remote_addr: RStr::from("127.0.0.1:1"),
        public_url: RStr::from(PUBLIC_URL),
        peer_trusted: false,
    };
    let HttpOutcome::Respond(resp) = b.handle_http(&req).unwrap() else {
        panic!("not a response")
    };
    assert_eq!(resp.status, 308);
    assert_eq!(header(&resp, "location"), Some("/api/voice/web/?token=abc"));
}

#[test]
fn whoami_says_who_or_why_not() {
    let anon = instance(r#"{"allow_anonymous":true}"#);
    let resp = get(&anon, "whoami", "").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["identity"], "client:anonymous@127.0.0.1");
    assert_eq!(body["source"], "anonymous");
    assert_eq!(body["versions"], serde_json::json!([1]));

    let tokens = instance(&format!(r#"{{"tokens":{{"alice":"{ALICE_TOKEN}"}}}}"#));
    let resp = get(&tokens, "whoami", &format!("token={ALICE_TOKEN}")).unwrap();
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["identity"], "client:alice");
    let resp = get(&tokens, "whoami", "").unwrap();
    assert_eq!(resp.status, 403);
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("?token="),
        "{body}"
    );
}

#[test]
fn upgrades_need_an_identity_and_an_allowed_origin() {
    let tokens = instance(&format!(
        r#"{{"tokens":{{"alice":"{ALICE_TOKEN}"}},"identity_header":"x-forwarded-user"}}"#
    ));
    let err = open(&tokens, "", &[]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
    assert!(err.message.contains("x-forwarded-user"), "{err}");
    assert!(open(&tokens, &format!("token={ALICE_TOKEN}"), &[]).is_ok());
    assert!(open(&tokens, "", &[("x-forwarded-user", "bob")]).is_ok());
    assert_eq!(
        open(&tokens, "token=guess-guess-guess", &[])
            .unwrap_err()
            .kind,
        ErrorKind::UNAUTHORIZED
    );

    let anon = instance(r#"{"allow_anonymous":true}"#);
    assert!(open(&anon, "", &[]).is_ok());
    let same_origin = [
        ("origin", "http://localhost:8080"),
        ("host", "localhost:8080"),
    ];
    assert!(open(&anon, "", &same_origin).is_ok());
    let err = open(
        &anon,
        "",
        &[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
    assert!(err.message.contains("allowed_origins"), "{err}");
}

#[test]
fn calls_get_distinct_ids() {
    let b = instance(r#"{"allow_anonymous":true}"#);
    let start = |b: &Browser| {
        with_request("ws", "", &[], |req| {
            let mut stream = b
                .open_stream(&StreamOpen {
                    request: *req,
                    session_id: RStr::from(""),
                    call: ROption::RNone,
                })
                .unwrap();
            let mut rec = testkit::Recorded::default();
            rec.events(|out| {
                voicegate_plugin_api::MediaStream::on_frame(
                    &mut stream,
                    voicegate_plugin_api::WsFrame::Text(RStr::from(
                        r#"{"type":"hello","version":1}"#,
                    )),
                    out,
                )
            })
            .unwrap();
            match rec.events.remove(0) {
                voicegate_plugin_api::StreamEvent::Start(s) => s.call_id.to_string(),
                other => panic!("{other:?}"),
            }
        })
    };
    let (a, c) = (start(&b), start(&b));
    assert!(a.starts_with("web-"), "{a}");
    assert_ne!(a, c);
}

#[test]
fn no_webhook_calls() {
    let b = instance(r#"{"allow_anonymous":true}"#);
    let decision = voicegate_plugin_api::CallDecision::Reject(voicegate_plugin_api::Rejected {
        cause: voicegate_plugin_api::RejectCause::POLICY,
        reasons: Default::default(),
        message: "no".into(),
    });
    let err = b.answer_call(&Default::default(), &decision).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNSUPPORTED);
}
