//! Speech-to-text, text-to-speech and responder types.

use abi_stable::{
    std_types::{ROption, RSlice, RStr, RString, RVec},
    StableAbi,
};

use super::KeyValue;

/// What an STT instance needs and offers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct SttInfo {
    /// The sample rate `transcribe` expects; the host resamples to it.
    pub sample_rate: u32,
    /// How many `transcribe` calls may usefully run at once; the host sizes
    /// its worker pool with it (0: let the host decide).
    pub max_concurrency: u32,
    /// JSON object with anything else (model name, languages).
    pub extensions_json: RString,
}

/// One utterance to transcribe.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct SttRequest<'a> {
    /// Mono PCM at [`SttInfo::sample_rate`].
    pub pcm: RSlice<'a, i16>,
    /// Its sample rate (always the one asked for; given for checking).
    pub sample_rate: u32,
    /// The session this audio belongs to.
    pub session_id: RStr<'a>,
    /// Preferred language, empty for the instance default.
    pub language: RStr<'a>,
    /// JSON object with anything else.
    pub extensions_json: RStr<'a>,
}

/// A timed piece of a transcript.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Segment {
    /// Start, from the beginning of the utterance.
    pub start_ms: u32,
    /// End.
    pub end_ms: u32,
    /// Text.
    pub text: RString,
    /// Confidence in 0..=1, when the engine gives one.
    pub confidence: ROption<f32>,
}

/// The result of one transcription.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct Transcript {
    /// The whole text.
    pub text: RString,
    /// Segments with timing.
    pub segments: RVec<Segment>,
    /// Overall confidence, when the engine gives one.
    pub confidence: ROption<f32>,
    /// Detected or used language.
    pub language: RString,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

/// What a TTS instance produces.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct TtsInfo {
    /// Sample rate of the PCM chunks it emits.
    pub sample_rate: u32,
    /// JSON object with anything else (voices).
    pub extensions_json: RString,
}

/// Text to speak.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TtsRequest<'a> {
    /// The text.
    pub text: RStr<'a>,
    /// The session it is for.
    pub session_id: RStr<'a>,
    /// A voice name, empty for the instance default.
    pub voice: RStr<'a>,
    /// JSON object with anything else.
    pub extensions_json: RStr<'a>,
}

/// Who said a line of the conversation.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Role(pub u8);

impl Role {
    /// The caller.
    pub const CALLER: Self = Self(0);
    /// The agent.
    pub const ASSISTANT: Self = Self(1);
    /// Operator instructions.
    pub const SYSTEM: Self = Self(2);
}

/// One line of the conversation so far.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// What was said (for the assistant: what the caller actually heard).
    pub text: RString,
}

/// A caller's turn, given to a responder.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Turn {
    /// Session id.
    pub session_id: RString,
    /// Transport instance.
    pub transport: RString,
    /// Carrier call id.
    pub call_id: RString,
    /// Caller.
    pub from: RString,
    /// Callee.
    pub to: RString,
    /// What the caller just said.
    pub text: RString,
    /// Earlier lines, oldest first.
    pub history: RVec<Message>,
    /// Call context (custom parameters).
    pub context: RVec<KeyValue>,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

/// A responder's answer.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default)]
pub struct Answer {
    /// What to say.
    pub text: RString,
    /// End the call after saying it.
    pub hangup: bool,
    /// JSON object with anything else.
    pub extensions_json: RString,
}
