//! Call admission: the concurrent-call limit, the policy chain, and the
//! session a call gets when it is allowed.

use std::{sync::Arc, time::Duration};

use voicegate_plugin_api::{
    Accepted, CallDecision, CallRequest, RVec, Reason, RejectCause, Rejected, RiskTier, RouteKind,
};

use super::{http::fill_route, AppState};
use crate::{
    events::{kinds, Event},
    plugins::Transport,
    sessions::{new_session_id, Session},
};

/// What admission decided.
pub enum Admission {
    /// Go ahead with this session.
    Accepted(Arc<Session>, CallDecision),
    /// Turned away; the decision says why.
    Rejected(CallDecision),
}

fn reject(cause: RejectCause, reasons: Vec<Reason>, message: &str) -> CallDecision {
    CallDecision::Reject(Rejected {
        cause,
        reasons: RVec::from(reasons),
        message: message.into(),
    })
}

fn reasons_json(reasons: &[Reason]) -> serde_json::Value {
    serde_json::Value::Array(
        reasons
            .iter()
            .map(|r| serde_json::json!({ "code": r.code.as_str(), "message": r.message.as_str() }))
            .collect(),
    )
}

/// Runs admission for a call a transport reported. `active` sessions start
/// ACTIVE (streams that open their own calls); others wait for media.
pub async fn admit(
    state: &Arc<AppState>,
    transport: &Arc<Transport>,
    mut call: CallRequest,
    active: bool,
) -> Admission {
    call.transport = transport.id.instance.as_str().into();
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
        return Admission::Rejected(reject(RejectCause::BUSY, reasons.to_vec(), "busy"));
    }
    let max = state.loaded.config.limits.max_calls;
    if state.sessions.live_count() >= max {
        let reasons = [Reason::new(
            "busy",
            format!("{max} concurrent calls is the configured limit (limits.max_calls)"),
        )];
        tracing::warn!(transport = %instance, call_id = %call.call_id, max, "Call turned away: at the concurrent-call limit.");
        denied("busy", &reasons, None);
        return Admission::Rejected(reject(RejectCause::BUSY, reasons.to_vec(), "busy"));
    }

    // Policies may block on a shared counter store: keep them off the reactor.
    let policies = state.registry.policies.clone();
    let call_for_policy = call.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        let mut tier = RiskTier::LOW;
        let mut reasons = Vec::new();
        for policy in &policies {
            match policy.evaluate(&call_for_policy) {
                Ok(v) => {
                    tier = tier.max(v.tier);
                    // A policy lists its deny reasons before its notes.
                    let code = v.reasons.first().map(|r| r.code.to_string());
                    reasons.extend(v.reasons.iter().cloned());
                    if !v.allow {
                        return Ok((false, tier, reasons, policy.id.instance.clone(), code));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok((true, tier, reasons, String::new(), None))
    })
    .await;

    let (allow, tier, reasons, denier, deny_code) = match verdict {
        Ok(Ok(v)) => v,
        Ok(Err(error)) => {
            // Fail closed: a policy that cannot decide does not let calls in.
            tracing::error!(transport = %instance, call_id = %call.call_id, %error, "Policy failed; the call is refused.");
            let reasons = [Reason::new(
                "policy_error",
                "a policy could not evaluate the call",
            )];
            denied("policy_error", &reasons, None);
            return Admission::Rejected(reject(RejectCause::ERROR, reasons.to_vec(), "error"));
        }
        Err(join) => {
            tracing::error!(transport = %instance, error = %join, "Policy task failed.");
            let reasons = [Reason::new(
                "policy_error",
                "a policy could not evaluate the call",
            )];
            denied("policy_error", &reasons, None);
            return Admission::Rejected(reject(RejectCause::ERROR, reasons.to_vec(), "error"));
        }
    };
    if !allow {
        // The denying policy's first reason (not a note of an earlier one).
        let code = deny_code.unwrap_or_else(|| "denied".to_owned());
        tracing::info!(transport = %instance, call_id = %call.call_id, from = %call.from, to = %call.to, policy = %denier, tier = tier.name(), reason = %code, "Call denied by policy.");
        denied(&code, &reasons, Some(tier));
        return Admission::Rejected(reject(RejectCause::POLICY, reasons, "denied"));
    }

    let session_id = new_session_id(&instance, call.call_id.as_str());
    let stream_url = stream_url(state, transport, &session_id);
    let session = state.sessions.create(
        session_id.clone(),
        transport.clone(),
        call.clone(),
        tier,
        active,
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
            .with("reasons", reasons_json(&reasons)),
    );
    state.pipeline.prepare_call(&session_id);
    let decision = CallDecision::Accept(Accepted {
        session_id: session_id.as_str().into(),
        stream_url: stream_url.into(),
        params: RVec::from(vec![voicegate_plugin_api::KeyValue::new(
            "session_id",
            session_id.as_str(),
        )]),
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
        .find(|r| r.kind == RouteKind::WEBSOCKET && r.binds_session())
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

/// Ends sessions whose media never connected.
pub async fn expire_unconnected(state: Arc<AppState>) {
    let timeout = Duration::from_secs(state.loaded.config.server.connect_timeout_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(timeout));
    loop {
        tick.tick().await;
        for session in state.sessions.live() {
            if session.state() == crate::sessions::SessionState::Created
                && session.created.elapsed() >= timeout
            {
                if let Some(s) = state.sessions.finish(&session.id, "connect_timeout") {
                    tracing::warn!(session_id = %s.id, "Media stream never connected; session expired.");
                    state.pipeline.end_call(&s.id);
                    state.events.publish(
                        Event::new(kinds::CALL_ENDED, &s.id).with("reason", "connect_timeout"),
                    );
                }
            }
        }
    }
}
