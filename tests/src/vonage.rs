//! Plays Vonage: signs webhooks with an HS256 JWT as Vonage's signed
//! webhooks do (`payload_hash` included), and speaks the Voice API
//! WebSocket protocol over a real socket (a JSON `websocket:connected`
//! first, then binary 16-bit little-endian PCM).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

/// The account's signature secret in the test configs.
pub const SIGNATURE_SECRET: &str = "e2e-vonage-signature-secret-0123456789";
/// The account key in the JWT claims.
pub const API_KEY: &str = "e2e0a1b2";
/// The Vonage application.
pub const APPLICATION_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab";

/// A call leg uuid.
pub fn uuid(n: u64) -> String {
    format!("{:08x}-4a51-4f6b-86e1-{n:012x}", n)
}

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An HS256 JWT over `claims`.
pub fn jwt(secret: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// How a webhook is signed.
#[derive(Debug, Clone, Copy)]
pub enum Signing {
    /// As Vonage does.
    Valid,
    /// No `Authorization` header.
    Missing,
    /// Signed with another secret.
    WrongSecret,
    /// Issued ten minutes ago.
    Stale,
    /// Correctly signed, then a parameter is changed.
    Tampered,
    /// An unsigned token claiming `alg: none`.
    AlgNone,
}

fn authorization(signing: Signing, payload_hash: &str) -> Option<String> {
    let iat = match signing {
        Signing::Stale => now_secs() - 600,
        _ => now_secs(),
    };
    let claims = json!({
        "iat": iat,
        "jti": format!("e2e-{iat}-{payload_hash}"),
        "iss": "Vonage",
        "api_key": API_KEY,
        "application_id": APPLICATION_ID,
        "payload_hash": payload_hash,
    });
    let token = match signing {
        Signing::Missing => return None,
        Signing::WrongSecret => jwt("not the signature secret", &claims),
        Signing::AlgNone => format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        ),
        _ => jwt(SIGNATURE_SECRET, &claims),
    };
    Some(format!("Bearer {token}"))
}

/// The answer webhook of an inbound call, a GET with the documented query
/// parameters; returns (status, body).
pub async fn answer(
    base: &str,
    instance: &str,
    call_uuid: &str,
    from: &str,
    to: &str,
    signing: Signing,
) -> (u16, String) {
    let conversation = format!("CON-{call_uuid}");
    let params = [
        ("to", to),
        ("from", from),
        ("uuid", call_uuid),
        ("conversation_uuid", conversation.as_str()),
        ("endpoint_type", "phone"),
    ];
    // payload_hash: the parameters as a compact JSON object, in order.
    let mut object = String::from("{");
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            object.push(',');
        }
        object.push_str(&format!("{}:{}", Value::from(*k), Value::from(*v)));
    }
    object.push('}');
    let hash = sha256_hex(object.as_bytes());
    let query = crate::carriers::form_encode(&params);
    let query = match signing {
        Signing::Tampered => query.replacen("from=", "from=1900555", 1),
        _ => query,
    };
    let mut req = crate::host::client().get(format!("{base}/api/voice/{instance}/answer?{query}"));
    if let Some(auth) = authorization(signing, &hash) {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.expect("answer webhook");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// An event webhook (POST JSON); returns (status, body).
pub async fn event(base: &str, instance: &str, body: &Value, signing: Signing) -> (u16, String) {
    let body = body.to_string();
    let mut req = crate::host::client()
        .post(format!("{base}/api/voice/{instance}/event"))
        .header("content-type", "application/json")
        .body(body.clone());
    if let Some(auth) = authorization(signing, &sha256_hex(body.as_bytes())) {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.expect("event webhook");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The `connect` action's WebSocket endpoint in an NCCO.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `uri`.
    pub uri: String,
    /// `content-type`.
    pub content_type: String,
    /// `headers`, echoed in the first message.
    pub headers: Map<String, Value>,
}

/// Finds the WebSocket endpoint in an NCCO.
pub fn websocket_endpoint(ncco: &Value) -> Option<Endpoint> {
    let endpoint = ncco.as_array()?.iter().find(|a| a["action"] == "connect")?["endpoint"]
        .as_array()?
        .iter()
        .find(|e| e["type"] == "websocket")?;
    Some(Endpoint {
        uri: endpoint["uri"].as_str()?.to_owned(),
        content_type: endpoint["content-type"].as_str()?.to_owned(),
        headers: endpoint["headers"].as_object().cloned().unwrap_or_default(),
    })
}

/// A Voice API WebSocket as Vonage opens it.
pub struct Stream {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// Samples per 20 ms frame.
    frame_samples: usize,
}

/// Connects to `uri` (as in the NCCO) through `ws_base`. Vonage sends no
/// credentials on the upgrade.
pub async fn connect(
    ws_base: &str,
    uri: &str,
) -> Result<Stream, tokio_tungstenite::tungstenite::Error> {
    let path = uri
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let req = format!("{ws_base}{path}").into_client_request()?;
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(Stream {
        ws,
        frame_samples: 320,
    })
}

impl Stream {
    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .expect("send frame");
    }

    /// The first message: `websocket:connected` with the content type and
    /// the NCCO's headers.
    pub async fn connected(&mut self, endpoint: &Endpoint) {
        let rate: usize = endpoint
            .content_type
            .rsplit('=')
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or(16000);
        self.frame_samples = rate / 50;
        let mut msg = endpoint.headers.clone();
        msg.insert("event".into(), Value::from("websocket:connected"));
        msg.insert(
            "content-type".into(),
            Value::from(endpoint.content_type.as_str()),
        );
        self.send_text(Value::Object(msg).to_string()).await;
    }

    /// One binary frame of little-endian PCM.
    pub async fn audio(
        &mut self,
        pcm: &[i16],
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.ws.send(Message::Binary(bytes.into())).await
    }

    /// Plays PCM at the stream's rate in 20 ms frames, in real time when
    /// `paced`.
    pub async fn play(&mut self, pcm: &[i16], paced: bool) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for frame in pcm.chunks(self.frame_samples) {
            if paced {
                tick.tick().await;
            }
            self.audio(frame).await.expect("send audio");
        }
    }

    /// Plays `ms` of silence.
    pub async fn silence(&mut self, ms: u64, paced: bool) {
        let pcm = vec![0i16; self.frame_samples * (ms as usize) / 20];
        self.play(&pcm, paced).await;
    }

    /// A DTMF key press.
    pub async fn dtmf(&mut self, digit: &str) {
        self.send_text(json!({"event":"websocket:dtmf","digit":digit,"duration":250}).to_string())
            .await;
    }

    /// Hangs up from Vonage's side: closes the socket (there is no stop
    /// message).
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Next message from the host, if one comes within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Message> {
        match tokio::time::timeout(timeout, self.ws.next()).await {
            Ok(Some(Ok(m))) => Some(m),
            _ => None,
        }
    }

    /// Waits for the host to close the socket; returns the close code.
    pub async fn closed(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return None,
                Err(_) => panic!("the host did not close the stream within {timeout:?}"),
            }
        }
    }
}
