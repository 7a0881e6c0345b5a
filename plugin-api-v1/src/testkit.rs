//! Helpers to unit-test a plugin without the host: an in-memory host,
//! contexts from JSON, and sinks that record what a stream produced.

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
        AudioSinkFfi, AudioSinkFfi_TO, EventSinkFfi, EventSinkFfi_TO, FrameSinkFfi,
        FrameSinkFfi_TO, HostServicesFfi, HostServicesFfi_TO,
    },
    author::{AudioOut, Context, Events, Frames, Host},
    types::{LogLevel, PluginError, StreamEvent, WsFrame},
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

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        eprintln!("[test host] {level:?} {target}: {message}");
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
