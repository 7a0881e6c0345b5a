//! Where a responder writes its answer.

use abi_stable::std_types::RStr;

use crate::{abi::AnswerSinkMut, types::Action};

/// The host's end of one answer: text and actions as they are produced.
pub struct AnswerOut<'a> {
    sink: AnswerSinkMut<'a>,
}

impl<'a> AnswerOut<'a> {
    pub(crate) fn new(sink: AnswerSinkMut<'a>) -> Self {
        Self { sink }
    }

    /// More of the answer's text (a token, a word, a sentence: any size).
    /// Returns `false` when the host no longer wants the answer.
    pub fn say(&mut self, delta: &str) -> bool {
        delta.is_empty() || self.sink.text(RStr::from(delta))
    }

    /// Asks the host to act (hang up after speaking, transfer, DTMF).
    /// Returns `false` when the host no longer wants the answer.
    pub fn act(&mut self, action: &Action) -> bool {
        self.sink.action(action)
    }

    /// Marks the answer as an apology for a failure: the host publishes an
    /// `error` event with `message` and `kind` (a short lower-case code such
    /// as `timeout` or `status`); the caller hears only the text.
    pub fn degraded(&mut self, kind: &str, message: &str) {
        self.sink.degraded(RStr::from(kind), RStr::from(message));
    }

    /// Whether the host wants the answer to stop (the caller barged in,
    /// hung up, or the host is shutting down). Poll it while waiting.
    pub fn stopped(&self) -> bool {
        self.sink.is_stopped()
    }
}
