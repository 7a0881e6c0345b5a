//! The audit trail: every call, admission verdict, transcript, answer and
//! admin action, in SQLite (`[audit] path`, WAL).
//!
//! Records come from the event bus at publish time ([`AuditSink`]) and from
//! the admin API. They go through a bounded queue to one writer thread that
//! inserts them in batches, one transaction per batch, so the media path
//! never waits on the disk: when the queue is full a record is dropped and
//! counted (`voicegate_audit_dropped_total`). [`Audit::close`] drains what is
//! queued before it returns. Queries ([`AuditReader`]) use their own
//! read connections. `docs/audit.md` describes the schema.

mod query;
pub mod schema;
mod writer;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{self, SyncSender, TrySendError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Instant,
};

use serde_json::Value;

pub use query::{
    render_text, AdminRecord, AnswerRecord, AuditQuery, AuditReport, CallRecord, ParamError,
    TranscriptRecord, Truncated, VerdictRecord, DEFAULT_LIMIT, MAX_LIMIT,
};
pub use writer::WriterStats;

use crate::events::{kinds, Event};

/// What can go wrong with the audit database.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file or directory could not be created or read.
    #[error("audit database {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("audit database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The schema is not one this binary can use.
    #[error("audit database {}: {message}", path.display())]
    Schema {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// There is no database to read.
    #[error("no audit database at {} (the host creates it when it serves with this config)", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The writer thread could not be started.
    #[error("cannot start the audit writer thread: {0}")]
    Thread(std::io::Error),
    /// A query task failed.
    #[error("audit query failed: {0}")]
    Task(String),
}

/// One row (or row update) for the audit store.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A call was accepted: a `calls` row and its allowing verdict.
    Admitted {
        /// Session id.
        session_id: String,
        /// Transport instance.
        transport: String,
        /// The carrier's call id.
        call_id: String,
        /// Caller.
        from: String,
        /// Callee.
        to: String,
        /// Risk tier the policy chain assigned.
        tier: String,
        /// Reasons, a JSON array of `{code, message}`.
        reasons: String,
        /// When (RFC 3339).
        at: String,
    },
    /// Media started: fills `calls.stream_id`.
    StreamStarted {
        /// Session id.
        session_id: String,
        /// The carrier's stream id.
        stream_id: String,
    },
    /// A call ended: fills `calls.ended_at` and `calls.end_reason`.
    Ended {
        /// Session id.
        session_id: String,
        /// Why.
        reason: String,
        /// When (RFC 3339).
        at: String,
    },
    /// A call was turned away: a verdict without a session.
    Denied {
        /// Transport instance.
        transport: String,
        /// The carrier's call id.
        call_id: String,
        /// Caller.
        from: String,
        /// Callee.
        to: String,
        /// Tier, when a policy judged the call.
        tier: Option<String>,
        /// Reasons, a JSON array of `{code, message}`.
        reasons: String,
        /// When (RFC 3339).
        at: String,
    },
    /// A final transcript.
    Transcript {
        /// Session id.
        session_id: String,
        /// What the caller said.
        text: String,
        /// End of speech → transcript.
        latency_ms: Option<i64>,
        /// When (RFC 3339).
        at: String,
    },
    /// The agent's answer.
    Answer {
        /// Session id.
        session_id: String,
        /// What it said.
        text: String,
        /// When (RFC 3339).
        at: String,
    },
    /// An admin API action.
    AdminAction {
        /// `call.hangup`, `audit.query`, …
        action: String,
        /// What it acted on (a session id, a query).
        target: String,
        /// The client's socket address.
        remote_addr: Option<String>,
        /// When (RFC 3339).
        at: String,
    },
}

impl Record {
    /// The record an event becomes, if it is one the audit trail keeps.
    pub fn from_event(event: &Event) -> Option<Self> {
        let text = |key: &str| -> String {
            event
                .fields
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let reasons = || match event.fields.get("reasons") {
            Some(v @ Value::Array(_)) => v.to_string(),
            _ => "[]".to_owned(),
        };
        let session_id = || event.session_id.clone();
        let at = || event.timestamp.clone();
        Some(match event.kind {
            kinds::CALL_CREATED => Self::Admitted {
                session_id: session_id(),
                transport: text("transport"),
                call_id: text("call_id"),
                from: text("from"),
                to: text("to"),
                tier: text("tier"),
                reasons: reasons(),
                at: at(),
            },
            kinds::CALL_STARTED => Self::StreamStarted {
                session_id: session_id(),
                stream_id: text("stream_id"),
            },
            kinds::CALL_DENIED => Self::Denied {
                transport: text("transport"),
                call_id: text("call_id"),
                from: text("from"),
                to: text("to"),
                tier: event
                    .fields
                    .get("tier")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                reasons: reasons(),
                at: at(),
            },
            kinds::CALL_ENDED => Self::Ended {
                session_id: session_id(),
                reason: text("reason"),
                at: at(),
            },
            kinds::STT_FINAL => Self::Transcript {
                session_id: session_id(),
                text: text("text"),
                latency_ms: event.fields.get("latency_ms").and_then(Value::as_i64),
                at: at(),
            },
            kinds::ASSISTANT_TEXT => Self::Answer {
                session_id: session_id(),
                text: text("text"),
                at: at(),
            },
            _ => return None,
        })
    }

    /// An admin action happening now.
    pub fn admin_action(action: &str, target: &str, remote_addr: Option<String>) -> Self {
        Self::AdminAction {
            action: action.to_owned(),
            target: target.to_owned(),
            remote_addr,
            at: crate::events::now_rfc3339(),
        }
    }
}

/// What travels on the queue.
#[derive(Debug)]
enum Msg {
    Record(Record),
    /// Write everything queued before this, then stop.
    Close,
}

/// Counters shared by every sink of one audit store.
#[derive(Debug)]
struct DropCounter {
    dropped: AtomicU64,
    since_log: AtomicU64,
    next_log_ms: AtomicU64,
    epoch: Instant,
}

/// At most one "records dropped" warning per this many milliseconds.
const DROP_LOG_INTERVAL_MS: u64 = 10_000;

impl DropCounter {
    fn new() -> Self {
        Self {
            dropped: AtomicU64::new(0),
            since_log: AtomicU64::new(0),
            next_log_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn dropped(&self, why: &'static str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.since_log.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("voicegate_audit_dropped_total", "reason" => why).increment(1);
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next_log_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_log_ms
                .compare_exchange(
                    next,
                    now + DROP_LOG_INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            let count = self.since_log.swap(0, Ordering::Relaxed);
            tracing::warn!(
                dropped = count,
                total = self.dropped.load(Ordering::Relaxed),
                reason = why,
                "Audit records dropped: the audit queue is full or the writer has stopped."
            );
        }
    }
}

/// Queues audit records without ever waiting. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: SyncSender<Msg>,
    drops: Arc<DropCounter>,
}

impl fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSink")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Queues a record; false (and counted) when the queue is full or the
    /// writer has stopped.
    pub fn record(&self, record: Record) -> bool {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.drops.dropped("queue_full");
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.drops.dropped("closed");
                false
            }
        }
    }

    /// Queues the record an event becomes, if any.
    pub fn record_event(&self, event: &Event) {
        if let Some(record) = Record::from_event(event) {
            self.record(record);
        }
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.drops.dropped.load(Ordering::Relaxed)
    }
}

/// The audit store: the writer thread, sinks that feed it, readers.
pub struct Audit {
    path: PathBuf,
    sink: AuditSink,
    reader: AuditReader,
    stats: Arc<WriterStats>,
    writer: Option<JoinHandle<()>>,
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audit")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Totals when the store closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditTotals {
    /// Records written.
    pub written: u64,
    /// Records SQLite refused.
    pub failed: u64,
    /// Records dropped before reaching the writer.
    pub dropped: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// A bounded queue whose receiving end a writer thread consumes.
fn channel(queue: usize) -> (AuditSink, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::sync_channel(queue.max(1));
    (
        AuditSink {
            tx,
            drops: Arc::new(DropCounter::new()),
        },
        rx,
    )
}

impl Audit {
    /// Opens (creating and migrating) the database at `path` and starts the
    /// writer thread with a queue of `queue` records.
    pub fn open(path: &Path, queue: usize) -> Result<Self, AuditError> {
        let conn = schema::open_writer(path)?;
        let reader = AuditReader::open(path)?;
        let (sink, rx) = channel(queue);
        Self::start(path, conn, sink, rx, reader)
    }

    fn start(
        path: &Path,
        conn: rusqlite::Connection,
        sink: AuditSink,
        rx: mpsc::Receiver<Msg>,
        reader: AuditReader,
    ) -> Result<Self, AuditError> {
        let stats = Arc::new(WriterStats::default());
        let for_writer = stats.clone();
        let writer = std::thread::Builder::new()
            .name("voicegate-audit".to_owned())
            .spawn(move || writer::run(conn, rx, &for_writer))
            .map_err(AuditError::Thread)?;
        tracing::info!(path = %path.display(), "Audit trail open.");
        Ok(Self {
            path: path.to_path_buf(),
            sink,
            reader,
            stats,
            writer: Some(writer),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle that queues records.
    pub fn sink(&self) -> AuditSink {
        self.sink.clone()
    }

    /// A handle that runs queries.
    pub fn reader(&self) -> AuditReader {
        self.reader.clone()
    }

    /// Totals so far.
    pub fn totals(&self) -> AuditTotals {
        let (written, failed, batches) = self.stats.snapshot();
        AuditTotals {
            written,
            failed,
            batches,
            dropped: self.sink.dropped(),
        }
    }

    /// Writes everything queued so far, stops the writer and waits for it.
    /// Blocks: from async code use [`Audit::shutdown`]. Records queued
    /// after this are dropped (and counted).
    pub fn close(mut self) -> AuditTotals {
        self.stop();
        let totals = self.totals();
        tracing::info!(
            written = totals.written,
            failed = totals.failed,
            dropped = totals.dropped,
            "Audit trail closed."
        );
        totals
    }

    /// [`Audit::close`] on the blocking pool.
    pub async fn shutdown(self) -> AuditTotals {
        let fallback = self.totals();
        tokio::task::spawn_blocking(move || self.close())
            .await
            .unwrap_or(fallback)
    }

    fn stop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        // Blocks while the queue is full; the writer is emptying it.
        if self.sink.tx.send(Msg::Close).is_err() {
            tracing::error!("The audit writer stopped early.");
        }
        if writer.join().is_err() {
            tracing::error!("The audit writer panicked.");
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Not closed: tell the writer to finish, without waiting here.
            let _ = self.sink.tx.try_send(Msg::Close);
        }
    }
}

/// Runs queries on read connections of its own (a small pool), never on the
/// writer's.
#[derive(Clone)]
pub struct AuditReader {
    path: PathBuf,
    pool: Arc<Mutex<Vec<rusqlite::Connection>>>,
}

impl fmt::Debug for AuditReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Read connections kept for reuse.
const READERS_KEPT: usize = 4;

impl AuditReader {
    /// Opens an existing audit database for queries.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let conn = schema::open_reader(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            pool: Arc::new(Mutex::new(vec![conn])),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a query. Blocks: from async code use [`AuditReader::query_async`].
    pub fn query(&self, query: &AuditQuery) -> Result<AuditReport, AuditError> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => schema::open_reader(&self.path)?,
        };
        let result = query::run(&conn, query).map_err(|source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        });
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < READERS_KEPT {
                pool.push(conn);
            }
        }
        result
    }

    /// [`AuditReader::query`] on the blocking pool, so the reactor never
    /// waits on the disk.
    pub async fn query_async(&self, query: AuditQuery) -> Result<AuditReport, AuditError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.query(&query))
            .await
            .map_err(|e| AuditError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;
