//! The per-call media pipeline: audio from the transport, resampled to the
//! STT rate, cut into utterances by voice activity, transcribed on a bounded
//! pool, answered by the responder; results come back as events.

mod stt_pool;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use voicegate_plugin_api::{KeyValue, Message, OutboundAction, RStr, RVec, Role, Turn};

pub use stt_pool::{QueueFull, SttDone, SttPool};

use crate::{
    events::{kinds, Event, EventBus},
    media::{
        resample::StreamResampler,
        turn::{TurnConfig, TurnDetector, TurnEvent},
        vad::VadConfig,
    },
    plugins::{CallError, Responder},
    sessions::{Session, StreamStats},
};

/// Gaps in carrier timestamps longer than this are filled with silence.
const GAP_TOLERANCE_MS: u64 = 30;
/// Longest gap filled; a longer one is a pause in the stream, not loss.
const GAP_FILL_MAX_MS: u64 = 1000;
/// Silence kept after the end of speech in what goes to STT.
const UTTERANCE_TAIL_MS: u32 = 200;

/// What finishes off the media path and comes back to a call's task.
#[derive(Debug)]
pub enum PipelineOutput {
    /// A transcription finished.
    Transcript(SttDone),
    /// The responder answered.
    Answer(Result<voicegate_plugin_api::Answer, CallError>),
}

/// An outbound action owned by the pipeline.
#[derive(Debug, Clone)]
pub enum OwnedAction {
    /// Ask for a playback mark.
    Mark(String),
    /// Drop queued audio at the peer.
    Clear,
}

impl OwnedAction {
    /// The borrowed form the transport takes.
    pub fn as_action(&self) -> OutboundAction<'_> {
        match self {
            OwnedAction::Mark(name) => OutboundAction::Mark(RStr::from(name.as_str())),
            OwnedAction::Clear => OutboundAction::Clear,
        }
    }
}

/// Parts of the pipeline shared by every call.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stt: Option<SttPool>,
    responder: Option<Arc<Responder>>,
    vad: VadConfig,
    turn: TurnConfig,
}

impl Pipeline {
    /// Builds the shared parts.
    pub fn new(
        stt: Option<SttPool>,
        responder: Option<Arc<Responder>>,
        vad: VadConfig,
        turn: TurnConfig,
    ) -> Self {
        if stt.is_none() {
            tracing::warn!(
                "No STT instance is configured: calls will be connected but not transcribed."
            );
        }
        Self {
            stt,
            responder,
            vad,
            turn,
        }
    }

    /// The per-call part.
    pub fn call(&self, session: &Session) -> CallPipeline {
        let rate = self
            .stt
            .as_ref()
            .map(SttPool::sample_rate)
            .unwrap_or(16_000);
        CallPipeline {
            session_id: session.id.clone(),
            stt: self.stt.clone(),
            responder: self.responder.clone(),
            stt_rate: rate,
            resampler: None,
            turn: None,
            turn_config: self.turn.clone(),
            vad_config: self.vad.clone(),
            turn_events: Vec::with_capacity(4),
            next_ts: None,
            history: Vec::new(),
            context: session.call.custom_params.iter().cloned().collect(),
            from: session.call.from.to_string(),
            to: session.call.to.to_string(),
            call_id: session.call.call_id.to_string(),
            transport: session.transport.id.instance.clone(),
            silence: Vec::new(),
        }
    }

    /// Warms the STT for a call the webhook just accepted.
    pub fn prepare_call(&self, session_id: &str) {
        if let Some(pool) = &self.stt {
            let stt = pool.stt().clone();
            let id = session_id.to_owned();
            tokio::task::spawn_blocking(move || {
                if let Err(error) = stt.prepare_call(&id) {
                    tracing::warn!(session_id = %id, %error, "STT could not prepare for the call.");
                }
            });
        }
    }

    /// Frees what the STT kept for a call.
    pub fn end_call(&self, session_id: &str) {
        if let Some(pool) = &self.stt {
            let stt = pool.stt().clone();
            let id = session_id.to_owned();
            tokio::task::spawn_blocking(move || {
                if let Err(error) = stt.end_call(&id) {
                    tracing::debug!(session_id = %id, %error, "STT end_call failed.");
                }
            });
        }
    }

    /// Numbers for the admin API.
    pub fn stats(&self) -> serde_json::Value {
        self.stt
            .as_ref()
            .map(SttPool::stats)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// The pipeline state of one call.
pub struct CallPipeline {
    session_id: String,
    stt: Option<SttPool>,
    responder: Option<Arc<Responder>>,
    stt_rate: u32,
    /// Converts finished utterances to the STT rate.
    resampler: Option<StreamResampler>,
    /// Runs at the carrier's rate: voice activity needs no resampling, so a
    /// silent call costs a VAD pass per frame and nothing more.
    turn: Option<TurnDetector>,
    turn_config: TurnConfig,
    vad_config: VadConfig,
    turn_events: Vec<TurnEvent>,
    next_ts: Option<u64>,
    history: Vec<Message>,
    context: Vec<KeyValue>,
    from: String,
    to: String,
    call_id: String,
    transport: String,
    silence: Vec<i16>,
}

impl CallPipeline {
    /// Feeds decoded audio from the transport.
    pub fn push_audio(
        &mut self,
        pcm: &[i16],
        rate: u32,
        timestamp_ms: u64,
        stats: &StreamStats,
        results: &mpsc::Sender<PipelineOutput>,
    ) {
        if rate == 0 || pcm.is_empty() {
            return;
        }
        // Fill gaps that the carrier's timestamps reveal, so VAD timing and
        // utterance audio stay true to the call's clock.
        if let Some(expected) = self.next_ts {
            if timestamp_ms > expected + GAP_TOLERANCE_MS {
                let gap = (timestamp_ms - expected).min(GAP_FILL_MAX_MS);
                let samples = (gap * u64::from(rate) / 1000) as usize;
                self.silence.clear();
                self.silence.resize(samples, 0);
                stats
                    .gap_fill_samples
                    .fetch_add(samples as u64, Ordering::Relaxed);
                let silence = std::mem::take(&mut self.silence);
                self.feed(&silence, rate, stats, results);
                self.silence = silence;
            }
        }
        self.next_ts = Some(timestamp_ms + pcm.len() as u64 * 1000 / u64::from(rate));
        self.feed(pcm, rate, stats, results);
    }

    fn feed(
        &mut self,
        pcm: &[i16],
        rate: u32,
        stats: &StreamStats,
        results: &mpsc::Sender<PipelineOutput>,
    ) {
        // Turn detection runs with or without STT: it is what barge-in and
        // the utterance counters see, and it is cheap at the carrier rate.
        let turn = match &mut self.turn {
            Some(t) if t.sample_rate_hz() == rate => t,
            _ => match TurnDetector::new(&self.turn_config, &self.vad_config, rate) {
                Ok(t) => self.turn.insert(t),
                Err(error) => {
                    tracing::error!(session_id = %self.session_id, %error, rate, "Turn detection cannot run at this call's sample rate.");
                    return;
                }
            },
        };
        self.turn_events.clear();
        turn.push(pcm, &mut self.turn_events);
        let events = std::mem::take(&mut self.turn_events);
        for event in events.iter() {
            if let TurnEvent::Utterance(u) = event {
                stats.utterances.fetch_add(1, Ordering::Relaxed);
                let Some(pool) = self.stt.clone() else {
                    continue;
                };
                // The caller stopped speaking `end - speech_end` ago (in
                // call time, which arrives in real time).
                let since_speech_end = u.end_ms.saturating_sub(u.speech_end_ms);
                let speech_end = Instant::now()
                    .checked_sub(Duration::from_millis(since_speech_end))
                    .unwrap_or_else(Instant::now);
                // STT needs little of the hangover's silence.
                let Some(pcm) = self.resample_for_stt(u.trimmed(UTTERANCE_TAIL_MS), rate) else {
                    continue;
                };
                if let Err(full) = pool.submit(
                    &self.session_id,
                    pcm,
                    speech_end,
                    results.clone(),
                    PipelineOutput::Transcript,
                ) {
                    stats.utterances_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(session_id = %self.session_id, error = %full, "Utterance dropped.");
                    // Reported as an event by the caller's task via the bus.
                    let _ = results.try_send(PipelineOutput::Transcript(SttDone {
                        result: Err(CallError {
                            id: pool.stt().id.clone(),
                            op: "transcribe",
                            error: voicegate_plugin_api::PluginError::new(
                                voicegate_plugin_api::ErrorKind::BUSY,
                                full.to_string(),
                            ),
                        }),
                        speech_end,
                        wait: Duration::ZERO,
                        run: Duration::ZERO,
                        audio: Duration::ZERO,
                    }));
                }
            }
        }
        let mut events = events;
        events.clear();
        self.turn_events = events;
    }

    /// Converts one utterance to the STT's rate (one resampler per call,
    /// flushed after each utterance).
    fn resample_for_stt(&mut self, pcm: &[i16], rate: u32) -> Option<Vec<i16>> {
        if rate == self.stt_rate {
            return Some(pcm.to_vec());
        }
        let resampler = match &mut self.resampler {
            Some(r) if r.from_hz() == rate => r,
            _ => match StreamResampler::new(rate, self.stt_rate) {
                Ok(r) => self.resampler.insert(r),
                Err(error) => {
                    tracing::error!(session_id = %self.session_id, %error, "Cannot resample this call's audio.");
                    return None;
                }
            },
        };
        let mut out =
            Vec::with_capacity(pcm.len() * self.stt_rate as usize / rate.max(1) as usize + 512);
        resampler.process(pcm, &mut out);
        resampler.flush(&mut out);
        Some(out)
    }

    /// Handles a result for this call; returns actions for the transport.
    pub fn on_output(
        &mut self,
        out: PipelineOutput,
        session: &Session,
        events: &EventBus,
        results: &mpsc::Sender<PipelineOutput>,
    ) -> Vec<OwnedAction> {
        match out {
            PipelineOutput::Transcript(done) => {
                let transcript = match done.result {
                    Ok(t) => t,
                    Err(error) => {
                        events.publish(
                            Event::new(kinds::ERROR, &self.session_id)
                                .with(
                                    "error",
                                    format!("speech recognition failed: {}", error.error.message),
                                )
                                .with("stage", "stt"),
                        );
                        return Vec::new();
                    }
                };
                let text = transcript.text.trim().to_owned();
                if text.is_empty() {
                    return Vec::new();
                }
                let latency = done.speech_end.elapsed();
                metrics::histogram!("voicegate_stt_final_latency_seconds")
                    .record(latency.as_secs_f64());
                tracing::info!(
                    session_id = %self.session_id,
                    call_sid = %session.call.call_id,
                    latency_ms = latency.as_millis() as u64,
                    stt_ms = done.run.as_millis() as u64,
                    queue_ms = done.wait.as_millis() as u64,
                    audio_ms = done.audio.as_millis() as u64,
                    text = %text,
                    "Transcript."
                );
                events.publish(
                    Event::new(kinds::STT_FINAL, &self.session_id)
                        .with("text", text.as_str())
                        .with("latency_ms", latency.as_millis() as u64)
                        .with("audio_ms", done.audio.as_millis() as u64),
                );
                self.ask_responder(text, results);
                Vec::new()
            }
            PipelineOutput::Answer(Ok(answer)) => {
                let text = answer.text.trim().to_owned();
                if !text.is_empty() {
                    events.publish(
                        Event::new(kinds::ASSISTANT_TEXT, &self.session_id)
                            .with("text", text.as_str()),
                    );
                    self.history.push(Message {
                        role: Role::ASSISTANT,
                        text: text.as_str().into(),
                    });
                }
                if answer.hangup {
                    session
                        .hangup
                        .send_replace(Some("responder_hangup".to_owned()));
                }
                Vec::new()
            }
            PipelineOutput::Answer(Err(error)) => {
                tracing::warn!(session_id = %self.session_id, %error, "Responder failed.");
                events.publish(
                    Event::new(kinds::ERROR, &self.session_id)
                        .with(
                            "error",
                            format!("responder failed: {}", error.error.message),
                        )
                        .with("stage", "responder"),
                );
                Vec::new()
            }
        }
    }

    fn ask_responder(&mut self, text: String, results: &mpsc::Sender<PipelineOutput>) {
        let turn = Turn {
            session_id: self.session_id.as_str().into(),
            transport: self.transport.as_str().into(),
            call_id: self.call_id.as_str().into(),
            from: self.from.as_str().into(),
            to: self.to.as_str().into(),
            text: text.as_str().into(),
            history: RVec::from(self.history.clone()),
            context: RVec::from(self.context.clone()),
            extensions_json: "".into(),
        };
        self.history.push(Message {
            role: Role::CALLER,
            text: text.into(),
        });
        let Some(responder) = self.responder.clone() else {
            return;
        };
        let results = results.clone();
        tokio::spawn(async move {
            let answer = tokio::task::spawn_blocking(move || responder.respond(&turn)).await;
            if let Ok(answer) = answer {
                let _ = results.send(PipelineOutput::Answer(answer)).await;
            }
        });
    }
}
