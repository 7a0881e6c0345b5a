//! One load level: ramp up to N callers, hold them for the duration,
//! measure the steady window (every call up), hang up, and report.

use std::{sync::Arc, time::Duration};

use tokio::time::{sleep, sleep_until, Instant};

use crate::{
    bank::Bank,
    caller::{self, Outcome, Plan, Shared, Target},
    clip::{self, ClipError, Speech},
    events::{EventTally, ListenError, Listener},
    histogram::Histogram,
    procfs::{self, Pid, ProcSample},
    prom::{self, Scrape},
    report::{HostMetrics, MachineLoad, ProcReport, Quantiles, Report, Settings, SttReport},
};

/// How to load the host.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Concurrent calls.
    pub calls: usize,
    /// How long every call streams once all are up.
    pub duration: Duration,
    /// Calls started per second.
    pub ramp_per_sec: f64,
    /// Callers that play speech; the others play silence.
    pub speaking_calls: usize,
    /// What the speakers say.
    pub speech: Speech,
    /// Left out of the window after the last call started, for its setup.
    pub settle: Duration,
    /// The host's pid, for its CPU and memory.
    pub host_pid: Option<u32>,
    /// Admin token, to follow `/api/events` (STT latency, errors).
    pub admin_token: Option<String>,
    /// Scrape the host's `/metrics`.
    pub scrape_metrics: bool,
    /// Distinguishes this run's CallSids from earlier runs'.
    pub run_id: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            calls: 10,
            duration: Duration::from_secs(10),
            ramp_per_sec: 100.0,
            speaking_calls: 10,
            speech: Speech::default(),
            settle: Duration::from_secs(2),
            host_pid: None,
            admin_token: None,
            scrape_metrics: true,
            run_id: 1,
        }
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The clip could not be made.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The event stream could not be followed.
    #[error(transparent)]
    Events(#[from] ListenError),
    /// The host's /proc entries could not be read.
    #[error("reading the host process: {0}")]
    Proc(#[from] procfs::ProcError),
    /// Nonsense settings.
    #[error("{0}")]
    Settings(String),
}

/// Readings taken at one moment.
struct Snapshot {
    host: Option<ProcSample>,
    me: Option<ProcSample>,
    machine: Option<procfs::MachineTicks>,
    metrics: Option<Scrape>,
}

async fn scrape(http: &reqwest::Client, base: &str) -> Option<Scrape> {
    let resp = http
        .get(format!("{}/metrics", base.trim_end_matches('/')))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    Some(Scrape::parse(&resp.text().await.ok()?))
}

async fn snapshot(http: &reqwest::Client, cfg: &RunConfig, base: &str) -> Snapshot {
    Snapshot {
        host: cfg
            .host_pid
            .and_then(|pid| procfs::sample(Pid::Id(pid)).ok()),
        me: procfs::sample(Pid::Current).ok(),
        machine: procfs::machine_ticks().ok(),
        metrics: if cfg.scrape_metrics {
            scrape(http, base).await
        } else {
            None
        },
    }
}

/// Runs one level.
pub async fn run(target: Target, cfg: RunConfig) -> Result<Report, RunError> {
    if cfg.calls == 0 || cfg.ramp_per_sec <= 0.0 || cfg.speaking_calls > cfg.calls {
        return Err(RunError::Settings(
            "calls ≥ 1, ramp-per-sec > 0 and speaking calls ≤ calls, please".to_owned(),
        ));
    }
    let speech = if cfg.speaking_calls > 0 {
        clip::speech_mulaw(&cfg.speech)?
    } else {
        clip::silence_mulaw()
    };
    let ramp = Duration::from_secs_f64(cfg.calls as f64 / cfg.ramp_per_sec);
    let lead = Duration::from_millis(200);
    let span = lead + ramp + cfg.settle + cfg.duration + Duration::from_secs(5);
    let frames_per_call = (span.as_millis() / 20) as usize + 1;
    let bank = Bank::build(&speech, &clip::silence_mulaw(), frames_per_call);
    let clip_frames = bank.speech.clip_frames();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;
    let shared = Arc::new(Shared::new(target.clone(), http.clone(), bank, cfg.run_id));
    let base = target.base.clone();

    if let Some(pid) = cfg.host_pid {
        procfs::sample(Pid::Id(pid))?;
        procfs::reset_peak(Pid::Id(pid));
    }
    procfs::reset_peak(Pid::Current);
    let loadavg_before = procfs::loadavg();
    let before = snapshot(&http, &cfg, &base).await;
    let listener = match &cfg.admin_token {
        Some(token) => Some(Listener::start(&http, &base, token).await?),
        None => None,
    };

    let t0 = Instant::now() + lead;
    let window_start = t0 + ramp + cfg.settle;
    let stop_at = window_start + cfg.duration;
    let mut tasks = Vec::with_capacity(cfg.calls);
    for index in 0..cfg.calls {
        // Speakers spread evenly among the callers, each starting at its
        // own point of the clip so they do not all talk at once.
        let speaking =
            (index + 1) * cfg.speaking_calls / cfg.calls > index * cfg.speaking_calls / cfg.calls;
        let plan = Plan {
            index,
            start_at: t0 + Duration::from_secs_f64(index as f64 / cfg.ramp_per_sec),
            stop_at,
            speaking,
            offset: if speaking {
                (index * 7919 + 13) % clip_frames
            } else {
                0
            },
        };
        tasks.push(tokio::spawn(caller::call(shared.clone(), plan)));
    }

    sleep_until(window_start).await;
    let streaming_in_window = shared.streaming();
    let a = snapshot(&http, &cfg, &base).await;
    sleep_until(stop_at - Duration::from_millis(20)).await;
    let b = snapshot(&http, &cfg, &base).await;

    let mut outcomes = Vec::with_capacity(cfg.calls);
    for task in tasks {
        // A caller task only ends by returning its outcome; a panic in one
        // is a bug in the loadgen and is reported as such.
        outcomes.push(task.await.unwrap_or_else(|e| Outcome {
            failure: Some(("loadgen_panic".to_owned(), e.to_string())),
            ..Outcome::default()
        }));
    }
    // Let the host finish every call before the final count.
    let mut after = None;
    if cfg.scrape_metrics {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            after = scrape(&http, &base).await;
            let active = after
                .as_ref()
                .and_then(|s| s.sum("voicegate_calls_active"))
                .unwrap_or(0.0);
            if active <= 0.0 || Instant::now() >= deadline {
                break;
            }
            sleep(Duration::from_millis(200)).await;
        }
    }
    let tally = match listener {
        Some(l) => Some(l.finish().await),
        None => None,
    };
    let loadavg_after = procfs::loadavg();

    Ok(compose(
        &cfg,
        outcomes,
        streaming_in_window,
        [&before, &a, &b],
        after.as_ref(),
        tally,
        (loadavg_before, loadavg_after),
    ))
}

fn proc_report(
    idle: Option<&ProcSample>,
    a: &ProcSample,
    b: &ProcSample,
    calls: usize,
) -> ProcReport {
    let cpu = procfs::cpu_percent(a, b);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let idle_kib = idle.map_or(0, |s| s.rss_kib);
    ProcReport {
        cpu_percent: cpu,
        cpu_percent_per_call: cpu / calls as f64,
        rss_idle_mib: mib(idle_kib),
        rss_mib: mib(b.rss_kib),
        peak_mib: mib(b.hwm_kib),
        mib_per_call: mib(b.rss_kib.saturating_sub(idle_kib)) / calls as f64,
        threads: b.threads,
    }
}

fn seconds_to_ms(buckets: &prom::Buckets) -> Option<Quantiles> {
    let count = prom::count(buckets);
    if count <= 0.0 {
        return None;
    }
    let ms = |q: f64| prom::quantile(buckets, q).unwrap_or(0.0) * 1000.0;
    Some(Quantiles {
        count: count as u64,
        p50: ms(0.5),
        p95: ms(0.95),
        p99: ms(0.99),
        max: prom::max_bound(buckets).unwrap_or(0.0) * 1000.0,
    })
}

fn host_metrics(before: &Scrape, a: &Scrape, b: &Scrape, after: &Scrape) -> HostMetrics {
    let d = |name: &str| after.sum(name).unwrap_or(0.0) - before.sum(name).unwrap_or(0.0);
    let window = |name: &str| seconds_to_ms(&prom::delta(&a.buckets(name), &b.buckets(name)));
    let run = |name: &str| seconds_to_ms(&prom::delta(&before.buckets(name), &after.buckets(name)));
    let busy = after.sum_where("voicegate_calls_denied_total", "reason", "busy")
        - before.sum_where("voicegate_calls_denied_total", "reason", "busy");
    HostMetrics {
        frames_in: d("voicegate_frames_in_total"),
        audio_chunks_in: d("voicegate_audio_chunks_in_total"),
        frames_out: d("voicegate_frames_out_total"),
        decode_errors: d("voicegate_decode_errors_total"),
        frames_dropped: d("voicegate_frames_dropped_total"),
        frame_lag_ms: window("voicegate_frame_lag_seconds"),
        frame_processing_ms: window("voicegate_frame_processing_seconds"),
        event_bus_lag_ms: run("voicegate_event_bus_lag_seconds"),
        calls_busy: busy,
        stt_refused: d("voicegate_stt_refused_total"),
        stt_queue_wait_ms: run("voicegate_stt_queue_wait_seconds"),
        stt_run_ms: run("voicegate_stt_seconds"),
        utterances: d("voicegate_utterances_total"),
        calls_active_in_window: a.sum("voicegate_calls_active").unwrap_or(0.0),
    }
}

fn compose(
    cfg: &RunConfig,
    outcomes: Vec<Outcome>,
    streaming_in_window: usize,
    [before, a, b]: [&Snapshot; 3],
    after: Option<&Scrape>,
    tally: Option<EventTally>,
    (loadavg_before, loadavg_after): (f64, f64),
) -> Report {
    let mut lateness = Histogram::default();
    let mut setup = Histogram::default();
    let mut report = Report {
        settings: Settings {
            calls: cfg.calls,
            duration_s: cfg.duration.as_secs_f64(),
            ramp_per_sec: cfg.ramp_per_sec,
            speaking_calls: cfg.speaking_calls,
            window_s: match (&a.me, &b.me) {
                (Some(a), Some(b)) => b.at.duration_since(a.at).as_secs_f64(),
                _ => cfg.duration.as_secs_f64(),
            },
        },
        connected: 0,
        completed: 0,
        failed: 0,
        failures: Default::default(),
        failure_examples: Default::default(),
        streaming_in_window,
        setup_ms: Quantiles::default(),
        send_lateness_ms: Quantiles::default(),
        media_sent: 0,
        messages_sent: 0,
        media_received: 0,
        marks_received: 0,
        marks_echoed: 0,
        clears_received: 0,
        frames_lost: None,
        loadgen: ProcReport::default(),
        host: None,
        host_metrics: None,
        stt: None,
        machine: MachineLoad::default(),
    };
    for o in outcomes {
        report.connected += u64::from(o.connected);
        report.completed += u64::from(o.completed);
        if let Some((reason, detail)) = o.failure {
            report.failed += 1;
            *report.failures.entry(reason.clone()).or_default() += 1;
            report.failure_examples.entry(reason).or_insert(detail);
        }
        if let Some(us) = o.setup_us {
            setup.record(us);
        }
        lateness.merge(&o.lateness);
        report.media_sent += o.media_sent;
        report.messages_sent += o.messages_sent;
        report.media_received += o.media_received;
        report.marks_received += o.marks_received;
        report.marks_echoed += o.marks_echoed;
        report.clears_received += o.clears_received;
    }
    report.setup_ms = Quantiles::from_us(&setup);
    report.send_lateness_ms = Quantiles::from_us(&lateness);

    if let (Some(am), Some(bm)) = (&a.me, &b.me) {
        report.loadgen = proc_report(before.me.as_ref(), am, bm, cfg.calls);
    }
    if let (Some(ah), Some(bh)) = (&a.host, &b.host) {
        report.host = Some(proc_report(before.host.as_ref(), ah, bh, cfg.calls));
    }
    if let (Some(bm), Some(am), Some(wm), Some(after)) =
        (&before.metrics, &a.metrics, &b.metrics, after)
    {
        let m = host_metrics(bm, am, wm, after);
        report.frames_lost = Some(report.messages_sent as i64 - m.frames_in as i64);
        report.host_metrics = Some(m);
    }
    if let Some(t) = tally {
        let under = t.stt_final_ms.iter().filter(|ms| **ms < 1000).count();
        report.stt = Some(SttReport {
            final_latency_ms: Quantiles::from_values_ms(t.stt_final_ms.clone()),
            under_1s_percent: 100.0 * under as f64 / t.stt_final_ms.len().max(1) as f64,
            errors: t.errors,
            events_missed: t.missed,
        });
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut machine = MachineLoad {
        loadavg_before,
        loadavg_after,
        cores,
        ..MachineLoad::default()
    };
    if let (Some(ma), Some(mb)) = (a.machine, b.machine) {
        let (busy, irq) = procfs::machine_percent(ma, mb, cores);
        machine.busy_percent = busy;
        machine.irq_percent = irq;
        let ours = report.loadgen.cpu_percent + report.host.as_ref().map_or(0.0, |h| h.cpu_percent);
        machine.others_percent = (busy - irq - ours).max(0.0);
    }
    report.machine = machine;
    report
}
