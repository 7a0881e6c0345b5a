//! Shared helpers for the integration tests: instances, signed requests,
//! fixtures.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ed25519_dalek::{Signer as _, SigningKey};
use telnyx::Telnyx;
use voicegate_plugin_api::{
    testkit, CallRequest, Channel, HttpRequest, KeyValue, RSlice, RStr, Transport,
};

pub const PUBLIC_URL: &str = "https://voice.example.com";
pub const INBOUND_PATH: &str = "/api/voice/telnyx/inbound";

pub const ACCOUNT_SID: &str = "f5586561-8ff0-4291-a51b-c7dfe4139ff9";
pub const CALL_SID: &str = "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ";
pub const STREAM_ID: &str = "32de0dea-53cb-4b21-89a4-9e1819c043bc";
pub const SESSION_ID: &str =
    "telnyx-v39X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbV-4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a";

/// The account's signing key in these tests: a fixed seed, so the public
/// key in configs is stable.
pub fn account_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Another account's key.
pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[8; 32])
}

/// The base64 public key the portal would show for [`account_key`].
pub fn public_key() -> String {
    STANDARD.encode(account_key().verifying_key().to_bytes())
}

/// An instance from a config table given as JSON.
pub fn telnyx(config_json: &str) -> Telnyx {
    match Telnyx::new(testkit::context("telnyx", PUBLIC_URL, config_json)) {
        Ok(t) => t,
        Err(e) => panic!("config {config_json}: {e}"),
    }
}

/// The default instance: signatures checked with [`public_key`].
pub fn default_instance() -> Telnyx {
    telnyx(&format!(r#"{{"public_key":"{}"}}"#, public_key()))
}

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Telnyx's signature: Ed25519 over `"{timestamp}|{body}"`, base64.
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("{timestamp}|").into_bytes();
    message.extend_from_slice(body);
    STANDARD.encode(key.sign(&message).to_bytes())
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
    /// A form POST to the route `path` below the instance prefix.
    pub fn form(path: &str, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self {
            method: "POST".into(),
            path: path.into(),
            full_path: format!("/api/voice/telnyx/{path}"),
            query: String::new(),
            headers: vec![KeyValue::new(
                "content-type",
                "application/x-www-form-urlencoded",
            )],
            body: body.into_bytes(),
        }
    }

    /// A GET with the pairs in the query.
    pub fn get(path: &str, pairs: &[(&str, &str)]) -> Self {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self {
            method: "GET".into(),
            path: path.into(),
            full_path: format!("/api/voice/telnyx/{path}"),
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A WebSocket upgrade to the session's stream route.
    pub fn upgrade(session_id: &str) -> Self {
        Self {
            method: "GET".into(),
            path: format!("stream/{session_id}"),
            full_path: format!("/api/voice/telnyx/stream/{session_id}"),
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

    /// Signs as Telnyx would, with `key` at `timestamp`.
    pub fn signed_with(self, key: &SigningKey, timestamp: u64) -> Self {
        let ts = timestamp.to_string();
        let sig = sign(key, &ts, &self.body);
        self.header("telnyx-timestamp", &ts)
            .header("telnyx-signature-ed25519", &sig)
    }

    /// Signed now with [`account_key`].
    pub fn signed(self) -> Self {
        self.signed_with(&account_key(), now_secs())
    }
}

/// A realistic TeXML voice webhook form (docs/protocols.md d.1 and
/// Telnyx's "TeXML instruction fetching").
pub fn voice_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL_SID),
        ("CallSidLegacy", CALL_SID),
        ("CallStatus", "ringing"),
        ("ConnectionId", "1568109700606592442"),
        ("Direction", "inbound"),
        ("From", "+13122010094"),
        ("To", "+13122123456"),
        ("CallerId", "JANE DOE"),
        ("ShakenStirAttestation", "A"),
    ]
}

/// The call the webhook of [`voice_form`] reports.
pub fn voice_call() -> CallRequest {
    CallRequest {
        transport: "telnyx".into(),
        call_id: CALL_SID.into(),
        account_id: ACCOUNT_SID.into(),
        from: "+13122010094".into(),
        to: "+13122123456".into(),
        direction: "inbound".into(),
        channel: Channel::PSTN,
        ..CallRequest::default()
    }
}

/// The golden session, in order.
pub const FIXTURES: [(&str, &str); 8] = [
    ("connected", include_str!("../fixtures/01-connected.json")),
    ("start", include_str!("../fixtures/02-start.json")),
    ("media 1", include_str!("../fixtures/03-media.json")),
    ("media 2", include_str!("../fixtures/04-media.json")),
    ("dtmf", include_str!("../fixtures/05-dtmf.json")),
    ("mark", include_str!("../fixtures/06-mark.json")),
    ("error", include_str!("../fixtures/07-error.json")),
    ("stop", include_str!("../fixtures/08-stop.json")),
];

/// A session in L16 at 16 kHz (what Call Control's `stream_codec = "L16"`
/// produces).
pub const L16_START: &str = include_str!("../fixtures/l16-start.json");
/// One 20 ms L16 frame at 16 kHz, big-endian: a 440 Hz sine of amplitude 8000.
pub const L16_MEDIA: &str = include_str!("../fixtures/l16-media.json");

pub fn fixture(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, json)| json.trim_end())
        .unwrap_or_else(|| panic!("no fixture {name}"))
}
