//! Describes every metric once, so `/metrics` carries help text and the
//! core gauges exist before the first call.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Registers descriptions and zero values.
pub fn describe() {
    describe_gauge!("voicegate_calls_active", "Calls with a live session.");
    describe_counter!("voicegate_calls_total", "Calls accepted, by transport.");
    describe_counter!(
        "voicegate_calls_denied_total",
        "Calls turned away, by transport and reason."
    );
    describe_gauge!(
        "voicegate_streams_open",
        "Open media WebSockets, by transport."
    );
    describe_counter!(
        "voicegate_streams_refused_total",
        "Media WebSocket upgrades refused."
    );
    // Frame counters, frame lag and the event bus are rendered by
    // `telemetry::export` (per-session counters summed at scrape time).
    describe_counter!(
        "voicegate_stream_errors_total",
        "Media frames a transport could not handle, by kind."
    );
    describe_counter!(
        "voicegate_plugin_errors_total",
        "Failed plugin calls on HTTP routes."
    );
    describe_gauge!(
        "voicegate_stt_queue_depth",
        "Utterances waiting for an STT worker."
    );
    describe_histogram!(
        "voicegate_stt_queue_wait_seconds",
        Unit::Seconds,
        "Time utterances waited for an STT worker."
    );
    describe_histogram!(
        "voicegate_stt_seconds",
        Unit::Seconds,
        "Time spent transcribing an utterance."
    );
    describe_histogram!(
        "voicegate_stt_final_latency_seconds",
        Unit::Seconds,
        "From the end of the caller's speech to the final transcript."
    );
    describe_counter!(
        "voicegate_stt_refused_total",
        "Utterances refused because the STT queue was full."
    );
    describe_counter!("voicegate_events_total", "Events published, by type.");
    describe_counter!(
        "voicegate_audit_dropped_total",
        "Audit records dropped: the queue was full or the writer had stopped."
    );
    describe_counter!(
        "voicegate_audit_written_total",
        "Audit records written to the database."
    );
    describe_counter!(
        "voicegate_audit_failed_total",
        "Audit records the database refused or could not commit."
    );
    describe_histogram!(
        "voicegate_audit_batch_seconds",
        Unit::Seconds,
        "Time to write one batch of audit records (one transaction)."
    );
    metrics::gauge!("voicegate_calls_active").set(0.0);
    metrics::gauge!("voicegate_stt_queue_depth").set(0.0);
}
