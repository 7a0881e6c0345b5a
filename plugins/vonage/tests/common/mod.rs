//! Shared helpers for the integration tests: instances, signed requests,
//! fixtures.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use voicegate_plugin_api::{
    testkit, CallRequest, Channel, HttpRequest, KeyValue, RSlice, RStr, Transport,
};
use vonage::{
    jwt::{payload_hash, query_json, sign},
    Vonage,
};

pub const PUBLIC_URL: &str = "https://voice.example.com";
pub const SECRET: &str = "e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4";
pub const API_KEY: &str = "abcd1234";
pub const APPLICATION_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

pub const UUID: &str = "63f61863-4a51-4f6b-86e1-46edebcf9356";
pub const CONVERSATION_UUID: &str = "CON-f972836a-550f-45fa-956c-12a2ab5b7d22";
pub const SESSION_ID: &str =
    "vonage-63f618634a514f6b86e146edebcf9356-5b1e0c2d9a8f7e6d5c4b3a2918070605";
/// The stream token of [`SESSION_ID`] under [`SECRET`], computed
/// independently (Python `hmac`).
pub const STREAM_TOKEN: &str = "dAS7D2ddicU_Tm37wR4XQf4RBn2AWasxL-xwI8aAJCk";

/// An instance from a config table given as JSON.
pub fn vonage(config_json: &str) -> Vonage {
    match Vonage::new(testkit::context("vonage", PUBLIC_URL, config_json)) {
        Ok(t) => t,
        Err(e) => panic!("config {config_json}: {e}"),
    }
}

/// The default instance: signatures checked with [`SECRET`], 16 kHz,
/// stream tokens on.
pub fn default_instance() -> Vonage {
    vonage(&format!(r#"{{"signature_secret":"{SECRET}"}}"#))
}

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
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
}

impl Req {
    /// A GET to the route `path` with this raw query.
    pub fn get(path: &str, query: &str) -> Self {
        Self {
            method: "GET".into(),
            path: path.into(),
            full_path: format!("/api/voice/vonage/{path}"),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON POST to the route `path`.
    pub fn post(path: &str, body: &str) -> Self {
        Self {
            method: "POST".into(),
            path: path.into(),
            full_path: format!("/api/voice/vonage/{path}"),
            query: String::new(),
            headers: vec![KeyValue::new("content-type", "application/json")],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A WebSocket upgrade to the session's stream route.
    pub fn upgrade(session_id: &str) -> Self {
        Self {
            method: "GET".into(),
            path: format!("stream/{session_id}"),
            full_path: format!("/api/voice/vonage/stream/{session_id}"),
            query: String::new(),
            headers: vec![KeyValue::new("upgrade", "websocket")],
            body: Vec::new(),
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
            public_url: RStr::from(PUBLIC_URL),
            peer_trusted: false,
        }
    }

    pub fn header(mut self, key: &str, value: &str) -> Self {
        self.headers.push(KeyValue::new(key, value));
        self
    }

    /// The payload hash Vonage would sign for this request.
    pub fn payload_hash(&self) -> String {
        if self.method == "GET" {
            payload_hash(query_json(&self.query).as_bytes())
        } else {
            payload_hash(&self.body)
        }
    }

    /// Signs with `secret` and these claims (a `payload_hash` claim is
    /// added unless present).
    pub fn signed_with(self, secret: &str, mut claims: Value) -> Self {
        if claims.get("payload_hash").is_none() {
            claims["payload_hash"] = Value::from(self.payload_hash());
        }
        let token = sign(secret, &claims);
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Signed now with [`SECRET`], as Vonage does.
    pub fn signed(self) -> Self {
        self.signed_with(SECRET, default_claims(now_secs()))
    }
}

/// The claims of a Vonage signed webhook issued at `iat`.
pub fn default_claims(iat: u64) -> Value {
    json!({
        "iat": iat,
        "jti": "6b5c1d1e-0000-4000-8000-1234567890ab",
        "iss": "Vonage",
        "api_key": API_KEY,
        "application_id": APPLICATION_ID,
    })
}

/// The answer webhook's query (docs/protocols.md e.1).
pub const ANSWER_QUERY: &str = include_str!("../fixtures/answer-query.txt");
/// A final status event.
pub const EVENT_COMPLETED: &str = include_str!("../fixtures/event-completed.json");
/// A non-final status event.
pub const EVENT_ANSWERED: &str = include_str!("../fixtures/event-answered.json");

pub fn answer_query() -> &'static str {
    ANSWER_QUERY.trim_end()
}

/// The call the answer webhook reports.
pub fn voice_call() -> CallRequest {
    CallRequest {
        transport: "vonage".into(),
        call_id: UUID.into(),
        account_id: API_KEY.into(),
        from: "+447700900001".into(),
        to: "+447700900000".into(),
        direction: "inbound".into(),
        channel: Channel::PSTN,
        ..CallRequest::default()
    }
}

/// The golden session's text messages.
pub const CONNECTED: &str = include_str!("../fixtures/01-connected.json");
pub const DTMF: &str = include_str!("../fixtures/03-dtmf.json");
pub const NOTIFY: &str = include_str!("../fixtures/04-notify.json");
pub const CLEARED: &str = include_str!("../fixtures/05-cleared.json");
/// 20 ms at 16 kHz, little-endian: a 440 Hz sine of amplitude 8000.
pub const AUDIO: &[u8] = include_bytes!("../fixtures/02-audio.bin");
