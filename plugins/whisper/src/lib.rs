//! The `whisper` STT plugin: local speech to text with whisper.cpp.
//!
//! One instance loads its ggml model once and keeps a pool of `workers`
//! decoder states ([`whisper_rs::WhisperState`]), each warmed by a short
//! dummy transcription at construction. A `transcribe` call takes a free
//! state (waiting in line when all are busy), runs whisper on the utterance
//! and gives the state back.
//!
//! Speed: the encoder window is sized to the utterance (`audio_ctx =
//! "auto"`, at least 10 s, where whisper always encodes 30 s), about 2.5×
//! faster on phone turns. Stock models repeat themselves with windows of a
//! few seconds, hence the floor; utterances up to 30 s are decoded as one
//! window with a token budget, and the segments are cut here at whisper's
//! timestamp tokens.
//!
//! Configuration, behaviour and measurements: `docs/stt/whisper.md`.

mod config;
mod pool;
mod text;

use std::{
    collections::HashMap,
    ffi::c_int,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, OnceLock, PoisonError,
    },
    time::{Duration, Instant},
};

use voicegate_plugin_api::{
    guard::guard, Cancel, ConfigIssue, Context, ErrorKind, PluginError, ROption, RVec, Segment,
    Stt, SttInfo, SttRequest, Transcript,
};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
    WhisperTokenId,
};

use crate::{
    config::{AudioCtx, Config, Strategy},
    pool::Pool,
};

/// The only sample rate whisper models take.
pub const SAMPLE_RATE: u32 = 16_000;

/// Below 100 ms whisper.cpp does not even run ("input is too short"); such a
/// blip is answered with an empty transcript.
const MIN_SAMPLES: usize = SAMPLE_RATE as usize / 10;

/// Utterances up to 30 s fit one whisper window. They are decoded as one
/// window (`single_segment`), so whisper.cpp never slides the window on by a
/// few hundred ms and decodes the same words again; the segments are then
/// cut at the timestamp tokens here, as whisper.cpp would.
///
/// Short input is not padded with silence: whisper.cpp pads the spectrogram
/// to 30 s itself (it only refuses input under 100 ms), and the `auto`
/// window already ends in at least a second of that silence. Padding the
/// samples moved whisper's "end of audio" mark past the speech, which made
/// short words repeat.
const ONE_WINDOW_SAMPLES: usize = SAMPLE_RATE as usize * 30;

/// Token budget of a one-window decode: 12 per second of audio plus 16.
/// Fast speech is about 7 tokens per second with punctuation and
/// timestamps, so this only stops a decoder stuck repeating itself, and it
/// bounds the latency of such a call.
fn token_budget(samples: usize) -> c_int {
    (samples * 12 / SAMPLE_RATE as usize + 16) as c_int
}

/// With a no-speech probability above `no_speech_threshold`, a window whose
/// text tokens have a mean log probability under this is dropped (OpenAI's
/// `logprob_threshold` default).
const NO_SPEECH_LOG_PROBABILITY: f32 = -1.0;

/// Samples of the warm-up transcription: 1 s of silence.
const WARMUP_SAMPLES: usize = SAMPLE_RATE as usize;

/// Longest utterance accepted (10 minutes). An STT call is one turn of a
/// conversation; anything longer is a caller bug, and whisper.cpp counts
/// samples in a C `int`.
const MAX_SAMPLES: usize = SAMPLE_RATE as usize * 600;

/// A whisper.cpp speech-to-text engine.
pub struct Whisper {
    pool: Pool<Slot>,
    /// The decoding parameters for the default language, built once:
    /// whisper-rs leaks the C strings of `language` and `initial_prompt`
    /// each time they are set, so parameters are built once per language
    /// and cloned per call.
    params: FullParams<'static, 'static>,
    /// Parameters for languages asked for per request (multilingual models).
    other_languages: Mutex<HashMap<&'static str, FullParams<'static, 'static>>>,
    config: Config,
    /// The default language's code, or "auto".
    language: &'static str,
    multilingual: bool,
    /// Token ids from here up are special (end of text, timestamps …).
    first_special_token: WhisperTokenId,
    /// The timestamp token of 0.00 s; each id above it is 20 ms more.
    timestamp_zero: WhisperTokenId,
    queue_timeout: Option<Duration>,
    extensions: String,
}

/// A decoder state and its reusable sample buffer.
struct Slot {
    state: WhisperState,
    samples: Vec<f32>,
}

/// The whisper code of a language ("en", "english" → "en").
///
/// Looked up in a table read once from whisper.cpp rather than with
/// `whisper_lang_id`, which logs an error for every unknown name (a bad
/// request would otherwise put an ERROR line in the host's log).
pub(crate) fn language_code(name: &str) -> Option<&'static str> {
    static LANGUAGES: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    let languages = LANGUAGES.get_or_init(|| {
        (0..=whisper_rs::get_lang_max_id())
            .filter_map(|id| {
                let code = whisper_rs::get_lang_str(id)?;
                Some((code, whisper_rs::get_lang_str_full(id).unwrap_or(code)))
            })
            .collect()
    });
    let name = name.trim().to_ascii_lowercase();
    languages
        .iter()
        .find(|(code, full)| *code == name || *full == name)
        .map(|(code, _)| *code)
}

impl Stt for Whisper {
    fn new(ctx: Context) -> Result<Self, PluginError> {
        // With the `log_backend` feature this routes whisper.cpp's log to the
        // `log` crate, i.e. to the host; without it whisper.cpp would print
        // to the host's stderr.
        whisper_rs::install_logging_hooks();
        let config: Config = ctx.config()?;
        Self::build(config, &ctx)
    }

    fn describe(&self) -> Result<SttInfo, PluginError> {
        Ok(SttInfo {
            sample_rate: SAMPLE_RATE,
            max_concurrency: self.pool.size() as u32,
            streaming: false,
            extensions_json: self.extensions.clone().into(),
        })
    }

    fn transcribe(&self, req: &SttRequest<'_>, cancel: &Cancel) -> Result<Transcript, PluginError> {
        // plugin-api guards every entry point too; this one keeps a panic in
        // whisper-rs from depending on it and names what panicked.
        guard("whisper transcription", || self.run(req, cancel)).into_result()
    }
}

impl Whisper {
    fn build(config: Config, ctx: &Context) -> Result<Self, PluginError> {
        let mut issues = config.validate();
        let model_path = ctx.resolve_path(&config.model);
        if !model_path.is_file() {
            issues.push(issue(
                "model",
                format!(
                    "model file `{}` not found (see docs/stt/whisper.md for how to get one)",
                    model_path.display()
                ),
            ));
        }
        if !issues.is_empty() {
            return Err(PluginError::config(issues));
        }

        let started = Instant::now();
        let mut ctx_params = WhisperContextParameters::default();
        // Flash attention is 1.5-2x slower on CPU (docs/stt/whisper.md).
        ctx_params.flash_attn(false);
        ctx_params.use_gpu(false);
        let context = WhisperContext::new_with_params(&model_path, ctx_params).map_err(|err| {
            PluginError::config_key(
                "model",
                format!(
                    "whisper.cpp could not load `{}` ({err}); is it a ggml whisper model?",
                    model_path.display()
                ),
            )
        })?;
        let load_ms = started.elapsed().as_millis();

        let multilingual = context.is_multilingual();
        let language = Self::check_language(&config, multilingual)?;
        if let AudioCtx::Frames(n) = config.audio_ctx {
            let max = context.n_audio_ctx();
            if i64::from(n) > i64::from(max) {
                return Err(PluginError::config_key(
                    "audio_ctx",
                    format!("{n} frames is more than the model's window of {max}"),
                ));
            }
        }

        let params = decoding_params(&config, language);
        let mut slots = Vec::with_capacity(config.workers as usize);
        let mut warmup_ms = Vec::with_capacity(config.workers as usize);
        for _ in 0..config.workers {
            let state = context.create_state().map_err(|err| {
                PluginError::internal(format!("creating a whisper state failed: {err}"))
            })?;
            let mut slot = Slot {
                state,
                samples: Vec::with_capacity(SAMPLE_RATE as usize * 10),
            };
            let started = Instant::now();
            slot.warm_up(&config)?;
            warmup_ms.push(started.elapsed().as_millis() as u64);
            slots.push(slot);
        }

        let model_type = context
            .model_type_readable_str_lossy()
            .map(|t| t.into_owned())
            .unwrap_or_default();
        log::info!(
            "Whisper model loaded: instance={}, model={}, type={model_type}, load_ms={load_ms}, \
             workers={}, threads={}, warmup_ms={warmup_ms:?}.",
            ctx.instance(),
            model_path.display(),
            config.workers,
            config.threads(),
        );

        let extensions = serde_json::json!({
            "model": file_name(&model_path),
            "model_type": model_type,
            "multilingual": multilingual,
            "language": language,
            "threads": config.threads(),
            "strategy": match config.strategy {
                Strategy::Greedy => "greedy",
                Strategy::Beam => "beam",
            },
            "audio_ctx": match config.audio_ctx {
                AudioCtx::Auto => serde_json::json!("auto"),
                AudioCtx::Full => serde_json::json!("full"),
                AudioCtx::Frames(n) => serde_json::json!(n),
            },
            "load_ms": load_ms as u64,
            "warmup_ms": warmup_ms,
        })
        .to_string();

        Ok(Self {
            pool: Pool::new(slots),
            params,
            other_languages: Mutex::new(HashMap::new()),
            queue_timeout: config.queue_timeout_ms.map(Duration::from_millis),
            language,
            multilingual,
            first_special_token: context.token_eot(),
            timestamp_zero: context.token_beg(),
            config,
            extensions,
        })
    }

    /// The configured language as a whisper code ("auto" stays "auto").
    fn check_language(config: &Config, multilingual: bool) -> Result<&'static str, PluginError> {
        let wanted = config.language.as_str();
        let code = if wanted == "auto" {
            "auto"
        } else {
            // `validate` already rejected unknown names.
            language_code(wanted).unwrap_or("en")
        };
        if !multilingual && code != "en" {
            return Err(PluginError::config_key(
                "language",
                format!(
                    "the model `{}` is English-only; use language = \"en\" or a multilingual model",
                    config.model.display()
                ),
            ));
        }
        Ok(code)
    }

    fn run(&self, req: &SttRequest<'_>, cancel: &Cancel) -> Result<Transcript, PluginError> {
        if req.sample_rate != SAMPLE_RATE {
            return Err(PluginError::invalid_input(format!(
                "whisper takes {SAMPLE_RATE} Hz audio, got {} Hz",
                req.sample_rate
            )));
        }
        let pcm = req.pcm.as_slice();
        if pcm.len() > MAX_SAMPLES {
            return Err(PluginError::invalid_input(format!(
                "utterance of {} s is longer than the {} s limit",
                pcm.len() / SAMPLE_RATE as usize,
                MAX_SAMPLES / SAMPLE_RATE as usize
            )));
        }
        let language = self.request_language(req.language.as_str())?;
        if pcm.len() < MIN_SAMPLES {
            return Ok(empty_transcript(language));
        }

        let waited = Instant::now();
        let mut slot = self.pool.take(self.queue_timeout).map_err(|_| {
            PluginError::new(
                ErrorKind::BUSY,
                format!(
                    "all {} whisper workers stayed busy for {} ms",
                    self.pool.size(),
                    waited.elapsed().as_millis()
                ),
            )
        })?;
        let queued_ms = waited.elapsed().as_millis() as u64;

        let started = Instant::now();
        let Slot { state, samples } = &mut *slot;
        samples.clear();
        samples.extend(pcm.iter().map(|&s| f32::from(s) / 32_768.0));
        let audio_ctx = self.config.audio_ctx.frames_for(samples.len());
        let one_window = samples.len() <= ONE_WINDOW_SAMPLES;
        let mut params = self.params_for(language);
        params.set_audio_ctx(audio_ctx as c_int);
        params.set_single_segment(one_window);
        if one_window {
            params.set_max_tokens(token_budget(samples.len()));
        }
        abort_when(&mut params, cancel);
        if let Err(err) = state.full(params, samples) {
            if cancel.is_cancelled() {
                return Err(PluginError::cancelled("the host abandoned the utterance"));
            }
            return Err(PluginError::internal(format!("whisper.cpp failed: {err}")));
        }

        let duration_ms = (pcm.len() as u64 * 1000 / u64::from(SAMPLE_RATE)) as u32;
        let (mut transcript, tokens) = self.collect(state, duration_ms, one_window);
        if one_window && tokens >= token_budget(pcm.len()) as usize {
            log::warn!(
                "Whisper used its whole token budget; the transcript may repeat itself: \
                 session={}, tokens={tokens}, audio_ms={duration_ms}.",
                req.session_id
            );
        }
        transcript.language = if language == "auto" {
            whisper_rs::get_lang_str(state.full_lang_id_from_state())
                .unwrap_or_default()
                .into()
        } else {
            language.into()
        };
        transcript.extensions_json = serde_json::json!({
            "audio_ctx": audio_ctx,
            "queued_ms": queued_ms,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        })
        .to_string()
        .into();
        Ok(transcript)
    }

    /// The language of one request: its own when given, else the instance's.
    fn request_language(&self, asked: &str) -> Result<&'static str, PluginError> {
        // "en-US" and "en_GB" mean "en" to whisper.
        let primary = asked
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if primary.is_empty() {
            return Ok(self.language);
        }
        if primary == "auto" {
            return if self.multilingual {
                Ok("auto")
            } else {
                Ok("en")
            };
        }
        let code = language_code(&primary).ok_or_else(|| {
            PluginError::invalid_input(format!("`{asked}` is not a language whisper knows"))
        })?;
        if !self.multilingual && code != "en" {
            return Err(PluginError::unsupported(format!(
                "language `{asked}` asked for, but the model is English-only"
            )));
        }
        Ok(code)
    }

    fn params_for(&self, language: &'static str) -> FullParams<'static, 'static> {
        if language == self.language {
            return self.params.clone();
        }
        // At most one entry per whisper language (about 100).
        let mut others = self
            .other_languages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        others
            .entry(language)
            .or_insert_with(|| decoding_params(&self.config, language))
            .clone()
    }

    /// Turns whisper's output into a transcript: segments cut at the
    /// timestamp tokens (one-window decodes) or as whisper made them,
    /// annotations removed, times in ms clamped to the audio, and the mean
    /// probability of the text tokens as confidence. Also returns how many
    /// tokens were decoded.
    fn collect(&self, state: &WhisperState, duration_ms: u32, split: bool) -> (Transcript, usize) {
        let mut pieces = Vec::new();
        let mut tokens = 0;
        for segment in state.as_iter() {
            tokens += usize::try_from(segment.n_tokens()).unwrap_or(0);
            let base_ms = to_ms(segment.start_timestamp(), duration_ms);
            let mut piece = Piece::starting_at(base_ms);
            let mut window = Vec::new();
            let mut log_probability = (0.0_f32, 0_u32);
            for i in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(i) else {
                    continue;
                };
                let id = token.token_id();
                if split && id >= self.timestamp_zero {
                    // whisper timestamps step by 20 ms.
                    let at = base_ms.saturating_add(
                        u32::try_from(id - self.timestamp_zero)
                            .unwrap_or(0)
                            .saturating_mul(20),
                    );
                    let at = at.min(duration_ms);
                    window
                        .push(std::mem::replace(&mut piece, Piece::starting_at(at)).ending_at(at));
                } else if id < self.first_special_token {
                    if let Ok(bytes) = token.to_bytes() {
                        piece.text.extend_from_slice(bytes);
                    }
                    let p = token.token_probability();
                    piece.probabilities.push(p);
                    log_probability.0 += p.max(f32::MIN_POSITIVE).ln();
                    log_probability.1 += 1;
                }
            }
            let end_ms = if split {
                duration_ms
            } else {
                to_ms(segment.end_timestamp(), duration_ms)
            };
            window.push(piece.ending_at(end_ms));
            // OpenAI's no-speech rule: the model thinks there is no speech
            // and is unsure of what it wrote. Catches the "you" / "Thank
            // you." whisper writes on silence.
            let mean_log_probability = log_probability.0 / log_probability.1.max(1) as f32;
            if segment.no_speech_probability() > self.config.no_speech_threshold
                && mean_log_probability < NO_SPEECH_LOG_PROBABILITY
            {
                log::debug!(
                    "Whisper window dropped as no speech: no_speech_prob={:.2}, \
                     mean_log_prob={mean_log_probability:.2}.",
                    segment.no_speech_probability()
                );
                continue;
            }
            pieces.extend(window);
        }

        let segments: Vec<Segment> = pieces.into_iter().filter_map(Piece::into_segment).collect();
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let scored: Vec<f32> = segments
            .iter()
            .filter_map(|s| s.confidence.into_option())
            .collect();
        let confidence = if scored.is_empty() {
            ROption::RNone
        } else {
            ROption::RSome(scored.iter().sum::<f32>() / scored.len() as f32)
        };
        let transcript = Transcript {
            text: text.into(),
            segments: RVec::from(segments),
            confidence,
            ..Transcript::default()
        };
        (transcript, tokens)
    }
}

/// A segment being assembled from tokens.
struct Piece {
    start_ms: u32,
    end_ms: u32,
    /// Token bytes: a character may be split across tokens.
    text: Vec<u8>,
    probabilities: Vec<f32>,
}

impl Piece {
    fn starting_at(start_ms: u32) -> Self {
        Self {
            start_ms,
            end_ms: start_ms,
            text: Vec::new(),
            probabilities: Vec::new(),
        }
    }

    fn ending_at(mut self, end_ms: u32) -> Self {
        self.end_ms = end_ms.max(self.start_ms);
        self
    }

    /// The finished segment, or `None` when nothing but annotations and
    /// punctuation is left.
    fn into_segment(self) -> Option<Segment> {
        let text = text::clean(&String::from_utf8_lossy(&self.text));
        if text.is_empty() {
            return None;
        }
        let n = self.probabilities.len();
        let confidence =
            (n > 0).then(|| (self.probabilities.iter().sum::<f32>() / n as f32).clamp(0.0, 1.0));
        Some(Segment {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            text: text.into(),
            confidence: confidence.into(),
        })
    }
}

/// A whisper time (10 ms units) in ms, within the audio.
fn to_ms(centiseconds: i64, duration_ms: u32) -> u32 {
    centiseconds
        .max(0)
        .saturating_mul(10)
        .min(i64::from(duration_ms)) as u32
}

impl Slot {
    /// One tiny transcription (1 s of silence, greedy, no fallback), so
    /// that the first real call does not pay for first-touch page faults
    /// and graph allocation.
    fn warm_up(&mut self, config: &Config) -> Result<(), PluginError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        quiet(&mut params);
        params.set_n_threads(config.threads() as c_int);
        params.set_language(Some("en"));
        params.set_temperature_inc(0.0);
        params.set_max_tokens(8);
        params.set_single_segment(true);
        self.samples.clear();
        self.samples.resize(WARMUP_SAMPLES, 0.0);
        params.set_audio_ctx(config.audio_ctx.frames_for(WARMUP_SAMPLES) as c_int);
        self.state
            .full(params, &self.samples)
            .map_err(|err| PluginError::internal(format!("whisper warm-up failed: {err}")))
    }
}

/// The decoding parameters of an instance for one language.
fn decoding_params(config: &Config, language: &'static str) -> FullParams<'static, 'static> {
    let strategy = match config.strategy {
        Strategy::Greedy => SamplingStrategy::Greedy {
            best_of: config.best_of as c_int,
        },
        Strategy::Beam => SamplingStrategy::BeamSearch {
            beam_size: config.beam_size as c_int,
            patience: -1.0,
        },
    };
    let mut params = FullParams::new(strategy);
    quiet(&mut params);
    params.set_n_threads(config.threads() as c_int);
    params.set_language(Some(language));
    params.set_translate(false);
    // Each utterance stands alone: no text carried over from the state's
    // previous call (which may have been another caller).
    params.set_no_context(true);
    params.set_suppress_blank(true);
    params.set_suppress_nst(config.suppress_non_speech);
    params.set_temperature(config.temperature);
    params.set_temperature_inc(config.temperature_inc);
    params.set_no_speech_thold(config.no_speech_threshold);
    if let Some(prompt) = config.initial_prompt.as_deref().filter(|p| !p.is_empty()) {
        // `validate` rejected NUL characters, on which whisper-rs panics.
        params.set_initial_prompt(prompt);
    }
    params
}

/// Nothing printed to stdout by whisper.cpp.
fn quiet(params: &mut FullParams<'_, '_>) {
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
}

fn empty_transcript(language: &str) -> Transcript {
    Transcript {
        language: if language == "auto" { "" } else { language }.into(),
        extensions_json: "{}".into(),
        ..Transcript::default()
    }
}

fn issue(key: &str, message: String) -> ConfigIssue {
    ConfigIssue {
        key: key.into(),
        message: message.into(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

voicegate_plugin_api::export_plugin!(stt = Whisper);

/// Asked by whisper.cpp between graph computations; `data` is the
/// utterance's cancel flag.
#[allow(unsafe_code)]
unsafe extern "C" fn cancelled(data: *mut std::ffi::c_void) -> bool {
    // SAFETY: `data` is the `AtomicBool` of the `Cancel` that `abort_when`
    // was given, and `run` holds that token until `full` returns.
    unsafe { &*(data as *const AtomicBool) }.load(Ordering::Relaxed)
}

/// Makes whisper.cpp stop early when `cancel` trips (the host abandoned a
/// superseded utterance), so the worker is free for the next one.
///
/// whisper-rs's closure-based `set_abort_callback_safe` casts the boxed
/// closure to the wrong type in its trampoline (and leaks it), so this
/// sets the C callback directly with the flag as its data.
fn abort_when(params: &mut FullParams<'static, 'static>, cancel: &Cancel) {
    let flag: *const AtomicBool = cancel.flag();
    #[allow(unsafe_code)]
    // SAFETY: `cancelled` only reads the flag, which outlives the
    // transcription these parameters are used for (see `run`).
    unsafe {
        params.set_abort_callback(Some(cancelled));
        params.set_abort_callback_user_data(flag as *mut std::ffi::c_void);
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::testkit;

    use super::*;

    fn new(json: &str) -> Result<Whisper, PluginError> {
        Whisper::new(testkit::context("stt", "http://x", json))
    }

    #[test]
    fn missing_model_file_names_the_key_and_the_resolved_path() {
        let err = new(r#"{"model":"no/such/model.bin"}"#).err().unwrap();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues.len(), 1);
        assert_eq!(err.issues[0].key.as_str(), "model");
        let resolved = std::env::current_dir().unwrap().join("no/such/model.bin");
        assert!(
            err.issues[0].message.contains(&*resolved.to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn other_problems_are_reported_with_the_missing_model() {
        let err = new(r#"{"model":"nope.bin","workers":0,"language":"klingon"}"#)
            .err()
            .unwrap();
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["language", "workers", "model"], "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_model_is_a_config_error_naming_it() {
        let path = std::env::temp_dir().join(format!("not-a-model-{}.bin", std::process::id()));
        std::fs::write(&path, b"this is not a ggml file").unwrap();
        let json = serde_json::json!({ "model": path }).to_string();
        let err = new(&json).err().unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues[0].key.as_str(), "model");
        assert!(
            err.issues[0].message.contains(&*path.to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn bad_strategy_is_a_config_error_naming_the_key() {
        let err = new(r#"{"model":"m.bin","strategy":"fast"}"#).err().unwrap();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(err.issues[0].key.as_str(), "strategy");
    }

    #[test]
    fn language_codes() {
        assert_eq!(language_code("en"), Some("en"));
        assert_eq!(language_code("english"), Some("en"));
        assert_eq!(language_code("English"), Some("en"));
        assert_eq!(language_code("de"), Some("de"));
        assert_eq!(language_code("xx"), None);
        assert_eq!(language_code("e\0n"), None);
    }
}
