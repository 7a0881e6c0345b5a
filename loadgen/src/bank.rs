//! Media messages built once, before the first call, and shared by every
//! caller: sending one is a reference-count increment, so a thousand
//! streams cost no allocation and no JSON or base64 work per frame.
//!
//! Frame `k` of a track carries `timestamp = 20·k` ms, `chunk = k + 1` and
//! the clip's frame `k mod len`, so a caller that starts at an offset into
//! the track still sends a steady 20 ms clock (Twilio's timestamps only
//! have to grow by 20 ms per frame). Every caller's frames name the same
//! `streamSid`, which its `start` message announces; that is the one
//! departure from real Twilio traffic, and it changes neither the size nor
//! the parsing of a frame.

use base64::Engine as _;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::{clip::FRAME_SAMPLES, twilio};

/// The `streamSid` every load stream uses.
pub fn stream_sid() -> String {
    twilio::sid("MZ", 0x10AD)
}

/// One looped clip, as ready-to-send `media` messages.
#[derive(Debug)]
pub struct Track {
    frames: Vec<Utf8Bytes>,
    clip_frames: usize,
    bytes: usize,
}

impl Track {
    /// `total` frames of `clip` (µ-law, a whole number of frames), looped.
    pub fn build(clip: &[u8], stream_sid: &str, total: usize) -> Self {
        let payloads: Vec<String> = clip
            .chunks(FRAME_SAMPLES)
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
            .collect();
        let clip_frames = payloads.len().max(1);
        let mut bytes = 0;
        let frames = (0..total)
            .map(|k| {
                let payload = payloads.get(k % clip_frames).map_or("", String::as_str);
                let k = k as u64;
                let text = twilio::media(k + 2, stream_sid, k + 1, 20 * k, payload);
                bytes += text.len();
                Utf8Bytes::from(text)
            })
            .collect();
        Self {
            frames,
            clip_frames,
            bytes,
        }
    }

    /// Frame `k`, or `None` past the end.
    pub fn frame(&self, k: usize) -> Option<&Utf8Bytes> {
        self.frames.get(k)
    }

    /// Frames in one pass of the clip.
    pub fn clip_frames(&self) -> usize {
        self.clip_frames
    }

    /// Frames built.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame was built.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Memory the messages take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The tracks of one run.
#[derive(Debug)]
pub struct Bank {
    /// The spoken clip, looped.
    pub speech: Track,
    /// Silence.
    pub silence: Track,
    /// The `streamSid` the frames name.
    pub stream_sid: String,
}

impl Bank {
    /// Builds both tracks, long enough for a caller that starts at any
    /// offset into the speech clip and streams `frames_per_call` frames.
    pub fn build(speech_clip: &[u8], silence_clip: &[u8], frames_per_call: usize) -> Self {
        let stream_sid = stream_sid();
        let clip_frames = speech_clip.len().div_ceil(FRAME_SAMPLES).max(1);
        let speech = Track::build(speech_clip, &stream_sid, frames_per_call + clip_frames);
        let silence = Track::build(silence_clip, &stream_sid, frames_per_call + clip_frames);
        Self {
            speech,
            silence,
            stream_sid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_a_20_ms_clock_and_loop_the_clip() {
        let clip: Vec<u8> = (0..3 * FRAME_SAMPLES)
            .map(|i| (i / FRAME_SAMPLES) as u8)
            .collect();
        let track = Track::build(&clip, "MZ1", 7);
        assert_eq!(track.len(), 7);
        assert_eq!(track.clip_frames(), 3);
        let f: serde_json::Value = serde_json::from_str(track.frame(4).unwrap().as_str()).unwrap();
        assert_eq!(f["media"]["timestamp"], "80");
        assert_eq!(f["media"]["chunk"], "5");
        assert_eq!(f["sequenceNumber"], "6");
        let payload = base64::engine::general_purpose::STANDARD
            .decode(f["media"]["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(payload, vec![1u8; FRAME_SAMPLES]);
        assert!(track.frame(7).is_none());
    }
}
