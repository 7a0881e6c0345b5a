//! Plugin-side glue between the author traits and the ABI, used by
//! [`crate::export_plugin!`]. Not meant to be called by hand.
//!
//! Every object handed to the host wraps the author's value in a
//! [`GuardedDrop`], so a panicking `Drop` cannot reach abi_stable's drop
//! shim (which would end the host's process).

use std::{marker::PhantomData, sync::Arc};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RString},
};

use crate::{
    abi::{
        AnswerSinkMut, EventSinkMut, FrameSinkMut, HostServicesBox, HypothesisSinkBox,
        MediaStreamBox, MediaStreamFfi, MediaStreamFfi_TO, PluginRoot, PluginRoot_Ref, PolicyBox,
        PolicyFfi, PolicyFfi_TO, ResponderBox, ResponderFfi, ResponderFfi_TO, SttBox, SttFfi,
        SttFfi_TO, SttSessionBox, SttSessionFfi, SttSessionFfi_TO, TransportBox, TransportFfi,
        TransportFfi_TO, TtsBox, TtsFfi, TtsFfi_TO,
    },
    author::{AnswerOut, AudioOut, Buffered, Context, Events, Frames, Host, Partials},
    bridge,
    guard::{guard, guard_or, GuardedDrop},
    types::{
        CallDecision, CallRequest, ErrorKind, HttpOutcome, HttpRequest, HttpResponse,
        InstanceConfig, KindSet, OutboundAction, PluginError, PluginInfo, StreamOpen, SttInfo,
        SttSessionOpen, Transcript, TransportInfo, TtsInfo, TtsRequest, Turn, Verdict, WsFrame,
    },
    MediaStream, Policy, Responder, StreamingStt, Stt, SttSession, Transport, Tts, API_VERSION,
    INTERFACE_VERSION,
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

extern "C" fn init(host: HostServicesBox) -> RResult<(), PluginError> {
    guard("init", || {
        bridge::install(&host);
        Ok(())
    })
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
#[cfg(feature = "rehearse-next-minor")]
extern "C" fn rehearsal_probe() -> u32 {
    21
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
                init,
                new_transport: no_transport,
                new_stt: no_stt,
                new_policy: no_policy,
                new_tts: no_tts,
                new_responder: no_responder,
                call_ext: no_call_ext,
                #[cfg(feature = "rehearse-next-minor")]
                rehearsal_probe,
            },
            _meta: PhantomData,
        }
    }

    /// Provides a transport.
    pub fn transport<T: Transport>(mut self) -> Self {
        self.root.new_transport = new_transport::<T>;
        self
    }

    /// Provides a whole-utterance STT engine.
    pub fn stt<T: Stt>(mut self) -> Self {
        self.root.new_stt = new_stt::<T>;
        self
    }

    /// Provides a streaming STT engine.
    pub fn streaming_stt<T: StreamingStt>(mut self) -> Self {
        self.root.new_stt = new_streaming_stt::<T>;
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

/// Runs a constructor inside the guard. A host that never called the root
/// module's `init` (an older test harness) still gets the log bridge.
fn construct<T>(
    what: &str,
    host: &HostServicesBox,
    f: impl FnOnce() -> Result<T, PluginError>,
) -> RResult<T, PluginError> {
    guard(what, || {
        bridge::install(host);
        f()
    })
}

extern "C" fn new_transport<T: Transport>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<TransportBox, PluginError> {
    construct("transport constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(TransportFfi_TO::from_value(
            TransportAdapter(GuardedDrop::new(inner)),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_stt<T: Stt>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<SttBox, PluginError> {
    construct("stt constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(SttFfi_TO::from_value(
            SttAdapter(GuardedDrop::new(Arc::new(inner))),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_streaming_stt<T: StreamingStt>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<SttBox, PluginError> {
    construct("stt constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(SttFfi_TO::from_value(
            StreamingSttAdapter(GuardedDrop::new(inner)),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_policy<T: Policy>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<PolicyBox, PluginError> {
    construct("policy constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(PolicyFfi_TO::from_value(
            PolicyAdapter(GuardedDrop::new(inner)),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_tts<T: Tts>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<TtsBox, PluginError> {
    construct("tts constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(TtsFfi_TO::from_value(
            TtsAdapter(GuardedDrop::new(inner)),
            TD_Opaque,
        ))
    })
}

extern "C" fn new_responder<T: Responder>(
    cfg: InstanceConfig,
    host: HostServicesBox,
) -> RResult<ResponderBox, PluginError> {
    construct("responder constructor", &host, || {
        let inner = T::new(context(cfg, &host))?;
        Ok(ResponderFfi_TO::from_value(
            ResponderAdapter(GuardedDrop::new(inner)),
            TD_Opaque,
        ))
    })
}

fn ext(
    f: impl FnOnce(&str, &str) -> Result<String, PluginError>,
    op: RStr<'_>,
    payload: RStr<'_>,
) -> RResult<RString, PluginError> {
    guard("call_ext", || {
        f(op.as_str(), payload.as_str()).map(RString::from)
    })
}

struct TransportAdapter<T>(GuardedDrop<T>);

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
                StreamAdapter(GuardedDrop::new(stream)),
                TD_Opaque,
            ))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }
}

struct StreamAdapter<S>(GuardedDrop<S>);

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
        let inner = &mut self.0;
        ext(|o, p| inner.call_ext(o, p), op, payload)
    }
}

struct SttAdapter<T>(GuardedDrop<Arc<T>>);

impl<T: Stt> SttFfi for SttAdapter<T> {
    fn describe(&self) -> RResult<SttInfo, PluginError> {
        guard("describe", || {
            let mut info = self.0.describe()?;
            // The buffered session wants whole utterances.
            info.streaming = false;
            Ok(info)
        })
    }

    fn open_session(
        &self,
        open: &SttSessionOpen<'_>,
        _partials: HypothesisSinkBox,
    ) -> RResult<SttSessionBox, PluginError> {
        guard("open_session", || {
            let session = Buffered::open(Arc::clone(&self.0), open)?;
            Ok(SttSessionFfi_TO::from_value(
                SessionAdapter(GuardedDrop::new(session)),
                TD_Opaque,
            ))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }
}

struct StreamingSttAdapter<T>(GuardedDrop<T>);

impl<T: StreamingStt> SttFfi for StreamingSttAdapter<T> {
    fn describe(&self) -> RResult<SttInfo, PluginError> {
        guard("describe", || self.0.describe())
    }

    fn open_session(
        &self,
        open: &SttSessionOpen<'_>,
        partials: HypothesisSinkBox,
    ) -> RResult<SttSessionBox, PluginError> {
        guard("open_session", || {
            let session = self.0.open_session(open, Partials::new(partials))?;
            Ok(SttSessionFfi_TO::from_value(
                SessionAdapter(GuardedDrop::new(session)),
                TD_Opaque,
            ))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }
}

struct SessionAdapter<S>(GuardedDrop<S>);

impl<S: SttSession> SttSessionFfi for SessionAdapter<S> {
    fn push(&self, utterance: u64, pcm: RSlice<'_, i16>) -> RResult<(), PluginError> {
        guard("push", || self.0.push(utterance, pcm.as_slice()))
    }

    fn finish(&self, utterance: u64) -> RResult<Transcript, PluginError> {
        guard("finish", || self.0.finish(utterance))
    }

    fn cancel(&self, utterance: u64) {
        guard_or((), || self.0.cancel(utterance));
    }

    fn call_ext(&self, op: RStr<'_>, _payload: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported(format!(
            "session extension operation `{op}` is not supported"
        )))
    }
}

struct PolicyAdapter<T>(GuardedDrop<T>);

impl<T: Policy> PolicyFfi for PolicyAdapter<T> {
    fn evaluate(&self, call: &CallRequest) -> RResult<Verdict, PluginError> {
        guard("evaluate", || self.0.evaluate(call))
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }
}

struct TtsAdapter<T>(GuardedDrop<T>);

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
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }
}

struct ResponderAdapter<T>(GuardedDrop<T>);

impl<T: Responder> ResponderFfi for ResponderAdapter<T> {
    fn respond(&self, turn: &Turn, sink: AnswerSinkMut<'_>) -> RResult<(), PluginError> {
        guard("respond", || {
            self.0.respond(turn, &mut AnswerOut::new(sink))
        })
    }

    fn call_ext(&self, op: RStr<'_>, payload: RStr<'_>) -> RResult<RString, PluginError> {
        ext(|o, p| self.0.call_ext(o, p), op, payload)
    }

    #[cfg(feature = "rehearse-next-minor")]
    fn rehearsal_probe(&self) -> u32 {
        21
    }
}
