//! Plays Telnyx: signs TeXML webhooks with an Ed25519 account key as
//! Telnyx does, and speaks Telnyx's media streaming protocol over a real
//! WebSocket (JSON text frames, base64 PCMU at 8 kHz).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use ed25519_dalek::{Signer as _, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

/// The account the fake carrier signs for (TeXML `AccountSid`).
pub const ACCOUNT_SID: &str = "f5586561-8ff0-4291-a51b-c7dfe4139ff9";

/// The account's signing key: a fixed seed, so the public key in the test
/// configs is stable. Telnyx keeps the private half; operators paste the
/// public one into `public_key`.
pub fn account_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5A; 32])
}

/// Someone else's key.
pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[0xA5; 32])
}

/// The base64 public key the Telnyx portal shows for [`account_key`].
pub fn public_key() -> String {
    STANDARD.encode(account_key().verifying_key().to_bytes())
}

/// A Telnyx call control id (`v3:` + base64url).
pub fn call_id(n: u64) -> String {
    format!("v3:e2eTelnyxCall{n:016x}_aBcD-eFgH")
}

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// How a webhook is signed.
#[derive(Debug, Clone, Copy)]
pub enum Signing {
    /// As Telnyx does: now, with the account's key.
    Valid,
    /// No signature headers.
    Missing,
    /// Another account's key.
    WrongKey,
    /// Correctly signed, ten minutes ago.
    Stale,
    /// Correctly signed, then the body is changed (a different caller).
    Tampered,
}

/// `telnyx-signature-ed25519`: Ed25519 over `"{timestamp}|{body}"`.
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("{timestamp}|").into_bytes();
    message.extend_from_slice(body);
    STANDARD.encode(key.sign(&message).to_bytes())
}

/// Posts a signed form to `/api/voice/{instance}/{route}`; returns
/// (status, body).
pub async fn post_form(
    base: &str,
    instance: &str,
    route: &str,
    params: &[(&str, &str)],
    signing: Signing,
) -> (u16, String) {
    let body = crate::carriers::form_encode(params);
    let (key, timestamp) = match signing {
        Signing::WrongKey => (other_key(), now_secs()),
        Signing::Stale => (account_key(), now_secs() - 600),
        _ => (account_key(), now_secs()),
    };
    let timestamp = timestamp.to_string();
    let signature = sign(&key, &timestamp, body.as_bytes());
    let sent = match signing {
        Signing::Tampered => body.replacen("From=", "From=%2B1900555", 1),
        _ => body,
    };
    let mut req = crate::host::client()
        .post(format!("{base}/api/voice/{instance}/{route}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(sent);
    if !matches!(signing, Signing::Missing) {
        req = req
            .header("telnyx-timestamp", &timestamp)
            .header("telnyx-signature-ed25519", &signature);
    }
    let resp = req.send().await.expect("webhook request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The TeXML voice webhook of an inbound call; returns (status, TeXML).
pub async fn webhook(
    base: &str,
    instance: &str,
    call_sid: &str,
    from: &str,
    to: &str,
    signing: Signing,
) -> (u16, String) {
    let params = [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallSidLegacy", call_sid),
        ("CallStatus", "ringing"),
        ("ConnectionId", "1568109700606592442"),
        ("Direction", "inbound"),
        ("From", from),
        ("To", to),
    ];
    post_form(base, instance, "inbound", &params, signing).await
}

/// An attribute of the first `<element …>` in a TeXML document.
pub fn attribute(texml: &str, element: &str, name: &str) -> Option<String> {
    let start = texml.find(&format!("<{element}"))?;
    let rest = &texml[start..];
    let tag_end = rest.find('>')?;
    let tag = &rest[..tag_end];
    let attr = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[attr..].find('"')?;
    Some(
        tag[attr..attr + end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The `url` of `<Stream>`.
pub fn stream_url(texml: &str) -> Option<String> {
    attribute(texml, "Stream", "url")
}

/// A media stream as Telnyx opens it.
pub struct Stream {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// The stream id, once started.
    pub stream_id: String,
    seq: u64,
    chunk: u64,
    /// Milliseconds of audio sent so far (`media.timestamp`).
    pub timestamp_ms: u64,
}

/// Connects to `public_stream_url` (as in the TeXML) through `ws_base`.
/// Telnyx sends no signature on the upgrade.
pub async fn connect(
    ws_base: &str,
    public_stream_url: &str,
) -> Result<Stream, tokio_tungstenite::tungstenite::Error> {
    let path = public_stream_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let req = format!("{ws_base}{path}").into_client_request()?;
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(Stream {
        ws,
        stream_id: String::new(),
        seq: 0,
        chunk: 0,
        timestamp_ms: 0,
    })
}

impl Stream {
    fn next_seq(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .expect("send frame");
    }

    /// `connected` then `start` (PCMU, 8 kHz, mono).
    pub async fn start(
        &mut self,
        call_control_id: &str,
        stream_id: &str,
        from: &str,
        to: &str,
        params: Value,
    ) {
        self.stream_id = stream_id.to_owned();
        self.send_text(json!({"event":"connected","version":"1.0.0"}).to_string())
            .await;
        let seq = self.next_seq();
        self.send_text(
            json!({
                "event": "start",
                "sequence_number": seq,
                "stream_id": stream_id,
                "start": {
                    "user_id": "3e6f995f-85f7-4705-9741-53b116d28237",
                    "call_control_id": call_control_id,
                    "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
                    "from": from,
                    "to": to,
                    "tags": [],
                    "client_state": null,
                    "custom_parameters": params,
                    "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}
                }
            })
            .to_string(),
        )
        .await;
    }

    /// One `media` frame of µ-law bytes.
    pub async fn media(&mut self, payload: &[u8]) {
        self.chunk += 1;
        let seq = self.next_seq();
        let frame = json!({
            "event": "media",
            "sequence_number": seq,
            "stream_id": self.stream_id,
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": self.timestamp_ms.to_string(),
                "payload": STANDARD.encode(payload),
            }
        });
        self.timestamp_ms += payload.len() as u64 / 8;
        self.send_text(frame.to_string()).await;
    }

    /// Plays 8 kHz PCM in 20 ms frames, in real time when `paced`.
    pub async fn play(&mut self, pcm8k: &[i16], paced: bool) {
        let mulaw = crate::audio::mulaw(pcm8k);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for frame in mulaw.chunks(160) {
            if paced {
                tick.tick().await;
            }
            self.media(frame).await;
        }
    }

    /// Plays `ms` of silence.
    pub async fn silence(&mut self, ms: u64, paced: bool) {
        let pcm = vec![0i16; (ms * 8) as usize];
        self.play(&pcm, paced).await;
    }

    /// A DTMF key press.
    pub async fn dtmf(&mut self, digit: &str) {
        let seq = self.next_seq();
        let frame = json!({"event":"dtmf","sequence_number":seq,"stream_id":self.stream_id,"occurred_at":"2024-01-15T10:30:05.123Z","dtmf":{"digit":digit}});
        self.send_text(frame.to_string()).await;
    }

    /// `stop`.
    pub async fn stop(&mut self, call_control_id: &str) {
        let seq = self.next_seq();
        let frame = json!({"event":"stop","sequence_number":seq,"stream_id":self.stream_id,"stop":{"user_id":"3e6f995f-85f7-4705-9741-53b116d28237","call_control_id":call_control_id}});
        self.send_text(frame.to_string()).await;
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
