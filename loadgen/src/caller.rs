//! One simulated phone call, as Twilio places it: signed voice webhook,
//! TwiML, signed Media Streams upgrade, `connected` and `start`, one
//! `media` message every 20 ms, marks echoed once the audio sent before
//! them would have played, `stop`, and the host's close.
//!
//! The media loop sends precomputed messages (see [`crate::bank`]) and
//! allocates nothing per frame.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{sleep_until, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest, protocol::WebSocketConfig, Error as WsError, Message,
    },
    MaybeTlsStream, WebSocketStream,
};

use crate::{
    bank::Bank,
    histogram::Histogram,
    twilio::{self, Answer},
};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Where the host is and how to sign for it.
#[derive(Debug, Clone)]
pub struct Target {
    /// How to reach the host: `http://127.0.0.1:8080`.
    pub base: String,
    /// The host's `server.public_url`, which signatures cover.
    pub public_url: String,
    /// The transport instance (`[transports.<name>]`).
    pub instance: String,
    /// The Twilio auth token configured for that instance.
    pub auth_token: String,
    /// Caller IDs are this prefix and four digits (`+1500555` → `+15005550042`).
    pub from_prefix: String,
    /// The number called.
    pub to: String,
}

/// What every caller of a run shares.
#[derive(Debug)]
pub struct Shared {
    pub(crate) target: Target,
    pub(crate) http: reqwest::Client,
    pub(crate) bank: Bank,
    pub(crate) webhook_url: String,
    pub(crate) webhook_signed_url: String,
    pub(crate) ws_base: String,
    pub(crate) run_id: u64,
    /// Callers streaming media right now.
    pub(crate) streaming: AtomicUsize,
}

impl Shared {
    /// Shared state for a run.
    pub fn new(target: Target, http: reqwest::Client, bank: Bank, run_id: u64) -> Self {
        let path = format!("/api/voice/{}/inbound", target.instance);
        let base = target.base.trim_end_matches('/').to_owned();
        let public = target.public_url.trim_end_matches('/').to_owned();
        let ws_base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.clone()
        };
        Self {
            webhook_url: format!("{base}{path}"),
            webhook_signed_url: format!("{public}{path}"),
            ws_base,
            target,
            http,
            bank,
            run_id,
            streaming: AtomicUsize::new(0),
        }
    }

    /// Callers streaming now.
    pub fn streaming(&self) -> usize {
        self.streaming.load(Ordering::Relaxed)
    }
}

/// When and how one caller calls.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Its number in the run.
    pub index: usize,
    /// When it calls.
    pub start_at: Instant,
    /// When it hangs up.
    pub stop_at: Instant,
    /// Speech or silence.
    pub speaking: bool,
    /// Where in the track it starts (spreads speech over time).
    pub offset: usize,
}

/// How one call went.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The stream was open and `start` sent.
    pub connected: bool,
    /// It streamed to its end and the host closed the socket normally
    /// after `stop`.
    pub completed: bool,
    /// Why it failed: (short reason, detail).
    pub failure: Option<(String, String)>,
    /// Webhook sent to `start` sent, µs.
    pub setup_us: Option<u64>,
    /// How late each media message left, µs.
    pub lateness: Histogram,
    /// `media` messages sent.
    pub media_sent: u64,
    /// Every message sent (`connected`, `start`, media, marks, `stop`).
    pub messages_sent: u64,
    /// `media` messages received (audio the host played).
    pub media_received: u64,
    /// Marks received.
    pub marks_received: u64,
    /// Marks echoed back.
    pub marks_echoed: u64,
    /// `clear` received.
    pub clears_received: u64,
    /// Other messages received.
    pub other_received: u64,
}

impl Outcome {
    fn fail(&mut self, reason: impl Into<String>, detail: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some((reason.into(), detail.into()));
        }
    }
}

/// What the host sends on a Twilio stream (docs/protocols.md a.4).
#[derive(Deserialize)]
struct HostMessage<'a> {
    #[serde(borrow)]
    event: &'a str,
    #[serde(borrow)]
    media: Option<HostMedia<'a>>,
    #[serde(borrow)]
    mark: Option<HostMark<'a>>,
}

#[derive(Deserialize)]
struct HostMedia<'a> {
    #[serde(borrow)]
    payload: &'a str,
}

#[derive(Deserialize)]
struct HostMark<'a> {
    #[serde(borrow)]
    name: &'a str,
}

/// Playback as Twilio does it: audio plays in real time after what is
/// queued, and a mark is echoed when the audio before it has played.
struct Playback {
    until: Instant,
    marks: VecDeque<(Instant, String)>,
}

impl Playback {
    fn on_message(&mut self, text: &str, out: &mut Outcome) {
        let Ok(msg) = serde_json::from_str::<HostMessage<'_>>(text) else {
            out.other_received += 1;
            return;
        };
        let now = Instant::now();
        match msg.event {
            "media" => {
                out.media_received += 1;
                if let Some(media) = msg.media {
                    let b64 = media.payload.trim_end_matches('=');
                    let bytes = b64.len() * 3 / 4;
                    // µ-law at 8 kHz: 8 bytes per millisecond.
                    let played = Duration::from_micros(bytes as u64 * 125);
                    self.until = self.until.max(now) + played;
                }
            }
            "mark" => {
                out.marks_received += 1;
                if let Some(mark) = msg.mark {
                    self.marks
                        .push_back((self.until.max(now), mark.name.to_owned()));
                }
            }
            "clear" => {
                out.clears_received += 1;
                // Queued audio is dropped; its marks come back at once.
                self.until = now;
                for m in &mut self.marks {
                    m.0 = now;
                }
            }
            _ => out.other_received += 1,
        }
    }
}

/// The socket's settings: a small read buffer, since a phone stream
/// receives little (tungstenite's 128 KiB default is zeroed on every read).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

fn ws_failure(error: &WsError) -> String {
    match error {
        WsError::Http(resp) => format!("ws_http_{}", resp.status().as_u16()),
        WsError::Io(_) => "ws_io".to_owned(),
        _ => "ws_error".to_owned(),
    }
}

/// Places one call and plays it to its end.
pub async fn call(shared: Arc<Shared>, plan: Plan) -> Outcome {
    let mut out = Outcome::default();
    sleep_until(plan.start_at).await;
    let began = Instant::now();
    let call_sid = twilio::sid("CA", (shared.run_id << 32) | plan.index as u64);
    let Some(mut ws) = setup(&shared, &call_sid, plan, &mut out).await else {
        return out;
    };
    out.connected = true;
    out.setup_us = Some(began.elapsed().as_micros() as u64);
    shared.streaming.fetch_add(1, Ordering::Relaxed);
    let seq = stream(&shared, &mut ws, plan, &mut out).await;
    shared.streaming.fetch_sub(1, Ordering::Relaxed);
    if out.failure.is_some() {
        return out;
    }
    hang_up(&shared, &mut ws, &call_sid, seq, &mut out).await;
    out
}

/// Webhook, TwiML, upgrade, `connected` and `start`.
async fn setup(shared: &Shared, call_sid: &str, plan: Plan, out: &mut Outcome) -> Option<Ws> {
    let t = &shared.target;
    let from = format!("{}{:04}", t.from_prefix, plan.index % 10_000);
    let params = twilio::webhook_params(call_sid, &from, &t.to);
    let signature = twilio::sign(&t.auth_token, &shared.webhook_signed_url, &params);
    let resp = shared
        .http
        .post(&shared.webhook_url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                "webhook_timeout"
            } else if e.is_connect() {
                "webhook_connect"
            } else {
                "webhook_error"
            };
            out.fail(reason, e.to_string());
            return None;
        }
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    if status != 200 {
        out.fail(format!("webhook_http_{status}"), body);
        return None;
    }
    let url = match twilio::answer(&body) {
        Answer::Stream(url) => url,
        Answer::Busy => {
            out.fail("busy", body);
            return None;
        }
        Answer::Refused => {
            out.fail("refused", body);
            return None;
        }
    };
    let session_id = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut req =
        match format!("{}{}", shared.ws_base, twilio::url_path(&url)).into_client_request() {
            Ok(r) => r,
            Err(e) => {
                out.fail("bad_stream_url", format!("{url}: {e}"));
                return None;
            }
        };
    let signature = twilio::sign(&t.auth_token, &url, &[]);
    match signature.parse() {
        Ok(v) => {
            req.headers_mut().insert("X-Twilio-Signature", v);
        }
        Err(_) => {
            out.fail("bad_signature_header", signature);
            return None;
        }
    }
    let connected = timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true),
    )
    .await;
    let mut ws = match connected {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            out.fail(ws_failure(&e), e.to_string());
            return None;
        }
        Err(_) => {
            out.fail("ws_timeout", "no upgrade within 15 s");
            return None;
        }
    };
    for text in [
        twilio::connected(),
        twilio::start(call_sid, &shared.bank.stream_sid, &session_id),
    ] {
        if let Err(e) = ws.send(Message::Text(text.into())).await {
            out.fail("send_error", e.to_string());
            return None;
        }
        out.messages_sent += 1;
    }
    Some(ws)
}

/// Streams media until `stop_at`; returns the next sequence number.
async fn stream(shared: &Shared, ws: &mut Ws, plan: Plan, out: &mut Outcome) -> u64 {
    let track = if plan.speaking {
        &shared.bank.speech
    } else {
        &shared.bank.silence
    };
    let mut k = plan.offset;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // Catch up after a stall, as a carrier's buffer would: the host still
    // gets 50 frames per second on average.
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut playback = Playback {
        until: Instant::now(),
        marks: VecDeque::new(),
    };
    let far = plan.stop_at + Duration::from_secs(3600);
    loop {
        let mark_due = playback.marks.front().map_or(far, |m| m.0);
        tokio::select! {
            biased;
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => playback.on_message(text.as_str(), out),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    out.fail(format!("closed_by_host_{code}"), "the host closed the stream before stop");
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    out.fail("connection_lost", e.to_string());
                    break;
                }
                None => {
                    out.fail("connection_lost", "the socket closed before stop");
                    break;
                }
            },
            _ = sleep_until(mark_due), if !playback.marks.is_empty() => {
                if let Some((_, name)) = playback.marks.pop_front() {
                    let text = twilio::mark(k as u64 + 2, &shared.bank.stream_sid, &name);
                    if let Err(e) = ws.send(Message::Text(text.into())).await {
                        out.fail("send_error", e.to_string());
                        break;
                    }
                    out.marks_echoed += 1;
                    out.messages_sent += 1;
                }
            },
            scheduled = tick.tick() => {
                if scheduled >= plan.stop_at {
                    break;
                }
                let Some(frame) = track.frame(k) else {
                    out.fail("bank_exhausted", "the precomputed track is too short");
                    break;
                };
                if let Err(e) = ws.send(Message::Text(frame.clone())).await {
                    out.fail("send_error", e.to_string());
                    break;
                }
                out.lateness.record(scheduled.elapsed().as_micros() as u64);
                out.media_sent += 1;
                out.messages_sent += 1;
                k += 1;
            },
        }
    }
    k as u64 + 2
}

/// `stop`, then the host's close.
async fn hang_up(shared: &Shared, ws: &mut Ws, call_sid: &str, seq: u64, out: &mut Outcome) {
    let text = twilio::stop(seq, &shared.bank.stream_sid, call_sid);
    if let Err(e) = ws.send(Message::Text(text.into())).await {
        out.fail("send_error", e.to_string());
        return;
    }
    out.messages_sent += 1;
    let closed = timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    match closed {
        Ok(Some(1000)) => out.completed = true,
        Ok(Some(code)) => out.fail(format!("close_code_{code}"), "after stop"),
        Ok(None) => out.fail("no_close_frame", "the socket ended without a close frame"),
        Err(_) => out.fail("no_close_after_stop", "the host did not close within 10 s"),
    }
    // Answers the host's close (best effort).
    let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
}
