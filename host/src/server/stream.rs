//! One media WebSocket: frames in through the transport plugin, audio into
//! the call's pipeline, transcripts and answers out as events.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use abi_stable::{sabi_trait::TD_Opaque, sabi_types::RMut, std_types::RSlice};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};
use voicegate_plugin_api::{
    abi::{EventSinkFfi, EventSinkFfi_TO, FrameSinkFfi, FrameSinkFfi_TO, MediaStreamBox},
    Capabilities, ErrorKind, OutboundAction, PluginError, RStr, StreamEvent, WsFrame,
};

use super::{
    calls::{admit, Admission},
    AppState,
};
use crate::{
    events::{kinds, Event, EventBus},
    pipeline::{CallPipeline, PipelineOutput},
    plugins::Transport,
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

/// Collects what a plugin decodes from one frame. The plugin calls these
/// methods across the FFI boundary, so they only copy data: a panic here
/// would take the process down.
struct Decoded {
    audio: Vec<i16>,
    /// (sample_rate, timestamp_ms, start, len) into `audio`.
    chunks: Vec<(u32, u64, usize, usize)>,
    events: Vec<StreamEvent>,
    replies: Vec<Message>,
}

impl Decoded {
    fn clear(&mut self) {
        self.audio.clear();
        self.chunks.clear();
        self.events.clear();
        self.replies.clear();
    }
}

fn to_message(frame: WsFrame<'_>) -> Message {
    match frame {
        WsFrame::Text(t) => Message::Text(Utf8Bytes::from(t.as_str())),
        WsFrame::Binary(b) => Message::Binary(b.as_slice().to_vec().into()),
    }
}

impl EventSinkFfi for Decoded {
    fn audio(&mut self, pcm: RSlice<'_, i16>, sample_rate: u32, timestamp_ms: u64) {
        let start = self.audio.len();
        self.audio.extend_from_slice(pcm.as_slice());
        self.chunks
            .push((sample_rate, timestamp_ms, start, pcm.len()));
    }

    fn event(&mut self, event: StreamEvent) {
        self.events.push(event);
    }

    fn reply(&mut self, frame: WsFrame<'_>) {
        self.replies.push(to_message(frame));
    }
}

/// Appends encoded frames straight to the connection's outgoing queue.
struct Encoded<'a>(&'a mut Vec<Message>);

impl FrameSinkFfi for Encoded<'_> {
    fn frame(&mut self, frame: WsFrame<'_>) {
        self.0.push(to_message(frame));
    }
}

/// Has the transport turn one outbound action into frames for the peer.
fn encode(
    media: &mut MediaStreamBox,
    outgoing: &mut Vec<Message>,
    transport: &Transport,
    session: Option<&Session>,
    action: &OutboundAction<'_>,
) {
    let mut encoded = Encoded(outgoing);
    let result = {
        let sink = FrameSinkFfi_TO::from_ptr(RMut::new(&mut encoded), TD_Opaque);
        media.encode(action, sink).into_result()
    };
    match result {
        Ok(()) => {}
        Err(error) if error.kind == ErrorKind::UNSUPPORTED => {
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
    media: MediaStreamBox,
    decoded: Decoded,
    outgoing: Vec<Message>,
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
    media: MediaStreamBox,
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
        .contains(Capabilities::EVENTS)
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
            events: Vec::new(),
            replies: Vec::new(),
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
                conn.encode(&OutboundAction::Hangup(RStr::from(reason.as_str())));
                let code = if reason == "shutdown" { close::GOING_AWAY } else { close::NORMAL };
                Some(Ending::new(&reason, code, "call ended"))
            }
        };
        if step.is_none() {
            conn.pump();
        }
        for msg in conn.outgoing.drain(..) {
            let bytes = match &msg {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
                _ => 0,
            };
            if let Some(s) = &conn.session {
                s.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                s.stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
            }
            if tx.send(msg).await.is_err() {
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

        self.decoded.clear();
        let result = {
            let frame = match &msg {
                Message::Text(t) => WsFrame::Text(RStr::from(t.as_str())),
                Message::Binary(b) => WsFrame::Binary(RSlice::from_slice(b)),
                _ => return None,
            };
            let sink = EventSinkFfi_TO::from_ptr(RMut::new(&mut self.decoded), TD_Opaque);
            self.media.on_frame(frame, sink).into_result()
        };
        if let Err(error) = result {
            if let Some(ending) = self.on_plugin_error("on_frame", error) {
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
    fn on_plugin_error(&mut self, op: &str, error: PluginError) -> Option<Ending> {
        let kind = error.kind;
        metrics::counter!("voicegate_stream_errors_total", "transport" => self.instance().to_owned(), "op" => op.to_owned(), "kind" => kind.name()).increment(1);
        match kind {
            ErrorKind::INVALID_INPUT | ErrorKind::UNSUPPORTED => {
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
            ErrorKind::PANICKED | ErrorKind::INTERNAL => {
                tracing::error!(transport = %self.instance(), session_id = %self.session_id(), op, error = %error, "Transport plugin failed; ending this call.");
                self.publish_error(&format!("transport plugin failed: {}", error.message));
                Some(Ending::new(
                    "plugin_error",
                    close::INTERNAL,
                    "internal error",
                ))
            }
            _ => {
                tracing::warn!(transport = %self.instance(), session_id = %self.session_id(), op, error = %error, "Media stream refused by the transport; closing it.");
                let text: String = error.message.chars().take(100).collect();
                Some(Ending::new("protocol_error", close::POLICY, text))
            }
        }
    }

    fn publish_error(&self, message: &str) {
        self.state
            .events
            .publish(Event::new(kinds::ERROR, self.session_id()).with("error", message));
    }

    fn encode(&mut self, action: &OutboundAction<'_>) {
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
                OutboundAction::Audio(_) => Some(&session.stats.audio_chunks_out),
                OutboundAction::Mark(_) => Some(&session.stats.marks_out),
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
            Ok(json) => self.encode(&OutboundAction::Other(
                RStr::from("event"),
                RStr::from(json.as_str()),
            )),
            Err(error) => {
                tracing::warn!(session_id = %session.id, %error, "An event could not be serialized for the peer.");
            }
        }
    }

    async fn on_event(&mut self, event: StreamEvent) -> Option<Ending> {
        match event {
            StreamEvent::Start(start) => {
                if self.session.is_none() {
                    let call = match start.new_call.clone().into_option() {
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
                            self.pipeline = Some(self.new_pipeline(&session));
                            self.session = Some(session);
                        }
                        Admission::Rejected(_) => {
                            return Some(Ending::new("denied", close::POLICY, "call denied"));
                        }
                    }
                } else if let Some(s) = &self.session {
                    if !s.activate() {
                        tracing::debug!(session_id = %s.id, "Start on an already active session ignored.");
                    }
                }
                if let Some(s) = &self.session {
                    if let Ok(mut id) = s.stream_id.lock() {
                        *id = start.stream_id.to_string();
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
                        .map(|kv| {
                            // Parameters can carry credentials; never publish those.
                            let key = kv.key.to_ascii_lowercase();
                            let secret = ["token", "secret", "password", "key"]
                                .iter()
                                .any(|s| key.contains(s));
                            let value = if secret {
                                "<redacted>"
                            } else {
                                kv.value.as_str()
                            };
                            (kv.key.to_string(), value.into())
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
            StreamEvent::Dtmf(d) => {
                self.state.events.publish(
                    Event::new(kinds::DTMF, self.session_id()).with("digit", d.digit.as_str()),
                );
                None
            }
            StreamEvent::Mark(name) => {
                let current = self
                    .pipeline
                    .as_mut()
                    .is_some_and(|p| p.on_mark(name.as_str()));
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
                    reason.to_string()
                };
                Some(Ending::new(&r, close::NORMAL, "stream stopped"))
            }
            StreamEvent::Hangup(reason) => {
                let r = if reason.is_empty() {
                    "hangup".to_owned()
                } else {
                    reason.to_string()
                };
                Some(Ending::new(&r, close::NORMAL, "call ended"))
            }
            StreamEvent::Other(ext) => {
                tracing::debug!(session_id = %self.session_id(), kind = %ext.kind, "Transport event this host does not act on.");
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
        let Some(session) = self.session.take() else {
            return;
        };
        if let Some(s) = self.state.sessions.finish(&session.id, reason) {
            let stats = s.stats.snapshot();
            tracing::info!(
                session_id = %s.id,
                call_sid = %s.call.call_id,
                stream_sid = %s.stream_id.lock().map(|x| x.clone()).unwrap_or_default(),
                from = %s.call.from,
                to = %s.call.to,
                reason,
                stats = %serde_json::to_string(&stats).unwrap_or_default(),
                "Call ended."
            );
            self.state.pipeline.end_call(&s.id);
            self.state
                .events
                .publish(Event::new(kinds::CALL_ENDED, &s.id).with("reason", reason));
        }
    }
}
