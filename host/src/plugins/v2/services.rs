//! What the host implements for generation-2 plugins: its services and
//! the sinks plugins write into. Each method runs under
//! [`guard_callback`], so a bug here cannot unwind into the plugin.

use std::sync::Arc;

use voicegate_plugin_api::{
    abi::{
        AnswerSinkFfi, AudioSinkFfi, EventSinkFfi, FrameSinkFfi, HostServicesFfi, HypothesisSinkFfi,
    },
    abi_stable::std_types::{RResult, RSlice, RStr, RString},
    Action, Hypothesis, LogLevel, LogRecord, PluginError, StreamEvent, WsFrame,
};

use super::convert;
use crate::{
    model::{self, AnswerPart, Decoded, OutFrame},
    plugins::{
        api::{AnswerSink, PartialSink},
        host_services::{self, guard_callback, Counters, Owner, PluginLevel},
    },
};

/// The services of one instance (or, with an empty instance, a library).
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

    fn log(&self, record: &LogRecord<'_>) {
        guard_callback("log", (), || {
            host_services::emit_log(
                &self.owner,
                PluginLevel::from_code(record.level.0),
                record.target.as_str(),
                record.message.as_str(),
                record.session_id.as_str(),
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

/// Hands a streamed answer to the host's pipeline.
pub(super) struct Answers<'a>(pub(super) &'a mut dyn AnswerSink);

impl AnswerSinkFfi for Answers<'_> {
    fn text(&mut self, delta: RStr<'_>) -> bool {
        guard_callback("text", false, || {
            self.0.part(AnswerPart::Text(delta.as_str().to_owned()))
        })
    }

    fn action(&mut self, action: &Action) -> bool {
        guard_callback("action", false, || {
            self.0.part(AnswerPart::Action(convert::action(action)))
        })
    }

    fn degraded(&mut self, kind: RStr<'_>, message: RStr<'_>) {
        guard_callback("degraded", (), || {
            self.0.part(AnswerPart::Degraded {
                kind: kind.as_str().to_owned(),
                message: message.as_str().to_owned(),
            });
        })
    }

    fn is_stopped(&self) -> bool {
        guard_callback("is_stopped", true, || self.0.stopped())
    }
}

/// Hands interim hypotheses to the call's pipeline, from any thread.
pub(super) struct Partials(pub(super) Arc<dyn PartialSink>);

impl HypothesisSinkFfi for Partials {
    fn partial(&self, h: &Hypothesis<'_>) {
        guard_callback("partial", (), || {
            self.0.partial(model::Hypothesis {
                utterance: h.utterance,
                text: h.text.as_str().to_owned(),
                stable: h.stable.as_str().to_owned(),
            })
        })
    }
}
