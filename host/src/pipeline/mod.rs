//! The per-call media pipeline: audio from the transport, resampled to the
//! STT rate, cut into utterances by voice activity, transcribed on a bounded
//! pool, answered by the responder, spoken back through the TTS; results
//! come back as events.

mod answer;
mod conversation;
mod stt_pool;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

pub use answer::{Answer, Answered};
pub use stt_pool::{QueueFull, SttDone, SttPool, SttSlot};

use crate::{
    events::{kinds, Event, EventBus},
    media::{
        resample::StreamResampler,
        turn::{TurnConfig, TurnDetector, TurnEvent, Utterance},
        vad::VadConfig,
    },
    model::{Action, Outbound, Pair, TransportInfo, Turn},
    plugins::{Responder, Tts},
    sessions::{Session, StreamStats},
    speech::{Note, PlayoutSettings, Speaker, SynthMsg},
};
use conversation::Conversation;

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
    /// A speculative transcription (started during the hangover) finished.
    Speculative(u64, SttDone),
    /// The responder answered.
    Answer(Answered),
}

/// A transcription started before the end of the turn was certain.
#[derive(Debug)]
struct Speculation {
    /// Its utterance number in the call's STT session.
    id: u64,
    /// The speech it covers ends here (stream time); the final utterance
    /// must end at the same place for the transcript to be the final one.
    speech_end_ms: u64,
    /// The turn ended with no more speech: the result is final.
    confirmed: bool,
    /// The result, when it came before the turn ended.
    result: Option<SttDone>,
}

/// Parts of the pipeline shared by every call.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stt: Option<SttPool>,
    responder: Option<Arc<Responder>>,
    tts: Option<Arc<Tts>>,
    vad: VadConfig,
    turn: TurnConfig,
    playout: PlayoutSettings,
    apology: String,
}

/// The providers and settings a [`Pipeline`] is built from.
#[derive(Debug, Clone, Default)]
pub struct PipelineParts {
    /// Speech to text, on its bounded pool.
    pub stt: Option<SttPool>,
    /// The agent.
    pub responder: Option<Arc<Responder>>,
    /// Text to speech.
    pub tts: Option<Arc<Tts>>,
    /// Voice activity detection.
    pub vad: VadConfig,
    /// End of turn and barge-in.
    pub turn: TurnConfig,
    /// Pacing of replies.
    pub playout: PlayoutSettings,
    /// Said when the responder fails.
    pub apology: String,
}

impl Pipeline {
    /// Builds the shared parts.
    pub fn new(mut parts: PipelineParts) -> Self {
        if parts.stt.is_none() {
            tracing::warn!(
                "No STT instance is configured: calls will be connected but not transcribed."
            );
            // Nothing would take the copy of the utterance each pause hands out.
            parts.turn.speculate_ms = 0;
        }
        if parts.tts.is_none() {
            tracing::info!(
                "No TTS instance is configured: answers are published as events but not spoken."
            );
        }
        Self {
            stt: parts.stt,
            responder: parts.responder,
            tts: parts.tts,
            vad: parts.vad,
            turn: parts.turn,
            playout: parts.playout,
            apology: parts.apology,
        }
    }

    /// The per-call part, for a call on a transport described by `info`;
    /// synthesized audio for it comes back through `synth`.
    pub fn call(
        &self,
        session: &Session,
        info: &TransportInfo,
        events: &EventBus,
        synth: mpsc::UnboundedSender<SynthMsg>,
    ) -> CallPipeline {
        let rate = self
            .stt
            .as_ref()
            .map(SttPool::sample_rate)
            .unwrap_or(16_000);
        let speaker = self
            .tts
            .clone()
            .and_then(|tts| Speaker::new(tts, info, &self.playout, &session.id, synth));
        CallPipeline {
            session_id: session.id.clone(),
            stt: self.stt.clone(),
            slot: session.stt.clone(),
            responder: self.responder.clone(),
            events: events.clone(),
            speaker,
            apology: self.apology.clone(),
            stt_rate: rate,
            resampler: None,
            turn: None,
            turn_config: self.turn.clone(),
            vad_config: self.vad.clone(),
            turn_events: Vec::with_capacity(4),
            next_ts: None,
            conversation: Conversation::default(),
            epoch: 0,
            burst_over_reply: false,
            hangup_after: None,
            speculation: None,
            utterances: 0,
            turns: 0,
            live_epoch: Arc::default(),
            context: session.call.custom_params.clone(),
            from: session.call.from.clone(),
            to: session.call.to.clone(),
            call_id: session.call.call_id.clone(),
            transport: session.transport.id.instance.clone(),
            silence: Vec::new(),
        }
    }

    /// The STT session slot for a call just accepted, opening in the
    /// background; `None` without an STT.
    pub fn stt_slot(&self, session_id: &str, events: &EventBus) -> Option<Arc<SttSlot>> {
        let pool = self.stt.as_ref()?;
        let slot = SttSlot::new(pool.stt().clone(), session_id, events.clone());
        slot.prepare();
        Some(slot)
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
    /// The call's STT session (`None` without an STT).
    slot: Option<Arc<SttSlot>>,
    responder: Option<Arc<Responder>>,
    events: EventBus,
    /// `None` without a TTS or when the transport cannot play audio.
    speaker: Option<Speaker>,
    apology: String,
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
    conversation: Conversation,
    /// Counts the caller's barge-ins; answers asked before the latest one
    /// are stale.
    epoch: u64,
    /// The current burst of speech began while the bot was speaking and has
    /// not (yet) been long enough to interrupt it: a backchannel ("mm-hm"),
    /// not a turn.
    burst_over_reply: bool,
    /// The responder asked to hang up once this reply has played.
    hangup_after: Option<u64>,
    speculation: Option<Speculation>,
    /// Utterance numbers handed to the STT session so far.
    utterances: u64,
    /// Turns handed to the responder so far.
    turns: u64,
    /// The current barge-in epoch, shared with answers being written: one
    /// asked in an older epoch is told to stop.
    live_epoch: Arc<std::sync::atomic::AtomicU64>,
    context: Vec<Pair>,
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
            match event {
                TurnEvent::SpeechStarted { .. } => {
                    self.burst_over_reply = self.speaker.as_ref().is_some_and(Speaker::is_busy);
                }
                TurnEvent::BargeIn { .. } => {
                    self.burst_over_reply = false;
                    self.epoch += 1;
                    // An answer still being written for the old turn stops.
                    self.live_epoch.store(self.epoch, Ordering::Relaxed);
                    if let Some(speaker) = &mut self.speaker {
                        if speaker.barge_in(Instant::now()) {
                            stats.barge_ins.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(session_id = %self.session_id, "The caller barged in; the reply stops.");
                        }
                    }
                }
                TurnEvent::Paused(u) if !self.burst_over_reply => {
                    self.speculate(u, rate, results);
                }
                TurnEvent::Utterance(u) => {
                    if std::mem::take(&mut self.burst_over_reply) {
                        self.drop_speculation();
                        stats.backchannels.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(session_id = %self.session_id, "Short speech over a reply taken as a backchannel; not a turn.");
                        continue;
                    }
                    stats.utterances.fetch_add(1, Ordering::Relaxed);
                    self.on_utterance(u, rate, stats, results);
                }
                _ => {}
            }
        }
        let mut events = events;
        events.clear();
        self.turn_events = events;
    }

    /// When the caller stopped speaking, as an instant: `end - speech_end`
    /// ago in call time, which arrives in real time.
    fn speech_end(u: &Utterance) -> Instant {
        let since = u.end_ms.saturating_sub(u.speech_end_ms);
        Instant::now()
            .checked_sub(Duration::from_millis(since))
            .unwrap_or_else(Instant::now)
    }

    /// Starts transcribing the utterance so far while the hangover runs.
    fn speculate(&mut self, u: &Utterance, rate: u32, results: &mpsc::Sender<PipelineOutput>) {
        let (Some(pool), Some(slot)) = (self.stt.clone(), self.slot.clone()) else {
            return;
        };
        // Checked before the utterance is resampled: under load that work
        // would be thrown away.
        if !pool.is_idle() {
            metrics::counter!("voicegate_stt_speculative_total", "outcome" => "skipped_busy")
                .increment(1);
            self.drop_speculation();
            return;
        }
        let Some(pcm) = self.resample_for_stt(u.trimmed(UTTERANCE_TAIL_MS), rate) else {
            return;
        };
        self.drop_speculation();
        self.utterances += 1;
        let id = self.utterances;
        let submitted = pool.submit_if_idle(
            &slot,
            id,
            pcm,
            Self::speech_end(u),
            results.clone(),
            move |done| PipelineOutput::Speculative(id, done),
        );
        if !submitted {
            metrics::counter!("voicegate_stt_speculative_total", "outcome" => "skipped_busy")
                .increment(1);
        }
        self.speculation = submitted.then_some(Speculation {
            id,
            speech_end_ms: u.speech_end_ms,
            confirmed: false,
            result: None,
        });
    }

    fn on_utterance(
        &mut self,
        u: &Utterance,
        rate: u32,
        stats: &StreamStats,
        results: &mpsc::Sender<PipelineOutput>,
    ) {
        // The caller did not speak again after the pause: the speculative
        // transcript covers exactly this speech.
        if let Some(spec) = &mut self.speculation {
            if spec.speech_end_ms == u.speech_end_ms && !u.forced {
                metrics::counter!("voicegate_stt_speculative_total", "outcome" => "used")
                    .increment(1);
                spec.confirmed = true;
                if let Some(done) = spec.result.take() {
                    self.speculation = None;
                    self.on_transcript(done, results);
                }
                return;
            }
        }
        self.drop_speculation();
        let (Some(pool), Some(slot)) = (self.stt.clone(), self.slot.clone()) else {
            return;
        };
        let speech_end = Self::speech_end(u);
        // STT needs little of the hangover's silence.
        let Some(pcm) = self.resample_for_stt(u.trimmed(UTTERANCE_TAIL_MS), rate) else {
            return;
        };
        self.utterances += 1;
        if let Err(full) = pool.submit(
            &slot,
            self.utterances,
            pcm,
            speech_end,
            results.clone(),
            PipelineOutput::Transcript,
        ) {
            stats.utterances_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(session_id = %self.session_id, error = %full, "Utterance dropped.");
            self.events.publish(
                Event::new(kinds::ERROR, &self.session_id)
                    .with(
                        "error",
                        format!("speech recognition is overloaded; the caller's words were not transcribed ({full})"),
                    )
                    .with("stage", "stt"),
            );
        }
    }

    /// Forgets the speculation in flight, if any, and tells the STT session
    /// to stop working on it (the caller spoke again, or the turn was not
    /// one).
    fn drop_speculation(&mut self) {
        if let Some(spec) = self.speculation.take() {
            if spec.result.is_none() && !spec.confirmed {
                if let Some(slot) = &self.slot {
                    slot.cancel(spec.id);
                }
            }
        }
    }

    /// A speculative transcript came back.
    fn on_speculative(&mut self, id: u64, done: SttDone, results: &mpsc::Sender<PipelineOutput>) {
        match &mut self.speculation {
            Some(spec) if spec.id == id && spec.confirmed => {
                self.speculation = None;
                self.on_transcript(done, results);
            }
            Some(spec) if spec.id == id => spec.result = Some(done),
            // The caller spoke again: this transcript is of half a turn.
            _ => {
                metrics::counter!("voicegate_stt_speculative_total", "outcome" => "wasted")
                    .increment(1);
            }
        }
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

    /// Handles a result for this call.
    pub fn on_output(
        &mut self,
        out: PipelineOutput,
        session: &Session,
        results: &mpsc::Sender<PipelineOutput>,
    ) {
        match out {
            PipelineOutput::Transcript(done) => self.on_transcript(done, results),
            PipelineOutput::Speculative(id, done) => self.on_speculative(id, done, results),
            PipelineOutput::Answer(answered) => self.on_answer(answered, session),
        }
    }

    fn on_transcript(&mut self, done: SttDone, results: &mpsc::Sender<PipelineOutput>) {
        let transcript = match done.result {
            Ok(t) => t,
            // Abandoned on purpose; nothing failed.
            Err(error) if error.kind() == crate::model::FailureKind::Cancelled => return,
            Err(error) => {
                self.events.publish(
                    Event::new(kinds::ERROR, &self.session_id)
                        .with(
                            "error",
                            format!("speech recognition failed: {}", error.error.message),
                        )
                        .with("stage", "stt"),
                );
                return;
            }
        };
        let text = transcript.text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        let latency = done.speech_end.elapsed();
        metrics::histogram!("voicegate_stt_final_latency_seconds").record(latency.as_secs_f64());
        tracing::info!(
            session_id = %self.session_id,
            call_sid = %self.call_id,
            latency_ms = latency.as_millis() as u64,
            stt_ms = done.run.as_millis() as u64,
            queue_ms = done.wait.as_millis() as u64,
            audio_ms = done.audio.as_millis() as u64,
            text = %text,
            "Transcript."
        );
        self.events.publish(
            Event::new(kinds::STT_FINAL, &self.session_id)
                .with("text", text.as_str())
                .with("latency_ms", latency.as_millis() as u64)
                .with("audio_ms", done.audio.as_millis() as u64),
        );
        self.ask_responder(text, done.speech_end, results);
    }

    fn on_answer(&mut self, answered: Answered, session: &Session) {
        // An answer (or apology) for a turn the caller has since talked over
        // would land in the middle of the new turn.
        let stale = self.speaker.is_some() && answered.epoch != self.epoch;
        let answer = match answered.result {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(session_id = %self.session_id, %error, "Responder failed.");
                self.publish_responder_error(&error.error.message, error.kind().name());
                let apology = self.apology.clone();
                if !apology.is_empty() && !stale {
                    self.speak(&apology, answered.speech_end, false);
                }
                return;
            }
        };
        if stale {
            tracing::info!(session_id = %self.session_id, "The caller spoke again before the answer came; it is not spoken.");
            return;
        }
        // Responders that answer with an apology instead of failing the call
        // say why.
        if let Some((kind, message)) = &answer.degraded {
            tracing::warn!(session_id = %self.session_id, error = %message, "Responder answered with an apology.");
            self.publish_responder_error(message, kind);
        }
        for action in &answer.actions {
            self.refuse_action(action);
        }
        let text = answer.text.trim().to_owned();
        let reply = if text.is_empty() {
            None
        } else {
            self.speak(&text, answered.speech_end, answer.hangup)
        };
        if answer.hangup && reply.is_none() {
            session
                .hangup
                .send_replace(Some("responder_hangup".to_owned()));
        }
    }

    /// An action this host cannot carry out yet (transfer and DTMF need
    /// the carrier's REST API): published, and refused with an `error`
    /// event, never dropped silently.
    fn refuse_action(&self, action: &Action) {
        let (name, detail) = match action {
            Action::Hangup => return,
            Action::Transfer(to) => ("transfer", to.clone()),
            Action::Dtmf(digits) => ("dtmf", digits.clone()),
            Action::Other { kind, json } => (kind.as_str(), json.clone()),
        };
        tracing::warn!(session_id = %self.session_id, action = name, "The responder asked for an action this host cannot carry out; refused.");
        self.events.publish(
            Event::new(kinds::ERROR, &self.session_id)
                .with(
                    "error",
                    format!(
                        "the agent asked for `{name}` ({detail}), which this gateway cannot do yet"
                    ),
                )
                .with("stage", "responder")
                .with("error_kind", "unsupported"),
        );
    }

    /// Publishes and remembers `text`, and speaks it when the call can.
    fn speak(&mut self, text: &str, speech_end: Instant, hangup: bool) -> Option<u64> {
        self.events
            .publish(Event::new(kinds::ASSISTANT_TEXT, &self.session_id).with("text", text));
        let reply = self
            .speaker
            .as_mut()
            .and_then(|s| s.say(text, Some(speech_end)));
        self.conversation.assistant(text, reply);
        if hangup {
            self.hangup_after = reply;
        }
        reply
    }

    fn publish_responder_error(&self, message: &str, kind: &str) {
        self.events.publish(
            Event::new(kinds::ERROR, &self.session_id)
                .with("error", format!("responder failed: {message}"))
                .with("stage", "responder")
                .with("error_kind", kind),
        );
    }

    fn ask_responder(
        &mut self,
        text: String,
        speech_end: Instant,
        results: &mpsc::Sender<PipelineOutput>,
    ) {
        self.turns += 1;
        let turn = Turn {
            session_id: self.session_id.clone(),
            turn: self.turns,
            transport: self.transport.clone(),
            call_id: self.call_id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            text: text.clone(),
            history: self.conversation.messages(),
            context: self.context.clone(),
        };
        self.conversation.caller(&text);
        let Some(responder) = self.responder.clone() else {
            return;
        };
        answer::ask(
            responder,
            turn,
            speech_end,
            self.epoch,
            self.live_epoch.clone(),
            results.clone(),
        );
    }

    /// Audio synthesized for this call.
    pub fn on_synth(&mut self, msg: SynthMsg) {
        if let Some(speaker) = &mut self.speaker {
            speaker.on_synth(msg);
        }
    }

    /// A mark the peer echoed; `false` when it belongs to no current reply.
    pub fn on_mark(&mut self, name: &str) -> bool {
        self.speaker.as_mut().is_some_and(|s| s.on_mark(name))
    }

    /// When [`CallPipeline::pump`] next has something to send.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.speaker.as_ref().and_then(Speaker::next_deadline)
    }

    /// Sends what the speaker has due and publishes what happened to
    /// replies. Cheap when nothing is being said.
    pub fn pump(&mut self, now: Instant, session: &Session, send: &mut dyn FnMut(Outbound<'_>)) {
        let Some(speaker) = &mut self.speaker else {
            return;
        };
        speaker.poll(now, send);
        let notes: Vec<Note> = speaker.take_notes().collect();
        for note in notes {
            self.on_note(note, session);
        }
    }

    fn on_note(&mut self, note: Note, session: &Session) {
        match note {
            Note::Speaking {
                reply,
                since_speech_end,
            } => {
                let mut event =
                    Event::new(kinds::ASSISTANT_SPEAKING, &self.session_id).with("reply", reply);
                if let Some(latency) = since_speech_end {
                    metrics::histogram!("voicegate_reply_first_audio_seconds")
                        .record(latency.as_secs_f64());
                    event = event.with("latency_ms", latency.as_millis() as u64);
                }
                self.events.publish(event);
            }
            Note::Played { reply } => {
                self.events.publish(
                    Event::new(kinds::ASSISTANT_PLAYED, &self.session_id).with("reply", reply),
                );
                if self.hangup_after == Some(reply) {
                    session
                        .hangup
                        .send_replace(Some("responder_hangup".to_owned()));
                }
            }
            Note::Interrupted { reply, heard } => {
                self.conversation.heard(reply, &heard);
                if self.hangup_after == Some(reply) {
                    // The caller took the turn back; the responder may hang
                    // up again when it answers it.
                    self.hangup_after = None;
                }
                self.events.publish(
                    Event::new(kinds::ASSISTANT_INTERRUPTED, &self.session_id)
                        .with("reply", reply)
                        .with("heard", heard),
                );
            }
            Note::Failed { reply, error } => {
                tracing::warn!(session_id = %self.session_id, reply, %error, "Speech synthesis failed.");
                self.events.publish(
                    Event::new(kinds::ERROR, &self.session_id)
                        .with(
                            "error",
                            format!("speech synthesis failed: {}", error.error.message),
                        )
                        .with("stage", "tts"),
                );
            }
        }
    }
}
