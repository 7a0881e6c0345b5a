//! The `espeak` TTS: local speech synthesis with libespeak-ng.
//!
//! Small, fast and dependency-free at run time (Debian's `libespeak-ng1` and
//! `espeak-ng-data`); robotic, but intelligible on the phone. Audio is mono
//! 16-bit PCM at the engine's rate (22050 Hz), streamed to the host in short
//! chunks as it is produced, so playback starts before synthesis ends.
//!
//! libespeak-ng is one engine per process and not reentrant: every
//! synthesis, from any instance, runs under one global lock (concurrent
//! calls queue), and selects its instance's voice, rate, pitch and volume
//! first. See `docs/tts/espeak.md`.

mod ffi;

use std::ffi::CString;

use serde::Deserialize;
use voicegate_plugin_api::{
    AudioOut, ConfigIssue, Context, ErrorKind, PluginError, Tts, TtsInfo, TtsRequest,
};

use crate::ffi::{EngineError, EngineInfo, Params, Synthesized};

/// Accepted `rate` values, words per minute (`espeakRATE_MINIMUM..=MAXIMUM`).
const RATE: std::ops::RangeInclusive<u32> = 80..=450;
/// Accepted `pitch` values.
const PITCH: std::ops::RangeInclusive<u32> = 0..=99;
/// Accepted `volume` values (100 is normal; above it may clip).
const VOLUME: std::ops::RangeInclusive<u32> = 0..=200;

/// Instance configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// An espeak-ng voice: a language code (`en-us`), optionally with a
    /// variant (`en-us+f3`), or a voice's name.
    voice: String,
    /// Speaking rate in words per minute.
    rate: u32,
    /// Base pitch.
    pitch: u32,
    /// Amplitude.
    volume: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            voice: "en-us".to_owned(),
            rate: 175,
            pitch: 50,
            volume: 100,
        }
    }
}

impl Config {
    /// Every problem of the table, each with its key.
    fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (key, value, range) in [
            ("rate", self.rate, RATE),
            ("pitch", self.pitch, PITCH),
            ("volume", self.volume, VOLUME),
        ] {
            if !range.contains(&value) {
                issues.push(issue(
                    key,
                    format!(
                        "{value} is out of range, expected {}..={}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        issues
    }
}

fn issue(key: &str, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue {
        key: key.into(),
        message: message.into().into(),
    }
}

fn engine_error(error: EngineError) -> PluginError {
    let kind = match error {
        EngineError::VoiceNotFound { .. } => ErrorKind::NOT_FOUND,
        EngineError::Init(_) | EngineError::Parameter { .. } | EngineError::Synth { .. } => {
            ErrorKind::INTERNAL
        }
    };
    PluginError::new(kind, error.to_string())
}

/// A TTS instance: its voice and parameters over the shared engine.
pub struct Espeak {
    voice: String,
    params: Params,
    info: EngineInfo,
}

impl Espeak {
    /// Speaks `text` with `voice` (empty: the instance's), calling
    /// `on_chunk` with each buffer as it is produced until it returns
    /// `false`. Waits for the engine while another synthesis runs.
    fn speak(
        &self,
        text: &str,
        voice: &str,
        on_chunk: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<Synthesized, PluginError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Synthesized {
                samples: 0,
                chunks: 0,
                stopped: false,
            });
        }
        // NUL would end the C string early; nothing speakable is lost.
        let text = CString::new(text.replace('\0', " "))
            .map_err(|e| PluginError::internal(format!("text for espeak-ng: {e}")))?;
        let voice = match voice.trim() {
            "" => self.voice.as_str(),
            asked => asked,
        };
        let mut engine = ffi::lock().map_err(engine_error)?;
        engine.select_voice(voice).map_err(engine_error)?;
        engine.set_params(self.params).map_err(engine_error)?;
        let done = engine.synthesize(&text, on_chunk).map_err(engine_error)?;
        drop(engine);
        log::debug!(
            "Synthesized {} samples in {} chunks (stopped: {}).",
            done.samples,
            done.chunks,
            done.stopped
        );
        Ok(done)
    }
}

impl Tts for Espeak {
    fn new(ctx: Context) -> Result<Self, PluginError> {
        let config: Config = ctx.config()?;
        let mut issues = config.issues();
        let info = {
            let mut engine = ffi::lock().map_err(engine_error)?;
            if let Err(error) = engine.select_voice(&config.voice) {
                issues.push(issue("voice", error.to_string()));
            }
            engine.info().clone()
        };
        if !issues.is_empty() {
            return Err(PluginError::config(issues));
        }
        Ok(Self {
            voice: config.voice,
            params: Params {
                rate: config.rate,
                pitch: config.pitch,
                volume: config.volume,
            },
            info,
        })
    }

    fn describe(&self) -> Result<TtsInfo, PluginError> {
        let extensions = serde_json::json!({
            "engine": "espeak-ng",
            "version": self.info.version,
            "data_path": self.info.data_path,
            "voice": self.voice,
            "rate": self.params.rate,
            "pitch": self.params.pitch,
            "volume": self.params.volume,
        });
        Ok(TtsInfo {
            sample_rate: self.info.sample_rate,
            extensions_json: extensions.to_string().into(),
        })
    }

    fn synthesize(&self, req: &TtsRequest<'_>, out: &mut AudioOut<'_>) -> Result<(), PluginError> {
        self.speak(req.text.as_str(), req.voice.as_str(), &mut |pcm| {
            out.chunk(pcm)
        })?;
        Ok(())
    }
}

voicegate_plugin_api::export_plugin!(tts = Espeak);

#[cfg(test)]
mod tests {
    use std::{
        panic::{self, AssertUnwindSafe},
        thread,
    };

    use voicegate_plugin_api::{testkit, RStr};

    use super::*;

    const HELLO: &str = "hello world";
    const LONG: &str = "This is a somewhat longer sentence, so that synthesis takes \
                        a while and produces many chunks before it ends.";

    fn espeak(config: &str) -> Espeak {
        Espeak::new(testkit::context("espeak", "http://x", config)).unwrap()
    }

    fn config_error(config: &str) -> PluginError {
        match Espeak::new(testkit::context("espeak", "http://x", config)) {
            Ok(_) => panic!("{config} was accepted"),
            Err(err) => err,
        }
    }

    fn request(text: &str) -> TtsRequest<'_> {
        TtsRequest {
            text: RStr::from(text),
            session_id: RStr::from("s"),
            voice: RStr::from(""),
            extensions_json: RStr::from(""),
        }
    }

    /// Everything `text` synthesizes to, and the chunk sizes.
    fn speak_all(tts: &Espeak, text: &str) -> (Vec<i16>, Vec<usize>) {
        let mut recorded = testkit::Recorded::default();
        recorded
            .audio_out(|out| tts.synthesize(&request(text), out))
            .unwrap();
        let chunks = recorded.audio_calls.iter().map(|c| c.2).collect();
        (recorded.audio, chunks)
    }

    /// Within 2 % of each other.
    fn close(a: usize, b: usize) -> bool {
        a.abs_diff(b) * 50 <= a.max(b)
    }

    fn rms(pcm: &[i16]) -> f64 {
        let sum: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum();
        (sum / pcm.len().max(1) as f64).sqrt()
    }

    #[test]
    fn says_hello_world_in_streamed_chunks() {
        let tts = espeak("{}");
        let info = tts.describe().unwrap();
        assert_eq!(info.sample_rate, 22050);
        let (pcm, chunks) = speak_all(&tts, HELLO);
        let seconds = pcm.len() as f64 / f64::from(info.sample_rate);
        assert!((0.5..=3.0).contains(&seconds), "{seconds} s");
        assert!(rms(&pcm) > 500.0, "too quiet: rms {}", rms(&pcm));
        assert!(pcm.iter().any(|s| s.unsigned_abs() > 5000));
        assert!(chunks.len() >= 5, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|n| *n > 0), "empty chunks forwarded");
        // Short buffers (BUFFER_MS = 50 ms, 1103 samples at 22050 Hz).
        assert!(chunks.iter().all(|n| *n <= 1103), "{chunks:?}");
    }

    #[test]
    fn empty_text_gives_no_audio() {
        let tts = espeak("{}");
        for text in ["", "   \n\t"] {
            let (pcm, chunks) = speak_all(&tts, text);
            assert!(pcm.is_empty() && chunks.is_empty());
        }
    }

    #[test]
    fn text_with_nul_and_markup_is_spoken_as_text() {
        let tts = espeak("{}");
        let (pcm, _) = speak_all(&tts, "one\0two <break time=\"5s\"/> three");
        let seconds = pcm.len() as f64 / 22050.0;
        // SSML is off: no five-second break.
        assert!((0.5..4.0).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn false_from_the_sink_stops_synthesis_early() {
        let tts = espeak("{}");
        let full = tts.speak(LONG, "", &mut |_| true).unwrap();
        assert!(!full.stopped);

        let mut seen = 0;
        let mut heard = Vec::new();
        let cut = tts
            .speak(LONG, "", &mut |pcm| {
                heard.extend_from_slice(pcm);
                seen += 1;
                seen < 3
            })
            .unwrap();
        assert!(cut.stopped);
        assert_eq!(cut.chunks, 3, "chunks after `false` were delivered");
        assert_eq!(heard.len(), cut.samples);
        assert!(
            cut.samples * 10 < full.samples,
            "{} of {}",
            cut.samples,
            full.samples
        );

        // The engine is fine afterwards (espeak-ng adds a little random
        // variation: lengths differ by a few samples from run to run).
        let again = tts.speak(LONG, "", &mut |_| true).unwrap();
        assert!(!again.stopped);
        assert!(close(again.samples, full.samples), "{again:?} vs {full:?}");
    }

    #[test]
    fn a_panicking_sink_unwinds_after_the_engine_stopped() {
        let tts = espeak("{}");
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            tts.speak(HELLO, "", &mut |_| panic!("sink failed"))
        }));
        assert!(result.is_err());
        let (pcm, _) = speak_all(&tts, HELLO);
        assert!(!pcm.is_empty());
    }

    #[test]
    fn rate_changes_the_duration() {
        let slow = speak_all(&espeak(r#"{"rate": 100}"#), LONG).0.len();
        let fast = speak_all(&espeak(r#"{"rate": 400}"#), LONG).0.len();
        assert!(fast * 2 < slow, "fast {fast}, slow {slow}");
    }

    #[test]
    fn a_request_may_name_another_voice() {
        let tts = espeak("{}");
        let mut req = request(HELLO);
        req.voice = RStr::from("de");
        let mut recorded = testkit::Recorded::default();
        recorded.audio_out(|out| tts.synthesize(&req, out)).unwrap();
        assert!(!recorded.audio.is_empty());

        req.voice = RStr::from("xx-nope");
        let err = testkit::Recorded::default()
            .audio_out(|out| tts.synthesize(&req, out))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NOT_FOUND);
        assert!(err.message.contains("xx-nope"), "{err}");
    }

    #[test]
    fn unknown_voice_is_a_config_error_naming_voice() {
        let err = config_error(r#"{"voice": "klingon-xx"}"#);
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues.len(), 1);
        assert_eq!(err.issues[0].key.as_str(), "voice");
        assert!(err.to_string().contains("klingon-xx"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_config_errors_naming_their_keys() {
        let err = config_error(r#"{"rate": 500}"#);
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues[0].key.as_str(), "rate");
        assert!(err.to_string().contains("80..=450"), "{err}");

        // All problems at once.
        let err = config_error(r#"{"rate": 20, "pitch": 100, "volume": 201, "voice": "nope"}"#);
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["rate", "pitch", "volume", "voice"]);

        let err = config_error(r#"{"rate": -1}"#);
        assert_eq!(err.issues[0].key.as_str(), "rate");
        let err = config_error(r#"{"speed": 200}"#);
        assert!(err.to_string().contains("speed"), "{err}");
    }

    #[test]
    fn variants_and_edges_of_the_ranges_are_accepted() {
        let tts = espeak(r#"{"voice": "en-gb+f3", "rate": 450, "pitch": 0, "volume": 200}"#);
        assert!(!speak_all(&tts, HELLO).0.is_empty());
        let tts = espeak(r#"{"rate": 80, "pitch": 99, "volume": 0}"#);
        let (pcm, _) = speak_all(&tts, HELLO);
        assert!(!pcm.is_empty());
        assert!(rms(&pcm) < 1.0, "volume 0 is silent");
    }

    #[test]
    fn concurrent_syntheses_are_serialized_and_keep_their_settings() {
        let a = espeak(r#"{"voice": "en-us", "rate": 120, "pitch": 30}"#);
        let b = espeak(r#"{"voice": "en-gb+f3", "rate": 320, "pitch": 80}"#);
        let alone_a = speak_all(&a, LONG).0.len();
        let alone_b = speak_all(&b, LONG).0.len();
        assert!(alone_b * 2 < alone_a, "{alone_a} vs {alone_b}");

        let (together_a, together_b) = thread::scope(|s| {
            let ta = s.spawn(|| {
                (0..4)
                    .map(|_| speak_all(&a, LONG).0.len())
                    .collect::<Vec<_>>()
            });
            let tb = s.spawn(|| {
                (0..4)
                    .map(|_| speak_all(&b, LONG).0.len())
                    .collect::<Vec<_>>()
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        // Each synthesis ran whole, with its own instance's settings.
        assert!(
            together_a.iter().all(|n| close(*n, alone_a)),
            "{together_a:?} vs {alone_a}"
        );
        assert!(
            together_b.iter().all(|n| close(*n, alone_b)),
            "{together_b:?} vs {alone_b}"
        );
    }

    #[test]
    fn voices_resolve_like_the_command_line() {
        // By file name, by language code (en-gb has no file of that name),
        // with a variant, and by the voice's full name.
        for voice in [
            "en-us",
            "en-gb",
            "en-gb+f3",
            "pt-br",
            "English (America)",
            "gmw/en",
        ] {
            let config = serde_json::json!({ "voice": voice }).to_string();
            let (pcm, _) = speak_all(&espeak(&config), HELLO);
            assert!(rms(&pcm) > 500.0, "{voice}");
        }
        // The variant is kept: a female variant has a higher pitch, so more
        // zero crossings per second.
        let crossings = |pcm: &[i16]| {
            let n = pcm.windows(2).filter(|w| (w[0] > 0) != (w[1] > 0)).count();
            n as f64 / pcm.len() as f64
        };
        let male = crossings(&speak_all(&espeak(r#"{"voice": "en-gb"}"#), LONG).0);
        let female = crossings(&speak_all(&espeak(r#"{"voice": "en-gb+f3"}"#), LONG).0);
        let by_file = crossings(&speak_all(&espeak(r#"{"voice": "gmw/en+f3"}"#), LONG).0);
        assert!(female > male * 1.1, "{female} vs {male}");
        assert!(
            (female / by_file - 1.0).abs() < 0.03,
            "{female} vs {by_file}"
        );
    }

    #[test]
    fn describe_names_the_engine_and_settings() {
        let info = espeak(r#"{"rate": 200}"#).describe().unwrap();
        let ext: serde_json::Value = serde_json::from_str(info.extensions_json.as_str()).unwrap();
        assert_eq!(ext["engine"], "espeak-ng");
        assert_eq!(ext["voice"], "en-us");
        assert_eq!(ext["rate"], 200);
    }

    /// Speed of a one-sentence answer: time to the first chunk and the
    /// real-time factor (synthesis time / audio time), p50 and p95 over 50
    /// runs, with the voice already selected and with a voice switch before
    /// each run (two instances with different voices taking turns). Prints,
    /// asserts nothing; run it in release:
    /// `cargo test -p voicegate-espeak --release -- --ignored --nocapture speed`
    #[test]
    #[ignore = "measurement, run by hand"]
    fn speed() {
        use std::time::{Duration, Instant};

        const SENTENCE: &str = "Our office is open from nine in the morning until five \
                                in the afternoon, Monday to Friday.";
        let percentile = |v: &mut Vec<Duration>, p: usize| {
            v.sort();
            v[(v.len() * p / 100).min(v.len() - 1)]
        };
        let us = espeak(r#"{"voice": "en-us"}"#);
        let gb = espeak(r#"{"voice": "en-gb"}"#);
        for (label, switch) in [("same voice", false), ("voice switch", true)] {
            let (mut firsts, mut totals, mut rtfs) = (Vec::new(), Vec::new(), Vec::new());
            for run in 0..50 {
                if switch {
                    speak_all(if run % 2 == 0 { &gb } else { &us }, "a");
                }
                let tts = if switch && run % 2 == 0 {
                    &us
                } else if switch {
                    &gb
                } else {
                    &us
                };
                let start = Instant::now();
                let mut first = None;
                let done = tts
                    .speak(SENTENCE, "", &mut |_| {
                        first.get_or_insert_with(|| start.elapsed());
                        true
                    })
                    .unwrap();
                let total = start.elapsed();
                let audio = Duration::from_secs_f64(done.samples as f64 / 22050.0);
                firsts.push(first.unwrap());
                totals.push(total);
                rtfs.push(Duration::from_secs_f64(
                    total.as_secs_f64() / audio.as_secs_f64(),
                ));
                if run == 0 {
                    println!(
                        "{label}: {:.2} s of audio in {} chunks",
                        audio.as_secs_f64(),
                        done.chunks
                    );
                }
            }
            println!(
                "{label}: first chunk p50 {:?} p95 {:?}; whole sentence p50 {:?} p95 {:?}; \
                 RTF p50 {:.4} p95 {:.4}",
                percentile(&mut firsts, 50),
                percentile(&mut firsts, 95),
                percentile(&mut totals, 50),
                percentile(&mut totals, 95),
                percentile(&mut rtfs, 50).as_secs_f64(),
                percentile(&mut rtfs, 95).as_secs_f64(),
            );
        }
    }
}
