//! `/metrics` text for what [`super`] measures, appended to the metrics
//! crate's exposition, and the summary `GET /api/calls` shows.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{histogram::BOUNDS_NS, HistogramSnapshot, Telemetry};
use crate::{events::EventBus, sessions::StatsSnapshot};

/// Reads one counter of a snapshot.
type Field = fn(&StatsSnapshot) -> u64;

/// The per-stream counters exported as totals: (metric, help, field).
const TOTALS: &[(&str, &str, Field)] = &[
    (
        "voicegate_frames_in_total",
        "Media WebSocket messages received, by transport.",
        |s| s.frames_in,
    ),
    (
        "voicegate_bytes_in_total",
        "Bytes of media WebSocket messages received, by transport.",
        |s| s.bytes_in,
    ),
    (
        "voicegate_frames_out_total",
        "Media WebSocket messages sent, by transport.",
        |s| s.frames_out,
    ),
    (
        "voicegate_bytes_out_total",
        "Bytes of media WebSocket messages sent, by transport.",
        |s| s.bytes_out,
    ),
    (
        "voicegate_audio_chunks_in_total",
        "Audio chunks decoded from media messages, by transport.",
        |s| s.audio_chunks_in,
    ),
    (
        "voicegate_audio_chunks_out_total",
        "Audio chunks sent to callers, by transport.",
        |s| s.audio_chunks_out,
    ),
    (
        "voicegate_decode_errors_total",
        "Media messages the transport could not decode, by transport.",
        |s| s.decode_errors,
    ),
    (
        "voicegate_frames_dropped_total",
        "Media messages dropped by the per-stream rate limit (flood guard), by transport.",
        |s| s.frames_dropped,
    ),
    (
        "voicegate_marks_out_total",
        "Playback marks sent, by transport.",
        |s| s.marks_out,
    ),
    (
        "voicegate_marks_in_total",
        "Playback marks echoed back by the carrier, by transport.",
        |s| s.marks_in,
    ),
    (
        "voicegate_gap_fill_samples_total",
        "Samples of silence inserted where carrier timestamps showed lost audio, by transport.",
        |s| s.gap_fill_samples,
    ),
    (
        "voicegate_utterances_total",
        "Utterances cut by end-of-turn detection, by transport.",
        |s| s.utterances,
    ),
    (
        "voicegate_utterances_dropped_total",
        "Utterances dropped because the STT queue was full, by transport.",
        |s| s.utterances_dropped,
    ),
    (
        "voicegate_barge_ins_total",
        "Replies the caller interrupted, by transport.",
        |s| s.barge_ins,
    ),
    (
        "voicegate_backchannels_total",
        "Short speech over a reply taken as a backchannel (not an interruption), by transport.",
        |s| s.backchannels,
    ),
    (
        "voicegate_marks_stale_total",
        "Marks echoed for replies already cleared or finished, by transport.",
        |s| s.marks_stale,
    ),
];

/// Prometheus label values escape `\`, `"` and newlines.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        match BOUNDS_NS.get(i) {
            Some(bound) => {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{}\"}} {cumulative}",
                    seconds(*bound)
                );
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let _ = writeln!(out, "{name}_sum {}", seconds(h.sum_ns));
    let _ = writeln!(out, "{name}_count {cumulative}");
    let _ = writeln!(
        out,
        "# HELP {name}_max Largest observation since the host started."
    );
    let _ = writeln!(out, "# TYPE {name}_max gauge");
    let _ = writeln!(out, "{name}_max {}", seconds(h.max_ns));
}

/// Appends the telemetry histograms, the event bus counters and the
/// stream totals to `out`.
pub fn render(
    out: &mut String,
    telemetry: &Telemetry,
    events: &EventBus,
    totals: &BTreeMap<String, StatsSnapshot>,
) {
    histogram(
        out,
        "voicegate_frame_lag_seconds",
        "How far behind its call's media clock each inbound audio frame was processed (socket and runtime queueing plus processing).",
        &telemetry.frame_lag.snapshot(),
    );
    histogram(
        out,
        "voicegate_frame_processing_seconds",
        "From reading a media message off the socket to having decoded it and fed its audio to the pipeline.",
        &telemetry.frame_processing.snapshot(),
    );
    histogram(
        out,
        "voicegate_event_bus_lag_seconds",
        "From publishing an event to a subscriber (SSE client) receiving it.",
        &events.lag().snapshot(),
    );
    let _ = writeln!(
        out,
        "# HELP voicegate_event_bus_lagged_total Events slow subscribers missed (the bus keeps the newest)."
    );
    let _ = writeln!(out, "# TYPE voicegate_event_bus_lagged_total counter");
    let _ = writeln!(out, "voicegate_event_bus_lagged_total {}", events.lagged());
    for (name, help, field) in TOTALS {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (transport, stats) in totals {
            let _ = writeln!(
                out,
                "{name}{{transport=\"{}\"}} {}",
                escape_label(transport),
                field(stats)
            );
        }
    }
}

/// The `stats` object of `GET /api/calls`.
pub fn summary(
    active: usize,
    telemetry: &Telemetry,
    events: &EventBus,
    totals: &BTreeMap<String, StatsSnapshot>,
) -> serde_json::Value {
    let mut all = StatsSnapshot::default();
    for stats in totals.values() {
        all.add(stats);
    }
    serde_json::json!({
        "active_calls": active,
        "streams": all,
        "frame_lag": telemetry.frame_lag.snapshot().summary(),
        "frame_processing": telemetry.frame_processing.snapshot().summary(),
        "event_bus": {
            "lag": events.lag().snapshot().summary(),
            "lagged": events.lagged(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histograms_and_totals() {
        let telemetry = Telemetry::default();
        telemetry.frame_lag.record_ns(3_000_000);
        telemetry.frame_lag.record_ns(30_000_000);
        let events = EventBus::new(4);
        let mut totals = BTreeMap::new();
        totals.insert(
            "twilio".to_owned(),
            StatsSnapshot {
                frames_in: 7,
                barge_ins: 2,
                ..StatsSnapshot::default()
            },
        );
        let mut out = String::new();
        render(&mut out, &telemetry, &events, &totals);
        assert!(
            out.contains("voicegate_frame_lag_seconds_bucket{le=\"0.005\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("voicegate_frame_lag_seconds_bucket{le=\"0.02\"} 1\n"));
        assert!(out.contains("voicegate_frame_lag_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(out.contains("voicegate_frame_lag_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(out.contains("voicegate_frame_lag_seconds_count 2\n"));
        assert!(out.contains("voicegate_frame_lag_seconds_max 0.03\n"));
        assert!(out.contains("voicegate_frames_in_total{transport=\"twilio\"} 7\n"));
        assert!(out.contains("voicegate_barge_ins_total{transport=\"twilio\"} 2\n"));
        assert!(out.contains("# TYPE voicegate_event_bus_lagged_total counter\n"));
        let s = summary(3, &telemetry, &events, &totals);
        assert_eq!(s["active_calls"], 3);
        assert_eq!(s["streams"]["frames_in"], 7);
        assert_eq!(s["frame_lag"]["count"], 2);
        assert_eq!(s["frame_lag"]["max_ms"], 30.0);
    }
}
