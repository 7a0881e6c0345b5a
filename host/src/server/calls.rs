//! Call admission: the concurrent-call limit, the policy chain, and the
//! session a call gets when it is allowed.

use std::{sync::Arc, time::Duration};

use super::{http::fill_route, AppState};
use crate::{
    events::{kinds, Event},
    model::{Accepted, CallInfo, Decision, Reason, RejectCause, Rejected, RiskTier, RouteKind},
    plugins::Transport,
    sessions::{new_session_id, Session, SessionState},
};

/// What admission decided.
pub enum Admission {
    /// Go ahead with this session.
    Accepted(Arc<Session>, Decision),
    /// Turned away; the decision says why.
    Rejected(Decision),
}

fn reject(cause: RejectCause, reasons: Vec<Reason>, message: &str) -> Decision {
    Decision::Reject(Rejected {
        cause,
        reasons,
        message: message.to_owned(),
    })
}

fn reasons_json(reasons: &[Reason]) -> serde_json::Value {
    serde_json::Value::Array(
        reasons
            .iter()
            .map(|r| serde_json::json!({ "code": r.code, "message": r.message }))
            .collect(),
    )
}

/// The policy chain's verdict: allowed, the tier, every reason, and for a
/// deny the policy and its first reason code.
struct ChainVerdict {
    allow: bool,
    tier: RiskTier,
    reasons: Vec<Reason>,
    denier: String,
    deny_code: Option<String>,
}

/// Runs admission for a call a transport reported. `active` sessions start
/// ACTIVE (streams that open their own calls); others wait for media.
pub async fn admit(
    state: &Arc<AppState>,
    transport: &Arc<Transport>,
    mut call: CallInfo,
    active: bool,
) -> Admission {
    call.transport = transport.id.instance.clone();
    let instance = transport.id.instance.clone();
    // `tier` is known when the policy chain judged the call (the audit
    // trail keeps it); host refusals (busy, errors) have none.
    let denied = |reason_code: &str, reasons: &[Reason], tier: Option<RiskTier>| {
        metrics::counter!("voicegate_calls_denied_total", "transport" => instance.clone(), "reason" => reason_code.to_owned()).increment(1);
        let mut event = Event::new(kinds::CALL_DENIED, "")
            .with("transport", instance.as_str())
            .with("call_id", call.call_id.as_str())
            .with("from", call.from.as_str())
            .with("to", call.to.as_str())
            .with("reason", reason_code)
            .with("reasons", reasons_json(reasons));
        if let Some(tier) = tier {
            event = event.with("tier", tier.name());
        }
        state.events.publish(event);
    };

    if !state.ready.load(std::sync::atomic::Ordering::SeqCst) {
        let reasons = [Reason::new("shutting_down", "the gateway is shutting down")];
        denied("shutting_down", &reasons, None);
        return Admission::Rejected(reject(RejectCause::Busy, reasons.to_vec(), "busy"));
    }
    let max = state.loaded.config.limits.max_calls;
    // Taken before the (awaited) policy chain, so concurrent webhooks
    // cannot all pass the check; given back if the call is turned away.
    let Some(reservation) = state.sessions.reserve(max) else {
        let reasons = [Reason::new(
            "busy",
            format!("{max} concurrent calls is the configured limit (limits.max_calls)"),
        )];
        tracing::warn!(transport = %instance, call_id = %call.call_id, max, "Call turned away: at the concurrent-call limit.");
        denied("busy", &reasons, None);
        return Admission::Rejected(reject(RejectCause::Busy, reasons.to_vec(), "busy"));
    };

    // Policies may block on a shared counter store: keep them off the reactor.
    let policies = state.registry.policies.clone();
    let call_for_policy = call.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        let mut chain = ChainVerdict {
            allow: true,
            tier: RiskTier::LOW,
            reasons: Vec::new(),
            denier: String::new(),
            deny_code: None,
        };
        for policy in &policies {
            let v = policy.evaluate(&call_for_policy)?;
            chain.tier = chain.tier.max(v.tier);
            // A policy lists its deny reasons before its notes.
            let code = v.reasons.first().map(|r| r.code.clone());
            chain.reasons.extend(v.reasons);
            if !v.allow {
                chain.allow = false;
                chain.denier = policy.id.instance.clone();
                chain.deny_code = code;
                break;
            }
        }
        Ok::<_, crate::plugins::CallError>(chain)
    })
    .await;

    // Fail closed: a policy that cannot decide does not let calls in.
    let policy_failed = |error: String| {
        tracing::error!(transport = %instance, call_id = %call.call_id, %error, "Policy failed; the call is refused.");
        let reasons = [Reason::new(
            "policy_error",
            "a policy could not evaluate the call",
        )];
        denied("policy_error", &reasons, None);
        Admission::Rejected(reject(RejectCause::Error, reasons.to_vec(), "error"))
    };
    let chain = match verdict {
        Ok(Ok(v)) => v,
        Ok(Err(error)) => return policy_failed(error.to_string()),
        Err(join) => return policy_failed(format!("policy task failed: {join}")),
    };
    let tier = chain.tier;
    if !chain.allow {
        // The denying policy's first reason (not a note of an earlier one).
        let code = chain.deny_code.unwrap_or_else(|| "denied".to_owned());
        tracing::info!(transport = %instance, call_id = %call.call_id, from = %call.from, to = %call.to, policy = %chain.denier, tier = tier.name(), reason = %code, "Call denied by policy.");
        denied(&code, &chain.reasons, Some(tier));
        return Admission::Rejected(reject(RejectCause::Policy, chain.reasons, "denied"));
    }

    let session_id = new_session_id(&instance, &call.call_id);
    let stream_url = stream_url(state, transport, &session_id);
    let stt = state.pipeline.stt_slot(&session_id, &state.events);
    let session = state.sessions.create(
        reservation,
        session_id.clone(),
        transport.clone(),
        call.clone(),
        tier,
        active,
        stt,
    );
    metrics::counter!("voicegate_calls_total", "transport" => instance.clone()).increment(1);
    tracing::info!(
        session_id = %session_id,
        transport = %instance,
        call_sid = %call.call_id,
        from = %call.from,
        to = %call.to,
        tier = tier.name(),
        "Call accepted."
    );
    state.events.publish(
        Event::new(kinds::CALL_CREATED, &session_id)
            .with("transport", instance.as_str())
            .with("call_id", call.call_id.as_str())
            .with("from", call.from.as_str())
            .with("to", call.to.as_str())
            .with("tier", tier.name())
            .with("reasons", reasons_json(&chain.reasons)),
    );
    let decision = Decision::Accept(Accepted {
        session_id: session_id.clone(),
        stream_url,
        params: vec![("session_id".to_owned(), session_id)],
        tier,
    });
    Admission::Accepted(session, decision)
}

/// The absolute URL of the transport's session-bound WebSocket route.
fn stream_url(state: &AppState, transport: &Transport, session_id: &str) -> String {
    let Some(route) = transport
        .info
        .routes
        .iter()
        .find(|r| r.kind == RouteKind::WebSocket && r.binds_session())
    else {
        return String::new();
    };
    let public = &state.loaded.config.server.public_url;
    let ws_base = if let Some(rest) = public.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = public.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        public.clone()
    };
    format!(
        "{ws_base}/api/voice/{}/{}",
        transport.id.instance,
        fill_route(route, session_id)
    )
}

/// How long a stream told to close may take before its session is ended
/// without it (an upgrade that never completed has no stream task).
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Ends sessions whose media never connected, and tells streams that
/// claimed a session but never started it to close.
pub async fn expire_unconnected(state: Arc<AppState>) {
    let timeout = Duration::from_secs(state.loaded.config.server.connect_timeout_secs.max(1));
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(timeout));
    loop {
        tick.tick().await;
        for session in state.sessions.live() {
            let age = session.created.elapsed();
            match session.state() {
                SessionState::Created if age >= timeout => {
                    tracing::warn!(session_id = %session.id, "Media stream never connected; session expired.");
                    state.calls.end(&session.id, "connect_timeout");
                }
                SessionState::Connecting if age >= timeout + CLOSE_GRACE => {
                    state.calls.end(&session.id, "connect_timeout");
                }
                SessionState::Connecting if age >= timeout => {
                    tracing::warn!(session_id = %session.id, "Media stream connected but never started; closing it.");
                    state.calls.hang_up(&session, "connect_timeout");
                }
                _ => {}
            }
        }
    }
}
