//! Transcripts, speech synthesis, turns and streamed answers.

use super::Pair;

/// What an STT instance needs and offers.
#[derive(Debug, Clone)]
pub struct SttInfo {
    /// The rate it takes.
    pub sample_rate: u32,
    /// Useful concurrent `finish` calls (0: the host decides).
    pub max_concurrency: u32,
    /// Transcribes while audio arrives.
    pub streaming: bool,
}

/// The final transcript of one utterance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// The text.
    pub text: String,
    /// Confidence, when given.
    pub confidence: Option<f32>,
    /// Language used or detected.
    pub language: String,
}

/// An interim hypothesis of an utterance in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The utterance number the host pushed it with.
    pub utterance: u64,
    /// Current best guess of the whole utterance.
    pub text: String,
    /// The prefix the engine will not revise.
    pub stable: String,
}

/// What a TTS instance produces.
#[derive(Debug, Clone)]
pub struct TtsInfo {
    /// Sample rate of its chunks.
    pub sample_rate: u32,
}

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    Caller,
    /// The agent.
    Assistant,
    /// Operator instructions.
    System,
}

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// What was said (for the agent: what the caller heard).
    pub text: String,
}

/// A caller's turn, given to a responder.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// Session id.
    pub session_id: String,
    /// Which turn of the call, from 1.
    pub turn: u64,
    /// Transport instance.
    pub transport: String,
    /// Carrier call id.
    pub call_id: String,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// What the caller just said.
    pub text: String,
    /// Earlier lines, oldest first.
    pub history: Vec<Message>,
    /// Call context (custom parameters).
    pub context: Vec<Pair>,
}

/// Something the agent wants done besides speaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// End the call once what was said has been heard.
    Hangup,
    /// Transfer the caller to a number or SIP URI.
    Transfer(String),
    /// Send DTMF digits.
    Dtmf(String),
    /// An action the host has no variant for: its kind and JSON.
    Other {
        /// The kind.
        kind: String,
        /// The payload.
        json: String,
    },
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerPart {
    /// More text.
    Text(String),
    /// An action.
    Action(Action),
    /// The answer is an apology for this failure (kind name, message).
    Degraded {
        /// The failure kind's name.
        kind: String,
        /// What failed.
        message: String,
    },
}
