//! The caller's side of a Twilio call that talks and listens at once: sends
//! paced 20 ms μ-law frames (speech, then silence) while receiving what the
//! host sends back, and plays the part of Twilio's player: audio is "played"
//! in real time from the first frame received, a mark is echoed once the
//! audio sent before it has played, and `clear` empties the player and echoes
//! every pending mark at once (as Twilio documents).

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::twilio::Stream;

/// Something the host sent, as the caller's phone saw it.
#[derive(Debug, Clone)]
pub enum Heard {
    /// One `media` frame: μ-law bytes.
    Media(Vec<u8>),
    /// A `mark` the host asked for.
    Mark(String),
    /// `clear`.
    Clear,
    /// Any other text frame.
    Other(Value),
}

/// What the phone has seen so far.
#[derive(Debug, Default)]
pub struct Call {
    /// Every message from the host, with the number of 20 ms frames the
    /// phone had sent when it arrived, and when.
    pub heard: Vec<(u64, Instant, Heard)>,
    /// Frames sent.
    pub frames_sent: u64,
    /// Marks echoed back, in order.
    pub marks_echoed: Vec<String>,
    /// When the latest [`Stream::converse`] sent its first frame; frame `k`
    /// of its speech went out 20·k ms later.
    pub speech_started: Option<Instant>,
}

impl Heard {
    /// Whether it is a media frame.
    pub fn is_media(&self) -> bool {
        matches!(self, Heard::Media(_))
    }
}

impl Call {
    /// True once a reply that began after `heard[from]` has played: its
    /// final mark was echoed and nothing more came for 200 ms of call time.
    pub fn reply_played(&self, from: usize) -> bool {
        let new = &self.heard[from..];
        let Some(last_media) = new.iter().rposition(|(_, _, h)| h.is_media()) else {
            return false;
        };
        let last_mark = new[last_media..].iter().find_map(|(_, _, h)| match h {
            Heard::Mark(name) => Some(name),
            _ => None,
        });
        let quiet = self.frames_sent.saturating_sub(new[last_media].0) >= 10;
        quiet && last_mark.is_some_and(|m| self.marks_echoed.contains(m))
    }

    /// Media frames received.
    pub fn media(&self) -> impl Iterator<Item = &[u8]> {
        self.heard.iter().filter_map(|(_, _, h)| match h {
            Heard::Media(m) => Some(m.as_slice()),
            _ => None,
        })
    }

    /// Index in `heard` of the first item at or after `from` that matches.
    pub fn position_from(&self, from: usize, pred: impl Fn(&Heard) -> bool) -> Option<usize> {
        self.heard
            .get(from..)?
            .iter()
            .position(|(_, _, h)| pred(h))
            .map(|i| from + i)
    }
}

/// Twilio's playback, emulated.
#[derive(Default)]
struct Player {
    /// When everything received so far will have played.
    play_until: Option<Instant>,
    pending_marks: VecDeque<(Instant, String)>,
}

impl Player {
    fn media(&mut self, now: Instant) {
        let start = self.play_until.map_or(now, |t| t.max(now));
        self.play_until = Some(start + Duration::from_millis(20));
    }

    fn mark(&mut self, now: Instant, name: String) {
        let due = self.play_until.map_or(now, |t| t.max(now));
        self.pending_marks.push_back((due, name));
    }

    fn due_marks(&mut self, now: Instant, clear: bool) -> Vec<String> {
        if clear {
            self.play_until = None;
            return self.pending_marks.drain(..).map(|(_, n)| n).collect();
        }
        let mut out = Vec::new();
        while let Some((due, _)) = self.pending_marks.front() {
            if *due > now {
                break;
            }
            if let Some((_, name)) = self.pending_marks.pop_front() {
                out.push(name);
            }
        }
        out
    }
}

fn parse(msg: Message) -> Option<Heard> {
    let Message::Text(text) = msg else {
        return None;
    };
    let v: Value = serde_json::from_str(text.as_str()).ok()?;
    Some(match v["event"].as_str() {
        Some("media") => Heard::Media(
            base64::engine::general_purpose::STANDARD
                .decode(v["media"]["payload"].as_str().unwrap_or(""))
                .unwrap_or_default(),
        ),
        Some("mark") => Heard::Mark(v["mark"]["name"].as_str().unwrap_or("").to_owned()),
        Some("clear") => Heard::Clear,
        _ => Heard::Other(v),
    })
}

impl Stream {
    /// Asks `speech` and listens until the reply has played; returns the
    /// reply's μ-law audio.
    pub async fn ask(&mut self, call: &mut Call, speech: &[i16]) -> Vec<u8> {
        let from = call.heard.len();
        let played = self
            .converse(call, speech, Duration::from_secs(45), |c| {
                c.reply_played(from)
            })
            .await;
        assert!(
            played,
            "no complete reply within 45 s; heard {} messages",
            call.heard.len() - from
        );
        call.heard[from..]
            .iter()
            .filter_map(|(_, _, h)| match h {
                Heard::Media(m) => Some(m.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// Sends `speech` (8 kHz PCM) in real time and then silence, for at most
    /// `max`, while listening; `done` is asked after every message and
    /// frame and ends the exchange when it returns true. Returns whether
    /// `done` was reached.
    pub async fn converse(
        &mut self,
        call: &mut Call,
        speech: &[i16],
        max: Duration,
        mut done: impl FnMut(&Call) -> bool,
    ) -> bool {
        let mulaw = crate::audio::mulaw(speech);
        let silence = [0xFFu8; 160];
        let mut frames = mulaw.chunks(160);
        let mut player = Player::default();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let deadline = tokio::time::Instant::now() + max;
        call.speech_started = None;
        loop {
            if done(call) {
                return true;
            }
            tokio::select! {
                _ = tick.tick() => {
                    let frame = frames.next().unwrap_or(&silence);
                    call.speech_started.get_or_insert_with(Instant::now);
                    self.media(frame).await;
                    call.frames_sent += 1;
                    for name in player.due_marks(Instant::now(), false) {
                        self.mark(&name).await;
                        call.marks_echoed.push(name);
                    }
                }
                msg = self.next_message() => {
                    let Some(msg) = msg else {
                        return false;
                    };
                    let Some(heard) = parse(msg) else {
                        continue;
                    };
                    let now = Instant::now();
                    match &heard {
                        Heard::Media(_) => player.media(now),
                        Heard::Mark(name) => player.mark(now, name.clone()),
                        Heard::Clear => {
                            for name in player.due_marks(now, true) {
                                self.mark(&name).await;
                                call.marks_echoed.push(name);
                            }
                        }
                        Heard::Other(_) => {}
                    }
                    call.heard.push((call.frames_sent, now, heard));
                }
                _ = tokio::time::sleep_until(deadline) => return done(call),
            }
        }
    }
}
