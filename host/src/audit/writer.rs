//! The one thread that writes the audit database: it waits for a record,
//! takes whatever else is already queued (up to [`MAX_BATCH`]), and writes
//! the lot in one transaction.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, TryRecvError},
    },
    time::{Duration, Instant},
};

use rusqlite::{params, Connection};

use super::{Msg, Record};

/// Most records per transaction.
pub(super) const MAX_BATCH: usize = 512;

/// Tries per batch before its records are given up (a busy lock held by
/// another process, a transient I/O error).
const ATTEMPTS: u32 = 3;

/// What the writer did.
#[derive(Debug, Default)]
pub struct WriterStats {
    written: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
}

impl WriterStats {
    /// (written, failed, batches).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }
}

/// Runs until [`Msg::Close`] (or every sender is gone), then writes what is
/// still queued and returns.
pub(super) fn run(mut conn: Connection, rx: Receiver<Msg>, stats: &WriterStats) {
    let mut batch: Vec<Record> = Vec::with_capacity(MAX_BATCH);
    let mut closing = false;
    loop {
        if !closing {
            match rx.recv() {
                Ok(Msg::Record(r)) => batch.push(r),
                Ok(Msg::Close) | Err(_) => closing = true,
            }
        }
        let mut empty = false;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Record(r)) => batch.push(r),
                Ok(Msg::Close) => closing = true,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    empty = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            write_batch(&mut conn, &batch, stats);
            batch.clear();
        }
        if closing && empty {
            break;
        }
    }
    drop(rx);
    // Closing the connection checkpoints the WAL into the database file.
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "Closing the audit database failed.");
    }
}

fn write_batch(conn: &mut Connection, batch: &[Record], stats: &WriterStats) {
    let started = Instant::now();
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match write_once(conn, batch) {
            Ok(failed) => break Ok(failed),
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, records = batch.len(), "Writing audit records failed; retrying.");
                std::thread::sleep(Duration::from_millis(100 * 5u64.pow(attempt - 1)));
            }
            Err(error) => break Err(error),
        }
    };
    stats.batches.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(failed) => {
            let written = (batch.len() - failed) as u64;
            stats.written.fetch_add(written, Ordering::Relaxed);
            stats.failed.fetch_add(failed as u64, Ordering::Relaxed);
            metrics::counter!("voicegate_audit_written_total").increment(written);
            if failed > 0 {
                metrics::counter!("voicegate_audit_failed_total").increment(failed as u64);
            }
        }
        Err(error) => {
            stats
                .failed
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            metrics::counter!("voicegate_audit_failed_total").increment(batch.len() as u64);
            tracing::error!(%error, records = batch.len(), "Audit records could not be written; they are lost.");
        }
    }
    metrics::histogram!("voicegate_audit_batch_seconds").record(started.elapsed().as_secs_f64());
}

/// One transaction for the whole batch. A record SQLite refuses is logged
/// and skipped (a savepoint rolls back its rows alone); returns how many
/// were.
fn write_once(conn: &mut Connection, batch: &[Record]) -> rusqlite::Result<usize> {
    let mut tx = conn.transaction()?;
    let mut failed = 0;
    for record in batch {
        let savepoint = tx.savepoint()?;
        match insert(&savepoint, record) {
            Ok(()) => savepoint.commit()?,
            Err(error) => {
                // Dropping the savepoint rolls it back.
                drop(savepoint);
                failed += 1;
                tracing::warn!(%error, record = ?record, "Audit record refused by the database.");
            }
        }
    }
    tx.commit()?;
    Ok(failed)
}

/// `at` as stored: UTC with exactly three fractional digits, so it sorts as
/// text. Event times already are; anything else is parsed and reformatted.
pub(super) fn stored_time(at: &str) -> String {
    let fixed = at.len() == 24 && at.ends_with('Z') && at.as_bytes().get(19) == Some(&b'.');
    if fixed {
        return at.to_owned();
    }
    match time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339) {
        Ok(t) => crate::events::format_rfc3339_ms(t),
        Err(_) => crate::events::now_rfc3339(),
    }
}

fn insert(tx: &Connection, record: &Record) -> rusqlite::Result<()> {
    match record {
        Record::Admitted {
            session_id,
            transport,
            call_id,
            from,
            to,
            tier,
            reasons,
            at,
        } => {
            let at = stored_time(at);
            tx.prepare_cached(
                "INSERT INTO calls (session_id, transport, call_id, from_number, to_number, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![session_id, transport, call_id, from, to, at])?;
            tx.prepare_cached(
                "INSERT INTO verdicts (session_id, call_id, transport, from_number, to_number, allowed, tier, reasons, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)",
            )?
            .execute(params![session_id, call_id, transport, from, to, tier, reasons, at])?;
        }
        Record::StreamStarted {
            session_id,
            stream_id,
        } => {
            tx.prepare_cached(
                "UPDATE calls SET stream_id = ?2 WHERE session_id = ?1 AND stream_id IS NULL",
            )?
            .execute(params![session_id, stream_id])?;
        }
        Record::Ended {
            session_id,
            reason,
            at,
        } => {
            tx.prepare_cached(
                "UPDATE calls SET ended_at = ?2, end_reason = ?3 WHERE session_id = ?1 AND ended_at IS NULL",
            )?
            .execute(params![session_id, stored_time(at), reason])?;
        }
        Record::Denied {
            transport,
            call_id,
            from,
            to,
            tier,
            reasons,
            at,
        } => {
            tx.prepare_cached(
                "INSERT INTO verdicts (session_id, call_id, transport, from_number, to_number, allowed, tier, reasons, at)
                 VALUES (NULL, ?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
            )?
            .execute(params![call_id, transport, from, to, tier, reasons, stored_time(at)])?;
        }
        Record::Transcript {
            session_id,
            text,
            latency_ms,
            at,
        } => {
            tx.prepare_cached(
                "INSERT INTO transcripts (session_id, text, latency_ms, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![session_id, text, latency_ms, stored_time(at)])?;
        }
        Record::Answer {
            session_id,
            text,
            at,
        } => {
            tx.prepare_cached("INSERT INTO answers (session_id, text, at) VALUES (?1, ?2, ?3)")?
                .execute(params![session_id, text, stored_time(at)])?;
        }
        Record::AdminAction {
            action,
            target,
            remote_addr,
            at,
        } => {
            tx.prepare_cached(
                "INSERT INTO admin_actions (action, target, remote_addr, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![action, target, remote_addr, stored_time(at)])?;
        }
    }
    Ok(())
}
