//! Shared helpers for the integration tests: instances, signed requests,
//! fixtures.

#![allow(dead_code)] // each test binary uses a different subset

use twilio::{Signer, Twilio};
use voicegate_plugin_api::{
    testkit, CallRequest, Channel, HttpRequest, KeyValue, RSlice, RStr, Transport,
};

pub const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const PUBLIC_URL: &str = "https://voice.example.com";
pub const INBOUND_PATH: &str = "/api/voice/twilio/inbound";
pub const STATUS_PATH: &str = "/api/voice/twilio/status";

pub const ACCOUNT_SID: &str = "AC7b1f3e9c2d4a6b8e0f1c3d5e7a9b2c4d";
pub const CALL_SID: &str = "CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3f";
pub const STREAM_SID: &str = "MZ9c4e1a7b3d5f2e8c0a6b4d2f1e3a5c7b";
pub const SESSION_ID: &str = "twilio-CA5e2b9d1f7c3a4e6b8d0f2a4c6e8b1d3f-q8Xv3KpT2mWz";

/// An instance from a config table given as JSON.
pub fn twilio(config_json: &str) -> Twilio {
    match Twilio::new(testkit::context("twilio", PUBLIC_URL, config_json)) {
        Ok(t) => t,
        Err(e) => panic!("config {config_json}: {e}"),
    }
}

/// The default instance: connect mode, signatures checked with [`TOKEN`].
pub fn connect() -> Twilio {
    twilio(&format!(r#"{{"auth_token":"{TOKEN}"}}"#))
}

/// A listen-mode instance.
pub fn listen() -> Twilio {
    twilio(&format!(r#"{{"auth_token":"{TOKEN}","mode":"listen"}}"#))
}

/// An owned HTTP request that lends itself as [`HttpRequest`].
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub full_path: String,
    pub query: String,
    pub headers: Vec<KeyValue>,
    pub body: Vec<u8>,
    pub public_url: String,
}

impl Req {
    /// A form POST to the route `path` below the instance prefix.
    pub fn form(path: &str, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self {
            method: "POST".into(),
            path: path.into(),
            full_path: format!("/api/voice/twilio/{path}"),
            query: String::new(),
            headers: vec![KeyValue::new(
                "content-type",
                "application/x-www-form-urlencoded",
            )],
            body: body.into_bytes(),
            public_url: PUBLIC_URL.into(),
        }
    }

    /// A WebSocket upgrade to the session's stream route.
    pub fn upgrade(session_id: &str) -> Self {
        Self {
            method: "GET".into(),
            path: format!("stream/{session_id}"),
            full_path: format!("/api/voice/twilio/stream/{session_id}"),
            query: String::new(),
            headers: vec![KeyValue::new("upgrade", "websocket")],
            body: Vec::new(),
            public_url: PUBLIC_URL.into(),
        }
    }

    pub fn http(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: RStr::from(self.method.as_str()),
            path: RStr::from(self.path.as_str()),
            full_path: RStr::from(self.full_path.as_str()),
            query: RStr::from(self.query.as_str()),
            headers: RSlice::from_slice(&self.headers),
            body: RSlice::from_slice(&self.body),
            remote_addr: RStr::from("203.0.113.7:41234"),
            public_url: RStr::from(self.public_url.as_str()),
            peer_trusted: false,
        }
    }

    pub fn header(mut self, key: &str, value: &str) -> Self {
        self.headers.push(KeyValue::new(key, value));
        self
    }

    /// The form pairs of the body, decoded.
    pub fn pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// Signs as Twilio would: the public URL and the form parameters.
    pub fn signed_with(self, token: &str, url: &str) -> Self {
        let pairs = self.pairs();
        let params: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect();
        let sig = Signer::new(token).sign(url, &params);
        self.header("x-twilio-signature", &sig)
    }

    /// Signed with [`TOKEN`] over the public request URL.
    pub fn signed(self) -> Self {
        let url = self.http().public_request_url();
        self.signed_with(TOKEN, &url)
    }
}

/// A realistic voice webhook form.
pub fn voice_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL_SID),
        ("CallStatus", "ringing"),
        ("Called", "+18005551212"),
        ("CalledCountry", "US"),
        ("Caller", "+14158675309"),
        ("CallerName", "JANE DOE"),
        ("Direction", "inbound"),
        ("From", "+14158675309"),
        ("FromCity", "SAN FRANCISCO"),
        ("FromCountry", "US"),
        ("FromState", "CA"),
        ("StirVerstat", "TN-Validation-Passed-A"),
        ("To", "+18005551212"),
        ("ToCountry", "US"),
    ]
}

/// The call the webhook of [`voice_form`] reports.
pub fn voice_call() -> CallRequest {
    CallRequest {
        transport: "twilio".into(),
        call_id: CALL_SID.into(),
        account_id: ACCOUNT_SID.into(),
        from: "+14158675309".into(),
        to: "+18005551212".into(),
        direction: "inbound".into(),
        channel: Channel::PSTN,
        ..CallRequest::default()
    }
}

/// The golden session, in order.
pub const FIXTURES: [(&str, &str); 7] = [
    ("connected", include_str!("../fixtures/01-connected.json")),
    ("start", include_str!("../fixtures/02-start.json")),
    ("media 1", include_str!("../fixtures/03-media.json")),
    ("media 2", include_str!("../fixtures/04-media.json")),
    ("dtmf", include_str!("../fixtures/05-dtmf.json")),
    ("mark", include_str!("../fixtures/06-mark.json")),
    ("stop", include_str!("../fixtures/07-stop.json")),
];

pub fn fixture(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, json)| json.trim_end())
        .unwrap_or_else(|| panic!("no fixture {name}"))
}
