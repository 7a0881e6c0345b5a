//! Typed handles on plugin instances. Every call returns a `CallError`
//! that names the instance, the plugin and the operation.

use std::{fmt, sync::Arc};

use abi_stable::std_types::{RResult, RStr};
use voicegate_plugin_api::{
    abi::{MediaStreamBox, PolicyBox, ResponderBox, SttBox, TransportBox, TtsBox},
    Answer, CallDecision, CallRequest, ErrorKind, HttpOutcome, HttpRequest, HttpResponse,
    PluginError, PluginKind, StreamOpen, SttInfo, SttRequest, Transcript, TransportInfo, Turn,
    Verdict,
};

/// Which instance a call went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId {
    /// Provider kind.
    pub kind: PluginKind,
    /// The operator's instance name.
    pub instance: String,
    /// The plugin library's name.
    pub plugin: String,
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` (plugin {})",
            self.kind.name(),
            self.instance,
            self.plugin
        )
    }
}

/// A failed plugin call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{id}: {op} failed: {error}")]
pub struct CallError {
    /// The instance.
    pub id: Arc<InstanceId>,
    /// The operation.
    pub op: &'static str,
    /// The plugin's error.
    pub error: PluginError,
}

impl CallError {
    /// The plugin error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind
    }
}

fn wrap<T>(
    id: &Arc<InstanceId>,
    op: &'static str,
    r: RResult<T, PluginError>,
) -> Result<T, CallError> {
    r.into_result().map_err(|error| {
        if error.kind == ErrorKind::PANICKED {
            tracing::error!(instance = %id.instance, plugin = %id.plugin, op, error = %error, "Plugin call panicked; the panic was contained.");
        }
        CallError {
            id: id.clone(),
            op,
            error,
        }
    })
}

/// A transport instance.
pub struct Transport {
    /// Names.
    pub id: Arc<InstanceId>,
    /// Routes and capabilities, read once at start.
    pub info: TransportInfo,
    obj: TransportBox,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("id", &self.id).finish()
    }
}

impl Transport {
    pub(crate) fn new(id: InstanceId, obj: TransportBox) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let info = wrap(&id, "describe", obj.describe())?;
        Ok(Self { id, info, obj })
    }

    /// Handles a webhook request.
    pub fn handle_http(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, CallError> {
        wrap(&self.id, "handle_http", self.obj.handle_http(req))
    }

    /// Renders the decision on a call.
    pub fn answer_call(
        &self,
        call: &CallRequest,
        decision: &CallDecision,
    ) -> Result<HttpResponse, CallError> {
        wrap(
            &self.id,
            "answer_call",
            self.obj.answer_call(call, decision),
        )
    }

    /// Opens the protocol state of a media WebSocket.
    pub fn open_stream(&self, open: &StreamOpen<'_>) -> Result<MediaStreamBox, CallError> {
        wrap(&self.id, "open_stream", self.obj.open_stream(open))
    }

    /// Library extension call.
    pub fn call_ext(&self, op: &str, payload: &str) -> Result<String, CallError> {
        wrap(
            &self.id,
            "call_ext",
            self.obj.call_ext(RStr::from(op), RStr::from(payload)),
        )
        .map(|s| s.into_string())
    }
}

/// An STT instance.
pub struct Stt {
    /// Names.
    pub id: Arc<InstanceId>,
    /// Sample rate and concurrency.
    pub info: SttInfo,
    obj: SttBox,
}

impl fmt::Debug for Stt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stt").field("id", &self.id).finish()
    }
}

impl Stt {
    pub(crate) fn new(id: InstanceId, obj: SttBox) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let info = wrap(&id, "describe", obj.describe())?;
        Ok(Self { id, info, obj })
    }

    /// Transcribes one utterance. Blocking: call it on the blocking pool.
    pub fn transcribe(&self, req: &SttRequest<'_>) -> Result<Transcript, CallError> {
        wrap(&self.id, "transcribe", self.obj.transcribe(req))
    }

    /// Warms per-call state.
    pub fn prepare_call(&self, session_id: &str) -> Result<(), CallError> {
        wrap(
            &self.id,
            "prepare_call",
            self.obj.prepare_call(RStr::from(session_id)),
        )
    }

    /// Frees per-call state.
    pub fn end_call(&self, session_id: &str) -> Result<(), CallError> {
        wrap(
            &self.id,
            "end_call",
            self.obj.end_call(RStr::from(session_id)),
        )
    }
}

/// A policy instance.
pub struct Policy {
    /// Names.
    pub id: Arc<InstanceId>,
    obj: PolicyBox,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy").field("id", &self.id).finish()
    }
}

impl Policy {
    pub(crate) fn new(id: InstanceId, obj: PolicyBox) -> Self {
        Self {
            id: Arc::new(id),
            obj,
        }
    }

    /// Judges a call. May block on a shared counter store.
    pub fn evaluate(&self, call: &CallRequest) -> Result<Verdict, CallError> {
        wrap(&self.id, "evaluate", self.obj.evaluate(call))
    }
}

/// A TTS instance.
pub struct Tts {
    /// Names.
    pub id: Arc<InstanceId>,
    /// Output rate.
    pub info: voicegate_plugin_api::TtsInfo,
    obj: TtsBox,
}

impl fmt::Debug for Tts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tts").field("id", &self.id).finish()
    }
}

impl Tts {
    pub(crate) fn new(id: InstanceId, obj: TtsBox) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let info = wrap(&id, "describe", obj.describe())?;
        Ok(Self { id, info, obj })
    }

    /// Synthesizes `req.text` into `sink`. Blocking: call it on the
    /// blocking pool.
    pub fn synthesize(
        &self,
        req: &voicegate_plugin_api::TtsRequest<'_>,
        sink: voicegate_plugin_api::abi::AudioSinkMut<'_>,
    ) -> Result<(), CallError> {
        wrap(&self.id, "synthesize", self.obj.synthesize(req, sink))
    }
}

/// A responder instance.
pub struct Responder {
    /// Names.
    pub id: Arc<InstanceId>,
    obj: ResponderBox,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").field("id", &self.id).finish()
    }
}

impl Responder {
    pub(crate) fn new(id: InstanceId, obj: ResponderBox) -> Self {
        Self {
            id: Arc::new(id),
            obj,
        }
    }

    /// Answers a turn. Blocking: call it on the blocking pool.
    pub fn respond(&self, turn: &Turn) -> Result<Answer, CallError> {
        wrap(&self.id, "respond", self.obj.respond(turn))
    }
}

/// Shared handles.
pub type TransportRef = Arc<Transport>;
