//! The instance table: parsing, defaults and validation.
//!
//! Parsing errors (an unknown key, a wrong type, a bad `strategy`) come from
//! serde through `Context::config`, which names the key. The checks serde
//! cannot express are in [`Config::validate`], which returns *every* problem
//! at once, each with its key.

use std::{fmt, num::NonZeroUsize, path::PathBuf};

use serde::{de, Deserialize, Deserializer};
use voicegate_plugin_api::ConfigIssue;

/// Most workers an instance may keep.
const MAX_WORKERS: u32 = 64;

/// whisper.cpp runs at most 8 decoders (`WHISPER_MAX_DECODERS`) and fails
/// every call beyond that.
const MAX_DECODERS: u32 = 8;

/// Most threads per transcription.
const MAX_THREADS: u32 = 64;

/// Largest encoder window whisper models have: 30 s of audio in 1500 frames.
pub(crate) const MAX_AUDIO_CTX: u32 = 1500;

/// The `[stt.<name>]` table of an instance with `plugin = "whisper"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The ggml model file (`models/ggml-tiny.en.bin`); relative paths are
    /// taken from the config file's directory.
    pub(crate) model: PathBuf,
    /// Spoken language: a whisper language code, or `auto` (multilingual
    /// models only).
    #[serde(default = "default_language")]
    pub(crate) language: String,
    /// Threads per transcription; by default the cores divided among the
    /// workers, at most 4 (see [`Config::threads`]).
    #[serde(default)]
    pub(crate) threads: Option<u32>,
    /// `greedy` or `beam`.
    #[serde(default)]
    pub(crate) strategy: Strategy,
    /// Beam width for `strategy = "beam"`.
    #[serde(default = "default_beam_size")]
    pub(crate) beam_size: u32,
    /// Candidates sampled when decoding falls back to a temperature above
    /// zero (`strategy = "greedy"` only; whisper.cpp keeps 5 for beam).
    #[serde(default = "default_best_of")]
    pub(crate) best_of: u32,
    /// Text given to the decoder as previous context (names, jargon).
    #[serde(default)]
    pub(crate) initial_prompt: Option<String>,
    /// Decoder states kept warm: the number of transcriptions that run at
    /// once. Further calls wait for a free state.
    #[serde(default = "default_workers")]
    pub(crate) workers: u32,
    /// How long a call may wait for a free state before failing with
    /// `busy`; waits forever when absent.
    #[serde(default)]
    pub(crate) queue_timeout_ms: Option<u64>,
    /// Encoder window: `auto`, `full` or a number of frames (50 per second).
    #[serde(default)]
    pub(crate) audio_ctx: AudioCtx,
    /// Decoding temperature of the first attempt.
    #[serde(default)]
    pub(crate) temperature: f32,
    /// Temperature step of the fallback when a decode looks wrong (too
    /// repetitive or too unlikely); 0 turns the fallback off.
    #[serde(default = "default_temperature_inc")]
    pub(crate) temperature_inc: f32,
    /// whisper.cpp's no-speech threshold: a window whose no-speech
    /// probability is above it and whose decode is unlikely is dropped.
    #[serde(default = "default_no_speech_threshold")]
    pub(crate) no_speech_threshold: f32,
    /// Suppress non-speech tokens (brackets, music signs, speaker dashes),
    /// as OpenAI's and faster-whisper's `suppress_tokens = [-1]` do.
    #[serde(default = "default_true")]
    pub(crate) suppress_non_speech: bool,
}

fn default_language() -> String {
    "en".to_owned()
}

/// The cores shared among the workers, at least 1 and at most 4: whisper.cpp
/// gains little beyond 4 threads on the small models, and more threads than
/// cores is far worse than too few (ggml's threads spin at barriers, so one
/// descheduled thread stalls the others; see docs/stt/whisper.md).
pub(crate) fn default_threads(workers: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get) as u32;
    (cores / workers.max(1)).clamp(1, 4)
}

fn default_beam_size() -> u32 {
    5
}

fn default_best_of() -> u32 {
    5
}

fn default_workers() -> u32 {
    1
}

fn default_temperature_inc() -> f32 {
    0.2
}

fn default_no_speech_threshold() -> f32 {
    0.6
}

fn default_true() -> bool {
    true
}

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Strategy {
    /// The most likely token at each step.
    Greedy,
    /// Beam search over `beam_size` hypotheses.
    #[default]
    Beam,
}

/// The encoder window.
///
/// whisper.cpp pads every input to 30 s and encodes 1500 frames, which is
/// most of the cost of a short utterance. A smaller window encodes only the
/// audio that is there (plus a margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum AudioCtx {
    /// Sized per call from the utterance's length, 10 s at least: see
    /// [`auto_audio_ctx`].
    #[default]
    Auto,
    /// The model's full 30 s window (slow, the reference behaviour).
    Full,
    /// A fixed number of frames (1..=1500).
    Frames(u32),
}

impl AudioCtx {
    /// The value for whisper.cpp's `audio_ctx` (0 = the model's full window)
    /// for an utterance of `samples` at 16 kHz.
    pub(crate) fn frames_for(self, samples: usize) -> u32 {
        match self {
            Self::Auto => auto_audio_ctx(samples),
            Self::Full => 0,
            Self::Frames(n) => n,
        }
    }
}

/// The smallest window `auto` uses: 500 frames, 10 s.
///
/// Stock whisper models were only trained on the full 30 s window. With a
/// window of a few seconds they lose track of where speech ends and repeat
/// the utterance until the token limit ("No No No No …", "hello hello …");
/// with tiny.en on 0.5-3 s phone-path clips that hit most single words at
/// 100-300 frames and some at 400, and none at 500 or more (measured over
/// the clip sets in `benches/` and `examples/`; see docs/stt/whisper.md).
pub(crate) const MIN_AUTO_AUDIO_CTX: u32 = 500;

/// `(seconds + 1) * 50` frames rounded up, at least [`MIN_AUTO_AUDIO_CTX`],
/// at most 1500.
///
/// The encoder makes 50 frames per second of audio; the extra second of
/// silence lets the decoder place the final timestamp and end the text.
pub(crate) fn auto_audio_ctx(samples: usize) -> u32 {
    // frames = ceil((samples / 16000 + 1) * 50) = ceil((samples + 16000) / 320)
    let frames = (samples as u64 + 16_000).div_ceil(320);
    frames.clamp(u64::from(MIN_AUTO_AUDIO_CTX), u64::from(MAX_AUDIO_CTX)) as u32
}

impl<'de> Deserialize<'de> for AudioCtx {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        const EXPECTED: &str = "\"auto\", \"full\" or a number of frames from 1 to 1500";

        impl de::Visitor<'_> for Visitor {
            type Value = AudioCtx;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<AudioCtx, E> {
                match v {
                    "auto" => Ok(AudioCtx::Auto),
                    "full" => Ok(AudioCtx::Full),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AudioCtx, E> {
                match u32::try_from(v) {
                    Ok(n) if (1..=MAX_AUDIO_CTX).contains(&n) => Ok(AudioCtx::Frames(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AudioCtx, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl Config {
    /// Threads per transcription, the configured number or the default.
    pub(crate) fn threads(&self) -> u32 {
        self.threads
            .unwrap_or_else(|| default_threads(self.workers))
    }

    /// Every problem serde could not catch, each with its key. The model
    /// file is checked separately, once its path is resolved.
    pub(crate) fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message: message.into(),
            });
        };
        if self.language != "auto" && crate::language_code(&self.language).is_none() {
            issue(
                "language",
                format!(
                    "`{}` is not a whisper language code (\"en\", \"de\", \"fr\" … or \"auto\")",
                    self.language
                ),
            );
        }
        match self.threads {
            Some(0) => issue("threads", "must be at least 1".to_owned()),
            Some(n) if n > MAX_THREADS => {
                issue("threads", format!("{n} is more than {MAX_THREADS}"));
            }
            _ => {}
        }
        if self.workers == 0 {
            issue("workers", "must be at least 1".to_owned());
        } else if self.workers > MAX_WORKERS {
            issue(
                "workers",
                format!(
                    "{} is more than {MAX_WORKERS}; each worker is a whisper state of \
                     up to ~190 MB",
                    self.workers
                ),
            );
        }
        for (key, value) in [("beam_size", self.beam_size), ("best_of", self.best_of)] {
            if !(1..=MAX_DECODERS).contains(&value) {
                issue(
                    key,
                    format!("{value} is outside 1..={MAX_DECODERS} (whisper.cpp's decoder limit)"),
                );
            }
        }
        if self
            .initial_prompt
            .as_deref()
            .is_some_and(|p| p.contains('\0'))
        {
            issue(
                "initial_prompt",
                "must not contain a NUL character".to_owned(),
            );
        }
        if !(0.0..=1.0).contains(&self.temperature) {
            issue(
                "temperature",
                format!("{} is outside 0.0..=1.0", self.temperature),
            );
        }
        if !(0.0..=1.0).contains(&self.temperature_inc) {
            issue(
                "temperature_inc",
                format!("{} is outside 0.0..=1.0", self.temperature_inc),
            );
        }
        if !(0.0..=1.0).contains(&self.no_speech_threshold) {
            issue(
                "no_speech_threshold",
                format!("{} is outside 0.0..=1.0", self.no_speech_threshold),
            );
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, String> {
        let ctx = voicegate_plugin_api::testkit::context("stt", "http://x", json);
        ctx.config::<Config>().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = parse(r#"{"model":"m.bin"}"#).unwrap();
        assert_eq!(c.language, "en");
        assert_eq!(c.strategy, Strategy::Beam);
        assert_eq!(c.beam_size, 5);
        assert_eq!(c.workers, 1);
        assert_eq!(c.audio_ctx, AudioCtx::Auto);
        assert_eq!(c.threads, None);
        assert!((1..=4).contains(&c.threads()));
        assert_eq!(c.queue_timeout_ms, None);
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }

    #[test]
    fn missing_model_names_the_key() {
        let err = parse("{}").unwrap_err();
        assert!(err.contains("missing field `model`"), "{err}");
    }

    #[test]
    fn bad_strategy_names_the_key_and_the_choices() {
        let err = parse(r#"{"model":"m.bin","strategy":"sampling"}"#).unwrap_err();
        assert!(err.contains("`strategy`"), "{err}");
        assert!(err.contains("greedy") && err.contains("beam"), "{err}");
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = parse(r#"{"model":"m.bin","beam":3}"#).unwrap_err();
        assert!(err.contains("unknown field `beam`"), "{err}");
    }

    #[test]
    fn audio_ctx_accepts_words_and_frames() {
        let ctx = |v: &str| parse(&format!(r#"{{"model":"m","audio_ctx":{v}}}"#));
        assert_eq!(ctx(r#""full""#).unwrap().audio_ctx, AudioCtx::Full);
        assert_eq!(ctx(r#""auto""#).unwrap().audio_ctx, AudioCtx::Auto);
        assert_eq!(ctx("768").unwrap().audio_ctx, AudioCtx::Frames(768));
        for bad in ["0", "1501", "-3", r#""half""#, "1.5"] {
            let err = ctx(bad).unwrap_err();
            assert!(err.contains("`audio_ctx`"), "{bad}: {err}");
        }
    }

    #[test]
    fn validate_reports_every_problem_with_its_key() {
        let c = parse(
            r#"{"model":"m","language":"xx","threads":0,"workers":0,"beam_size":0,
                "initial_prompt":"a\u0000b","temperature":2.0}"#,
        )
        .unwrap();
        let keys: Vec<String> = c.validate().iter().map(|i| i.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "language",
                "threads",
                "workers",
                "beam_size",
                "initial_prompt",
                "temperature"
            ]
        );
    }

    #[test]
    fn absurd_pool_sizes_are_refused() {
        let c = parse(r#"{"model":"m","workers":1000,"threads":500,"beam_size":9}"#).unwrap();
        let keys: Vec<String> = c.validate().iter().map(|i| i.key.to_string()).collect();
        assert_eq!(keys, ["threads", "workers", "beam_size"]);
    }

    #[test]
    fn auto_audio_ctx_is_the_utterance_plus_one_second_but_at_least_10_s() {
        assert_eq!(auto_audio_ctx(0), 500);
        assert_eq!(auto_audio_ctx(16_000 * 3), 500); // 3 s -> the 10 s floor
        assert_eq!(auto_audio_ctx(16_000 * 9), 500); // 9 s + 1 s = 10 s
        assert_eq!(auto_audio_ctx(16_000 * 9 + 1), 501); // rounded up
        assert_eq!(auto_audio_ctx(16_000 * 12), 650); // 12 s -> 13 s
        assert_eq!(auto_audio_ctx(16_000 * 29), 1500);
        assert_eq!(auto_audio_ctx(16_000 * 60), 1500); // clamped
        assert_eq!(AudioCtx::Auto.frames_for(48_000), 500);
        assert_eq!(AudioCtx::Full.frames_for(48_000), 0);
        assert_eq!(AudioCtx::Frames(300).frames_for(48_000), 300);
    }
}
