//! STT sessions as authors see them, and the session the host gets for a
//! whole-utterance engine.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use abi_stable::std_types::{RSlice, RStr};

use super::Stt;
use crate::{
    abi::HypothesisSinkBox,
    types::{Hypothesis, PluginError, SttRequest, SttSessionOpen, Transcript},
};

/// Trips when the host abandons an utterance (the caller spoke again, or
/// hung up). Cheap to check; check it between units of work.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token that has not tripped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the host abandoned the utterance.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Trips the token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The flag itself, for native engines that poll a flag pointer (such
    /// as whisper.cpp's abort callback); it lives as long as this token.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// Sends interim hypotheses to the host; usable from any thread for as
/// long as the session lives.
pub struct Partials {
    sink: HypothesisSinkBox,
}

impl Partials {
    pub(crate) fn new(sink: HypothesisSinkBox) -> Self {
        Self { sink }
    }

    /// The engine's current guess for `utterance`; `stable` is the prefix of
    /// `text` it will not revise (empty when it does not know).
    pub fn send(&self, utterance: u64, text: &str, stable: &str, confidence: Option<f32>) {
        self.sink.partial(&Hypothesis {
            utterance,
            text: RStr::from(text),
            stable: RStr::from(stable),
            confidence: confidence.into(),
        });
    }
}

impl Clone for Partials {
    fn clone(&self) -> Self {
        Self {
            sink: crate::abi::HypothesisSinkFfi_TO::from_sabi(self.sink.obj.shallow_clone()),
        }
    }
}

impl std::fmt::Debug for Partials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Partials")
    }
}

/// One call's STT state (see [`crate::StreamingStt`]). Utterances are
/// numbered by the host; calls for different utterances may overlap.
pub trait SttSession: Send + Sync + 'static {
    /// Appends audio to `utterance`. Must not block: hand the audio to your
    /// own thread if the engine needs I/O.
    fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), PluginError>;
    /// `utterance` is complete: its final transcript. Runs on an STT worker.
    fn finish(&self, utterance: u64) -> Result<Transcript, PluginError>;
    /// Abandons `utterance`; a `finish` in progress should return
    /// [`PluginError::cancelled`] promptly. Must not block.
    fn cancel(&self, utterance: u64);
}

/// What [`Buffered`] keeps per utterance.
#[derive(Default)]
struct Pending {
    pcm: Vec<i16>,
    cancel: Cancel,
}

/// The session of a whole-utterance engine: buffers each utterance and
/// transcribes it in [`SttSession::finish`].
pub(crate) struct Buffered<T: Stt> {
    engine: Arc<T>,
    session_id: String,
    language: String,
    sample_rate: u32,
    pending: Mutex<HashMap<u64, Pending>>,
}

impl<T: Stt> Buffered<T> {
    pub(crate) fn open(engine: Arc<T>, open: &SttSessionOpen<'_>) -> Result<Self, PluginError> {
        engine.prepare_call(open.session_id.as_str())?;
        Ok(Self {
            engine,
            session_id: open.session_id.to_string(),
            language: open.language.to_string(),
            sample_rate: open.sample_rate,
            pending: Mutex::default(),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Stt> SttSession for Buffered<T> {
    fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), PluginError> {
        self.pending()
            .entry(utterance)
            .or_default()
            .pcm
            .extend_from_slice(pcm);
        Ok(())
    }

    fn finish(&self, utterance: u64) -> Result<Transcript, PluginError> {
        // The audio leaves the map; the token stays so `cancel` can reach
        // the transcription while it runs.
        let (pcm, cancel) = {
            let mut pending = self.pending();
            let entry = pending.entry(utterance).or_default();
            (std::mem::take(&mut entry.pcm), entry.cancel.clone())
        };
        let result = if cancel.is_cancelled() {
            Err(PluginError::cancelled(format!(
                "utterance {utterance} was cancelled"
            )))
        } else {
            let req = SttRequest {
                pcm: RSlice::from_slice(&pcm),
                sample_rate: self.sample_rate,
                session_id: RStr::from(self.session_id.as_str()),
                language: RStr::from(self.language.as_str()),
                extensions_json: RStr::from(""),
            };
            self.engine.transcribe(&req, &cancel)
        };
        self.pending().remove(&utterance);
        result
    }

    fn cancel(&self, utterance: u64) {
        // Only utterances pushed and not yet finished: a late cancel for
        // one already transcribed must not leave an entry behind.
        if let Some(entry) = self.pending().get_mut(&utterance) {
            entry.pcm = Vec::new();
            entry.cancel.cancel();
        }
    }
}

impl<T: Stt> Drop for Buffered<T> {
    fn drop(&mut self) {
        if let Err(error) = self.engine.end_call(&self.session_id) {
            log::debug!("end_call for {} failed: {error}", self.session_id);
        }
    }
}
