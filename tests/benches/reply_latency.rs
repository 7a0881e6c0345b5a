//! End of the caller's speech to the first audio of the answer, as a Twilio
//! caller experiences it: the real host (twilio, whisper tiny.en, echo,
//! espeak), real sockets, questions spoken by espeak-ng in real time. The
//! clock starts when the last speech frame of the question has been sent
//! and stops when the first `media` frame of the answer arrives. The host's
//! own breakdown (end of speech → final transcript) is read from its events.
//!
//! `cargo bench -p voicegate-e2e --bench reply_latency`
//! (`REPLY_BENCH_TRIALS=n` for more or fewer questions; default 16).
//! Needs the release build and the model (scripts/setup.sh).

use std::time::{Duration, Instant};

use voicegate_e2e::{
    audio,
    host::{Host, ADMIN_TOKEN},
    phone::{Call, Heard},
    sse::{is, Events},
    twilio,
};

const QUESTIONS: &[&str] = &[
    "what time does the library open on saturday",
    "can i change my appointment to next week",
    "please tell me the balance of my account",
    "is the pharmacy on main street open today",
    "i would like to speak to someone about my bill",
    "how long does delivery take to london",
    "do you have any tables free for four people tonight",
    "my internet connection keeps dropping every evening",
];

fn config() -> String {
    twilio::config(
        "[stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{MODEL}}\"\n\n[tts.espeak]\nplugin = \"espeak\"\n\n[responders.echo]\nplugin = \"echo\"\n",
    )
}

/// Index of the 20 ms frame after the last one with speech energy.
fn speech_end_frame(pcm: &[i16]) -> u64 {
    pcm.chunks(160)
        .rposition(|f| {
            let energy: f64 = f.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            (energy / f.len().max(1) as f64).sqrt() > 300.0
        })
        .map_or(0, |i| i as u64 + 1)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Trial {
    first_audio_ms: f64,
    stt_final_ms: f64,
    audio_s: f64,
}

async fn trial(host: &Host, events: &mut Events, n: u64, question: &str, voice: &str) -> Trial {
    let speech = audio::speak(question, voice, 160, 8000, 300, 0);
    let end_frame = speech_end_frame(&speech);
    let (mut stream, session, call_sid) = twilio::call(host, n, "+14155550142").await;
    let mut call = Call::default();
    let ok = stream
        .converse(&mut call, &speech, Duration::from_secs(30), |c| {
            c.media().next().is_some()
        })
        .await;
    assert!(ok, "no answer audio for {question:?}");
    let started = call.speech_started.expect("frames were sent");
    let speech_end = started + Duration::from_millis(20 * end_frame);
    let first = call
        .heard
        .iter()
        .find(|(_, _, h)| matches!(h, Heard::Media(_)))
        .map(|(_, t, _)| *t)
        .unwrap_or_else(Instant::now);
    let final_ = events
        .wait_for("voice.stt.final", Duration::from_secs(5), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;
    stream.stop(&call_sid).await;
    Trial {
        first_audio_ms: first.saturating_duration_since(speech_end).as_secs_f64() * 1000.0,
        stt_final_ms: final_["latency_ms"].as_f64().unwrap_or(f64::NAN),
        audio_s: end_frame as f64 * 0.02 - 0.3,
    }
}

fn main() {
    let trials: usize = std::env::var("REPLY_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        voicegate_e2e::model_path();
        let host = Host::start(&config());
        let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
        // Warm-up: first calls pay for page faults in the model and espeak.
        trial(&host, &mut events, 9999, QUESTIONS[0], "en-us").await;
        let mut results = Vec::new();
        for i in 0..trials {
            let voice = if i % 2 == 0 { "en-us" } else { "en-gb" };
            let t = trial(&host, &mut events, i as u64 + 1, QUESTIONS[i % QUESTIONS.len()], voice).await;
            println!(
                "trial {:>2}: {:.1} s question, end of speech → final transcript {:>4.0} ms, → first answer audio {:>4.0} ms",
                i + 1,
                t.audio_s,
                t.stt_final_ms,
                t.first_audio_ms
            );
            results.push(t);
        }
        let mut first: Vec<f64> = results.iter().map(|t| t.first_audio_ms).collect();
        let mut fin: Vec<f64> = results.iter().map(|t| t.stt_final_ms).collect();
        first.sort_by(f64::total_cmp);
        fin.sort_by(f64::total_cmp);
        println!();
        println!("| {trials} questions (2–4 s, espeak en-us/en-gb, Twilio μ-law) | p50 | p95 | max |");
        println!("|---|---|---|---|");
        println!(
            "| end of speech → `voice.stt.final` (host) | {:.0} ms | {:.0} ms | {:.0} ms |",
            percentile(&fin, 50.0),
            percentile(&fin, 95.0),
            fin.last().copied().unwrap_or(f64::NAN)
        );
        println!(
            "| end of speech → first answer frame (caller) | {:.0} ms | {:.0} ms | {:.0} ms |",
            percentile(&first, 50.0),
            percentile(&first, 95.0),
            first.last().copied().unwrap_or(f64::NAN)
        );
    });
}
