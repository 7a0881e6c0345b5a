//! One media WebSocket: frames in through the transport plugin, audio into
//! the call's pipeline, transcripts and answers out as events.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};

use super::{
    calls::{admit, Admission},
    AppState,
};
use crate::{
    events::{kinds, Event, EventBus},
    model::{Decoded, FailureKind, Frame, OutFrame, Outbound, StreamEvent},
    pipeline::{CallPipeline, PipelineOutput},
    plugins::{CallError, MediaStream, Transport},
    sessions::Session,
    speech::SynthMsg,
    telemetry::FrameMeter,
};

/// How long to wait for the peer's close frame after sending ours.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Close codes (RFC 6455).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
}

fn to_message(frame: OutFrame) -> Message {
    match frame {
        OutFrame::Text(t) => Message::Text(Utf8Bytes::from(t)),
        OutFrame::Binary(b) => Message::Binary(b.into()),
    }
}

/// Has the transport turn one outbound action into frames for the peer.
fn encode(
    media: &mut MediaStream,
    outgoing: &mut Vec<OutFrame>,
    transport: &Transport,
    session: Option<&Session>,
    action: &Outbound<'_>,
) {
    match media.encode(action, outgoing) {
        Ok(()) => {}
        Err(error) if error.kind() == FailureKind::Unsupported => {
            tracing::debug!(transport = %transport.id.instance, error = %error, "Transport does not support this outbound action.");
        }
        Err(error) => {
            tracing::warn!(transport = %transport.id.instance, session_id = %session.map(|s| s.id.as_str()).unwrap_or(""), error = %error, "Encoding an outbound action failed.");
        }
    }
}

/// How a connection ended.
struct Ending {
    reason: String,
    code: u16,
    text: String,
}

impl Ending {
    fn new(reason: &str, code: u16, text: impl Into<String>) -> Self {
        Self {
            reason: reason.to_owned(),
            code,
            text: text.into(),
        }
    }
}

/// Per-connection state.
struct Conn {
    state: Arc<AppState>,
    transport: Arc<Transport>,
    session: Option<Arc<Session>>,
    media: MediaStream,
    decoded: Decoded,
    outgoing: Vec<OutFrame>,
    pipeline: Option<CallPipeline>,
    results_tx: mpsc::Sender<PipelineOutput>,
    synth_tx: mpsc::UnboundedSender<SynthMsg>,
    errors_logged: u64,
    window_start: Instant,
    window_frames: u32,
    window_dropped: u32,
    /// Frame lag and processing time, batched per connection.
    meter: FrameMeter,
}

/// Runs one media WebSocket to its end.
pub async fn run(
    state: Arc<AppState>,
    transport: Arc<Transport>,
    session: Option<Arc<Session>>,
    media: MediaStream,
    socket: WebSocket,
) {
    let instance = transport.id.instance.clone();
    metrics::gauge!("voicegate_streams_open", "transport" => instance.clone()).increment(1.0);
    let (results_tx, mut results_rx) = mpsc::channel(32);
    // Unbounded, but bounded by the reply: see `speech::synth`.
    let (synth_tx, mut synth_rx) = mpsc::unbounded_channel();
    let mut hangup = session.as_ref().map(|s| s.hangup.subscribe());
    // Only transports that show the call's events to their peer (the
    // browser page) pay for a subscription to the bus.
    let mut bus = transport
        .info
        .capabilities
        .events
        .then(|| state.events.subscribe());
    let mut conn = Conn {
        meter: FrameMeter::new(state.telemetry.clone()),
        state,
        transport,
        session,
        media,
        decoded: Decoded {
            audio: Vec::with_capacity(1024),
            chunks: Vec::with_capacity(4),
            ..Decoded::default()
        },
        outgoing: Vec::new(),
        pipeline: None,
        results_tx,
        synth_tx,
        errors_logged: 0,
        window_start: Instant::now(),
        window_frames: 0,
        window_dropped: 0,
    };
    if let Some(s) = conn.session.clone() {
        conn.pipeline = Some(conn.new_pipeline(&s));
    }
    let (mut tx, mut rx) = socket.split();
    // One timer for the playout clock, moved only when its deadline
    // changes: a new one per loop turn would be registered and cancelled
    // for every inbound frame while the agent speaks.
    let playout_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(playout_timer);
    let mut armed: Option<Instant> = None;

    let ending = loop {
        // Streams that open their own call get a session mid-stream.
        if hangup.is_none() {
            hangup = conn.session.as_ref().map(|s| s.hangup.subscribe());
        }
        let playout = conn.pipeline.as_ref().and_then(CallPipeline::next_deadline);
        if playout != armed {
            if let Some(at) = playout {
                playout_timer.as_mut().reset(at.into());
            }
            armed = playout;
        }
        let step = tokio::select! {
            msg = rx.next() => match msg {
                None => Some(Ending::new("disconnected", close::NORMAL, "")),
                Some(Err(e)) => {
                    tracing::debug!(transport = %instance, error = %e, "Media socket error.");
                    let text = e.to_string();
                    if text.contains("too long") || text.contains("Space limit") || text.contains("capacity") {
                        Some(Ending::new("frame_too_large", close::TOO_BIG, "frame too large"))
                    } else {
                        Some(Ending::new("disconnected", close::NORMAL, ""))
                    }
                }
                Some(Ok(msg)) => conn.on_message(msg).await,
            },
            Some(out) = results_rx.recv() => {
                conn.on_pipeline_output(out);
                None
            },
            Some(msg) = synth_rx.recv() => {
                if let Some(p) = &mut conn.pipeline {
                    p.on_synth(msg);
                }
                None
            },
            () = &mut playout_timer, if armed.is_some() => {
                armed = None;
                None
            },
            Some(event) = next_event(&mut bus, &conn.state.events) => {
                conn.forward_event(&event);
                None
            },
            changed = wait_hangup(&mut hangup) => {
                let reason = changed.unwrap_or_else(|| "hangup".to_owned());
                conn.encode(&Outbound::Hangup(&reason));
                let code = if reason == "shutdown" { close::GOING_AWAY } else { close::NORMAL };
                Some(Ending::new(&reason, code, "call ended"))
            }
        };
        if step.is_none() {
            conn.pump();
        }
        for frame in conn.outgoing.drain(..) {
            if let Some(s) = &conn.session {
                s.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                s.stats
                    .bytes_out
                    .fetch_add(frame.len() as u64, Ordering::Relaxed);
            }
            if tx.send(to_message(frame)).await.is_err() {
                break;
            }
        }
        if let Some(ending) = step {
            break ending;
        }
    };

    // Utterances of this call still waiting for an STT worker are skipped
    // once nobody can receive their transcripts (see `stt_pool`).
    drop(results_rx);
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: ending.code,
            reason: Utf8Bytes::from(ending.text.as_str()),
        })))
        .await;
    conn.finish(&ending.reason);
    // Complete the closing handshake before dropping the socket: dropped
    // with the peer's frames still unread, the kernel answers with a reset
    // and the peer loses our last messages and the close frame (browsers
    // then report 1006). Bounded, so a peer that keeps sending cannot hold
    // the task.
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
        while let Some(Ok(msg)) = rx.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    let _ = tx.close().await;
    metrics::gauge!("voicegate_streams_open", "transport" => instance).decrement(1.0);
}

/// The next event on the bus, for connections that forward events; never
/// resolves for the others.
async fn next_event(
    bus: &mut Option<broadcast::Receiver<Arc<Event>>>,
    events: &EventBus,
) -> Option<Arc<Event>> {
    let Some(rx) = bus else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(event) => {
                events.received(&event);
                return Some(event);
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                events.missed(n);
                tracing::warn!(
                    missed = n,
                    "A media stream fell behind the event bus; events were skipped."
                );
            }
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

async fn wait_hangup(
    rx: &mut Option<tokio::sync::watch::Receiver<Option<String>>>,
) -> Option<String> {
    match rx {
        Some(rx) => loop {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if let Some(reason) = rx.borrow_and_update().clone() {
                return Some(reason);
            }
        },
        None => {
            std::future::pending::<()>().await;
            None
        }
    }
}

impl Conn {
    fn instance(&self) -> &str {
        &self.transport.id.instance
    }

    fn session_id(&self) -> &str {
        self.session.as_ref().map(|s| s.id.as_str()).unwrap_or("")
    }

    /// Flood guard: at most `max_frames_per_second`; beyond, frames are
    /// dropped and counted; twice the limit closes the stream.
    fn admit_frame(&mut self, now: Instant) -> Result<bool, Ending> {
        let limit = self.state.loaded.config.server.max_frames_per_second;
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window_frames = 0;
            self.window_dropped = 0;
        }
        self.window_frames += 1;
        if self.window_frames <= limit {
            return Ok(true);
        }
        self.window_dropped += 1;
        // Exported as voicegate_frames_dropped_total from the session totals.
        if let Some(s) = &self.session {
            s.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.window_dropped == 1 {
            tracing::warn!(transport = %self.instance(), session_id = %self.session_id(), limit, "Media stream exceeds the frame rate limit; dropping frames.");
        }
        if self.window_dropped > limit {
            return Err(Ending::new("flood", close::POLICY, "too many messages"));
        }
        Ok(false)
    }

    async fn on_message(&mut self, msg: Message) -> Option<Ending> {
        let arrived = Instant::now();
        let len = match &msg {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            Message::Close(_) => return Some(Ending::new("disconnected", close::NORMAL, "")),
            _ => return None,
        };
        // Per-session counters only: /metrics sums them when scraped, so
        // the frame path touches no registry and no shared counter.
        if let Some(s) = &self.session {
            s.stats.frames_in.fetch_add(1, Ordering::Relaxed);
            s.stats.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
        }
        let max = self.state.loaded.config.server.max_frame_bytes;
        if len > max {
            tracing::warn!(transport = %self.instance(), session_id = %self.session_id(), len, max, "Media frame too large; closing the stream.");
            return Some(Ending::new(
                "frame_too_large",
                close::TOO_BIG,
                format!("frame of {len} bytes exceeds {max}"),
            ));
        }
        match self.admit_frame(arrived) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(ending) => return Some(ending),
        }

        let result = {
            let frame = match &msg {
                Message::Text(t) => Frame::Text(t.as_str()),
                Message::Binary(b) => Frame::Binary(b),
                _ => return None,
            };
            self.media.on_frame(frame, &mut self.decoded)
        };
        if let Err(error) = result {
            if let Some(ending) = self.on_plugin_error(error) {
                return Some(ending);
            }
        }
        self.outgoing.append(&mut self.decoded.replies);
        let events = std::mem::take(&mut self.decoded.events);
        for event in events {
            if let Some(ending) = self.on_event(event).await {
                return Some(ending);
            }
        }
        if !self.decoded.chunks.is_empty() {
            if let (Some(pipeline), Some(session)) = (&mut self.pipeline, &self.session) {
                for (rate, ts, start, len) in self.decoded.chunks.iter().copied() {
                    let pcm = &self.decoded.audio[start..start + len];
                    session
                        .stats
                        .audio_chunks_in
                        .fetch_add(1, Ordering::Relaxed);
                    pipeline.push_audio(pcm, rate, ts, &session.stats, &self.results_tx);
                }
            }
        }
        let timestamp = self.decoded.chunks.last().map(|c| c.1);
        self.meter.frame_done(arrived, timestamp);
        None
    }

    /// Logs and counts a plugin error; returns an ending when it is fatal.
    fn on_plugin_error(&mut self, error: CallError) -> Option<Ending> {
        let (kind, op) = (error.kind(), error.op);
        metrics::counter!("voicegate_stream_errors_total", "transport" => self.instance().to_owned(), "op" => op, "kind" => kind.name()).increment(1);
        match kind {
            FailureKind::InvalidInput | FailureKind::Unsupported => {
                if let Some(s) = &self.session {
                    s.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                }
                self.errors_logged += 1;
                // Log the first few and then a sample, so a bad peer cannot
                // flood the log.
                if self.errors_logged <= 5 || self.errors_logged.is_multiple_of(100) {
                    tracing::warn!(transport = %self.instance(), session_id = %self.session_id(), op, error = %error, count = self.errors_logged, "Bad media frame; ignored.");
                }
                None
            }
            FailureKind::Panicked | FailureKind::Internal => {
                tracing::error!(transport = %self.instance(), session_id = %self.session_id(), op, error = %error, "Transport plugin failed; ending this call.");
                self.publish_error(&format!("transport plugin failed: {}", error.error.message));
                Some(Ending::new(
                    "plugin_error",
                    close::INTERNAL,
                    "internal error",
                ))
            }
            _ => {
                tracing::warn!(transport = %self.instance(), session_id = %self.session_id(), op, error = %error, "Media stream refused by the transport; closing it.");
                let text = close_reason(&error.error.message);
                Some(Ending::new("protocol_error", close::POLICY, text))
            }
        }
    }

    fn publish_error(&self, message: &str) {
        self.state
            .events
            .publish(Event::new(kinds::ERROR, self.session_id()).with("error", message));
    }

    fn encode(&mut self, action: &Outbound<'_>) {
        encode(
            &mut self.media,
            &mut self.outgoing,
            &self.transport,
            self.session.as_deref(),
            action,
        );
    }

    fn new_pipeline(&self, session: &Session) -> CallPipeline {
        self.state.pipeline.call(
            session,
            &self.transport.info,
            &self.state.events,
            self.synth_tx.clone(),
        )
    }

    /// Lets the call's speaker send what is due (frames, marks, a clear).
    fn pump(&mut self) {
        let Conn {
            pipeline: Some(pipeline),
            session: Some(session),
            media,
            outgoing,
            transport,
            ..
        } = self
        else {
            return;
        };
        pipeline.pump(Instant::now(), session, &mut |action| {
            let counter = match action {
                Outbound::Audio(_) => Some(&session.stats.audio_chunks_out),
                Outbound::Mark(_) => Some(&session.stats.marks_out),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            encode(media, outgoing, transport, Some(session), &action);
        });
    }

    /// Sends one of this call's events to a peer that shows them.
    fn forward_event(&mut self, event: &Event) {
        let Some(session) = &self.session else {
            return;
        };
        if event.session_id != session.id {
            return;
        }
        match serde_json::to_string(event) {
            Ok(json) => self.encode(&Outbound::Event(&json)),
            Err(error) => {
                tracing::warn!(session_id = %session.id, %error, "An event could not be serialized for the peer.");
            }
        }
    }

    async fn on_event(&mut self, event: StreamEvent) -> Option<Ending> {
        match event {
            StreamEvent::Start(start) => {
                if self.session.is_none() {
                    let call = match start.new_call.clone() {
                        Some(call) => call,
                        None => {
                            return Some(Ending::new(
                                "protocol_error",
                                close::POLICY,
                                "stream started without a call",
                            ))
                        }
                    };
                    match admit(&self.state, &self.transport, call, true).await {
                        Admission::Accepted(session, _) => {
                            self.media.set_session(&session.id);
                            self.pipeline = Some(self.new_pipeline(&session));
                            self.session = Some(session);
                        }
                        Admission::Rejected(_) => {
                            return Some(Ending::new("denied", close::POLICY, "call denied"));
                        }
                    }
                } else if let Some(s) = &self.session {
                    if !s.activate() {
                        if s.state() == crate::sessions::SessionState::Stopped {
                            // Ended while the socket waited for its start
                            // (expired, hung up): nothing is published for it.
                            return Some(Ending::new("ended", close::NORMAL, "call ended"));
                        }
                        tracing::debug!(session_id = %s.id, "Start on an already active session ignored.");
                    }
                }
                if let Some(s) = &self.session {
                    if let Ok(mut id) = s.stream_id.lock() {
                        *id = start.stream_id.clone();
                    }
                    tracing::info!(
                        session_id = %s.id,
                        call_sid = %s.call.call_id,
                        stream_sid = %start.stream_id,
                        from = %s.call.from,
                        to = %s.call.to,
                        encoding = %start.format.encoding,
                        sample_rate = start.format.sample_rate,
                        "Media started."
                    );
                    let params: serde_json::Map<String, serde_json::Value> = start
                        .custom_params
                        .iter()
                        .map(|(key, value)| {
                            // Parameters can carry credentials; never publish those.
                            let lower = key.to_ascii_lowercase();
                            let secret = ["token", "secret", "password", "key"]
                                .iter()
                                .any(|s| lower.contains(s));
                            let value = if secret { "<redacted>" } else { value.as_str() };
                            (key.clone(), value.into())
                        })
                        .collect();
                    self.state.events.publish(
                        Event::new(kinds::CALL_STARTED, &s.id)
                            .with("transport", self.transport.id.instance.as_str())
                            .with("call_id", s.call.call_id.as_str())
                            .with("stream_id", start.stream_id.as_str())
                            .with("from", s.call.from.as_str())
                            .with("to", s.call.to.as_str())
                            .with("encoding", start.format.encoding.as_str())
                            .with("sample_rate", start.format.sample_rate)
                            .with("custom_params", serde_json::Value::Object(params)),
                    );
                }
                None
            }
            StreamEvent::Dtmf { digit } => {
                self.state
                    .events
                    .publish(Event::new(kinds::DTMF, self.session_id()).with("digit", digit));
                None
            }
            StreamEvent::Mark(name) => {
                let current = self.pipeline.as_mut().is_some_and(|p| p.on_mark(&name));
                if let Some(s) = &self.session {
                    s.stats.marks_in.fetch_add(1, Ordering::Relaxed);
                    if !current {
                        s.stats.marks_stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tracing::debug!(session_id = %self.session_id(), mark = %name, current, "Mark played.");
                None
            }
            StreamEvent::Stop(reason) => {
                let r = if reason.is_empty() {
                    "stopped".to_owned()
                } else {
                    reason
                };
                Some(Ending::new(&r, close::NORMAL, "stream stopped"))
            }
            StreamEvent::Hangup(reason) => {
                let r = if reason.is_empty() {
                    "hangup".to_owned()
                } else {
                    reason
                };
                Some(Ending::new(&r, close::NORMAL, "call ended"))
            }
            StreamEvent::Other(kind) => {
                tracing::debug!(session_id = %self.session_id(), %kind, "Transport event this host does not act on.");
                None
            }
        }
    }

    fn on_pipeline_output(&mut self, out: PipelineOutput) {
        if let (Some(p), Some(session)) = (&mut self.pipeline, &self.session) {
            p.on_output(out, session, &self.results_tx);
        }
    }

    fn finish(&mut self, reason: &str) {
        if let Some(session) = self.session.take() {
            self.state.calls.end(&session.id, reason);
        }
    }
}

/// A close reason that fits a close frame (at most 123 bytes of UTF-8;
/// longer ones are a protocol error at the receiver), cut at a character.
fn close_reason(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn close_reasons_fit_a_close_frame() {
        assert_eq!(close_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(
            cut.len() <= 123 && cut.chars().all(|c| c == 'é'),
            "{}",
            cut.len()
        );
    }
}
