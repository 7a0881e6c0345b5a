//! Generation 2 (`voicegate-plugin-api` 2.x, root module
//! `voicegate_plugin_v2`): loading, and adapters from its FFI objects to
//! the host's plugin traits.

mod convert;
mod services;

use std::sync::Arc;

use voicegate_plugin_api::{
    abi::{
        self, AnswerSinkFfi_TO, AudioSinkFfi_TO, EventSinkFfi_TO, FrameSinkFfi_TO,
        HostServicesFfi_TO, HypothesisSinkFfi_TO, MediaStreamBox, PluginRoot_Ref, PolicyBox,
        ResponderBox, SttBox, SttSessionBox, TransportBox, TtsBox,
    },
    abi_stable::{
        library::LibHeader,
        sabi_trait::TD_Opaque,
        sabi_types::RMut,
        std_types::{RArc, ROption, RSlice, RStr},
    },
    InstanceConfig, OutboundAction, PluginKind, SttSessionOpen, TtsRequest, WsFrame,
};

use self::{
    convert::{result, BorrowedRequest},
    services::{Answers, Chunks, Collect, Encoded, Partials, Services},
};
use super::{
    api::{
        AnswerSink, MediaStreamApi, PartialSink, PolicyApi, ResponderApi, SttApi, SttSessionApi,
        TransportApi, TtsApi,
    },
    host_services::Owner,
    instances::Kind,
    loader::{Created, InstanceSpec, LibraryInfo},
};
use crate::model::{
    CallInfo, Decision, Decoded, Failure, Frame, OutFrame, Outbound, StreamOpen, SttInfo,
    Transcript, TransportInfo, TtsInfo, Turn, Verdict, WebRequest, WebResponse, WebhookOutcome,
};

/// The root module's name this generation's libraries export.
pub const ROOT_MODULE_NAME: &str = abi::ROOT_MODULE_NAME;

/// The plugin-api version this host was built with, for messages.
pub const API_VERSION: &str = voicegate_plugin_api::API_VERSION;

/// A checked generation-2 library.
#[derive(Clone, Copy)]
pub struct Root(PluginRoot_Ref);

fn kinds(set: voicegate_plugin_api::KindSet) -> Vec<Kind> {
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

/// Checks `header` as a generation-2 library and reads its metadata.
pub fn open(header: &'static LibHeader) -> Result<(Root, LibraryInfo), abi::compat::CheckError> {
    let root = abi::compat::check(header)?;
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

fn services(owner: Owner, counters: Arc<super::host_services::Counters>) -> abi::HostServicesBox {
    HostServicesFfi_TO::from_ptr(RArc::new(Services { owner, counters }), TD_Opaque)
}

impl Root {
    /// Hands the library its library-wide services (logs outside any
    /// instance). Called once, before any instance.
    pub fn init(
        &self,
        plugin: &str,
        counters: Arc<super::host_services::Counters>,
    ) -> Result<(), Failure> {
        let owner = Owner {
            plugin: plugin.to_owned(),
            instance: String::new(),
        };
        result((self.0.init())(services(owner, counters)))
    }

    /// Creates one instance of `kind`.
    pub fn instantiate(&self, kind: Kind, spec: &InstanceSpec) -> Result<Created, Failure> {
        let cfg = InstanceConfig {
            instance: spec.instance.as_str().into(),
            config_json: spec.config_json.as_str().into(),
            public_url: spec.public_url.as_str().into(),
            extensions_json: spec.extensions_json.as_str().into(),
        };
        let host = services(spec.owner.clone(), spec.counters.clone());
        let r = &self.0;
        Ok(match kind {
            Kind::Transport => Created::Transport(Box::new(V2Transport(result((r
                .new_transport())(
                cfg, host
            ))?))),
            Kind::Stt => {
                let stt = result((r.new_stt())(cfg, host))?;
                let rate = result(stt.describe())?.sample_rate;
                Created::Stt(Box::new(V2Stt { stt, rate }))
            }
            Kind::Policy => {
                Created::Policy(Box::new(V2Policy(result((r.new_policy())(cfg, host))?)))
            }
            Kind::Tts => Created::Tts(Box::new(V2Tts(result((r.new_tts())(cfg, host))?))),
            Kind::Responder => Created::Responder(Box::new(V2Responder(result((r
                .new_responder())(
                cfg, host
            ))?))),
        })
    }
}

struct V2Transport(TransportBox);

impl TransportApi for V2Transport {
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
        let ffi = voicegate_plugin_api::StreamOpen {
            request: req.ffi(),
            session_id: RStr::from(open.session_id),
            call: match &call {
                Some(c) => ROption::RSome(c),
                None => ROption::RNone,
            },
        };
        let stream = result(self.0.open_stream(&ffi))?;
        Ok(Box::new(V2Stream(stream)))
    }
}

struct V2Stream(MediaStreamBox);

impl MediaStreamApi for V2Stream {
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
            Outbound::Event(json) => OutboundAction::Event(RStr::from(json)),
        };
        let mut encoded = Encoded(out);
        let sink = FrameSinkFfi_TO::from_ptr(RMut::new(&mut encoded), TD_Opaque);
        result(self.0.encode(&action, sink))
    }
}

struct V2Stt {
    stt: SttBox,
    /// The rate sessions are opened with.
    rate: u32,
}

impl SttApi for V2Stt {
    fn describe(&self) -> Result<SttInfo, Failure> {
        result(self.stt.describe()).map(|i| convert::stt_info(&i))
    }

    fn open_session(
        &self,
        session_id: &str,
        partials: Arc<dyn PartialSink>,
    ) -> Result<Box<dyn SttSessionApi>, Failure> {
        let open = SttSessionOpen {
            session_id: RStr::from(session_id),
            language: RStr::from(""),
            sample_rate: self.rate,
            extensions_json: RStr::from(""),
        };
        let sink = HypothesisSinkFfi_TO::from_ptr(RArc::new(Partials(partials)), TD_Opaque);
        let session = result(self.stt.open_session(&open, sink))?;
        Ok(Box::new(V2Session(session)))
    }
}

struct V2Session(SttSessionBox);

impl SttSessionApi for V2Session {
    fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), Failure> {
        result(self.0.push(utterance, RSlice::from_slice(pcm)))
    }

    fn finish(&self, utterance: u64) -> Result<Transcript, Failure> {
        result(self.0.finish(utterance)).map(convert::transcript)
    }

    fn cancel(&self, utterance: u64) {
        self.0.cancel(utterance);
    }
}

struct V2Policy(PolicyBox);

impl PolicyApi for V2Policy {
    fn evaluate(&self, call: &CallInfo) -> Result<Verdict, Failure> {
        result(self.0.evaluate(&convert::call_request(call))).map(|v| convert::verdict(&v))
    }
}

struct V2Tts(TtsBox);

impl TtsApi for V2Tts {
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

struct V2Responder(ResponderBox);

impl ResponderApi for V2Responder {
    fn respond(&self, turn: &Turn, sink: &mut dyn AnswerSink) -> Result<(), Failure> {
        let turn = convert::turn(turn);
        let mut answers = Answers(sink);
        let sink = AnswerSinkFfi_TO::from_ptr(RMut::new(&mut answers), TD_Opaque);
        result(self.0.respond(&turn, sink))
    }
}
