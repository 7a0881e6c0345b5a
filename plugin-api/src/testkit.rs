//! Helpers to unit-test a plugin without the host: an in-memory host,
//! contexts from JSON, and sinks that record what a stream, a TTS, a
//! responder or an STT session produced.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RResult, RSlice, RStr, RString},
};

use crate::{
    abi::{
        AnswerSinkFfi, AnswerSinkFfi_TO, AudioSinkFfi, AudioSinkFfi_TO, EventSinkFfi,
        EventSinkFfi_TO, FrameSinkFfi, FrameSinkFfi_TO, HostServicesFfi, HostServicesFfi_TO,
        HypothesisSinkFfi, HypothesisSinkFfi_TO,
    },
    author::{AnswerOut, AudioOut, Context, Events, Frames, Host, Partials},
    types::{Action, Hypothesis, LogLevel, LogRecord, PluginError, StreamEvent, WsFrame},
};

/// An in-memory host: a real sliding-window counter, the system clock, and
/// logs printed to stderr (visible with `cargo test -- --nocapture`).
#[derive(Default)]
struct TestHost {
    counters: Mutex<HashMap<String, Vec<u64>>>,
}

impl TestHost {
    fn hits(&self, key: &str, window_ms: u64, add: bool) -> u64 {
        let now = now_ms();
        let mut counters = match self.counters.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let hits = counters.entry(key.to_owned()).or_default();
        hits.retain(|t| now.saturating_sub(*t) < window_ms);
        if add {
            hits.push(now);
        }
        hits.len() as u64
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl HostServicesFfi for TestHost {
    fn now_unix_ms(&self) -> u64 {
        now_ms()
    }

    fn max_log_level(&self) -> LogLevel {
        LogLevel::DEBUG
    }

    fn log(&self, record: &LogRecord<'_>) {
        eprintln!(
            "[test host] {:?} {} {}: {}",
            record.level, record.target, record.session_id, record.message
        );
    }

    fn counter_hit(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        RResult::ROk(self.hits(key.as_str(), window_ms, true))
    }

    fn counter_get(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        RResult::ROk(self.hits(key.as_str(), window_ms, false))
    }

    fn call_ext(&self, op: RStr<'_>, _: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported(format!(
            "no host extension `{op}`"
        )))
    }
}

/// A host for tests.
pub fn host() -> Host {
    Host::new(HostServicesFfi_TO::from_ptr(
        RArc::new(TestHost::default()),
        TD_Opaque,
    ))
}

/// A construction context for tests: instance name, public URL and the
/// instance's config as JSON. Relative paths resolve against the current
/// directory (the crate's directory under `cargo test`).
pub fn context(instance: &str, public_url: &str, config_json: &str) -> Context {
    let dir = std::env::current_dir().unwrap_or_default();
    let extensions = serde_json::json!({ "config_dir": dir }).to_string();
    Context::new(
        instance.to_owned(),
        public_url.to_owned(),
        config_json.to_owned(),
        &extensions,
        host(),
    )
}

/// Everything a stream produced from the frames fed to it.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Decoded PCM, concatenated.
    pub audio: Vec<i16>,
    /// `(sample_rate, timestamp_ms, samples)` of each audio call.
    pub audio_calls: Vec<(u32, u64, usize)>,
    /// Non-audio events.
    pub events: Vec<StreamEvent>,
    /// Frames sent back (replies or encoded output).
    pub frames: Vec<OwnedFrame>,
}

/// An owned copy of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedFrame {
    /// Text.
    Text(String),
    /// Binary.
    Binary(Vec<u8>),
}

impl OwnedFrame {
    fn from_frame(frame: WsFrame<'_>) -> Self {
        match frame {
            WsFrame::Text(t) => Self::Text(t.as_str().to_owned()),
            WsFrame::Binary(b) => Self::Binary(b.as_slice().to_vec()),
        }
    }
}

impl EventSinkFfi for Recorded {
    fn audio(&mut self, pcm: RSlice<'_, i16>, sample_rate: u32, timestamp_ms: u64) {
        self.audio.extend_from_slice(pcm.as_slice());
        self.audio_calls
            .push((sample_rate, timestamp_ms, pcm.len()));
    }

    fn event(&mut self, event: StreamEvent) {
        self.events.push(event);
    }

    fn reply(&mut self, frame: WsFrame<'_>) {
        self.frames.push(OwnedFrame::from_frame(frame));
    }
}

impl FrameSinkFfi for Recorded {
    fn frame(&mut self, frame: WsFrame<'_>) {
        self.frames.push(OwnedFrame::from_frame(frame));
    }
}

impl AudioSinkFfi for Recorded {
    fn chunk(&mut self, pcm: RSlice<'_, i16>) -> bool {
        self.audio.extend_from_slice(pcm.as_slice());
        self.audio_calls.push((0, 0, pcm.len()));
        true
    }
}

/// Everything a responder wrote into one answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// Each text delta, in order.
    pub deltas: Vec<String>,
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// `degraded` notes: kind name and message.
    pub degraded: Vec<(String, String)>,
    /// After this many deltas the sink answers `false` (as when the caller
    /// barges in); `None` never stops.
    pub stop_after: Option<usize>,
}

impl RecordedAnswer {
    /// The whole text.
    pub fn text(&self) -> String {
        self.deltas.concat()
    }

    fn wants_more(&self) -> bool {
        self.stop_after.is_none_or(|n| self.deltas.len() < n)
    }

    /// Runs `f` with an [`AnswerOut`] that records into `self`.
    pub fn answer<R>(&mut self, f: impl FnOnce(&mut AnswerOut<'_>) -> R) -> R {
        let sink = AnswerSinkFfi_TO::from_ptr(abi_stable::sabi_types::RMut::new(self), TD_Opaque);
        f(&mut AnswerOut::new(sink))
    }
}

impl AnswerSinkFfi for RecordedAnswer {
    fn text(&mut self, delta: RStr<'_>) -> bool {
        if !self.wants_more() {
            return false;
        }
        self.deltas.push(delta.to_string());
        true
    }

    fn action(&mut self, action: &Action) -> bool {
        self.actions.push(action.clone());
        self.wants_more()
    }

    fn degraded(&mut self, kind: RStr<'_>, message: RStr<'_>) {
        self.degraded.push((kind.to_string(), message.to_string()));
    }

    fn is_stopped(&self) -> bool {
        !self.wants_more()
    }
}

/// Interim hypotheses an STT session sent: `(utterance, text, stable)`.
#[derive(Debug, Default)]
pub struct RecordedPartials(Mutex<Vec<(u64, String, String)>>);

impl RecordedPartials {
    /// A [`Partials`] handle that records here.
    pub fn partials(self: &std::sync::Arc<Self>) -> Partials {
        Partials::new(HypothesisSinkFfi_TO::from_ptr(
            RArc::new(PartialsTap(self.clone())),
            TD_Opaque,
        ))
    }

    /// What was sent so far.
    pub fn taken(&self) -> Vec<(u64, String, String)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

struct PartialsTap(std::sync::Arc<RecordedPartials>);

impl HypothesisSinkFfi for PartialsTap {
    fn partial(&self, h: &Hypothesis<'_>) {
        if let Ok(mut v) = self.0 .0.lock() {
            v.push((h.utterance, h.text.to_string(), h.stable.to_string()));
        }
    }
}

impl Recorded {
    /// Runs `f` with an [`Events`] sink that records into `self`.
    pub fn events<R>(&mut self, f: impl FnOnce(&mut Events<'_>) -> R) -> R {
        let sink = EventSinkFfi_TO::from_ptr(abi_stable::sabi_types::RMut::new(self), TD_Opaque);
        f(&mut Events::new(sink))
    }

    /// Runs `f` with a [`Frames`] sink that records into `self`.
    pub fn frames<R>(&mut self, f: impl FnOnce(&mut Frames<'_>) -> R) -> R {
        let sink = FrameSinkFfi_TO::from_ptr(abi_stable::sabi_types::RMut::new(self), TD_Opaque);
        f(&mut Frames::new(sink))
    }

    /// Runs `f` with an [`AudioOut`] sink that records into `self`.
    pub fn audio_out<R>(&mut self, f: impl FnOnce(&mut AudioOut<'_>) -> R) -> R {
        let sink = AudioSinkFfi_TO::from_ptr(abi_stable::sabi_types::RMut::new(self), TD_Opaque);
        f(&mut AudioOut::new(sink))
    }
}
