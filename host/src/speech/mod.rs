//! Speaking back: reply text → TTS on the blocking pool → resampled to the
//! peer's rate → paced fixed-size frames with marks → barge-in.
//!
//! One [`Speaker`] per call. Replies play one at a time, in order; a reply
//! that arrives while another plays waits. When the caller barges in, every
//! reply is dropped: synthesis is told to stop, the peer is told to clear
//! what it buffered (when it can), marks of the dropped replies are ignored,
//! and the call's pipeline learns what the caller actually heard so it can
//! cut its conversation memory to that.

mod playout;
mod synth;
pub mod text;

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc::UnboundedSender;

pub use playout::{Emit, PlayoutConfig, Progress};
pub use synth::{SynthMsg, MAX_REPLY_SECONDS};

use crate::{
    media::resample::StreamResampler,
    model::{Outbound, TransportInfo},
    plugins::{CallError, Tts},
};
use playout::Playout;
use synth::SynthJob;

/// `[pipeline.playout]`: how replies are paced to the peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlayoutSettings {
    /// Audio sent ahead of real time, in milliseconds, to keep the peer's
    /// jitter buffer from running dry. Default 60, allowed 0..=1000.
    pub lead_ms: u32,
    /// A progress mark after this much audio, in milliseconds: the
    /// resolution of "what the caller heard" on barge-in. Default 200,
    /// allowed 0 (marks only at the end) or 20..=10000.
    pub mark_every_ms: u32,
}

impl Default for PlayoutSettings {
    fn default() -> Self {
        Self {
            lead_ms: 60,
            mark_every_ms: 200,
        }
    }
}

impl PlayoutSettings {
    /// Every out-of-range setting, as `(key, message)`.
    pub fn issues(&self) -> Vec<(&'static str, String)> {
        let mut issues = Vec::new();
        if self.lead_ms > 1000 {
            issues.push((
                "lead_ms",
                format!("{} is out of range; allowed: 0..=1000", self.lead_ms),
            ));
        }
        if self.mark_every_ms != 0 && !(20..=10_000).contains(&self.mark_every_ms) {
            issues.push((
                "mark_every_ms",
                format!(
                    "{} is out of range; allowed: 0 or 20..=10000",
                    self.mark_every_ms
                ),
            ));
        }
        issues
    }
}

/// What happened to a reply, for the call's pipeline to publish and to
/// keep its conversation memory true.
#[derive(Debug)]
pub enum Note {
    /// The reply's first frame went out.
    Speaking {
        /// The reply.
        reply: u64,
        /// From the end of the caller's speech, when known.
        since_speech_end: Option<Duration>,
    },
    /// The reply played to its end.
    Played {
        /// The reply.
        reply: u64,
    },
    /// The caller barged in; `heard` is what they heard of the reply.
    Interrupted {
        /// The reply.
        reply: u64,
        /// The words the caller heard.
        heard: String,
    },
    /// Synthesis failed; whatever was synthesized still plays.
    Failed {
        /// The reply.
        reply: u64,
        /// Why.
        error: CallError,
    },
}

struct Reply {
    id: u64,
    segments: Vec<String>,
    /// End of each synthesized segment, in samples at the peer's rate.
    seg_ends: Vec<u64>,
    cancel: Arc<AtomicBool>,
    speech_end: Option<Instant>,
}

/// The speaking side of one call.
pub struct Speaker {
    tts: Arc<Tts>,
    session_id: String,
    can_clear: bool,
    playout: Playout,
    resampler: StreamResampler,
    resampled: Vec<i16>,
    tx: UnboundedSender<SynthMsg>,
    next_id: u64,
    current: Option<Reply>,
    waiting: VecDeque<Reply>,
    pending_clear: bool,
    notes: Vec<Note>,
}

impl Speaker {
    /// A speaker for a call on a transport described by `info`, or `None`
    /// when the transport cannot play audio.
    pub fn new(
        tts: Arc<Tts>,
        info: &TransportInfo,
        settings: &PlayoutSettings,
        session_id: &str,
        tx: UnboundedSender<SynthMsg>,
    ) -> Option<Self> {
        if !info.capabilities.outbound_audio {
            return None;
        }
        let out_rate = info.outbound_format.sample_rate;
        let frame_ms = info.frame_ms.clamp(1, 1000);
        let tts_rate = tts.info.sample_rate;
        // One resampler per call, reset between replies; built here so that
        // a rate pair it cannot convert is reported once, not per reply.
        // Equal rates make it a pass-through.
        let resampler = match StreamResampler::new(tts_rate, out_rate) {
            Ok(r) => r,
            Err(error) => {
                tracing::error!(session_id, tts = %tts.id, %error, "The TTS's audio cannot be converted to this transport's rate; answers will not be spoken on this call.");
                return None;
            }
        };
        let frame_samples = (u64::from(out_rate) * u64::from(frame_ms) / 1000).max(1) as usize;
        let frames = |ms: u32| ms.div_ceil(frame_ms);
        let cfg = PlayoutConfig {
            frame_samples,
            frame: Duration::from_millis(u64::from(frame_ms)),
            lead_frames: frames(settings.lead_ms),
            mark_every: frames(settings.mark_every_ms),
            marks: info.capabilities.marks,
        };
        Some(Self {
            tts,
            session_id: session_id.to_owned(),
            can_clear: info.capabilities.clear,
            playout: Playout::new(cfg),
            resampler,
            resampled: Vec::new(),
            tx,
            next_id: 1,
            current: None,
            waiting: VecDeque::new(),
            pending_clear: false,
            notes: Vec::new(),
        })
    }

    /// Queues `text` to be spoken; returns its reply id, or `None` when there
    /// is nothing to say.
    pub fn say(&mut self, text: &str, speech_end: Option<Instant>) -> Option<u64> {
        let segments = text::segments(text);
        if segments.is_empty() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let reply = Reply {
            id,
            segments,
            seg_ends: Vec::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            speech_end,
        };
        if self.current.is_none() {
            self.begin(reply);
        } else {
            self.waiting.push_back(reply);
        }
        Some(id)
    }

    fn begin(&mut self, reply: Reply) {
        self.playout.start(reply.id);
        self.resampler.reset();
        SynthJob {
            tts: self.tts.clone(),
            reply: reply.id,
            segments: reply.segments.clone(),
            session_id: self.session_id.clone(),
            cancel: reply.cancel.clone(),
            tx: self.tx.clone(),
        }
        .spawn();
        self.current = Some(reply);
    }

    /// Whether a reply is playing or waiting.
    pub fn is_busy(&self) -> bool {
        self.current.is_some()
    }

    /// Takes what happened since the last call.
    pub fn take_notes(&mut self) -> std::vec::Drain<'_, Note> {
        self.notes.drain(..)
    }

    /// Handles a message from a synthesis job.
    pub fn on_synth(&mut self, msg: SynthMsg) {
        let reply_id = match &msg {
            SynthMsg::Audio { reply, .. }
            | SynthMsg::SegmentEnd { reply, .. }
            | SynthMsg::Done { reply, .. } => *reply,
        };
        if self.current.as_ref().map(|r| r.id) != Some(reply_id) {
            // A reply dropped by a barge-in; its job is stopping.
            return;
        }
        match msg {
            SynthMsg::Audio { pcm, .. } => self.push_tts_audio(&pcm),
            SynthMsg::SegmentEnd { .. } => {
                let end = self.playout.queued();
                if let Some(r) = &mut self.current {
                    r.seg_ends.push(end);
                }
            }
            SynthMsg::Done { result, .. } => {
                self.resampled.clear();
                self.resampler.flush(&mut self.resampled);
                self.playout.push(&self.resampled);
                self.playout.finish();
                if let Err(error) = result {
                    self.notes.push(Note::Failed {
                        reply: reply_id,
                        error,
                    });
                }
            }
        }
    }

    fn push_tts_audio(&mut self, pcm: &[i16]) {
        self.resampled.clear();
        self.resampler.process(pcm, &mut self.resampled);
        self.playout.push(&self.resampled);
    }

    /// When [`Speaker::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.pending_clear {
            return Some(Instant::now());
        }
        self.playout.next_deadline()
    }

    /// Sends what is due: a pending clear, then frames and marks.
    pub fn poll(&mut self, now: Instant, send: &mut dyn FnMut(Outbound<'_>)) {
        if std::mem::take(&mut self.pending_clear) {
            send(Outbound::Clear);
        }
        let progress = self.playout.poll(now, &mut |e| match e {
            Emit::Audio(pcm) => send(Outbound::Audio(pcm)),
            Emit::Mark(name) => send(Outbound::Mark(name)),
        });
        self.on_progress(progress, now);
    }

    /// A mark the peer echoed; `false` when it was not the current reply's.
    pub fn on_mark(&mut self, name: &str) -> bool {
        match self.playout.on_mark(name) {
            Some(progress) => {
                self.on_progress(progress, Instant::now());
                true
            }
            None => false,
        }
    }

    fn on_progress(&mut self, progress: Progress, now: Instant) {
        match progress {
            Progress::None => {}
            Progress::FirstFrame => {
                if let Some(r) = &self.current {
                    self.notes.push(Note::Speaking {
                        reply: r.id,
                        since_speech_end: r.speech_end.map(|t| now.saturating_duration_since(t)),
                    });
                }
            }
            Progress::Played => {
                if let Some(r) = self.current.take() {
                    self.notes.push(Note::Played { reply: r.id });
                }
                if let Some(next) = self.waiting.pop_front() {
                    self.begin(next);
                }
            }
        }
    }

    /// The caller started speaking over the bot: drop every reply. Returns
    /// whether anything was playing or waiting.
    pub fn barge_in(&mut self, now: Instant) -> bool {
        let Some(current) = self.current.take() else {
            return false;
        };
        let heard = self.playout.interrupt(now);
        current.cancel.store(true, Ordering::Relaxed);
        self.notes.push(Note::Interrupted {
            reply: current.id,
            heard: text::heard_text(&current.segments, &current.seg_ends, heard),
        });
        for r in self.waiting.drain(..) {
            r.cancel.store(true, Ordering::Relaxed);
            self.notes.push(Note::Interrupted {
                reply: r.id,
                heard: String::new(),
            });
        }
        self.pending_clear = self.can_clear;
        true
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        // The call ended: stop any synthesis still running for it.
        for r in self.current.iter().chain(self.waiting.iter()) {
            r.cancel.store(true, Ordering::Relaxed);
        }
    }
}
