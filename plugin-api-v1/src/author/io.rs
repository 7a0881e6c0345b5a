//! Sinks through which streams and TTS hand data back to the host.

use abi_stable::std_types::{RSlice, RStr};

use crate::{
    abi::{AudioSinkMut, EventSinkMut, FrameSinkMut},
    types::{StreamEvent, WsFrame},
};

/// Where [`crate::MediaStream::on_frame`] puts what it decoded.
pub struct Events<'a> {
    sink: EventSinkMut<'a>,
}

impl<'a> Events<'a> {
    pub(crate) fn new(sink: EventSinkMut<'a>) -> Self {
        Self { sink }
    }

    /// Hands decoded PCM to the host. The slice is copied by the host, so a
    /// plugin can reuse its decode buffer for every frame.
    pub fn audio(&mut self, pcm: &[i16], sample_rate: u32, timestamp_ms: u64) {
        self.sink
            .audio(RSlice::from_slice(pcm), sample_rate, timestamp_ms);
    }

    /// Reports a non-audio event.
    pub fn event(&mut self, event: StreamEvent) {
        self.sink.event(event);
    }

    /// Sends a text frame back to the peer at once.
    pub fn reply_text(&mut self, text: &str) {
        self.sink.reply(WsFrame::Text(RStr::from(text)));
    }

    /// Sends a binary frame back to the peer at once.
    pub fn reply_binary(&mut self, bytes: &[u8]) {
        self.sink.reply(WsFrame::Binary(RSlice::from_slice(bytes)));
    }
}

/// Where [`crate::MediaStream::encode`] puts the frames it produced.
pub struct Frames<'a> {
    sink: FrameSinkMut<'a>,
}

impl<'a> Frames<'a> {
    pub(crate) fn new(sink: FrameSinkMut<'a>) -> Self {
        Self { sink }
    }

    /// One text frame.
    pub fn text(&mut self, text: &str) {
        self.sink.frame(WsFrame::Text(RStr::from(text)));
    }

    /// One binary frame.
    pub fn binary(&mut self, bytes: &[u8]) {
        self.sink.frame(WsFrame::Binary(RSlice::from_slice(bytes)));
    }
}

/// Where [`crate::Tts::synthesize`] streams its audio.
pub struct AudioOut<'a> {
    sink: AudioSinkMut<'a>,
}

impl<'a> AudioOut<'a> {
    pub(crate) fn new(sink: AudioSinkMut<'a>) -> Self {
        Self { sink }
    }

    /// Emits one chunk. Returns `false` when the host no longer wants audio
    /// (the caller interrupted): stop synthesizing and return `Ok(())`.
    pub fn chunk(&mut self, pcm: &[i16]) -> bool {
        self.sink.chunk(RSlice::from_slice(pcm))
    }
}
