//! Runs a TTS plugin for one reply on the blocking pool and streams what it
//! produces back to the call's task.
//!
//! The sink never blocks the plugin: espeak-ng (like most local engines)
//! synthesizes under one process-wide lock, so a sink that waited for
//! real-time playback would hold that lock for the whole reply and stall
//! every other call's synthesis. Chunks go into an unbounded channel
//! instead; what bounds it is the reply itself, capped at
//! [`MAX_REPLY_SECONDS`] of audio.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use tokio::sync::mpsc::UnboundedSender;

use crate::plugins::{CallError, Tts};

/// Longest reply synthesized; longer text is cut (and logged).
pub const MAX_REPLY_SECONDS: u64 = 120;

/// What a synthesis job reports, tagged with its reply.
#[derive(Debug)]
pub enum SynthMsg {
    /// PCM at the TTS's rate.
    Audio { reply: u64, pcm: Vec<i16> },
    /// Segment `segment` of the reply has been synthesized completely.
    SegmentEnd { reply: u64, segment: usize },
    /// The job ended; `Ok` also when it stopped because it was cancelled.
    Done {
        reply: u64,
        result: Result<(), CallError>,
    },
}

/// One reply to synthesize.
pub struct SynthJob {
    /// The TTS instance.
    pub tts: Arc<Tts>,
    /// Which reply (the speaker ignores messages of replies it dropped).
    pub reply: u64,
    /// Sentences, synthesized in order.
    pub segments: Vec<String>,
    /// The call.
    pub session_id: String,
    /// Set when the caller interrupted: the sink tells the plugin to stop.
    pub cancel: Arc<AtomicBool>,
    /// The call's task.
    pub tx: UnboundedSender<SynthMsg>,
}

/// Hands chunks to the call's task; the plugin calls it for each chunk.
struct ChunkSink<'a> {
    job: &'a SynthJob,
    samples: u64,
    max_samples: u64,
    truncated: bool,
}

impl ChunkSink<'_> {
    fn chunk(&mut self, pcm: &[i16]) -> bool {
        if self.job.cancel.load(Ordering::Relaxed) {
            return false;
        }
        if self.samples + pcm.len() as u64 > self.max_samples {
            self.truncated = true;
            return false;
        }
        self.samples += pcm.len() as u64;
        self.job
            .tx
            .send(SynthMsg::Audio {
                reply: self.job.reply,
                pcm: pcm.to_vec(),
            })
            // The call ended: no one wants the rest.
            .is_ok()
    }
}

impl SynthJob {
    /// Starts the job on the blocking pool.
    pub fn spawn(self) {
        tokio::task::spawn_blocking(move || self.run());
    }

    fn run(self) {
        let rate = u64::from(self.tts.info.sample_rate.max(1));
        let mut sink = ChunkSink {
            job: &self,
            samples: 0,
            max_samples: MAX_REPLY_SECONDS * rate,
            truncated: false,
        };
        let mut result = Ok(());
        for (segment, text) in self.segments.iter().enumerate() {
            if self.cancel.load(Ordering::Relaxed) || sink.truncated {
                break;
            }
            if let Err(error) = self
                .tts
                .synthesize(text, &self.session_id, &mut |pcm| sink.chunk(pcm))
            {
                result = Err(error);
                break;
            }
            if !sink.truncated {
                let _ = self.tx.send(SynthMsg::SegmentEnd {
                    reply: self.reply,
                    segment,
                });
            }
        }
        if sink.truncated {
            tracing::warn!(
                session_id = %self.session_id,
                tts = %self.tts.id,
                max_seconds = MAX_REPLY_SECONDS,
                "Reply is longer than the speaker plays; the rest was cut."
            );
        }
        let _ = self.tx.send(SynthMsg::Done {
            reply: self.reply,
            result,
        });
    }
}
