//! Generation 1 (`voicegate-plugin-api` 1.x, root module
//! `voicegate_plugin_v1`), frozen: loading, and adapters that make its
//! plugins look like any other to the host. What generation 1 cannot say
//! is filled in here: its responders answer in one piece (one text part),
//! its STT engines take whole utterances (the session buffers them), and
//! its call-ext event convention carries the call's events.

mod convert;
mod services;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use voicegate_plugin_api_v1::{
    abi::{
        AudioSinkFfi_TO, EventSinkFfi_TO, FrameSinkFfi_TO, HostServicesFfi_TO, MediaStreamBox,
        PluginRoot_Ref, PolicyBox, ResponderBox, SttBox, TransportBox, TtsBox,
        ROOT_MODULE_NAME as V1_ROOT,
    },
    abi_stable::{
        library::{LibHeader, LibraryError},
        sabi_trait::TD_Opaque,
        sabi_types::RMut,
        std_types::{RArc, ROption, RSlice, RStr},
    },
    InstanceConfig, OutboundAction, PluginKind, SttRequest, TtsRequest, WsFrame,
};

use self::{
    convert::{result, BorrowedRequest},
    services::{Chunks, Collect, Encoded, Services},
};
use super::{
    api::{
        AnswerSink, MediaStreamApi, PartialSink, PolicyApi, ResponderApi, SttApi, SttSessionApi,
        TransportApi, TtsApi,
    },
    host_services::Counters,
    instances::Kind,
    loader::{Created, InstanceSpec, LibraryInfo},
};
use crate::model::{
    CallInfo, Decision, Decoded, Failure, FailureKind, Frame, OutFrame, Outbound, StreamOpen,
    SttInfo, Transcript, TransportInfo, TtsInfo, Turn, Verdict, WebRequest, WebResponse,
    WebhookOutcome,
};

/// The root module's name this generation's libraries export.
pub const ROOT_MODULE_NAME: &str = V1_ROOT;

/// The frozen plugin-api version this host carries, for messages.
pub const API_VERSION: &str = voicegate_plugin_api_v1::API_VERSION;

/// A checked generation-1 library.
#[derive(Clone, Copy)]
pub struct Root(PluginRoot_Ref);

fn kinds(set: voicegate_plugin_api_v1::KindSet) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for (bit, kind) in [
        (PluginKind::TRANSPORT, Kind::Transport),
        (PluginKind::STT, Kind::Stt),
        (PluginKind::POLICY, Kind::Policy),
        (PluginKind::TTS, Kind::Tts),
        (PluginKind::RESPONDER, Kind::Responder),
    ] {
        if set.contains(bit) {
            kinds.push(kind);
        }
    }
    kinds
}

/// Checks `header` as a generation-1 library (abi_stable's own check: the
/// generation is frozen, so host and plugin layouts are equal) and reads its
/// metadata.
pub fn open(header: &'static LibHeader) -> Result<(Root, LibraryInfo), LibraryError> {
    let root = header.init_root_module::<PluginRoot_Ref>()?;
    let info = (root.info())();
    Ok((
        Root(root),
        LibraryInfo {
            name: info.name.into_string(),
            version: info.version.into_string(),
            description: info.description.into_string(),
            api_version: info.api_version.into_string(),
            interface_version: info.interface_version,
            kinds: kinds(info.kinds),
            panic_unwind: info.panic_unwind,
        },
    ))
}

impl Root {
    /// Creates one instance of `kind`.
    pub fn instantiate(&self, kind: Kind, spec: &InstanceSpec) -> Result<Created, Failure> {
        let cfg = InstanceConfig {
            instance: spec.instance.as_str().into(),
            config_json: spec.config_json.as_str().into(),
            public_url: spec.public_url.as_str().into(),
            extensions_json: spec.extensions_json.as_str().into(),
        };
        let host = HostServicesFfi_TO::from_ptr(
            RArc::new(Services {
                owner: spec.owner.clone(),
                counters: Arc::<Counters>::clone(&spec.counters),
            }),
            TD_Opaque,
        );
        let r = &self.0;
        Ok(match kind {
            Kind::Transport => Created::Transport(Box::new(V1Transport(result((r
                .new_transport())(
                cfg, host
            ))?))),
            Kind::Stt => Created::Stt(Box::new(V1Stt(Arc::new(result((r.new_stt())(cfg, host))?)))),
            Kind::Policy => {
                Created::Policy(Box::new(V1Policy(result((r.new_policy())(cfg, host))?)))
            }
            Kind::Tts => Created::Tts(Box::new(V1Tts(result((r.new_tts())(cfg, host))?))),
            Kind::Responder => Created::Responder(Box::new(V1Responder(result((r
                .new_responder())(
                cfg, host
            ))?))),
        })
    }
}

struct V1Transport(TransportBox);

impl TransportApi for V1Transport {
    fn describe(&self) -> Result<TransportInfo, Failure> {
        result(self.0.describe()).map(|i| convert::transport_info(&i))
    }

    fn handle_http(&self, req: &WebRequest) -> Result<WebhookOutcome, Failure> {
        let req = BorrowedRequest::new(req);
        result(self.0.handle_http(&req.ffi())).map(convert::outcome)
    }

    fn answer_call(&self, call: &CallInfo, decision: &Decision) -> Result<WebResponse, Failure> {
        result(
            self.0
                .answer_call(&convert::call_request(call), &convert::decision(decision)),
        )
        .map(convert::response)
    }

    fn open_stream(&self, open: &StreamOpen<'_>) -> Result<Box<dyn MediaStreamApi>, Failure> {
        let req = BorrowedRequest::new(open.request);
        let call = open.call.map(convert::call_request);
        let ffi = voicegate_plugin_api_v1::StreamOpen {
            request: req.ffi(),
            session_id: RStr::from(open.session_id),
            call: match &call {
                Some(c) => ROption::RSome(c),
                None => ROption::RNone,
            },
        };
        let stream = result(self.0.open_stream(&ffi))?;
        Ok(Box::new(V1Stream(stream)))
    }
}

struct V1Stream(MediaStreamBox);

impl MediaStreamApi for V1Stream {
    fn on_frame(&mut self, frame: Frame<'_>, out: &mut Decoded) -> Result<(), Failure> {
        let frame = match frame {
            Frame::Text(t) => WsFrame::Text(RStr::from(t)),
            Frame::Binary(b) => WsFrame::Binary(RSlice::from_slice(b)),
        };
        let mut collect = Collect(out);
        let sink = EventSinkFfi_TO::from_ptr(RMut::new(&mut collect), TD_Opaque);
        result(self.0.on_frame(frame, sink))
    }

    fn encode(&mut self, action: &Outbound<'_>, out: &mut Vec<OutFrame>) -> Result<(), Failure> {
        let action = match *action {
            Outbound::Audio(pcm) => OutboundAction::Audio(RSlice::from_slice(pcm)),
            Outbound::Mark(name) => OutboundAction::Mark(RStr::from(name)),
            Outbound::Clear => OutboundAction::Clear,
            Outbound::Hangup(reason) => OutboundAction::Hangup(RStr::from(reason)),
            // Generation 1's convention for `Capabilities::EVENTS`.
            Outbound::Event(json) => OutboundAction::Other(RStr::from("event"), RStr::from(json)),
        };
        let mut encoded = Encoded(out);
        let sink = FrameSinkFfi_TO::from_ptr(RMut::new(&mut encoded), TD_Opaque);
        result(self.0.encode(&action, sink))
    }
}

struct V1Stt(Arc<SttBox>);

impl SttApi for V1Stt {
    fn describe(&self) -> Result<SttInfo, Failure> {
        result(self.0.describe()).map(|i| convert::stt_info(&i))
    }

    fn open_session(
        &self,
        session_id: &str,
        _partials: Arc<dyn PartialSink>,
    ) -> Result<Box<dyn SttSessionApi>, Failure> {
        result(self.0.prepare_call(RStr::from(session_id)))?;
        let rate = result(self.0.describe())?.sample_rate;
        Ok(Box::new(V1Session {
            stt: self.0.clone(),
            session_id: session_id.to_owned(),
            rate,
            pending: Mutex::default(),
        }))
    }
}

/// One utterance of a generation-1 session: its audio, and whether the
/// host abandoned it (generation 1 cannot stop a transcription; its result
/// is dropped instead).
#[derive(Default)]
struct Pending {
    pcm: Vec<i16>,
    cancelled: bool,
}

/// A session over a whole-utterance generation-1 engine.
struct V1Session {
    stt: Arc<SttBox>,
    session_id: String,
    rate: u32,
    pending: Mutex<HashMap<u64, Pending>>,
}

impl V1Session {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SttSessionApi for V1Session {
    fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), Failure> {
        self.pending()
            .entry(utterance)
            .or_default()
            .pcm
            .extend_from_slice(pcm);
        Ok(())
    }

    fn finish(&self, utterance: u64) -> Result<Transcript, Failure> {
        let pcm = {
            let mut pending = self.pending();
            let entry = pending.entry(utterance).or_default();
            std::mem::take(&mut entry.pcm)
        };
        let req = SttRequest {
            pcm: RSlice::from_slice(&pcm),
            sample_rate: self.rate,
            session_id: RStr::from(self.session_id.as_str()),
            language: RStr::from(""),
            extensions_json: RStr::from(""),
        };
        let transcript = result(self.stt.transcribe(&req)).map(convert::transcript);
        let cancelled = self
            .pending()
            .remove(&utterance)
            .is_some_and(|p| p.cancelled);
        if cancelled {
            return Err(Failure::new(
                FailureKind::Cancelled,
                format!("utterance {utterance} was cancelled"),
            ));
        }
        transcript
    }

    fn cancel(&self, utterance: u64) {
        if let Some(p) = self.pending().get_mut(&utterance) {
            p.pcm = Vec::new();
            p.cancelled = true;
        }
    }
}

impl Drop for V1Session {
    fn drop(&mut self) {
        if let Err(error) = result(self.stt.end_call(RStr::from(self.session_id.as_str()))) {
            tracing::debug!(session_id = %self.session_id, %error, "STT end_call failed.");
        }
    }
}

struct V1Policy(PolicyBox);

impl PolicyApi for V1Policy {
    fn evaluate(&self, call: &CallInfo) -> Result<Verdict, Failure> {
        result(self.0.evaluate(&convert::call_request(call))).map(|v| convert::verdict(&v))
    }
}

struct V1Tts(TtsBox);

impl TtsApi for V1Tts {
    fn describe(&self) -> Result<TtsInfo, Failure> {
        result(self.0.describe()).map(|i| convert::tts_info(&i))
    }

    fn synthesize(
        &self,
        text: &str,
        session_id: &str,
        sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), Failure> {
        let req = TtsRequest {
            text: RStr::from(text),
            session_id: RStr::from(session_id),
            voice: RStr::from(""),
            extensions_json: RStr::from(""),
        };
        let mut chunks = Chunks(sink);
        let sink = AudioSinkFfi_TO::from_ptr(RMut::new(&mut chunks), TD_Opaque);
        result(self.0.synthesize(&req, sink))
    }
}

struct V1Responder(ResponderBox);

impl ResponderApi for V1Responder {
    fn respond(&self, turn: &Turn, sink: &mut dyn AnswerSink) -> Result<(), Failure> {
        // One answer, in one piece: the stream of a generation-1 responder.
        let answer = result(self.0.respond(&convert::turn(turn)))?;
        for part in convert::answer_parts(answer) {
            if !sink.part(part) {
                break;
            }
        }
        Ok(())
    }
}
