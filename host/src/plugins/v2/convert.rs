//! Generation-2 FFI types to and from the host's model.

use voicegate_plugin_api as api;
use voicegate_plugin_api::{KeyValue, RSlice, RStr, RString, RVec};

use crate::model::{
    Accepted, Action, CallInfo, Capabilities, Channel, ConfigIssue, Decision, Failure, FailureKind,
    MediaFormat, Pair, Reason, RejectCause, Rejected, RiskTier, Role, Route, RouteKind,
    StreamEvent, StreamStart, SttInfo, Transcript, TransportInfo, TtsInfo, Turn, Verdict,
    WebRequest, WebResponse, WebhookOutcome,
};

pub(super) fn kind(k: api::ErrorKind) -> FailureKind {
    match k {
        api::ErrorKind::CONFIG => FailureKind::Config,
        api::ErrorKind::INVALID_INPUT => FailureKind::InvalidInput,
        api::ErrorKind::UNAUTHORIZED => FailureKind::Unauthorized,
        api::ErrorKind::NOT_FOUND => FailureKind::NotFound,
        api::ErrorKind::UNSUPPORTED => FailureKind::Unsupported,
        api::ErrorKind::BUSY => FailureKind::Busy,
        api::ErrorKind::TIMEOUT => FailureKind::Timeout,
        api::ErrorKind::FATAL => FailureKind::Fatal,
        api::ErrorKind::PANICKED => FailureKind::Panicked,
        api::ErrorKind::CANCELLED => FailureKind::Cancelled,
        _ => FailureKind::Internal,
    }
}

pub(super) fn failure(e: api::PluginError) -> Failure {
    Failure {
        kind: kind(e.kind),
        message: e.message.into_string(),
        issues: e
            .issues
            .into_iter()
            .map(|i| ConfigIssue {
                key: i.key.into_string(),
                message: i.message.into_string(),
            })
            .collect(),
    }
}

pub(super) fn result<T>(
    r: api::abi_stable::std_types::RResult<T, api::PluginError>,
) -> Result<T, Failure> {
    r.into_result().map_err(failure)
}

fn pairs(kv: &[KeyValue]) -> Vec<Pair> {
    kv.iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn key_values(pairs: &[Pair]) -> RVec<KeyValue> {
    pairs.iter().map(|(k, v)| KeyValue::new(k, v)).collect()
}

fn channel(c: api::Channel) -> Channel {
    match c {
        api::Channel::PSTN => Channel::Pstn,
        api::Channel::BROWSER => Channel::Browser,
        api::Channel::SIP => Channel::Sip,
        _ => Channel::Other,
    }
}

fn ffi_channel(c: Channel) -> api::Channel {
    match c {
        Channel::Pstn => api::Channel::PSTN,
        Channel::Browser => api::Channel::BROWSER,
        Channel::Sip => api::Channel::SIP,
        Channel::Other => api::Channel::OTHER,
    }
}

pub(super) fn call_info(c: &api::CallRequest) -> CallInfo {
    CallInfo {
        transport: c.transport.to_string(),
        call_id: c.call_id.to_string(),
        account_id: c.account_id.to_string(),
        from: c.from.to_string(),
        to: c.to.to_string(),
        direction: c.direction.to_string(),
        channel: channel(c.channel),
        custom_params: pairs(&c.custom_params),
        attributes: pairs(&c.attributes),
        admin_token: c.admin_token.as_ref().map(|t| t.to_string()).into_option(),
        remote_addr: c.remote_addr.to_string(),
        extensions_json: c.extensions_json.to_string(),
    }
}

pub(super) fn call_request(c: &CallInfo) -> api::CallRequest {
    api::CallRequest {
        transport: c.transport.as_str().into(),
        call_id: c.call_id.as_str().into(),
        account_id: c.account_id.as_str().into(),
        from: c.from.as_str().into(),
        to: c.to.as_str().into(),
        direction: c.direction.as_str().into(),
        channel: ffi_channel(c.channel),
        custom_params: key_values(&c.custom_params),
        attributes: key_values(&c.attributes),
        admin_token: c.admin_token.as_deref().map(RString::from).into(),
        remote_addr: c.remote_addr.as_str().into(),
        extensions_json: c.extensions_json.as_str().into(),
    }
}

fn reason(r: &api::Reason) -> Reason {
    Reason {
        code: r.code.to_string(),
        message: r.message.to_string(),
    }
}

fn ffi_reasons(reasons: &[Reason]) -> RVec<api::Reason> {
    reasons
        .iter()
        .map(|r| api::Reason::new(&r.code, r.message.clone()))
        .collect()
}

pub(super) fn verdict(v: &api::Verdict) -> Verdict {
    Verdict {
        allow: v.allow,
        tier: RiskTier(v.tier.0),
        reasons: v.reasons.iter().map(reason).collect(),
    }
}

pub(super) fn decision(d: &Decision) -> api::CallDecision {
    match d {
        Decision::Accept(Accepted {
            session_id,
            stream_url,
            params,
            tier,
        }) => api::CallDecision::Accept(api::Accepted {
            session_id: session_id.as_str().into(),
            stream_url: stream_url.as_str().into(),
            params: key_values(params),
            tier: api::RiskTier(tier.0),
        }),
        Decision::Reject(Rejected {
            cause,
            reasons,
            message,
        }) => api::CallDecision::Reject(api::Rejected {
            cause: match cause {
                RejectCause::Policy => api::RejectCause::POLICY,
                RejectCause::Busy => api::RejectCause::BUSY,
                RejectCause::Error => api::RejectCause::ERROR,
            },
            reasons: ffi_reasons(reasons),
            message: message.as_str().into(),
        }),
    }
}

/// A request borrowed for one plugin call; the header list is built once.
pub(super) struct BorrowedRequest<'a> {
    req: &'a WebRequest,
    headers: Vec<KeyValue>,
}

impl<'a> BorrowedRequest<'a> {
    pub(super) fn new(req: &'a WebRequest) -> Self {
        Self {
            req,
            headers: req
                .headers
                .iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect(),
        }
    }

    pub(super) fn ffi(&self) -> api::HttpRequest<'_> {
        let r = self.req;
        api::HttpRequest {
            method: RStr::from(r.method.as_str()),
            path: RStr::from(r.path.as_str()),
            full_path: RStr::from(r.full_path.as_str()),
            query: RStr::from(r.query.as_str()),
            headers: RSlice::from_slice(&self.headers),
            body: RSlice::from_slice(&r.body),
            remote_addr: RStr::from(r.remote_addr.as_str()),
            public_url: RStr::from(r.public_url.as_str()),
            peer_trusted: r.peer_trusted,
        }
    }
}

pub(super) fn response(r: api::HttpResponse) -> WebResponse {
    WebResponse {
        status: r.status,
        headers: pairs(&r.headers),
        body: r.body.into_vec(),
    }
}

pub(super) fn outcome(o: api::HttpOutcome) -> WebhookOutcome {
    match o {
        api::HttpOutcome::Respond(r) => WebhookOutcome::Respond(response(r)),
        api::HttpOutcome::NewCall(c) => WebhookOutcome::NewCall(call_info(&c)),
        api::HttpOutcome::CallEnded(e) => WebhookOutcome::CallEnded {
            call_id: e.call_id.into_string(),
            reason: e.reason.into_string(),
            response: response(e.response),
        },
        api::HttpOutcome::Other(o) => WebhookOutcome::Other {
            kind: o.extension.kind.into_string(),
            response: response(o.response),
        },
    }
}

fn format(f: &api::MediaFormat) -> MediaFormat {
    MediaFormat {
        encoding: f.encoding.to_string(),
        sample_rate: f.sample_rate,
        channels: f.channels,
    }
}

pub(super) fn transport_info(i: &api::TransportInfo) -> TransportInfo {
    let c = i.capabilities;
    TransportInfo {
        routes: i
            .routes
            .iter()
            .map(|r| Route {
                method: r.method.to_string(),
                path: r.path.to_string(),
                kind: if r.kind == api::RouteKind::WEBSOCKET {
                    RouteKind::WebSocket
                } else {
                    RouteKind::Http
                },
                description: r.description.to_string(),
            })
            .collect(),
        capabilities: Capabilities {
            outbound_audio: c.contains(api::Capabilities::OUTBOUND_AUDIO),
            marks: c.contains(api::Capabilities::MARKS),
            clear: c.contains(api::Capabilities::CLEAR),
            dtmf: c.contains(api::Capabilities::DTMF),
            hangup: c.contains(api::Capabilities::HANGUP),
            events: c.contains(api::Capabilities::EVENTS),
        },
        outbound_format: format(&i.outbound_format),
        frame_ms: i.frame_ms,
        channel: channel(i.channel),
    }
}

pub(super) fn stream_event(e: api::StreamEvent) -> StreamEvent {
    match e {
        api::StreamEvent::Start(s) => StreamEvent::Start(Box::new(StreamStart {
            call_id: s.call_id.to_string(),
            stream_id: s.stream_id.to_string(),
            custom_params: pairs(&s.custom_params),
            format: format(&s.format),
            new_call: s.new_call.as_ref().map(call_info).into_option(),
        })),
        api::StreamEvent::Dtmf(d) => StreamEvent::Dtmf {
            digit: d.digit.into_string(),
        },
        api::StreamEvent::Mark(m) => StreamEvent::Mark(m.into_string()),
        api::StreamEvent::Stop(r) => StreamEvent::Stop(r.into_string()),
        api::StreamEvent::Hangup(r) => StreamEvent::Hangup(r.into_string()),
        api::StreamEvent::Other(x) => StreamEvent::Other(x.kind.into_string()),
    }
}

pub(super) fn stt_info(i: &api::SttInfo) -> SttInfo {
    SttInfo {
        sample_rate: i.sample_rate,
        max_concurrency: i.max_concurrency,
        streaming: i.streaming,
    }
}

pub(super) fn transcript(t: api::Transcript) -> Transcript {
    Transcript {
        text: t.text.into_string(),
        confidence: t.confidence.into_option(),
        language: t.language.into_string(),
    }
}

pub(super) fn tts_info(i: &api::TtsInfo) -> TtsInfo {
    TtsInfo {
        sample_rate: i.sample_rate,
    }
}

pub(super) fn turn(t: &Turn) -> api::Turn {
    api::Turn {
        session_id: t.session_id.as_str().into(),
        turn: t.turn,
        transport: t.transport.as_str().into(),
        call_id: t.call_id.as_str().into(),
        from: t.from.as_str().into(),
        to: t.to.as_str().into(),
        text: t.text.as_str().into(),
        history: t
            .history
            .iter()
            .map(|m| api::Message {
                role: match m.role {
                    Role::Caller => api::Role::CALLER,
                    Role::Assistant => api::Role::ASSISTANT,
                    Role::System => api::Role::SYSTEM,
                },
                text: m.text.as_str().into(),
            })
            .collect(),
        context: key_values(&t.context),
        extensions_json: RString::new(),
    }
}

pub(super) fn action(a: &api::Action) -> Action {
    match a {
        api::Action::Hangup => Action::Hangup,
        api::Action::Transfer(to) => Action::Transfer(to.to_string()),
        api::Action::Dtmf(d) => Action::Dtmf(d.to_string()),
        api::Action::Other(x) => Action::Other {
            kind: x.kind.to_string(),
            json: x.json.to_string(),
        },
    }
}
