//! Typed handles on plugin instances, whatever generation they speak.
//! Every call is marked with its instance and call (for log attribution)
//! and returns a [`CallError`] that names the instance, the plugin and the
//! operation.

use std::{fmt, sync::Arc};

use super::{
    api::{
        AnswerSink, MediaStreamApi, PartialSink, PolicyApi, ResponderApi, SttApi, SttSessionApi,
        TransportApi, TtsApi,
    },
    scope::{self, CallScope},
};
use crate::model::{
    CallInfo, Decision, Decoded, Failure, FailureKind, Frame, OutFrame, Outbound, StreamOpen,
    SttInfo, Transcript, TransportInfo, TtsInfo, Turn, Verdict, WebRequest, WebResponse,
    WebhookOutcome,
};

/// A provider kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Carrier or client protocol adapters.
    Transport,
    /// Speech to text.
    Stt,
    /// Call admission policy.
    Policy,
    /// Text to speech.
    Tts,
    /// The agent.
    Responder,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 5] = [
        Kind::Transport,
        Kind::Stt,
        Kind::Policy,
        Kind::Tts,
        Kind::Responder,
    ];

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Stt => "stt",
            Self::Policy => "policy",
            Self::Tts => "tts",
            Self::Responder => "responder",
        }
    }

    /// The config section its instances live in.
    pub fn section(self) -> &'static str {
        match self {
            Self::Transport => "transports",
            Self::Stt => "stt",
            Self::Policy => "policies",
            Self::Tts => "tts",
            Self::Responder => "responders",
        }
    }
}

/// Which instance a call went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId {
    /// Provider kind.
    pub kind: Kind,
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
    /// What failed.
    pub error: Failure,
}

impl CallError {
    /// The failure's kind.
    pub fn kind(&self) -> FailureKind {
        self.error.kind
    }

    /// A host-side failure of a call to `id` (a deadline, a lost worker).
    pub fn host(
        id: &Arc<InstanceId>,
        op: &'static str,
        kind: FailureKind,
        message: String,
    ) -> Self {
        Self {
            id: id.clone(),
            op,
            error: Failure::new(kind, message),
        }
    }
}

/// Runs one plugin call inside `scope` and names it in any error.
fn call<T>(
    scope: &Arc<CallScope>,
    op: &'static str,
    f: impl FnOnce() -> Result<T, Failure>,
) -> Result<T, CallError> {
    scope::within(scope, f).map_err(|error| {
        if error.kind == FailureKind::Panicked {
            tracing::error!(instance = %scope.instance.instance, plugin = %scope.instance.plugin, session_id = %scope.session_id, op, error = %error, "Plugin call panicked; the panic was contained.");
        }
        CallError {
            id: scope.instance.clone(),
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
    scope: Arc<CallScope>,
    api: Box<dyn TransportApi>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("id", &self.id).finish()
    }
}

impl Transport {
    pub(crate) fn new(id: InstanceId, api: Box<dyn TransportApi>) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let scope = CallScope::new(&id, "");
        let info = call(&scope, "describe", || api.describe())?;
        Ok(Self {
            id,
            info,
            scope,
            api,
        })
    }

    /// Handles a webhook request.
    pub fn handle_http(&self, req: &WebRequest) -> Result<WebhookOutcome, CallError> {
        call(&self.scope, "handle_http", || self.api.handle_http(req))
    }

    /// Renders the decision on a call.
    pub fn answer_call(
        &self,
        call_info: &CallInfo,
        decision: &Decision,
    ) -> Result<WebResponse, CallError> {
        let scope = match decision {
            Decision::Accept(a) => CallScope::new(&self.id, &a.session_id),
            Decision::Reject(_) => self.scope.clone(),
        };
        call(&scope, "answer_call", || {
            self.api.answer_call(call_info, decision)
        })
    }

    /// Opens the protocol state of a media WebSocket.
    pub fn open_stream(&self, open: &StreamOpen<'_>) -> Result<MediaStream, CallError> {
        let scope = CallScope::new(&self.id, open.session_id);
        let api = call(&scope, "open_stream", || self.api.open_stream(open))?;
        Ok(MediaStream { scope, api })
    }
}

/// The protocol state of one media WebSocket.
pub struct MediaStream {
    scope: Arc<CallScope>,
    api: Box<dyn MediaStreamApi>,
}

impl MediaStream {
    /// The stream's call, once known (streams that open their own call
    /// learn it after admission).
    pub fn set_session(&mut self, session_id: &str) {
        self.scope = CallScope::new(&self.scope.instance, session_id);
    }

    /// Decodes one frame into `out` (cleared first).
    pub fn on_frame(&mut self, frame: Frame<'_>, out: &mut Decoded) -> Result<(), CallError> {
        out.clear();
        let api = &mut self.api;
        call(&self.scope, "on_frame", || api.on_frame(frame, out))
    }

    /// Encodes one action, appending frames to `out`.
    pub fn encode(
        &mut self,
        action: &Outbound<'_>,
        out: &mut Vec<OutFrame>,
    ) -> Result<(), CallError> {
        let api = &mut self.api;
        call(&self.scope, "encode", || api.encode(action, out))
    }
}

impl Drop for MediaStream {
    fn drop(&mut self) {
        // The plugin's drop glue runs here: attribute its logs to the call.
        let _entered = scope::enter(&self.scope);
        let api = std::mem::replace(&mut self.api, Box::new(Closed));
        drop(api);
    }
}

/// Stands in for a dropped stream while its drop runs.
struct Closed;

impl MediaStreamApi for Closed {
    fn on_frame(&mut self, _: Frame<'_>, _: &mut Decoded) -> Result<(), Failure> {
        Err(Failure::new(FailureKind::Fatal, "stream closed"))
    }
    fn encode(&mut self, _: &Outbound<'_>, _: &mut Vec<OutFrame>) -> Result<(), Failure> {
        Err(Failure::new(FailureKind::Fatal, "stream closed"))
    }
}

/// An STT instance.
pub struct Stt {
    /// Names.
    pub id: Arc<InstanceId>,
    /// Sample rate, concurrency, streaming.
    pub info: SttInfo,
    api: Box<dyn SttApi>,
}

impl fmt::Debug for Stt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stt").field("id", &self.id).finish()
    }
}

impl Stt {
    pub(crate) fn new(id: InstanceId, api: Box<dyn SttApi>) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let info = call(&CallScope::new(&id, ""), "describe", || api.describe())?;
        Ok(Self { id, info, api })
    }

    /// Opens one call's session. Blocking: call it off the reactor.
    pub fn open_session(
        &self,
        session_id: &str,
        partials: Arc<dyn PartialSink>,
    ) -> Result<SttSession, CallError> {
        let scope = CallScope::new(&self.id, session_id);
        let api = call(&scope, "open_session", || {
            self.api.open_session(session_id, partials)
        })?;
        Ok(SttSession {
            scope,
            api: Some(api),
        })
    }
}

/// One call's STT session.
pub struct SttSession {
    scope: Arc<CallScope>,
    api: Option<Box<dyn SttSessionApi>>,
}

impl fmt::Debug for SttSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SttSession")
            .field("instance", &self.scope.instance.instance)
            .field("session_id", &self.scope.session_id)
            .finish()
    }
}

impl SttSession {
    fn api(&self) -> Result<&dyn SttSessionApi, Failure> {
        self.api
            .as_deref()
            .ok_or_else(|| Failure::new(FailureKind::Cancelled, "the STT session is closed"))
    }

    /// Appends audio to `utterance`.
    pub fn push(&self, utterance: u64, pcm: &[i16]) -> Result<(), CallError> {
        call(&self.scope, "push", || self.api()?.push(utterance, pcm))
    }

    /// The final transcript of `utterance`. Blocking.
    pub fn finish(&self, utterance: u64) -> Result<Transcript, CallError> {
        call(&self.scope, "finish", || self.api()?.finish(utterance))
    }

    /// Abandons `utterance`.
    pub fn cancel(&self, utterance: u64) {
        if let Some(api) = &self.api {
            scope::within(&self.scope, || api.cancel(utterance));
        }
    }
}

impl Drop for SttSession {
    fn drop(&mut self) {
        let _entered = scope::enter(&self.scope);
        drop(self.api.take());
    }
}

/// A policy instance.
pub struct Policy {
    /// Names.
    pub id: Arc<InstanceId>,
    api: Box<dyn PolicyApi>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy").field("id", &self.id).finish()
    }
}

impl Policy {
    pub(crate) fn new(id: InstanceId, api: Box<dyn PolicyApi>) -> Self {
        Self {
            id: Arc::new(id),
            api,
        }
    }

    /// Judges a call. May block on a shared counter store.
    pub fn evaluate(&self, call_info: &CallInfo) -> Result<Verdict, CallError> {
        call(&CallScope::new(&self.id, ""), "evaluate", || {
            self.api.evaluate(call_info)
        })
    }
}

/// A TTS instance.
pub struct Tts {
    /// Names.
    pub id: Arc<InstanceId>,
    /// Output rate.
    pub info: TtsInfo,
    api: Box<dyn TtsApi>,
}

impl fmt::Debug for Tts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tts").field("id", &self.id).finish()
    }
}

impl Tts {
    pub(crate) fn new(id: InstanceId, api: Box<dyn TtsApi>) -> Result<Self, CallError> {
        let id = Arc::new(id);
        let info = call(&CallScope::new(&id, ""), "describe", || api.describe())?;
        Ok(Self { id, info, api })
    }

    /// Synthesizes `text` for `session_id` into `sink`. Blocking.
    pub fn synthesize(
        &self,
        text: &str,
        session_id: &str,
        sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), CallError> {
        call(&CallScope::new(&self.id, session_id), "synthesize", || {
            self.api.synthesize(text, session_id, sink)
        })
    }
}

/// A responder instance.
pub struct Responder {
    /// Names.
    pub id: Arc<InstanceId>,
    api: Box<dyn ResponderApi>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").field("id", &self.id).finish()
    }
}

impl Responder {
    pub(crate) fn new(id: InstanceId, api: Box<dyn ResponderApi>) -> Self {
        Self {
            id: Arc::new(id),
            api,
        }
    }

    /// Answers a turn into `sink`. Blocking.
    pub fn respond(&self, turn: &Turn, sink: &mut dyn AnswerSink) -> Result<(), CallError> {
        call(
            &CallScope::new(&self.id, &turn.session_id),
            "respond",
            || self.api.respond(turn, sink),
        )
    }
}
