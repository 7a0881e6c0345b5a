//! Latency of the `whisper` plugin on 2-4 s phone-path utterances.
//!
//! `cargo bench -p voicegate-whisper --bench latency`
//!
//! For each configuration (audio_ctx auto/full × greedy/beam × 1/2 threads):
//! p50/p95 of `transcribe`, real-time factor (processing time / audio time),
//! and WER on the same clips. Also: model load and warm-up time, the cost of
//! a cold first call, peak RSS (VmHWM) after loading the model, throughput
//! with 2 workers, and finally faster-whisper on the same wav files through
//! `benches/faster_whisper.py` (skipped with a note when python3 lacks it).
//!
//! Environment: `BENCH_REPS` (default 3) repetitions per clip; the 30 s
//! window configurations use one less. `BENCH_CONTENTION_ONLY=1` runs only
//! the latency beside `BENCH_HOGS` (default 1) CPU-bound threads. The default run takes about 3
//! minutes on 2 cores.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    fmt::Write as _,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use common::{
    engine, model_path, normalize, phone_path, speak, transcribe, word_errors, write_wav,
};
use voicegate_plugin_api::Stt;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// 2.5-4 s utterances (about 3 s on average), a typical caller turn.
const CLIPS: [(&str, u32, &str); 8] = [
    (
        "en-us",
        175,
        "I would like to check the balance on my savings account.",
    ),
    (
        "en",
        175,
        "Can you send me the quarterly report before Friday morning?",
    ),
    (
        "en-gb-x-rp",
        175,
        "Please transfer me to someone in the billing department.",
    ),
    (
        "en-us",
        190,
        "What time does the pharmacy on Main Street close tonight?",
    ),
    (
        "en",
        160,
        "My order has not arrived yet and I need a refund.",
    ),
    (
        "en-gb-x-rp",
        160,
        "I need to change the delivery address for my parcel.",
    ),
    (
        "en-us",
        150,
        "Yes, that is correct, thank you very much for your help.",
    ),
    (
        "en",
        190,
        "Could you book a table for two at seven this evening?",
    ),
];

const CONFIGS: [(&str, &str); 6] = [
    (
        "beam5  auto  2t",
        r#""strategy":"beam","audio_ctx":"auto","threads":2"#,
    ),
    (
        "beam5  full  2t",
        r#""strategy":"beam","audio_ctx":"full","threads":2"#,
    ),
    (
        "greedy auto  2t",
        r#""strategy":"greedy","audio_ctx":"auto","threads":2"#,
    ),
    (
        "greedy full  2t",
        r#""strategy":"greedy","audio_ctx":"full","threads":2"#,
    ),
    (
        "beam5  auto  1t",
        r#""strategy":"beam","audio_ctx":"auto","threads":1"#,
    ),
    (
        "greedy auto  1t",
        r#""strategy":"greedy","audio_ctx":"auto","threads":1"#,
    ),
];

struct Clip {
    pcm: Vec<i16>,
    seconds: f64,
    reference: Vec<String>,
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let total = Instant::now();
    println!("load average at start: {}", load_average());
    let rss_start = vm_kib("VmHWM");

    // Model load + warm-up of the default configuration, and peak memory.
    let started = Instant::now();
    let default_engine = engine(CONFIGS[0].1);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_loaded = vm_kib("VmHWM");
    let info = default_engine.describe().expect("describe");
    println!(
        "whisper.cpp {}, model {}",
        whisper_rs::WHISPER_CPP_VERSION,
        model_path().display()
    );
    println!(
        "instance construction {build_ms:.0} ms (load + warm-up; details {})",
        info.extensions_json
    );
    println!(
        "peak RSS: {:.1} MiB before the model, {:.1} MiB after loading it and warming 1 state",
        rss_start as f64 / 1024.0,
        rss_loaded as f64 / 1024.0
    );

    // Clips through the phone path, kept as wav files for faster-whisper.
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("whisper-bench");
    std::fs::remove_dir_all(&out_dir).ok();
    std::fs::create_dir_all(&out_dir).expect("bench output dir");
    let mut refs = String::new();
    let clips: Vec<Clip> = CLIPS
        .iter()
        .enumerate()
        .map(|(i, (voice, speed, text))| {
            let wav = speak(&out_dir, &format!("espeak{i}"), voice, *speed, text);
            let pcm = phone_path(&wav);
            let name = format!("clip{i}.wav");
            write_wav(&out_dir.join(&name), &pcm);
            let _ = writeln!(refs, "{name}\t{text}");
            Clip {
                seconds: pcm.len() as f64 / 16_000.0,
                pcm,
                reference: normalize(text),
            }
        })
        .collect();
    std::fs::write(out_dir.join("refs.tsv"), refs).expect("write refs.tsv");
    let lengths: Vec<String> = clips.iter().map(|c| format!("{:.1}", c.seconds)).collect();
    println!("clips (phone path, s): {}", lengths.join(" "));

    if std::env::var_os("BENCH_CONTENTION_ONLY").is_some() {
        contention(&clips);
        return;
    }
    cold_first_call(&clips[0].pcm);

    println!();
    println!(
        "{:<16} {:>6} {:>6} {:>6} {:>6} {:>9} {:>6}",
        "config", "p50 ms", "p95 ms", "max ms", "RTF", "WER", "n"
    );
    drop(default_engine);
    for (name, extra) in CONFIGS {
        let engine = engine(extra);
        let reps = if extra.contains("full") {
            reps.saturating_sub(1).max(1)
        } else {
            reps
        };
        let mut times = Vec::new();
        let mut rtf = Vec::new();
        let (mut errors, mut words) = (0, 0);
        for rep in 0..reps {
            for clip in &clips {
                let started = Instant::now();
                let t = transcribe(&engine, &clip.pcm);
                let elapsed = started.elapsed();
                times.push(elapsed);
                rtf.push(elapsed.as_secs_f64() / clip.seconds);
                if rep == 0 {
                    errors += word_errors(&clip.reference, &normalize(&t.text));
                    words += clip.reference.len();
                }
            }
        }
        times.sort();
        println!(
            "{name:<16} {:>6.0} {:>6.0} {:>6.0} {:>6.3} {:>9} {:>6}",
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
            rtf.iter().sum::<f64>() / rtf.len() as f64,
            format!("{errors}/{words}"),
            times.len()
        );
    }

    throughput(&clips);
    contention(&clips);
    println!(
        "peak RSS at the end: {:.1} MiB",
        vm_kib("VmHWM") as f64 / 1024.0
    );
    println!(
        "whisper-rs part took {:.0} s",
        total.elapsed().as_secs_f64()
    );

    faster_whisper(&out_dir);
}

/// The first call on a fresh state without the plugin's warm-up, against
/// the second: what the warm-up saves.
fn cold_first_call(pcm: &[i16]) {
    let mut ctx_params = WhisperContextParameters::default();
    ctx_params.flash_attn(false);
    let Ok(ctx) = WhisperContext::new_with_params(model_path(), ctx_params) else {
        println!("cold first call: model did not load");
        return;
    };
    let Ok(mut state) = ctx.create_state() else {
        return;
    };
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut params = FullParams::new(SamplingStrategy::BeamSearch {
            beam_size: 5,
            patience: -1.0,
        });
        params.set_n_threads(2);
        params.set_language(Some("en"));
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_no_context(true);
        params.set_audio_ctx(((samples.len() + 16_000).div_ceil(320)).min(1500) as i32);
        let started = Instant::now();
        if state.full(params, &samples).is_err() {
            return;
        }
        runs.push(ms(started.elapsed()));
    }
    println!(
        "without warm-up: first call {:.0} ms, second {:.0} ms (beam 5, auto, 2 threads)",
        runs[0], runs[1]
    );
}

/// Utterances per second with 2 concurrent callers: 2 workers × 1 thread
/// against 1 worker × 2 threads (callers queue).
fn throughput(clips: &[Clip]) {
    println!();
    let audio: f64 = clips.iter().map(|c| c.seconds).sum::<f64>() * 2.0;
    for (name, extra) in [
        ("1 worker  x 2 threads", r#""workers":1,"threads":2"#),
        ("2 workers x 1 thread ", r#""workers":2,"threads":1"#),
    ] {
        let rss_before = vm_kib("VmRSS");
        let engine = Arc::new(engine(extra));
        let rss_instance = vm_kib("VmRSS").saturating_sub(rss_before);
        let pcms: Arc<Vec<Vec<i16>>> = Arc::new(clips.iter().map(|c| c.pcm.clone()).collect());
        let started = Instant::now();
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (engine, pcms) = (engine.clone(), pcms.clone());
                thread::spawn(move || {
                    let mut worst = Duration::ZERO;
                    for pcm in pcms.iter() {
                        let t = Instant::now();
                        transcribe(&engine, pcm);
                        worst = worst.max(t.elapsed());
                    }
                    worst
                })
            })
            .collect();
        let worst = callers
            .into_iter()
            .filter_map(|c| c.join().ok())
            .max()
            .unwrap_or_default();
        let wall = started.elapsed().as_secs_f64();
        println!(
            "2 callers, {name}: {:.2} utterances/s, {:.1} s audio per s, worst call {:.0} ms \
             (instance RSS {:.0} MiB after warm-up, {:.0} MiB after the calls)",
            (clips.len() * 2) as f64 / wall,
            audio / wall,
            ms(worst),
            rss_instance as f64 / 1024.0,
            vm_kib("VmRSS").saturating_sub(rss_before) as f64 / 1024.0,
        );
    }
}

/// Latency while CPU-bound threads run beside the transcription (another
/// call's TTS, a build): whisper's threads must not stall on each other.
fn contention(clips: &[Clip]) {
    let hogs: usize = std::env::var("BENCH_HOGS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(1);
    let stop = Arc::new(AtomicBool::new(false));
    let hog_threads: Vec<_> = (0..hogs)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut x = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005));
                }
            })
        })
        .collect();
    for (name, extra) in [
        ("beam5 auto 2t", CONFIGS[0].1),
        ("beam5 auto 1t", CONFIGS[4].1),
    ] {
        let engine = engine(extra);
        let mut times: Vec<Duration> = clips
            .iter()
            .map(|clip| {
                let started = Instant::now();
                transcribe(&engine, &clip.pcm);
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "beside {hogs} CPU-bound thread(s), {name}: p50 {:.0} ms, max {:.0} ms",
            ms(percentile(&times, 0.5)),
            ms(*times.last().unwrap_or(&Duration::ZERO))
        );
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hog_threads {
        hog.join().ok();
    }
}

fn faster_whisper(dir: &std::path::Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/faster_whisper.py");
    let model_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/.cache/ct2-tiny.en"
    );
    println!();
    println!("faster-whisper on the same wav files ({script}):");
    match Command::new("python3")
        .arg(script)
        .arg(dir)
        .args(["--model-dir", model_dir])
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => println!("  skipped: the script exited with {status}"),
        Err(err) => println!("  skipped: python3 not found ({err})"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A `Vm*` line of /proc/self/status, in KiB (0 where unavailable).
fn vm_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// /proc/loadavg's first three fields: other work on the machine skews the
/// numbers, so they are printed with them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
