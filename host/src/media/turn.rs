//! End-of-turn segmentation: turns per-frame VAD decisions into utterances for STT.
//!
//! The caller's audio (after resampling, typically 16 kHz) is pushed in pieces of any
//! length. [`TurnDetector`] frames it, asks the [`Vad`] about each frame and runs a small
//! state machine whose knobs are the usual ones of a voice bot:
//!
//! * **hangover**: an utterance ends only after `hangover_ms` of continuous non-speech, so a
//!   pause between words (or a breath) does not split a sentence;
//! * **minimum speech**: a burst with less than `min_speech_ms` of speech frames in total
//!   (a click, a knock, a short cough) is [`Discarded`](TurnEvent::Discarded), not sent to
//!   STT;
//! * **maximum utterance**: after `max_utterance_ms` the utterance is cut
//!   ([`forced`](Utterance::forced)) so STT latency and memory stay bounded; the VAD is
//!   then told to [absorb](Vad::absorb_background) a steady background it may have taken
//!   for speech;
//! * **pre-roll**: up to `pre_roll_ms` of audio from before the first speech frame is kept,
//!   because an energy VAD fires a little late on soft onsets (/h/, /f/) and STT misses a
//!   clipped first phoneme;
//! * **speculation**: after `speculate_ms` of silence (less than the hangover) a
//!   [`Paused`](TurnEvent::Paused) event hands out a copy of the utterance so far, so STT
//!   can start while the hangover decides whether the turn is over; if the caller does not
//!   speak again, the final [`Utterance`](TurnEvent::Utterance) has the same speech and the
//!   speculative transcript is the final one;
//! * **barge-in**: [`BargeIn`](TurnEvent::BargeIn) fires after `barge_in_min_ms` of speech,
//!   later than [`SpeechStarted`](TurnEvent::SpeechStarted) by default, so that a caller's
//!   "mm-hm" does not stop the bot mid-sentence; the session decides whether the bot was
//!   talking.
//!
//! # Events
//!
//! For every burst the detector emits, in order: one [`SpeechOnset`](TurnEvent::SpeechOnset)
//! (the first speech frame, unconfirmed); then either one
//! [`Discarded`](TurnEvent::Discarded), or one [`SpeechStarted`](TurnEvent::SpeechStarted),
//! at most one [`BargeIn`](TurnEvent::BargeIn), a [`Paused`](TurnEvent::Paused) for each
//! pause of `speculate_ms` or more, and one [`Utterance`](TurnEvent::Utterance).
//! All times are milliseconds of stream time, counted from the first sample pushed, so
//! they do not depend on when or in what pieces the audio arrived.
//!
//! # Cost
//!
//! Per frame: the VAD's energy pass, a copy of the frame into the pre-roll ring, and while
//! speech is active a copy into the utterance buffer. Nothing is allocated per frame; the
//! utterance buffer is reused for discarded bursts and handed out by value (with
//! `std::mem::take`) once per utterance, and reserved again at the next onset, so an idle
//! call holds only the pre-roll ring.

use super::vad::{Vad, VadConfig, VadConfigError};
use serde::Deserialize;
use std::ops::RangeInclusive;

/// Capacity reserved for the utterance buffer at an onset; it grows beyond this (up to
/// `max_utterance_ms`) only for longer utterances.
const INITIAL_UTTERANCE_MS: u32 = 4000;

/// End-of-turn settings (a `[turn]`-style table). All durations are in milliseconds and are
/// rounded up to whole VAD frames.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// Non-speech that ends an utterance. Default 500, allowed 100..=2000.
    pub hangover_ms: u32,
    /// Speech (summed over the burst) below which a burst is discarded. Default 200,
    /// allowed 0..=2000.
    pub min_speech_ms: u32,
    /// Longest utterance (pre-roll included) before it is cut. Default 15000, allowed
    /// 1000..=60000.
    pub max_utterance_ms: u32,
    /// Audio kept from before the first speech frame. Default 200, allowed 0..=1000.
    pub pre_roll_ms: u32,
    /// Speech needed before [`TurnEvent::BargeIn`]. Default 300, allowed 0..=5000; values
    /// below `min_speech_ms` act as `min_speech_ms`, since shorter bursts are noise.
    pub barge_in_min_ms: u32,
    /// Silence after which STT starts speculatively ([`TurnEvent::Paused`]). Default 200,
    /// allowed 0..=2000; 0, or a value not below `hangover_ms`, turns speculation off.
    pub speculate_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            hangover_ms: 500,
            min_speech_ms: 200,
            max_utterance_ms: 15_000,
            pre_roll_ms: 200,
            barge_in_min_ms: 300,
            speculate_ms: 200,
        }
    }
}

/// A [`TurnConfig`] or [`VadConfig`] value that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TurnConfigError {
    /// A setting is outside its allowed range.
    #[error("`{key}` = {value} is out of range; allowed: {min}..={max}")]
    OutOfRange {
        /// The config key, as written in the file.
        key: &'static str,
        /// The value found.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// The VAD settings are invalid.
    #[error(transparent)]
    Vad(#[from] VadConfigError),
}

impl TurnConfig {
    /// Every out-of-range setting, each naming its key (empty when valid).
    pub fn issues(&self) -> Vec<TurnConfigError> {
        let fields: [(&'static str, u32, RangeInclusive<u32>); 6] = [
            ("hangover_ms", self.hangover_ms, 100..=2000),
            ("min_speech_ms", self.min_speech_ms, 0..=2000),
            ("max_utterance_ms", self.max_utterance_ms, 1000..=60_000),
            ("pre_roll_ms", self.pre_roll_ms, 0..=1000),
            ("barge_in_min_ms", self.barge_in_min_ms, 0..=5000),
            ("speculate_ms", self.speculate_ms, 0..=2000),
        ];
        fields
            .into_iter()
            .filter(|(_, value, range)| !range.contains(value))
            .map(|(key, value, range)| TurnConfigError::OutOfRange {
                key,
                value,
                min: *range.start(),
                max: *range.end(),
            })
            .collect()
    }

    /// The first out-of-range setting, if any; see [`issues`](Self::issues) for all.
    pub fn validate(&self) -> Result<(), TurnConfigError> {
        self.issues().into_iter().next().map_or(Ok(()), Err)
    }
}

/// One finished utterance, ready for STT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Mono PCM at [`sample_rate_hz`](Self::sample_rate_hz), from `start_ms` to `end_ms`:
    /// pre-roll, speech, and the trailing non-speech up to the cut.
    pub pcm: Vec<i16>,
    /// Rate of `pcm`.
    pub sample_rate_hz: u32,
    /// Stream time of `pcm[0]` (the onset minus the pre-roll that was available).
    pub start_ms: u64,
    /// Stream time of the first speech frame.
    pub speech_start_ms: u64,
    /// Stream time at which the last speech frame ended, i.e. before the hangover.
    pub speech_end_ms: u64,
    /// Stream time just after the last sample of `pcm`: where the utterance was cut.
    pub end_ms: u64,
    /// True when cut by `max_utterance_ms` or by [`TurnDetector::finish`] rather than by
    /// silence; the speaker may not have finished.
    pub forced: bool,
}

impl Utterance {
    /// `pcm` up to `tail_ms` after the end of speech, dropping the rest of the hangover
    /// (STT does not need half a second of silence).
    pub fn trimmed(&self, tail_ms: u32) -> &[i16] {
        let until_ms = (self.speech_end_ms + u64::from(tail_ms)).min(self.end_ms);
        let samples =
            until_ms.saturating_sub(self.start_ms) * u64::from(self.sample_rate_hz) / 1000;
        let samples = usize::try_from(samples).unwrap_or(usize::MAX);
        &self.pcm[..samples.min(self.pcm.len())]
    }
}

/// What the detector noticed; see the [module docs](self) for the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The first speech frame of a burst; unconfirmed, it may still be discarded. Useful to
    /// timestamp a barge-in precisely or to duck the bot's audio early.
    SpeechOnset {
        /// Stream time of the first speech frame.
        at_ms: u64,
    },
    /// The burst has reached `min_speech_ms` of speech: the caller is talking, and an
    /// [`Utterance`](TurnEvent::Utterance) will follow.
    SpeechStarted {
        /// Stream time of the first speech frame (the onset).
        at_ms: u64,
        /// Stream time at which enough speech had been heard.
        confirmed_ms: u64,
    },
    /// The burst has reached `barge_in_min_ms` of speech (never before `SpeechStarted`).
    /// If the bot is speaking, the session should stop it (`clear`).
    BargeIn {
        /// Stream time of the first speech frame (the onset).
        at_ms: u64,
        /// Stream time at which enough speech had been heard.
        confirmed_ms: u64,
    },
    /// The caller has been silent for `speculate_ms`: the utterance so far (a copy; the
    /// burst goes on). `end_ms` is now; `forced` is false.
    Paused(Utterance),
    /// A finished utterance.
    Utterance(Utterance),
    /// A burst with too little speech to be an utterance (a click, a knock).
    Discarded {
        /// Stream time of the first speech frame.
        at_ms: u64,
        /// From the first speech frame to the end of the last one.
        duration_ms: u64,
    },
}

/// An utterance in progress (from the first speech frame until the cut).
#[derive(Debug, Clone, Copy)]
struct Burst {
    /// Sample index (stream position) of `buf[0]`.
    start: u64,
    /// Sample index of the first speech frame.
    onset: u64,
    /// Speech frames so far.
    speech_frames: u32,
    /// Sample index just after the last speech frame.
    speech_end: u64,
    /// Non-speech frames since the last speech frame.
    silence_frames: u32,
    started: bool,
    barged_in: bool,
}

/// End-of-turn detector for the caller side of one call.
#[derive(Debug)]
pub struct TurnDetector {
    vad: Vad,
    sample_rate_hz: u32,
    frame_len: usize,
    hangover_frames: u32,
    min_speech_frames: u32,
    barge_in_frames: u32,
    /// 0: no speculation.
    speculate_frames: u32,
    max_utterance_samples: usize,
    initial_capacity: usize,
    /// Samples of an incomplete frame carried to the next push. Capacity `frame_len`.
    partial: Vec<i16>,
    pre_roll: Ring,
    /// Stream position (in samples) of the next frame to classify.
    position: u64,
    /// End of the last utterance handed out: pre-roll never reaches back before it.
    last_cut: u64,
    burst: Option<Burst>,
    buf: Vec<i16>,
}

impl TurnDetector {
    /// A detector for mono PCM at `sample_rate_hz` (the STT rate, typically 16 kHz).
    pub fn new(
        turn: &TurnConfig,
        vad: &VadConfig,
        sample_rate_hz: u32,
    ) -> Result<Self, TurnConfigError> {
        turn.validate()?;
        let vad = Vad::new(vad, sample_rate_hz)?;
        let frame_ms = vad.frame_ms();
        let frames = |ms: u32| ms.div_ceil(frame_ms);
        let samples = |ms: u32| (u64::from(ms) * u64::from(sample_rate_hz) / 1000) as usize;
        let min_speech_frames = frames(turn.min_speech_ms).max(1);
        let hangover_frames = frames(turn.hangover_ms);
        let speculate_frames = match frames(turn.speculate_ms) {
            f if f >= hangover_frames => 0,
            f => f,
        };
        Ok(Self {
            sample_rate_hz,
            frame_len: vad.frame_len(),
            hangover_frames,
            speculate_frames,
            min_speech_frames,
            barge_in_frames: frames(turn.barge_in_min_ms).max(min_speech_frames),
            max_utterance_samples: samples(turn.max_utterance_ms),
            initial_capacity: samples(
                (INITIAL_UTTERANCE_MS + turn.pre_roll_ms).min(turn.max_utterance_ms),
            ),
            partial: Vec::with_capacity(vad.frame_len()),
            pre_roll: Ring::new(samples(turn.pre_roll_ms)),
            position: 0,
            last_cut: 0,
            burst: None,
            buf: Vec::new(),
            vad,
        })
    }

    /// Rate of the PCM this detector expects.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// Whether the caller is speaking: a burst has been confirmed and not yet cut.
    pub fn in_speech(&self) -> bool {
        self.burst.is_some_and(|b| b.started)
    }

    /// The VAD's current noise floor, in dBFS (for metrics and debugging).
    pub fn noise_floor_db(&self) -> f32 {
        self.vad.noise_floor_db()
    }

    /// Stream time of everything pushed so far, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.ms(self.position + self.partial.len() as u64)
    }

    /// Feeds PCM of any length and appends what happened to `events` (in stream order).
    ///
    /// Reuse one `events` vector; it is not cleared here.
    pub fn push(&mut self, mut pcm: &[i16], events: &mut Vec<TurnEvent>) {
        if !self.partial.is_empty() {
            let take = (self.frame_len - self.partial.len()).min(pcm.len());
            self.partial.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.partial.len() < self.frame_len {
                return;
            }
            let frame = std::mem::take(&mut self.partial);
            self.on_frame(&frame, events);
            self.partial = frame;
            self.partial.clear();
        }
        let mut frames = pcm.chunks_exact(self.frame_len);
        for frame in frames.by_ref() {
            self.on_frame(frame, events);
        }
        self.partial.extend_from_slice(frames.remainder());
    }

    /// Ends the stream (hang-up): an utterance in progress is handed out as
    /// [`forced`](Utterance::forced) if confirmed, discarded otherwise. The detector is
    /// then reset for a new stream, times starting again at zero.
    pub fn finish(&mut self, events: &mut Vec<TurnEvent>) {
        if self.burst.is_some() {
            self.buf.extend_from_slice(&self.partial);
            self.position += self.partial.len() as u64;
            self.end_burst(true, events);
        }
        self.reset();
    }

    /// Forgets everything, as for a new call; audio in progress is dropped without events.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.partial.clear();
        self.pre_roll.clear();
        self.position = 0;
        self.last_cut = 0;
        self.burst = None;
        self.buf.clear();
    }

    fn ms(&self, samples: u64) -> u64 {
        samples * 1000 / u64::from(self.sample_rate_hz)
    }

    fn on_frame(&mut self, frame: &[i16], events: &mut Vec<TurnEvent>) {
        let speech = self.vad.classify(frame).speech;
        let frame_start = self.position;
        let frame_end = frame_start + frame.len() as u64;
        match self.burst.as_mut() {
            None if speech => {
                if self.buf.capacity() == 0 {
                    self.buf.reserve(self.initial_capacity);
                }
                self.buf.clear();
                // Pre-roll: what the ring holds, but nothing already handed out.
                let available = frame_start.saturating_sub(self.last_cut);
                let pre = self
                    .pre_roll
                    .len()
                    .min(usize::try_from(available).unwrap_or(usize::MAX));
                self.pre_roll.copy_last_into(pre, &mut self.buf);
                self.buf.extend_from_slice(frame);
                self.burst = Some(Burst {
                    start: frame_start - pre as u64,
                    onset: frame_start,
                    speech_frames: 1,
                    speech_end: frame_end,
                    silence_frames: 0,
                    started: false,
                    barged_in: false,
                });
                events.push(TurnEvent::SpeechOnset {
                    at_ms: self.ms(frame_start),
                });
            }
            None => {}
            Some(burst) => {
                self.buf.extend_from_slice(frame);
                if speech {
                    burst.speech_frames += 1;
                    burst.speech_end = frame_end;
                    burst.silence_frames = 0;
                } else {
                    burst.silence_frames += 1;
                }
            }
        }
        self.pre_roll.push(frame);
        self.position = frame_end;

        let Some(mut burst) = self.burst else {
            return;
        };
        if !burst.started && burst.speech_frames >= self.min_speech_frames {
            burst.started = true;
            events.push(TurnEvent::SpeechStarted {
                at_ms: self.ms(burst.onset),
                confirmed_ms: self.ms(frame_end),
            });
        }
        if !burst.barged_in && burst.speech_frames >= self.barge_in_frames {
            burst.barged_in = true;
            events.push(TurnEvent::BargeIn {
                at_ms: self.ms(burst.onset),
                confirmed_ms: self.ms(frame_end),
            });
        }
        self.burst = Some(burst);
        if burst.started
            && self.speculate_frames > 0
            && burst.silence_frames == self.speculate_frames
        {
            events.push(TurnEvent::Paused(Utterance {
                pcm: self.buf.clone(),
                sample_rate_hz: self.sample_rate_hz,
                start_ms: self.ms(burst.start),
                speech_start_ms: self.ms(burst.onset),
                speech_end_ms: self.ms(burst.speech_end),
                end_ms: self.ms(self.position),
                forced: false,
            }));
        }
        if burst.silence_frames >= self.hangover_frames {
            self.end_burst(false, events);
        } else if self.buf.len() >= self.max_utterance_samples {
            self.end_burst(true, events);
            // A "speech" that never pauses for this long is likely a steady background.
            self.vad.absorb_background();
        }
    }

    /// Hands out or discards the burst in progress, which ends at `self.position`.
    fn end_burst(&mut self, forced: bool, events: &mut Vec<TurnEvent>) {
        let Some(burst) = self.burst.take() else {
            return;
        };
        if burst.started {
            let pcm = std::mem::take(&mut self.buf);
            events.push(TurnEvent::Utterance(Utterance {
                pcm,
                sample_rate_hz: self.sample_rate_hz,
                start_ms: self.ms(burst.start),
                speech_start_ms: self.ms(burst.onset),
                speech_end_ms: self.ms(burst.speech_end),
                end_ms: self.ms(self.position),
                forced,
            }));
            self.last_cut = self.position;
        } else {
            self.buf.clear();
            events.push(TurnEvent::Discarded {
                at_ms: self.ms(burst.onset),
                duration_ms: self.ms(burst.speech_end - burst.onset),
            });
        }
    }
}

/// Fixed-size ring of the most recent samples, for pre-roll.
#[derive(Debug)]
struct Ring {
    data: Vec<i16>,
    /// Next write index.
    head: usize,
    len: usize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self {
            data: vec![0; capacity],
            head: 0,
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    fn push(&mut self, samples: &[i16]) {
        let cap = self.data.len();
        if cap == 0 {
            return;
        }
        // Only the last `cap` samples can survive.
        let samples = &samples[samples.len().saturating_sub(cap)..];
        let first = samples.len().min(cap - self.head);
        self.data[self.head..self.head + first].copy_from_slice(&samples[..first]);
        let rest = samples.len() - first;
        self.data[..rest].copy_from_slice(&samples[first..]);
        self.head = (self.head + samples.len()) % cap;
        self.len = (self.len + samples.len()).min(cap);
    }

    /// Appends the most recent `n` samples (oldest first) to `out`; `n` is capped at `len`.
    fn copy_last_into(&self, n: usize, out: &mut Vec<i16>) {
        let cap = self.data.len();
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        let start = (self.head + cap - n) % cap;
        if start + n <= cap {
            out.extend_from_slice(&self.data[start..start + n]);
        } else {
            out.extend_from_slice(&self.data[start..]);
            out.extend_from_slice(&self.data[..start + n - cap]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::vad::tests::{noise, tone};

    const RATE: u32 = 16000;

    fn ms(ms: u64) -> usize {
        (ms * u64::from(RATE) / 1000) as usize
    }

    /// A signal made of (kind, duration) pieces: background noise at -60 dBFS, or a
    /// "voice" (a 220 Hz tone plus a 1.3 kHz partial at about -22 dBFS over the noise).
    #[derive(Clone, Copy)]
    enum Piece {
        Quiet(u64),
        Voice(u64),
    }

    fn signal(pieces: &[Piece]) -> Vec<i16> {
        let mut out = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let seed = i as u64 + 1;
            match *p {
                Piece::Quiet(d) => out.extend(noise(ms(d), -60.0, seed)),
                Piece::Voice(d) => {
                    let a = tone(ms(d), 220.0, -24.0, RATE);
                    let b = tone(ms(d), 1300.0, -30.0, RATE);
                    let n = noise(ms(d), -60.0, seed);
                    out.extend(
                        a.iter()
                            .zip(b)
                            .zip(n)
                            .map(|((a, b), n)| a.saturating_add(b).saturating_add(n)),
                    );
                }
            }
        }
        out
    }

    fn detector(turn: TurnConfig) -> TurnDetector {
        TurnDetector::new(&turn, &VadConfig::default(), RATE).unwrap()
    }

    /// Pushes `pcm` in `chunk`-sample pieces, then finishes the stream.
    fn run(turn: TurnConfig, pcm: &[i16], chunk: usize) -> Vec<TurnEvent> {
        let mut d = detector(turn);
        let mut events = Vec::new();
        for c in pcm.chunks(chunk) {
            d.push(c, &mut events);
        }
        d.finish(&mut events);
        events
    }

    fn utterances(events: &[TurnEvent]) -> Vec<&Utterance> {
        events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::Utterance(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    /// Checks the documented event grammar:
    /// Onset (Discarded | Started (BargeIn | Paused)* Utterance), BargeIn at most once.
    fn assert_well_formed(events: &[TurnEvent]) {
        let mut open: Option<(bool, bool)> = None; // (started, barged)
        for e in events {
            match (e, &mut open) {
                (TurnEvent::SpeechOnset { .. }, None) => open = Some((false, false)),
                (TurnEvent::SpeechStarted { .. }, Some((started @ false, _))) => *started = true,
                (TurnEvent::BargeIn { .. }, Some((true, barged @ false))) => *barged = true,
                (TurnEvent::Paused(_), Some((true, _))) => {}
                (TurnEvent::Utterance(_), Some((true, _))) => open = None,
                (TurnEvent::Discarded { .. }, Some((false, false))) => open = None,
                (e, state) => panic!("unexpected {e:?} in state {state:?}: {events:#?}"),
            }
        }
        assert!(open.is_none(), "unterminated burst");
    }

    #[test]
    fn a_pause_hands_out_the_same_speech_as_the_final_utterance() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(1200), Quiet(1500)]);
        let events = run(TurnConfig::default(), &pcm, 160);
        assert_well_formed(&events);
        let paused: Vec<&Utterance> = events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::Paused(u) => Some(u),
                _ => None,
            })
            .collect();
        assert_eq!(paused.len(), 1, "{events:#?}");
        let fin = utterances(&events)[0];
        let p = paused[0];
        assert_eq!(p.speech_end_ms, fin.speech_end_ms);
        assert_eq!(p.end_ms - p.speech_end_ms, 200);
        // With a tail no longer than the speculation delay, STT gets the same audio.
        assert_eq!(p.trimmed(200), fin.trimmed(200));
    }

    #[test]
    fn speculation_can_be_turned_off() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(1200), Quiet(1500)]);
        for speculate_ms in [0, 500, 900] {
            let turn = TurnConfig {
                speculate_ms,
                ..TurnConfig::default()
            };
            let events = run(turn, &pcm, 160);
            assert!(
                !events.iter().any(|e| matches!(e, TurnEvent::Paused(_))),
                "speculate_ms = {speculate_ms}"
            );
        }
    }

    #[test]
    fn a_300_ms_pause_stays_inside_one_utterance() {
        use Piece::*;
        let pcm = signal(&[
            Quiet(1000),
            Voice(1200),
            Quiet(300),
            Voice(900),
            Quiet(1500),
        ]);
        let events = run(TurnConfig::default(), &pcm, 160);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(u.len(), 1, "{events:#?}");
        assert!(!u[0].forced);
        assert_eq!(u[0].speech_start_ms, 1000);
    }

    #[test]
    fn an_800_ms_pause_splits_into_two_utterances() {
        use Piece::*;
        let pcm = signal(&[
            Quiet(1000),
            Voice(1200),
            Quiet(800),
            Voice(900),
            Quiet(1500),
        ]);
        let events = run(TurnConfig::default(), &pcm, 160);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(u.len(), 2, "{events:#?}");
        assert_eq!((u[0].speech_start_ms, u[0].speech_end_ms), (1000, 2200));
        assert_eq!((u[1].speech_start_ms, u[1].speech_end_ms), (3000, 3900));
        // The first ends after the hangover, not at the end of speech.
        assert_eq!(u[0].end_ms, 2200 + 500);
        // No audio is handed out twice: the second pre-roll stops at the first cut.
        assert!(u[1].start_ms >= u[0].end_ms);
    }

    #[test]
    fn a_100_ms_click_is_discarded() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(100), Quiet(1500)]);
        let events = run(TurnConfig::default(), &pcm, 160);
        assert_well_formed(&events);
        assert!(utterances(&events).is_empty());
        assert_eq!(
            events,
            [
                TurnEvent::SpeechOnset { at_ms: 1000 },
                TurnEvent::Discarded {
                    at_ms: 1000,
                    duration_ms: 100
                }
            ]
        );
    }

    #[test]
    fn a_20_s_tone_is_cut_at_max_utterance_and_then_learnt() {
        use Piece::*;
        let pcm = signal(&[Quiet(500), Voice(20_000), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 320);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(u.len(), 1, "{events:#?}");
        assert!(u[0].forced);
        assert_eq!(u[0].end_ms - u[0].start_ms, 15_000);
        assert_eq!(u[0].pcm.len(), ms(15_000));
        assert_eq!(
            u[0].start_ms, 300,
            "200 ms pre-roll before the onset at 500"
        );
    }

    #[test]
    fn speech_end_is_accurate_to_a_frame() {
        use Piece::*;
        // Boundaries off the 20 ms frame grid.
        let pcm = signal(&[Quiet(1013), Voice(1234), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 333);
        let u = utterances(&events);
        assert_eq!(u.len(), 1);
        assert!(
            u[0].speech_start_ms.abs_diff(1013) <= 20,
            "{}",
            u[0].speech_start_ms
        );
        assert!(
            u[0].speech_end_ms.abs_diff(2247) <= 20,
            "{}",
            u[0].speech_end_ms
        );
        assert!(u[0].end_ms.abs_diff(2247 + 500) <= 20, "{}", u[0].end_ms);
    }

    #[test]
    fn pre_roll_is_included() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(600), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 160);
        let u = utterances(&events)[0];
        assert_eq!((u.start_ms, u.speech_start_ms), (800, 1000));
        // pcm[0] is the sample at 800 ms, and the whole span is there.
        assert_eq!(&u.pcm[..ms(200)], &pcm[ms(800)..ms(1000)]);
        assert_eq!(u.pcm, pcm[ms(u.start_ms)..ms(u.end_ms)]);
        // No pre-roll when the call starts with speech.
        let pcm = signal(&[Voice(600), Quiet(1000)]);
        let u = utterances(&run(TurnConfig::default(), &pcm, 160))[0].clone();
        assert_eq!((u.start_ms, u.speech_start_ms), (0, 0));
    }

    #[test]
    fn trimmed_drops_most_of_the_hangover() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(600), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 160);
        let u = utterances(&events)[0];
        assert_eq!(u.trimmed(100).len(), ms(200 + 600 + 100));
        assert_eq!(u.trimmed(10_000).len(), u.pcm.len());
    }

    #[test]
    fn events_do_not_depend_on_how_audio_is_split() {
        use Piece::*;
        let pcm = signal(&[
            Quiet(700),
            Voice(400),
            Quiet(300),
            Voice(150),
            Quiet(900),
            Voice(50),
            Quiet(800),
        ]);
        let reference = run(TurnConfig::default(), &pcm, pcm.len());
        assert_well_formed(&reference);
        for chunk in [1, 160, 320, 441, 2000] {
            assert_eq!(
                run(TurnConfig::default(), &pcm, chunk),
                reference,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn started_and_barge_in_follow_their_thresholds() {
        use Piece::*;
        let pcm = signal(&[Quiet(1000), Voice(1000), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 320);
        assert_eq!(
            &events[..3],
            [
                TurnEvent::SpeechOnset { at_ms: 1000 },
                TurnEvent::SpeechStarted {
                    at_ms: 1000,
                    confirmed_ms: 1200
                },
                TurnEvent::BargeIn {
                    at_ms: 1000,
                    confirmed_ms: 1300
                },
            ]
        );
        // 250 ms of speech is an utterance but not a barge-in.
        let pcm = signal(&[Quiet(1000), Voice(250), Quiet(1000)]);
        let events = run(TurnConfig::default(), &pcm, 320);
        assert_well_formed(&events);
        assert!(!events
            .iter()
            .any(|e| matches!(e, TurnEvent::BargeIn { .. })));
        assert_eq!(utterances(&events).len(), 1);
        // A barge-in threshold below min_speech waits for min_speech.
        let quick = TurnConfig {
            barge_in_min_ms: 0,
            ..TurnConfig::default()
        };
        let events = run(quick, &pcm, 320);
        assert!(events.contains(&TurnEvent::BargeIn {
            at_ms: 1000,
            confirmed_ms: 1200
        }));
    }

    #[test]
    fn finish_hands_out_speech_in_progress() {
        use Piece::*;
        let pcm = signal(&[Quiet(500), Voice(730)]);
        let mut d = detector(TurnConfig::default());
        let mut events = Vec::new();
        d.push(&pcm, &mut events);
        assert!(d.in_speech());
        assert_eq!(d.now_ms(), 1230);
        d.finish(&mut events);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(u.len(), 1);
        assert!(u[0].forced);
        assert_eq!(u[0].end_ms, 1230, "the partial frame is kept");
        assert_eq!(u[0].pcm.len(), ms(1230 - 300));
        assert!(!d.in_speech());
        assert_eq!(d.now_ms(), 0);
    }

    #[test]
    fn silence_allocates_nothing_and_buffers_are_reused() {
        use Piece::*;
        let mut d = detector(TurnConfig::default());
        let mut events = Vec::with_capacity(8);
        d.push(&signal(&[Quiet(5000)]), &mut events);
        assert!(events.is_empty());
        assert_eq!(
            d.buf.capacity(),
            0,
            "an idle call holds no utterance buffer"
        );
        // A discarded click reserves once and keeps it for the next burst.
        d.push(&signal(&[Voice(100), Quiet(1000)]), &mut events);
        let cap = d.buf.capacity();
        assert!(cap > 0);
        d.push(&signal(&[Voice(100), Quiet(1000)]), &mut events);
        assert_eq!(d.buf.capacity(), cap);
        assert_eq!(d.partial.capacity(), d.frame_len);
    }

    #[test]
    fn config_defaults_ranges_and_unknown_fields() {
        let c: TurnConfig = toml::from_str("").unwrap();
        assert_eq!(c, TurnConfig::default());
        let c: TurnConfig = toml::from_str("hangover_ms = 800").unwrap();
        assert_eq!(c.hangover_ms, 800);
        let err = toml::from_str::<TurnConfig>("hangover = 800").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `hangover`"),
            "{err}"
        );

        let bad = TurnConfig {
            hangover_ms: 50,
            max_utterance_ms: 100_000,
            ..TurnConfig::default()
        };
        let keys: Vec<_> = bad
            .issues()
            .into_iter()
            .map(|e| match e {
                TurnConfigError::OutOfRange { key, .. } => key,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(keys, ["hangover_ms", "max_utterance_ms"]);
        let err = TurnDetector::new(&bad, &VadConfig::default(), RATE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`hangover_ms` = 50 is out of range; allowed: 100..=2000"
        );
        let bad_vad = VadConfig {
            frame_ms: 7,
            ..VadConfig::default()
        };
        assert!(matches!(
            TurnDetector::new(&TurnConfig::default(), &bad_vad, RATE),
            Err(TurnConfigError::Vad(_))
        ));
    }

    /// Samples of a mono 16-bit PCM WAV fixture (test data, so `unwrap` is fine).
    fn wav_8k(bytes: &[u8]) -> Vec<i16> {
        assert_eq!((&bytes[..4], &bytes[8..12]), (&b"RIFF"[..], &b"WAVE"[..]));
        let mut at = 12;
        let mut rate_ok = false;
        loop {
            let id = &bytes[at..at + 4];
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            let body = &bytes[at + 8..at + 8 + len];
            if id == b"fmt " {
                // PCM, mono, 8000 Hz, 16 bits.
                assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1);
                assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1);
                assert_eq!(u32::from_le_bytes(body[4..8].try_into().unwrap()), 8000);
                assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16);
                rate_ok = true;
            } else if id == b"data" {
                assert!(rate_ok);
                return body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
            }
            at += 8 + len + len % 2;
        }
    }

    /// Two eSpeak sentences at 8 kHz (see testdata/README.md) with `gap_ms` of line noise
    /// between them and around them, upsampled to 16 kHz in 20 ms carrier frames as the
    /// pipeline does. Returns the 16 kHz audio and the speech spans in ms.
    fn spoken(gap_ms: u64) -> (Vec<i16>, [(u64, u64); 2]) {
        let (pcm, spans) = spoken_8k(gap_ms);
        let mut resampler = crate::media::resample::StreamResampler::new(8000, RATE).unwrap();
        let mut wide = Vec::new();
        for frame in pcm.chunks(160) {
            resampler.process(frame, &mut wide);
        }
        resampler.flush(&mut wide);
        (wide, spans)
    }

    /// [`spoken`] before upsampling: 8 kHz as the carrier delivers it.
    fn spoken_8k(gap_ms: u64) -> (Vec<i16>, [(u64, u64); 2]) {
        let s1 = wav_8k(include_bytes!("testdata/sentence1_8k.wav"));
        let s2 = wav_8k(include_bytes!("testdata/sentence2_8k.wav"));
        let at_8k = |ms: u64| (ms * 8) as usize;
        let line = |len: usize, seed| noise(len, -60.0, seed);
        let mut pcm = line(at_8k(1000), 1);
        let s1_start = 1000;
        pcm.extend(&s1);
        let s1_end = pcm.len() as u64 / 8;
        pcm.extend(line(at_8k(gap_ms), 2));
        let s2_start = pcm.len() as u64 / 8;
        pcm.extend(&s2);
        let s2_end = pcm.len() as u64 / 8;
        pcm.extend(line(at_8k(1500), 3));
        (pcm, [(s1_start, s1_end), (s2_start, s2_end)])
    }

    #[test]
    fn real_speech_with_a_300_ms_pause_is_one_utterance() {
        let (pcm, [(s1_start, _), (_, s2_end)]) = spoken(300);
        let events = run(TurnConfig::default(), &pcm, 320);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(
            u.len(),
            1,
            "{:#?}",
            events
                .iter()
                .filter(|e| !matches!(e, TurnEvent::Utterance(_)))
                .collect::<Vec<_>>()
        );
        assert!(!u[0].forced);
        // eSpeak's onsets and tails fade below -45 dBFS: allow two frames.
        assert!(
            u[0].speech_start_ms.abs_diff(s1_start) <= 40,
            "{} vs {s1_start}",
            u[0].speech_start_ms
        );
        assert!(
            u[0].speech_end_ms.abs_diff(s2_end) <= 40,
            "{} vs {s2_end}",
            u[0].speech_end_ms
        );
    }

    #[test]
    fn real_speech_with_an_800_ms_pause_is_two_utterances() {
        let (pcm, spans) = spoken(800);
        let events = run(TurnConfig::default(), &pcm, 320);
        assert_well_formed(&events);
        let u = utterances(&events);
        assert_eq!(u.len(), 2);
        for (u, (start, end)) in u.iter().zip(spans) {
            assert!(
                u.speech_start_ms.abs_diff(start) <= 40,
                "{} vs {start}",
                u.speech_start_ms
            );
            assert!(
                u.speech_end_ms.abs_diff(end) <= 40,
                "{} vs {end}",
                u.speech_end_ms
            );
            assert!(!u.forced);
        }
    }

    #[test]
    fn at_the_carrier_rate_turns_match_the_16k_ones() {
        // Running the detector on 8 kHz audio (and resampling only the utterances) keeps
        // idle calls almost free; the energy VAD must then find the same turns.
        for gap in [300, 800] {
            let (narrow, _) = spoken_8k(gap);
            let (wide, _) = spoken(gap);
            let mut at_8k =
                TurnDetector::new(&TurnConfig::default(), &VadConfig::default(), 8000).unwrap();
            let mut events = Vec::new();
            for frame in narrow.chunks(160) {
                at_8k.push(frame, &mut events);
            }
            at_8k.finish(&mut events);
            let spans = |events: &[TurnEvent]| -> Vec<(u64, u64, u64, u64)> {
                utterances(events)
                    .iter()
                    .map(|u| (u.start_ms, u.speech_start_ms, u.speech_end_ms, u.end_ms))
                    .collect()
            };
            assert_eq!(
                spans(&events),
                spans(&run(TurnConfig::default(), &wide, 320)),
                "gap {gap}"
            );
            for u in utterances(&events) {
                assert_eq!(u.sample_rate_hz, 8000);
                assert_eq!(u.pcm.len() as u64, (u.end_ms - u.start_ms) * 8);
            }
        }
    }

    #[test]
    fn ring_keeps_the_latest_samples() {
        let mut r = Ring::new(5);
        let mut out = Vec::new();
        r.push(&[1, 2, 3]);
        r.copy_last_into(5, &mut out);
        assert_eq!(out, [1, 2, 3]);
        r.push(&[4, 5, 6, 7]);
        out.clear();
        r.copy_last_into(5, &mut out);
        assert_eq!(out, [3, 4, 5, 6, 7]);
        r.push(&[8, 9, 10, 11, 12, 13, 14]);
        out.clear();
        r.copy_last_into(3, &mut out);
        assert_eq!(out, [12, 13, 14]);
        let mut empty = Ring::new(0);
        empty.push(&[1, 2]);
        out.clear();
        empty.copy_last_into(2, &mut out);
        assert!(out.is_empty());
    }
}
