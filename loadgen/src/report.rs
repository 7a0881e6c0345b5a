//! What a run found: the JSON report and its human and Markdown forms.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;

/// Quantiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Quantiles {
    /// Observations.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest (exact for the loadgen's own numbers; for the host's, the
    /// upper bound of the highest bucket reached).
    pub max: f64,
}

impl Quantiles {
    /// Exact quantiles (nearest rank) of a few values in ms.
    pub fn from_values_ms(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        let at = |q: f64| -> f64 {
            if values.is_empty() {
                return 0.0;
            }
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[rank - 1] as f64
        };
        Self {
            count: values.len() as u64,
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: values.last().map_or(0.0, |v| *v as f64),
        }
    }

    /// From a µs histogram.
    pub fn from_us(h: &Histogram) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.count(),
            p50: ms(h.quantile(0.5)),
            p95: ms(h.quantile(0.95)),
            p99: ms(h.quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// The run's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Concurrent calls.
    pub calls: usize,
    /// Seconds every call streams at full concurrency.
    pub duration_s: f64,
    /// Calls started per second while ramping up.
    pub ramp_per_sec: f64,
    /// Callers playing speech (the rest play silence).
    pub speaking_calls: usize,
    /// Seconds measured (the steady window: all calls up).
    pub window_s: f64,
}

/// CPU and memory of one process over the steady window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcReport {
    /// Share of one core, percent.
    pub cpu_percent: f64,
    /// The same per call.
    pub cpu_percent_per_call: f64,
    /// RSS before the first call, MiB.
    pub rss_idle_mib: f64,
    /// RSS at the end of the window, MiB.
    pub rss_mib: f64,
    /// Peak RSS (VmHWM) during the run, MiB.
    pub peak_mib: f64,
    /// (RSS at the end of the window − idle RSS) / calls, MiB.
    pub mib_per_call: f64,
    /// Threads.
    pub threads: u64,
}

/// The host's own numbers, from `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostMetrics {
    /// Messages the host read from the streams during the run.
    pub frames_in: f64,
    /// Audio chunks it decoded.
    pub audio_chunks_in: f64,
    /// Messages it sent.
    pub frames_out: f64,
    /// Frames its transport could not decode.
    pub decode_errors: f64,
    /// Frames dropped (flood guard).
    pub frames_dropped: f64,
    /// How far behind each call's media clock a frame was processed,
    /// during the window.
    pub frame_lag_ms: Option<Quantiles>,
    /// Time from reading a frame to its audio being processed, during the
    /// window.
    pub frame_processing_ms: Option<Quantiles>,
    /// Event bus: publish to subscriber receipt.
    pub event_bus_lag_ms: Option<Quantiles>,
    /// Calls turned away as busy during the run.
    pub calls_busy: f64,
    /// Utterances refused because the STT queue was full.
    pub stt_refused: f64,
    /// Time utterances waited for an STT worker, during the run.
    pub stt_queue_wait_ms: Option<Quantiles>,
    /// Time transcriptions took, during the run.
    pub stt_run_ms: Option<Quantiles>,
    /// Utterances cut by end-of-turn detection during the run.
    pub utterances: f64,
    /// Active calls by the host's gauge at the start of the window.
    pub calls_active_in_window: f64,
}

/// Machine load around the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MachineLoad {
    /// 1-minute load average before.
    pub loadavg_before: f64,
    /// 1-minute load average after.
    pub loadavg_after: f64,
    /// All CPU use during the window, percent of one core.
    pub busy_percent: f64,
    /// Of that, interrupts and softirqs: the loopback network stack
    /// carrying the calls, charged to no process.
    #[serde(default)]
    pub irq_percent: f64,
    /// Of that, processes other than the host and the loadgen.
    pub others_percent: f64,
    /// Cores.
    pub cores: usize,
}

/// `voice.stt.final` and `error` events during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SttReport {
    /// End of speech to final transcript.
    pub final_latency_ms: Quantiles,
    /// Finals under one second, percent.
    pub under_1s_percent: f64,
    /// `error` events by stage.
    pub errors: BTreeMap<String, u64>,
    /// Events the host skipped because the loadgen read them too slowly:
    /// the finals above are a sample missing that many events.
    #[serde(default)]
    pub events_missed: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Settings.
    pub settings: Settings,
    /// Streams opened (`start` sent).
    pub connected: u64,
    /// Calls that streamed to the end and were closed normally.
    pub completed: u64,
    /// Calls that failed at any stage.
    pub failed: u64,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// One detail per failure reason.
    pub failure_examples: BTreeMap<String, String>,
    /// Callers streaming when the window began.
    pub streaming_in_window: usize,
    /// Webhook to `start` sent.
    pub setup_ms: Quantiles,
    /// How late media messages left the loadgen.
    pub send_lateness_ms: Quantiles,
    /// `media` messages sent.
    pub media_sent: u64,
    /// All messages sent.
    pub messages_sent: u64,
    /// `media` received from the host.
    pub media_received: u64,
    /// Marks received.
    pub marks_received: u64,
    /// Marks echoed.
    pub marks_echoed: u64,
    /// `clear` received.
    pub clears_received: u64,
    /// Messages sent that the host did not count (sent − host's frames in);
    /// `None` without `/metrics`.
    pub frames_lost: Option<i64>,
    /// The loadgen itself.
    pub loadgen: ProcReport,
    /// The host, when its pid was given.
    pub host: Option<ProcReport>,
    /// The host's `/metrics`.
    pub host_metrics: Option<HostMetrics>,
    /// STT, when the admin token was given.
    pub stt: Option<SttReport>,
    /// Machine load.
    pub machine: MachineLoad,
}

fn q(q: &Option<Quantiles>) -> String {
    match q {
        Some(q) => format!(
            "p50 {:.2} / p99 {:.2} / max ≤ {:.2} ms",
            q.p50, q.p99, q.max
        ),
        None => "n/a".to_owned(),
    }
}

impl Report {
    /// A few lines for a person.
    pub fn human(&self) -> String {
        let s = &self.settings;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} calls ({} speaking), {:.0} s at full load ({:.0} s measured), ramp {}/s",
            s.calls, s.speaking_calls, s.duration_s, s.window_s, s.ramp_per_sec
        );
        let _ = writeln!(
            o,
            "  connected {}  completed {}  failed {}  {:?}",
            self.connected, self.completed, self.failed, self.failures
        );
        let l = &self.send_lateness_ms;
        let _ = writeln!(
            o,
            "  loadgen: sent {} media ({} messages), lateness p50 {:.2} p99 {:.2} max {:.2} ms; received {} media, {} marks ({} echoed), {} clears",
            self.media_sent, self.messages_sent, l.p50, l.p99, l.max, self.media_received,
            self.marks_received, self.marks_echoed, self.clears_received
        );
        let _ = writeln!(
            o,
            "  loadgen process: {:.1} % of a core ({:.4} %/call), peak {:.1} MiB",
            self.loadgen.cpu_percent, self.loadgen.cpu_percent_per_call, self.loadgen.peak_mib
        );
        if let Some(h) = &self.host {
            let _ = writeln!(
                o,
                "  host process: {:.1} % of a core ({:.4} %/call), RSS {:.1} MiB (idle {:.1}, peak {:.1}), {:.3} MiB/call, {} threads",
                h.cpu_percent, h.cpu_percent_per_call, h.rss_mib, h.rss_idle_mib, h.peak_mib, h.mib_per_call, h.threads
            );
        }
        if let Some(m) = &self.host_metrics {
            let _ = writeln!(
                o,
                "  host metrics: frames in {} (lost {:?}), audio chunks {}, out {}, decode errors {}, dropped {}, busy {}, stt refused {}",
                m.frames_in, self.frames_lost, m.audio_chunks_in, m.frames_out, m.decode_errors, m.frames_dropped, m.calls_busy, m.stt_refused
            );
            let _ = writeln!(o, "    frame lag        {}", q(&m.frame_lag_ms));
            let _ = writeln!(o, "    frame processing {}", q(&m.frame_processing_ms));
            let _ = writeln!(o, "    event bus lag    {}", q(&m.event_bus_lag_ms));
            if m.stt_run_ms.is_some() {
                let _ = writeln!(
                    o,
                    "    utterances {}; stt wait {}; stt run {}",
                    m.utterances,
                    q(&m.stt_queue_wait_ms),
                    q(&m.stt_run_ms)
                );
            }
        }
        if let Some(stt) = &self.stt {
            let f = &stt.final_latency_ms;
            let _ = writeln!(
                o,
                "  stt: {} finals, end of speech to final p50 {:.0} p95 {:.0} max {:.0} ms, {:.0} % under 1 s, errors {:?}, events missed {}",
                f.count, f.p50, f.p95, f.max, stt.under_1s_percent, stt.errors, stt.events_missed
            );
        }
        let m = &self.machine;
        let _ = writeln!(
            o,
            "  machine: load {:.2} → {:.2}, busy {:.0} % of a core: network softirq {:.0} %, other processes {:.0} %; {} cores",
            m.loadavg_before, m.loadavg_after, m.busy_percent, m.irq_percent, m.others_percent, m.cores
        );
        o
    }

    /// The header of [`Report::markdown_row`].
    pub fn markdown_header() -> &'static str {
        "| calls | connected / failed | host CPU (% of a core) | host CPU per call | host RSS (idle → load) | memory per call | frame lag p50 / p99 / max | processing p99 | loadgen lateness p50 / p99 / max | loadgen CPU | network softirq | frames lost | other processes |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    }

    /// The header of [`Report::markdown_stt_row`].
    pub fn markdown_stt_header() -> &'static str {
        "| calls | speaking | utterances | finals | end of speech → final p50 / p95 / max | finals under 1 s | STT wait p50 / p95 | STT run p50 / p95 | STT refused | host CPU (% of a core) | frame lag p99 | failed | other load |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    }

    /// One row of the STT table.
    pub fn markdown_stt_row(&self) -> String {
        let pair = |q: &Option<Quantiles>| {
            q.as_ref().map_or("n/a".to_owned(), |q| {
                format!("{:.0} / {:.0} ms", q.p50, q.p95)
            })
        };
        let (finals, latency, under, errors) = match &self.stt {
            Some(s) => (
                s.final_latency_ms.count.to_string(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    s.final_latency_ms.p50, s.final_latency_ms.p95, s.final_latency_ms.max
                ),
                format!("{:.0} %", s.under_1s_percent),
                s.errors.get("stt").copied().unwrap_or(0),
            ),
            None => ("n/a".into(), "n/a".into(), "n/a".into(), 0),
        };
        let m = self.host_metrics.clone().unwrap_or_default();
        format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.0} ({} errors) | {} | {} | {} | {:.0} % |",
            self.settings.calls,
            self.settings.speaking_calls,
            m.utterances,
            finals,
            latency,
            under,
            pair(&m.stt_queue_wait_ms),
            pair(&m.stt_run_ms),
            m.stt_refused,
            errors,
            self.host
                .as_ref()
                .map_or("n/a".to_owned(), |h| format!("{:.1} %", h.cpu_percent)),
            m.frame_lag_ms
                .as_ref()
                .map_or("n/a".to_owned(), |q| format!("{:.2} ms", q.p99)),
            self.failed,
            self.machine.others_percent,
        )
    }

    /// One table row.
    pub fn markdown_row(&self) -> String {
        let (cpu, per_call, rss, mem) = match &self.host {
            Some(h) => (
                format!("{:.1} %", h.cpu_percent),
                format!("{:.4} %", h.cpu_percent_per_call),
                format!("{:.0} → {:.0} MiB", h.rss_idle_mib, h.rss_mib),
                format!("{:.3} MiB", h.mib_per_call),
            ),
            None => ("n/a".into(), "n/a".into(), "n/a".into(), "n/a".into()),
        };
        let (lag, proc99) = match &self.host_metrics {
            Some(m) => (
                m.frame_lag_ms
                    .as_ref()
                    .map(|q| format!("{:.2} / {:.2} / ≤ {:.0} ms", q.p50, q.p99, q.max))
                    .unwrap_or_else(|| "n/a".into()),
                m.frame_processing_ms
                    .as_ref()
                    .map(|q| format!("{:.3} ms", q.p99))
                    .unwrap_or_else(|| "n/a".into()),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        let l = &self.send_lateness_ms;
        format!(
            "| {} | {} / {} | {} | {} | {} | {} | {} | {} | {:.2} / {:.2} / {:.1} ms | {:.1} % | {:.0} % | {} | {:.0} % |",
            self.settings.calls,
            self.connected,
            self.failed,
            cpu,
            per_call,
            rss,
            mem,
            lag,
            proc99,
            l.p50,
            l.p99,
            l.max,
            self.loadgen.cpu_percent,
            self.machine.irq_percent,
            self.frames_lost.map_or("n/a".to_owned(), |n| n.to_string()),
            self.machine.others_percent,
        )
    }
}
