//! The event bus: what happens to calls, as JSON objects with `type`,
//! `session_id` and `timestamp`, fanned out to SSE clients and logs.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::{audit::AuditSink, telemetry::LatencyHistogram};

/// One event (the external contract in DESIGN.md).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `call.created`, `voice.stt.final`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The session it concerns (empty for host-level events).
    pub session_id: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// Fields of this event type.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    /// When it was published (for the bus's lag; not part of the JSON).
    #[serde(skip)]
    pub published: Instant,
}

/// Event type names.
pub mod kinds {
    /// The webhook accepted a call.
    pub const CALL_CREATED: &str = "call.created";
    /// Media started.
    pub const CALL_STARTED: &str = "call.started";
    /// A call was turned away.
    pub const CALL_DENIED: &str = "call.denied";
    /// A final transcript.
    pub const STT_FINAL: &str = "voice.stt.final";
    /// An interim hypothesis of an utterance still being spoken (`text`,
    /// `stable`, `utterance`), from STT engines that give them.
    pub const STT_PARTIAL: &str = "voice.stt.partial";
    /// The responder's answer.
    pub const ASSISTANT_TEXT: &str = "voice.assistant.text";
    /// The first audio of a reply went to the caller (`reply`, and
    /// `latency_ms` from the end of the caller's speech).
    pub const ASSISTANT_SPEAKING: &str = "voice.assistant.speaking";
    /// A reply played to its end (`reply`).
    pub const ASSISTANT_PLAYED: &str = "voice.assistant.played";
    /// The caller barged in (`reply`, and `heard`: what they heard of it).
    pub const ASSISTANT_INTERRUPTED: &str = "voice.assistant.interrupted";
    /// A key press.
    pub const DTMF: &str = "call.dtmf";
    /// A call ended.
    pub const CALL_ENDED: &str = "call.ended";
    /// Something failed for a call.
    pub const ERROR: &str = "error";
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn now_rfc3339() -> String {
    format_rfc3339_ms(time::OffsetDateTime::now_utc())
}

/// `2025-01-31T09:15:02.125Z`: UTC, always three fractional digits, so
/// timestamps sort and compare as text (the audit store relies on it).
pub fn format_rfc3339_ms(at: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

impl Event {
    /// An event with no fields yet.
    pub fn new(kind: &'static str, session_id: &str) -> Self {
        Self {
            kind,
            session_id: session_id.to_owned(),
            timestamp: now_rfc3339(),
            fields: Map::new(),
            published: Instant::now(),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }
}

/// Publishes events to every subscriber; slow subscribers lose the oldest
/// (counted in [`EventBus::lagged`]).
///
/// An audit sink, when set, sees every event at publish time (before any
/// subscriber could lag) and queues the ones it records without waiting.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    audit: Option<AuditSink>,
    lag: Arc<LatencyHistogram>,
    lagged: Arc<AtomicU64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus {
    /// A bus keeping `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        Self::with_audit(capacity, None)
    }

    /// A bus that also hands every event to `audit`.
    pub fn with_audit(capacity: usize, audit: Option<AuditSink>) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            audit,
            lag: Arc::default(),
            lagged: Arc::default(),
        }
    }

    /// The audit sink, when auditing is on.
    pub fn audit(&self) -> Option<&AuditSink> {
        self.audit.as_ref()
    }

    /// Publishes an event and logs it.
    pub fn publish(&self, mut event: Event) {
        event.published = Instant::now();
        if let Some(audit) = &self.audit {
            // Never blocks: a full queue drops the record and counts it.
            audit.record_event(&event);
        }
        let fields = Value::Object(event.fields.clone());
        tracing::info!(
            event = event.kind,
            session_id = %event.session_id,
            fields = %fields,
            "Event."
        );
        metrics::counter!("voicegate_events_total", "type" => event.kind).increment(1);
        // No subscriber is fine.
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription. Subscribers report what they receive with
    /// [`EventBus::received`] and what they missed with
    /// [`EventBus::missed`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// A subscriber got `event`: records how long it took.
    pub fn received(&self, event: &Event) {
        self.lag
            .record_ns(event.published.elapsed().as_nanos() as u64);
    }

    /// A subscriber fell behind and missed `n` events.
    pub fn missed(&self, n: u64) {
        self.lagged.fetch_add(n, Ordering::Relaxed);
    }

    /// Publish-to-receipt times.
    pub fn lag(&self) -> &LatencyHistogram {
        &self.lag
    }

    /// Events subscribers missed.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}
