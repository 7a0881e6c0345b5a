//! The per-call media path: resampling, voice activity and end of turn.
//!
//! These are the pure, synchronous building blocks the session task drives once per
//! frame; they do no I/O, never block, and allocate nothing per frame once warmed up, so
//! they can run on the reactor for a thousand calls at once (see `DESIGN.md`, "Media
//! pipeline"):
//!
//! ```text
//! carrier PCM (8 kHz) --StreamResampler--> 16 kHz --TurnDetector (Vad inside)--> Utterance --> STT
//! TTS PCM (24 kHz)    --StreamResampler--> carrier rate --> plugin encodes --> frames out
//! ```
//!
//! * [`resample`]: [`StreamResampler`], one per call direction, keeping filter state across
//!   frames so chunk boundaries do not click.
//! * [`vad`]: [`Vad`], an energy detector with an adaptive noise floor, configured by
//!   [`VadConfig`].
//! * [`turn`]: [`TurnDetector`], which frames arbitrary-length PCM, runs the VAD and emits
//!   [`TurnEvent`]s (onset, start, barge-in, [`Utterance`], discarded burst), configured by
//!   [`TurnConfig`].
//!
//! A call's caller side looks like this:
//!
//! ```
//! use voicegate::media::{StreamResampler, TurnConfig, TurnDetector, TurnEvent, VadConfig};
//!
//! let mut to_stt = StreamResampler::new(8000, 16000)?;
//! let mut turns = TurnDetector::new(&TurnConfig::default(), &VadConfig::default(), 16000)?;
//! // Reused for the whole call.
//! let (mut pcm16k, mut events) = (Vec::new(), Vec::new());
//!
//! # let frames: Vec<[i16; 160]> = vec![[0; 160]; 100];
//! for frame in &frames {
//!     pcm16k.clear();
//!     to_stt.process(frame, &mut pcm16k);
//!     events.clear();
//!     turns.push(&pcm16k, &mut events);
//!     for event in events.drain(..) {
//!         match event {
//!             TurnEvent::BargeIn { .. } => { /* stop the bot if it is talking */ }
//!             TurnEvent::Utterance(utterance) => { /* hand utterance.pcm to STT */ }
//!             _ => {}
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod resample;
pub mod turn;
pub mod vad;

pub use resample::{ResampleError, ResamplerKind, StreamResampler};
pub use turn::{TurnConfig, TurnConfigError, TurnDetector, TurnEvent, Utterance};
pub use vad::{Vad, VadConfig, VadConfigError, VadFrame};
