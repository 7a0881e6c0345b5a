//! What the host implements for generation-1 plugins: its services and the
//! sinks plugins write into. Each method runs under [`guard_callback`], so
//! a bug here cannot unwind into the plugin.

use std::sync::Arc;

use voicegate_plugin_api_v1::{
    abi::{AudioSinkFfi, EventSinkFfi, FrameSinkFfi, HostServicesFfi},
    abi_stable::std_types::{RResult, RSlice, RStr, RString},
    LogLevel, PluginError, StreamEvent, WsFrame,
};

use super::convert;
use crate::{
    model::{Decoded, OutFrame},
    plugins::host_services::{self, guard_callback, Counters, Owner, PluginLevel},
};

/// The services of one instance.
pub(super) struct Services {
    pub(super) owner: Owner,
    pub(super) counters: Arc<Counters>,
}

impl HostServicesFfi for Services {
    fn now_unix_ms(&self) -> u64 {
        guard_callback("now_unix_ms", 0, host_services::now_unix_ms)
    }

    fn max_log_level(&self) -> LogLevel {
        guard_callback("max_log_level", LogLevel::ERROR, || {
            LogLevel(host_services::max_level().code())
        })
    }

    // Generation 1's bridge sends every record of a library through its
    // first instance's services; the host's call scope names the right
    // instance and call (see `plugins::scope`).
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        guard_callback("log", (), || {
            host_services::emit_log(
                &self.owner,
                PluginLevel::from_code(level.0),
                target.as_str(),
                message.as_str(),
                "",
            )
        })
    }

    fn counter_hit(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        guard_callback(
            "counter_hit",
            RResult::RErr(PluginError::internal("counter failed")),
            || {
                RResult::ROk(self.counters.hit(
                    key.as_str(),
                    window_ms,
                    host_services::now_unix_ms(),
                    true,
                ))
            },
        )
    }

    fn counter_get(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        guard_callback(
            "counter_get",
            RResult::RErr(PluginError::internal("counter failed")),
            || {
                RResult::ROk(self.counters.hit(
                    key.as_str(),
                    window_ms,
                    host_services::now_unix_ms(),
                    false,
                ))
            },
        )
    }

    fn call_ext(&self, op: RStr<'_>, _payload: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported(format!(
            "this host has no extension `{op}`"
        )))
    }
}

fn out_frame(frame: WsFrame<'_>) -> OutFrame {
    match frame {
        WsFrame::Text(t) => OutFrame::Text(t.as_str().to_owned()),
        WsFrame::Binary(b) => OutFrame::Binary(b.as_slice().to_vec()),
    }
}

/// Collects what a stream decodes from one frame.
pub(super) struct Collect<'a>(pub(super) &'a mut Decoded);

impl EventSinkFfi for Collect<'_> {
    fn audio(&mut self, pcm: RSlice<'_, i16>, sample_rate: u32, timestamp_ms: u64) {
        guard_callback("audio", (), || {
            self.0.push_audio(pcm.as_slice(), sample_rate, timestamp_ms)
        })
    }

    fn event(&mut self, event: StreamEvent) {
        guard_callback("event", (), || {
            self.0.events.push(convert::stream_event(event))
        })
    }

    fn reply(&mut self, frame: WsFrame<'_>) {
        guard_callback("reply", (), || self.0.replies.push(out_frame(frame)))
    }
}

/// Appends encoded frames to the connection's queue.
pub(super) struct Encoded<'a>(pub(super) &'a mut Vec<OutFrame>);

impl FrameSinkFfi for Encoded<'_> {
    fn frame(&mut self, frame: WsFrame<'_>) {
        guard_callback("frame", (), || self.0.push(out_frame(frame)))
    }
}

/// Hands synthesized chunks to the host's speaker.
pub(super) struct Chunks<'a>(pub(super) &'a mut dyn FnMut(&[i16]) -> bool);

impl AudioSinkFfi for Chunks<'_> {
    fn chunk(&mut self, pcm: RSlice<'_, i16>) -> bool {
        guard_callback("chunk", false, || (self.0)(pcm.as_slice()))
    }
}
