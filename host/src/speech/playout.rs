//! Playout of one reply to the peer: fixed-size frames paced at real time
//! with a small lead, marks so the host knows how much the caller heard.
//!
//! Carriers play what they receive into a jitter buffer. Sending a whole
//! reply at once makes interruption impossible (the carrier holds seconds of
//! audio the host can no longer account for), and sending irregular slivers
//! (whatever a TTS chunk happened to hold) is a known cause of crackle on the
//! phone leg. So every frame is exactly `frame_ms` (the last one padded with
//! silence), the first `lead_frames` go at once to prime the buffer, and the
//! rest follow the clock. If synthesis falls behind, the clock is re-anchored
//! when audio arrives instead of bursting to catch up.
//!
//! A mark named `vg-<reply>-<samples>` follows every `mark_every` frames and
//! the last frame; the peer echoes it once everything before it has played,
//! so the name itself says how many samples the caller heard. Marks of an
//! earlier reply (the caller interrupted it) no longer match and are
//! ignored. For peers without marks, heard audio is estimated as what was
//! sent minus the lead still in their buffer.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    time::{Duration, Instant},
};

/// How long to wait for the final mark beyond the reply's play-out time
/// before treating the reply as played anyway (a peer that lost the mark
/// must not stall the next reply forever).
const MARK_GRACE: Duration = Duration::from_secs(3);

/// Pacing and marks.
#[derive(Debug, Clone)]
pub struct PlayoutConfig {
    /// Samples in one frame at the peer's rate.
    pub frame_samples: usize,
    /// Duration of one frame.
    pub frame: Duration,
    /// Frames sent ahead of real time.
    pub lead_frames: u32,
    /// A progress mark after this many frames (0: only at the end).
    pub mark_every: u32,
    /// Whether the peer echoes marks.
    pub marks: bool,
}

/// What the playout wants sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Emit<'a> {
    /// One frame of PCM at the peer's rate.
    Audio(&'a [i16]),
    /// A mark.
    Mark(&'a str),
}

/// What a poll or a mark changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing of note.
    None,
    /// The reply's first frame went out.
    FirstFrame,
    /// The whole reply has played.
    Played,
}

/// The playout state of the reply being spoken.
#[derive(Debug)]
pub struct Playout {
    cfg: PlayoutConfig,
    reply: u64,
    active: bool,
    queue: VecDeque<i16>,
    /// Samples appended for this reply.
    queued: u64,
    /// Samples sent (padding included).
    sent: u64,
    /// All of the reply's audio has been appended.
    finished: bool,
    /// Samples the peer confirmed (or, without marks, is estimated) played.
    heard: u64,
    frames_sent: u64,
    /// Clock anchor: when, and how many frames had been sent then.
    anchor: Option<(Instant, u64)>,
    last_frame_at: Option<Instant>,
    frame: Vec<i16>,
    mark_name: String,
}

impl Playout {
    /// An idle playout.
    pub fn new(cfg: PlayoutConfig) -> Self {
        let frame = vec![0; cfg.frame_samples];
        Self {
            cfg,
            reply: 0,
            active: false,
            queue: VecDeque::new(),
            queued: 0,
            sent: 0,
            finished: false,
            heard: 0,
            frames_sent: 0,
            anchor: None,
            last_frame_at: None,
            frame,
            mark_name: String::with_capacity(32),
        }
    }

    /// Starts playing reply `reply`; anything of an earlier one is dropped.
    pub fn start(&mut self, reply: u64) {
        self.reply = reply;
        self.active = true;
        self.queue.clear();
        self.queued = 0;
        self.sent = 0;
        self.finished = false;
        self.heard = 0;
        self.frames_sent = 0;
        self.anchor = None;
        self.last_frame_at = None;
    }

    /// Whether a reply is playing.
    #[cfg(test)]
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Appends audio of the current reply.
    pub fn push(&mut self, pcm: &[i16]) {
        if self.active && !self.finished {
            self.queue.extend(pcm.iter().copied());
            self.queued += pcm.len() as u64;
        }
    }

    /// Samples appended so far (segment boundaries are recorded with it).
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Marks the end of the reply's audio; the last frame is padded.
    pub fn finish(&mut self) {
        if !self.active || self.finished {
            return;
        }
        let n = self.cfg.frame_samples.max(1);
        let partial = self.queue.len() % n;
        if partial != 0 {
            self.queue.extend(std::iter::repeat_n(0, n - partial));
        }
        self.finished = true;
    }

    fn can_send(&self) -> bool {
        self.queue.len() >= self.cfg.frame_samples && !self.queue.is_empty()
    }

    /// When [`Playout::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.active {
            return None;
        }
        if self.can_send() {
            return Some(match self.anchor {
                None => Instant::now(),
                Some((at, base)) => {
                    let ahead =
                        (self.frames_sent - base).saturating_sub(u64::from(self.cfg.lead_frames));
                    at + self.cfg.frame * ahead as u32
                }
            });
        }
        if self.finished && self.queue.is_empty() {
            let drained = self.drained_at()?;
            return Some(if self.cfg.marks {
                drained + MARK_GRACE
            } else {
                drained
            });
        }
        None
    }

    /// When the peer will have played everything sent.
    fn drained_at(&self) -> Option<Instant> {
        self.last_frame_at
            .map(|t| t + self.cfg.frame * (self.cfg.lead_frames + 1))
    }

    /// Sends what is due at `now`.
    pub fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(Emit<'_>)) -> Progress {
        if !self.active {
            return Progress::None;
        }
        let mut progress = Progress::None;
        if !self.can_send() {
            if !self.finished {
                // Synthesis is behind: start the clock again when audio comes.
                self.anchor = None;
                return Progress::None;
            }
            if self.queue.is_empty() {
                return self.check_drained(now);
            }
        }
        let (at, base) = *self.anchor.get_or_insert((now, self.frames_sent));
        let elapsed = now.saturating_duration_since(at);
        let due = u64::from(self.cfg.lead_frames)
            + 1
            + (elapsed.as_nanos() / self.cfg.frame.as_nanos().max(1)) as u64;
        while self.frames_sent - base < due && self.can_send() {
            for (dst, src) in self
                .frame
                .iter_mut()
                .zip(self.queue.drain(..self.cfg.frame_samples))
            {
                *dst = src;
            }
            emit(Emit::Audio(&self.frame));
            if self.frames_sent == 0 {
                progress = Progress::FirstFrame;
            }
            self.frames_sent += 1;
            self.sent += self.cfg.frame_samples as u64;
            self.last_frame_at = Some(now);
            let last = self.finished && self.queue.is_empty();
            let periodic = self.cfg.mark_every > 0
                && self
                    .frames_sent
                    .is_multiple_of(u64::from(self.cfg.mark_every));
            if self.cfg.marks && (last || periodic) {
                self.mark_name.clear();
                let _ = write!(self.mark_name, "vg-{}-{}", self.reply, self.sent);
                emit(Emit::Mark(&self.mark_name));
            }
        }
        progress
    }

    fn check_drained(&mut self, now: Instant) -> Progress {
        match self.drained_at() {
            Some(drained) if !self.cfg.marks && now >= drained => {
                self.heard = self.sent;
                self.active = false;
                Progress::Played
            }
            Some(drained) if self.cfg.marks && now >= drained + MARK_GRACE => {
                tracing::debug!(
                    reply = self.reply,
                    "The peer did not echo the final mark; treating the reply as played."
                );
                self.heard = self.sent;
                self.active = false;
                Progress::Played
            }
            // Finished with no audio at all: nothing to wait for.
            None => {
                self.active = false;
                Progress::Played
            }
            _ => Progress::None,
        }
    }

    /// A mark the peer echoed. Returns `None` for a mark that is not of the
    /// current reply (stale after an interruption, or not ours).
    pub fn on_mark(&mut self, name: &str) -> Option<Progress> {
        let (reply, samples) = parse_mark(name)?;
        if !self.active || reply != self.reply {
            return None;
        }
        self.heard = self.heard.max(samples.min(self.sent));
        if self.finished && self.queue.is_empty() && self.heard >= self.sent {
            self.active = false;
            return Some(Progress::Played);
        }
        Some(Progress::None)
    }

    /// Stops playing; returns the samples the caller heard.
    pub fn interrupt(&mut self, now: Instant) -> u64 {
        let heard = if self.cfg.marks {
            self.heard
        } else {
            self.estimated_heard(now)
        };
        self.active = false;
        self.queue.clear();
        heard
    }

    /// Without marks: what was sent minus what is still buffered at the
    /// peer, judged by the clock.
    fn estimated_heard(&self, now: Instant) -> u64 {
        let Some(last) = self.last_frame_at else {
            return 0;
        };
        let frame = self.cfg.frame.as_nanos().max(1);
        let since = now.saturating_duration_since(last).as_nanos() / frame;
        let buffered = u64::from(self.cfg.lead_frames + 1).saturating_sub(since as u64);
        self.sent
            .saturating_sub(buffered * self.cfg.frame_samples as u64)
    }
}

/// Parses `vg-<reply>-<samples>`.
fn parse_mark(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("vg-")?;
    let (reply, samples) = rest.split_once('-')?;
    Some((reply.parse().ok()?, samples.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 160;

    fn config(marks: bool) -> PlayoutConfig {
        PlayoutConfig {
            frame_samples: FRAME,
            frame: Duration::from_millis(20),
            lead_frames: 2,
            mark_every: 5,
            marks,
        }
    }

    #[derive(Default)]
    struct Sent {
        frames: Vec<Vec<i16>>,
        marks: Vec<String>,
    }

    fn poll(p: &mut Playout, now: Instant, sent: &mut Sent) -> Progress {
        p.poll(now, &mut |e| match e {
            Emit::Audio(a) => sent.frames.push(a.to_vec()),
            Emit::Mark(m) => sent.marks.push(m.to_owned()),
        })
    }

    #[test]
    fn frames_are_fixed_size_and_paced_with_lead() {
        let mut p = Playout::new(config(true));
        p.start(1);
        p.push(&vec![7; FRAME * 10 + 50]);
        p.finish();
        let t0 = Instant::now();
        let mut sent = Sent::default();
        assert_eq!(poll(&mut p, t0, &mut sent), Progress::FirstFrame);
        // The first frame and two frames of lead go at once.
        assert_eq!(sent.frames.len(), 3);
        assert_eq!(p.next_deadline(), Some(t0 + Duration::from_millis(20)));
        poll(&mut p, t0 + Duration::from_millis(19), &mut sent);
        assert_eq!(sent.frames.len(), 3);
        poll(&mut p, t0 + Duration::from_millis(20), &mut sent);
        assert_eq!(sent.frames.len(), 4);
        poll(&mut p, t0 + Duration::from_millis(200), &mut sent);
        // 10 full frames and one padded one; never a sliver.
        assert_eq!(sent.frames.len(), 11);
        assert!(sent.frames.iter().all(|f| f.len() == FRAME));
        assert_eq!(&sent.frames[10][..50], &[7; 50][..]);
        assert!(sent.frames[10][50..].iter().all(|&s| s == 0));
        assert_eq!(sent.marks, vec!["vg-1-800", "vg-1-1600", "vg-1-1760"]);
    }

    #[test]
    fn final_mark_completes_the_reply_and_stale_marks_are_ignored() {
        let mut p = Playout::new(config(true));
        p.start(3);
        p.push(&[1; FRAME * 2]);
        p.finish();
        let t0 = Instant::now();
        let mut sent = Sent::default();
        poll(&mut p, t0, &mut sent);
        assert_eq!(sent.marks, vec!["vg-3-320"]);
        assert_eq!(p.on_mark("vg-2-320"), None, "an earlier reply's mark");
        assert_eq!(p.on_mark("greeting"), None, "not ours");
        assert_eq!(p.on_mark("vg-3-320"), Some(Progress::Played));
        assert!(!p.is_active());
    }

    #[test]
    fn underrun_reanchors_instead_of_bursting() {
        let mut p = Playout::new(config(false));
        p.start(1);
        p.push(&[1; FRAME]);
        let t0 = Instant::now();
        let mut sent = Sent::default();
        poll(&mut p, t0, &mut sent);
        assert_eq!(sent.frames.len(), 1);
        // Nothing to send: no deadline until audio comes.
        poll(&mut p, t0 + Duration::from_millis(40), &mut sent);
        assert_eq!(p.next_deadline(), None);
        // A second later, more audio: lead again, not 50 frames of catch-up.
        p.push(&[1; FRAME * 20]);
        poll(&mut p, t0 + Duration::from_secs(1), &mut sent);
        assert_eq!(sent.frames.len(), 4);
    }

    #[test]
    fn without_marks_the_reply_is_played_once_the_peer_drained_it() {
        let mut p = Playout::new(config(false));
        p.start(1);
        p.push(&[1; FRAME]);
        p.finish();
        let t0 = Instant::now();
        let mut sent = Sent::default();
        poll(&mut p, t0, &mut sent);
        assert!(sent.marks.is_empty());
        let drained = p.next_deadline().expect("a drain deadline");
        assert_eq!(drained, t0 + Duration::from_millis(60));
        assert_eq!(poll(&mut p, drained, &mut sent), Progress::Played);
    }

    #[test]
    fn interruption_reports_what_was_heard() {
        let mut p = Playout::new(config(true));
        p.start(1);
        p.push(&[1; FRAME * 20]);
        let t0 = Instant::now();
        let mut sent = Sent::default();
        poll(&mut p, t0 + Duration::from_millis(100), &mut sent);
        poll(&mut p, t0 + Duration::from_millis(200), &mut sent);
        assert_eq!(p.on_mark("vg-1-800"), Some(Progress::None));
        assert_eq!(p.interrupt(t0 + Duration::from_millis(210)), 800);
        assert!(!p.is_active());
        assert_eq!(p.next_deadline(), None);

        // Without marks: sent minus what is still in the peer's buffer.
        let mut p = Playout::new(config(false));
        p.start(2);
        p.push(&[1; FRAME * 20]);
        let mut sent = Sent::default();
        poll(&mut p, t0, &mut sent);
        poll(&mut p, t0 + Duration::from_millis(100), &mut sent);
        assert_eq!(sent.frames.len(), 8);
        assert_eq!(
            p.interrupt(t0 + Duration::from_millis(100)),
            (8 - 3) * FRAME as u64
        );
    }
}
