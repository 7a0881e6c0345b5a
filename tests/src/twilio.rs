//! Plays Twilio: signs webhooks and stream upgrades as Twilio does, and
//! speaks the Media Streams protocol over a real WebSocket.

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

/// Signing, SIDs and TwiML reading are the load generator's, so the tests
/// and the load use one Twilio client implementation (independent of the
/// plugin's validator).
pub use voicegate_loadgen::twilio::{sid, sign, stream_url, ACCOUNT_SID};

/// The auth token the test configs use.
pub const AUTH_TOKEN: &str = "e2e-twilio-auth-token";

/// Posts the voice webhook; returns (status, body).
pub async fn webhook(
    base: &str,
    public_url: &str,
    instance: &str,
    call_sid: &str,
    from: &str,
    to: &str,
    signature: Option<&str>,
) -> (u16, String) {
    let params = voicegate_loadgen::twilio::webhook_params(call_sid, from, to);
    let path = format!("/api/voice/{instance}/inbound");
    let computed;
    let signature = match signature {
        Some(s) => Some(s),
        None => {
            computed = sign(AUTH_TOKEN, &format!("{public_url}{path}"), &params);
            Some(computed.as_str())
        }
    };
    let mut req = crate::host::client()
        .post(format!("{base}{path}"))
        .form(&params);
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        req = req.header("X-Twilio-Signature", sig);
    }
    let resp = req.send().await.expect("webhook request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// What Twilio is configured to call in the tests' configs; the tests reach
/// the host on loopback, as a TLS proxy would forward it.
pub const PUBLIC_URL: &str = "https://voice.example.test";

/// A host config with the twilio transport (signed with [`AUTH_TOKEN`],
/// public at [`PUBLIC_URL`]), the admin token and a policy that admits the
/// tests' callers, followed by `rest` (more TOML tables).
pub fn config(rest: &str) -> String {
    format!(
        r#"[server]
public_url = "{PUBLIC_URL}"
plugin_dir = "{{{{PLUGIN_DIR}}}}"

[admin]
token = "{admin}"

[transports.twilio]
plugin = "twilio"
auth_token = "{AUTH_TOKEN}"

[policies.default]
plugin = "policy"
rate_limit = {{ calls = 1000, per = "1h" }}

{rest}
"#,
        admin = crate::host::ADMIN_TOKEN
    )
}

/// Places call number `n` from `from` as Twilio does (signed webhook,
/// TwiML, signed stream upgrade, `connected` + `start`); returns the stream,
/// the session id and the call SID.
pub async fn call(host: &crate::host::Host, n: u64, from: &str) -> (Stream, String, String) {
    let call_sid = sid("CA", n);
    let (status, twiml) = webhook(
        &host.base,
        PUBLIC_URL,
        "twilio",
        &call_sid,
        from,
        "+15005550006",
        None,
    )
    .await;
    assert_eq!(status, 200, "webhook answered: {twiml}");
    let url = stream_url(&twiml).expect("a <Stream url=…> in the TwiML");
    let session = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut stream = connect(&host.ws_base(), &url)
        .await
        .expect("stream accepted");
    stream.start(&call_sid, &sid("MZ", n), json!({})).await;
    (stream, session, call_sid)
}

/// A Media Streams connection as Twilio makes it.
pub struct Stream {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// The stream SID.
    pub stream_sid: String,
    seq: u64,
    chunk: u64,
    /// Milliseconds of audio sent so far (media.timestamp).
    pub timestamp_ms: u64,
}

/// Connects to `public_stream_url` (as in the TwiML) through `ws_base`,
/// signing the upgrade as Twilio does.
pub async fn connect(
    ws_base: &str,
    public_stream_url: &str,
) -> Result<Stream, tokio_tungstenite::tungstenite::Error> {
    let path = public_stream_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let mut req = format!("{ws_base}{path}").into_client_request()?;
    let sig = sign(AUTH_TOKEN, public_stream_url, &[]);
    req.headers_mut()
        .insert("X-Twilio-Signature", sig.parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(Stream {
        ws,
        stream_sid: String::new(),
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

    /// Sends a raw binary frame.
    pub async fn send_binary(
        &mut self,
        bytes: Vec<u8>,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(Message::Binary(bytes.into())).await
    }

    /// `connected` then `start`.
    pub async fn start(&mut self, call_sid: &str, stream_sid: &str, params: Value) {
        self.stream_sid = stream_sid.to_owned();
        self.send_text(
            json!({"event":"connected","protocol":"Call","version":"1.0.0"}).to_string(),
        )
        .await;
        let seq = self.next_seq();
        self.send_text(
            json!({
                "event": "start",
                "sequenceNumber": seq,
                "streamSid": stream_sid,
                "start": {
                    "streamSid": stream_sid,
                    "accountSid": ACCOUNT_SID,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
                }
            })
            .to_string(),
        )
        .await;
    }

    /// One `media` frame of mu-law bytes.
    pub async fn media(&mut self, payload: &[u8]) {
        self.chunk += 1;
        let seq = self.next_seq();
        let frame = json!({
            "event": "media",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": self.timestamp_ms.to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            }
        });
        self.timestamp_ms += payload.len() as u64 / 8;
        self.send_text(frame.to_string()).await;
    }

    /// One `media` frame, reporting a failed send instead of panicking (the
    /// host may already have closed a flooding stream).
    pub async fn try_media(
        &mut self,
        payload: &[u8],
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.chunk += 1;
        let seq = self.next_seq();
        let frame = json!({
            "event": "media",
            "sequenceNumber": seq,
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": self.timestamp_ms.to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            }
        });
        self.timestamp_ms += payload.len() as u64 / 8;
        self.ws.send(Message::Text(frame.to_string().into())).await
    }

    /// Plays 8 kHz PCM in 20 ms frames. `paced` sends in real time (as a
    /// phone call does); otherwise as fast as the socket takes it.
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
        let frame = json!({"event":"dtmf","sequenceNumber":seq,"streamSid":self.stream_sid,"dtmf":{"track":"inbound_track","digit":digit}});
        self.send_text(frame.to_string()).await;
    }

    /// A mark echo.
    pub async fn mark(&mut self, name: &str) {
        let seq = self.next_seq();
        let frame = json!({"event":"mark","sequenceNumber":seq,"streamSid":self.stream_sid,"mark":{"name":name}});
        self.send_text(frame.to_string()).await;
    }

    /// `stop`.
    pub async fn stop(&mut self, call_sid: &str) {
        let seq = self.next_seq();
        let frame = json!({"event":"stop","sequenceNumber":seq,"streamSid":self.stream_sid,"stop":{"accountSid":ACCOUNT_SID,"callSid":call_sid}});
        self.send_text(frame.to_string()).await;
    }

    /// Next message from the host; `None` once the socket is gone.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        match self.ws.next().await {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
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
