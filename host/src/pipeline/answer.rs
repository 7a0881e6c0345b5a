//! Asking the responder for one turn's answer, off the reactor, and
//! collecting what it streams.
//!
//! The answer arrives as parts (text deltas, actions, an apology note). It
//! is collected whole before it is spoken; the sink tells the responder to
//! stop as soon as the answer is no longer wanted (the caller barged in, or
//! the call ended), so a streaming responder stops using its worker and
//! its upstream connection at once.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use tokio::sync::mpsc;

use super::PipelineOutput;
use crate::{
    model::{Action, AnswerPart, Turn},
    plugins::{api::AnswerSink, CallError, Responder},
};

/// A whole answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The text, deltas joined.
    pub text: String,
    /// Hang up once it has been heard.
    pub hangup: bool,
    /// Other actions, in order.
    pub actions: Vec<Action>,
    /// The answer is an apology for this failure: kind name, message.
    pub degraded: Option<(String, String)>,
}

/// A responder's answer to one turn.
#[derive(Debug)]
pub struct Answered {
    /// The answer, or what failed.
    pub result: Result<Answer, CallError>,
    /// When the caller stopped speaking the turn.
    pub speech_end: Instant,
    /// The barge-in epoch the turn was asked in: an answer from an earlier
    /// epoch was overtaken by the caller speaking again and is not spoken.
    pub epoch: u64,
}

/// Collects the parts of one answer; stops it when its turn is stale or its
/// call is gone.
struct Collect {
    answer: Answer,
    epoch: u64,
    live_epoch: Arc<AtomicU64>,
    results: mpsc::Sender<PipelineOutput>,
}

impl AnswerSink for Collect {
    fn part(&mut self, part: AnswerPart) -> bool {
        match part {
            AnswerPart::Text(delta) => self.answer.text.push_str(&delta),
            AnswerPart::Action(Action::Hangup) => self.answer.hangup = true,
            AnswerPart::Action(other) => self.answer.actions.push(other),
            AnswerPart::Degraded { kind, message } => self.answer.degraded = Some((kind, message)),
        }
        !self.stopped()
    }

    fn stopped(&self) -> bool {
        self.live_epoch.load(Ordering::Relaxed) != self.epoch || self.results.is_closed()
    }
}

/// Asks `responder` for `turn` on the blocking pool; the answer comes back
/// on `results`.
pub(super) fn ask(
    responder: Arc<Responder>,
    turn: Turn,
    speech_end: Instant,
    epoch: u64,
    live_epoch: Arc<AtomicU64>,
    results: mpsc::Sender<PipelineOutput>,
) {
    tokio::spawn(async move {
        let sink_results = results.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut sink = Collect {
                answer: Answer::default(),
                epoch,
                live_epoch,
                results: sink_results,
            };
            responder.respond(&turn, &mut sink).map(|()| sink.answer)
        })
        .await;
        if let Ok(result) = joined {
            let answered = Answered {
                result,
                speech_end,
                epoch,
            };
            let _ = results.send(PipelineOutput::Answer(answered)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collector(epoch: u64, live: u64) -> (Collect, mpsc::Receiver<PipelineOutput>) {
        let (tx, rx) = mpsc::channel(1);
        (
            Collect {
                answer: Answer::default(),
                epoch,
                live_epoch: Arc::new(AtomicU64::new(live)),
                results: tx,
            },
            rx,
        )
    }

    #[test]
    fn parts_make_one_answer() {
        let (mut c, _rx) = collector(1, 1);
        assert!(c.part(AnswerPart::Text("Hello ".into())));
        assert!(c.part(AnswerPart::Text("there.".into())));
        assert!(c.part(AnswerPart::Action(Action::Transfer("+1555".into()))));
        assert!(c.part(AnswerPart::Action(Action::Hangup)));
        assert_eq!(c.answer.text, "Hello there.");
        assert!(c.answer.hangup);
        assert_eq!(c.answer.actions, [Action::Transfer("+1555".into())]);
    }

    #[test]
    fn a_stale_turn_or_a_gone_call_stops_the_answer() {
        let (mut c, rx) = collector(1, 2);
        assert!(
            !c.part(AnswerPart::Text("x".into())),
            "the caller barged in"
        );
        let (c, rx2) = collector(3, 3);
        assert!(!c.stopped());
        drop(rx2);
        assert!(c.stopped(), "the call ended");
        drop(rx);
    }
}
