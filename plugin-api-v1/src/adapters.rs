//! Plugin-side glue between the author traits and the ABI, used by
//! [`crate::export_plugin!`]. Not meant to be called by hand.

use std::marker::PhantomData;

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};

use crate::{
    abi::{
        EventSinkMut, FrameSinkMut, HostServicesBox, MediaStreamBox, MediaStreamFfi,
        MediaStreamFfi_TO, PluginRoot, PluginRoot_Ref, PolicyBox, PolicyFfi, PolicyFfi_TO,
        ResponderBox, ResponderFfi, ResponderFfi_TO, SttBox, SttFfi, SttFfi_TO, TransportBox,
        TransportFfi, TransportFfi_TO, TtsBox, TtsFfi, TtsFfi_TO,
    },
    author::{AudioOut, Context, Events, Frames, Host},
    bridge,
    guard::guard,
    types::{
        Answer, CallDecision, CallRequest, ErrorKind, HttpOutcome, HttpRequest, HttpResponse,
        InstanceConfig, KindSet, OutboundAction, PluginError, PluginInfo, StreamOpen, SttInfo,
        SttRequest, Transcript, TransportInfo, TtsInfo, TtsRequest, Turn, Verdict, WsFrame,
    },
    MediaStream, Policy, Responder, Stt, Transport, Tts, API_VERSION, INTERFACE_VERSION,
};

/// Compile-time facts about a plugin library, filled in by the macro.
pub trait PluginMeta: 'static {
    /// Library name (`CARGO_CRATE_NAME`).
    const NAME: &'static str;
    /// Plugin version (`CARGO_PKG_VERSION`).
    const VERSION: &'static str;
    /// One line (`CARGO_PKG_DESCRIPTION`).
    const DESCRIPTION: &'static str;
    /// `cfg!(panic = "unwind")` as seen when the plugin was compiled.
    const PANIC_UNWIND: bool;
    /// Kinds provided.
    const KINDS: KindSet;
}

extern "C" fn plugin_info<M: PluginMeta>() -> PluginInfo {
    PluginInfo {
        name: M::NAME.into(),
        version: M::VERSION.into(),
        description: M::DESCRIPTION.into(),
        api_version: API_VERSION.into(),
        interface_version: INTERFACE_VERSION,
        kinds: M::KINDS,
        panic_unwind: M::PANIC_UNWIND,
        extensions_json: RString::new(),
    }
}

fn context(cfg: InstanceConfig, host: &HostServicesBox) -> Context {
    Context::new(
        cfg.instance.into_string(),
        cfg.public_url.into_string(),
        cfg.config_json.into_string(),
        cfg.extensions_json.as_str(),
        Host::new(crate::abi::clone_host(host)),
    )
}

fn not_provided<T>(kind: &str) -> RResult<T, PluginError> {
    RResult::RErr(PluginError::new(
        ErrorKind::UNSUPPORTED,
        format!("this plugin does not provide the `{kind}` kind"),
    ))
}

extern "C" fn no_transport(
    _: InstanceConfig,
    _: HostServicesBox,
) -> RResult<TransportBox, PluginError> {
    not_provided("transport")
}
extern "C" fn no_stt(_: InstanceConfig, _: HostServicesBox) -> RResult<SttBox, PluginError> {
    not_provided("stt")
}
extern "C" fn no_policy(_: InstanceConfig, _: HostServicesBox) -> RResult<PolicyBox, PluginError> {
    not_provided("policy")
}
extern "C" fn no_tts(_: InstanceConfig, _: HostServicesBox) -> RResult<TtsBox, PluginError> {
    not_provided("tts")
}
extern "C" fn no_responder(
    _: InstanceConfig,
    _: HostServicesBox,
) -> RResult<ResponderBox, PluginError> {
    not_provided("responder")
}
extern "C" fn no_call_ext(op: RStr<'_>, _: RStr<'_>) -> RResult<RString, PluginError> {
    RResult::RErr(PluginError::unsupported(format!(
        "library extension operation `{op}` is not supported"
    )))
}

/// Assembles the root module; the macro calls one method per kind.
pub struct RootBuilder<M> {
    root: PluginRoot,
    _meta: PhantomData<M>,
}

impl<M: PluginMeta> Default for RootBuilder<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: PluginMeta> RootBuilder<M> {
    /// A root module that provides nothing yet.
    pub fn new() -> Self {
        Self {
            root: PluginRoot {
                info: plugin_info::<M>,
                new_transport: no_transport,
                new_stt: no_stt,
                new_policy: no_policy,
                new_tts: no_tts,
                new_responder: no_responder,
                call_ext: no_call_ext,
            },
            _meta: PhantomData,
        }
    }

    /// Provides a transport.
    pub fn transport<T: Transport>(mut self) -> Self {
        self.root.new_transport = new_transport::<T>;
        self
    }

    /// Provides an STT engine.
    pub fn stt<T: Stt>(mut self) -> Self {
        self.root.new_stt = new_stt::<T>;
        self
    }

    /// Provides a policy.
    pub fn policy<T: Policy>(mut self) -> Self {
        self.root.new_policy = new_policy::<T>;
        self
    }

    /// Provides a TTS engine.
    pub fn tts<T: Tts>(mut self) -> Self {
        self.root.new_tts = new_tts::<T>;
        self
    }

    /// Provides a responder.
    pub fn responder<T: Responder>(mut self) -> Self {
        self.root.new_responder = new_responder::<T>;
        self
    }

    /// Leaks the module into the `'static` form the loader hands the host.
    pub fn build(self) -> PluginRoot_Ref {
        self.root.leak_into_prefix()
    }
}

extern "C" fn new_transport<T: Transport>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<TransportBox, PluginError> {
    bridge::install(&host);
    guard("transport constructor", || {
        let inner = T::new(context(cfg, &host))?;
        Ok(TransportFfi_TO::from_value(
            TransportAdapter(inner),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_stt<T: Stt>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<SttBox, PluginError> {
    bridge::install(&host);
    guard("stt constructor", || {
        let inner = T::new(context(cfg, &host))?;
        Ok(SttFfi_TO::from_value(SttAdapter(inner), TD_Opaque))
    })
}

extern "C" fn new_policy<T: Policy>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<PolicyBox, PluginError> {
    bridge::install(&host);
    guard("policy constructor", || {
        let inner = T::new(context(cfg, &host))?;
        Ok(PolicyFfi_TO::from_value(PolicyAdapter(inner), TD_Opaque))
    })
}

extern "C" fn new_tts<T: Tts>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<TtsBox, PluginError> {
    bridge::install(&host);
    guard("tts constructor", || {
        let inner = T::new(context(cfg, &host))?;
        Ok(TtsFfi_TO::from_value(TtsAdapter(inner), TD_Opaque))
    })
}

extern "C" fn new_responder<T: Responder>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<ResponderBox, PluginError> {
    bridge::install(&host);
    guard("responder constructor", || {
        let inner = T::new(context(cfg, &host))?;
        Ok(ResponderFfi_TO::from_value(
            ResponderAdapter(inner),
            TD_Opaque,
        ))
    })
}

struct TransportAdapter<T>(T);

impl<T: Transport> TransportFfi for TransportAdapter<T> {
    fn describe(&self) -> RResult<TransportInfo, PluginError> {
        guard("describe", || self.0.describe())
    }

    fn handle_http(&self, req: &HttpRequest<'_>) -> RResult<HttpOutcome, PluginError> {
        guard("handle_http", || self.0.handle_http(req))
    }

    fn answer_call(
        &self,
        call: &CallRequest,
        decision: &CallDecision,
    ) -> RResult<HttpResponse, PluginError> {
        guard("answer_call", || self.0.answer_call(call, decision))
    }

    fn open_stream(&self, open: &StreamOpen<'_>) -> RResult<MediaStreamBox, PluginError> {
        guard("open_stream", || {
            let stream = self.0.open_stream(open)?;
            Ok(MediaStreamFfi_TO::from_value(
                StreamAdapter(stream),
                TD_Opaque,
            ))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}

struct StreamAdapter<S>(S);

impl<S: MediaStream> MediaStreamFfi for StreamAdapter<S> {
    fn on_frame(&mut self, frame: WsFrame<'_>, sink: EventSinkMut<'_>) -> RResult<(), PluginError> {
        guard("on_frame", || {
            self.0.on_frame(frame, &mut Events::new(sink))
        })
    }

    fn encode(
        &mut self,
        action: &OutboundAction<'_>,
        sink: FrameSinkMut<'_>,
    ) -> RResult<(), PluginError> {
        guard("encode", || self.0.encode(action, &mut Frames::new(sink)))
    }

    fn call_ext(&mut self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}

struct SttAdapter<T>(T);

impl<T: Stt> SttFfi for SttAdapter<T> {
    fn describe(&self) -> RResult<SttInfo, PluginError> {
        guard("describe", || self.0.describe())
    }

    fn transcribe(&self, req: &SttRequest<'_>) -> RResult<Transcript, PluginError> {
        guard("transcribe", || self.0.transcribe(req))
    }

    fn prepare_call(&self, session_id: RStr<'_>) -> RResult<(), PluginError> {
        guard("prepare_call", || self.0.prepare_call(session_id.as_str()))
    }

    fn end_call(&self, session_id: RStr<'_>) -> RResult<(), PluginError> {
        guard("end_call", || self.0.end_call(session_id.as_str()))
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}

struct PolicyAdapter<T>(T);

impl<T: Policy> PolicyFfi for PolicyAdapter<T> {
    fn evaluate(&self, call: &CallRequest) -> RResult<Verdict, PluginError> {
        guard("evaluate", || self.0.evaluate(call))
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}

struct TtsAdapter<T>(T);

impl<T: Tts> TtsFfi for TtsAdapter<T> {
    fn describe(&self) -> RResult<TtsInfo, PluginError> {
        guard("describe", || self.0.describe())
    }

    fn synthesize(
        &self,
        req: &TtsRequest<'_>,
        sink: crate::abi::AudioSinkMut<'_>,
    ) -> RResult<(), PluginError> {
        guard("synthesize", || {
            self.0.synthesize(req, &mut AudioOut::new(sink))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}

struct ResponderAdapter<T>(T);

impl<T: Responder> ResponderFfi for ResponderAdapter<T> {
    fn respond(&self, turn: &Turn) -> RResult<Answer, PluginError> {
        guard("respond", || self.0.respond(turn))
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call_ext", || {
            self.0
                .call_ext(op.as_str(), payload.as_str())
                .map(RString::from)
        })
    }
}
