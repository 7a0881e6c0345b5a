//! One owner of a call's end.
//!
//! A call ends for many reasons (the stream stopped, the caller hung up,
//! an operator or the carrier ended it, it never connected, the host is
//! shutting down, answering the carrier failed), and every one of them ends
//! here: the session leaves the live set exactly once, its slot under
//! `limits.max_calls` is freed, `call.ended` is published (which closes its
//! audit row), and a media socket still attached is told to close.

use std::sync::Arc;

use crate::{
    events::{kinds, Event, EventBus},
    sessions::{Session, Sessions},
};

/// Ends calls.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    sessions: Arc<Sessions>,
    events: EventBus,
}

impl Lifecycle {
    /// Over these sessions and this bus.
    pub fn new(sessions: Arc<Sessions>, events: EventBus) -> Self {
        Self { sessions, events }
    }

    /// Ends the call now. Returns the session the first time, `None` when
    /// it had already ended (or never existed).
    pub fn end(&self, session_id: &str, reason: &str) -> Option<Arc<Session>> {
        let s = self.sessions.finish(session_id, reason)?;
        let stats = s.stats.snapshot();
        tracing::info!(
            session_id = %s.id,
            call_sid = %s.call.call_id,
            stream_sid = %s.stream_id.lock().map(|x| x.clone()).unwrap_or_default(),
            reason,
            stats = %serde_json::to_string(&stats).unwrap_or_default(),
            "Call ended."
        );
        self.events
            .publish(Event::new(kinds::CALL_ENDED, &s.id).with("reason", reason));
        // A stream still attached closes its socket (it finds the session
        // ended and publishes nothing more).
        s.hangup.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.to_owned());
                true
            } else {
                false
            }
        });
        Some(s)
    }

    /// Asks for the call to end: a call with a media socket is ended by
    /// its stream (which says goodbye to the peer first); one without is
    /// ended at once.
    pub fn hang_up(&self, session: &Session, reason: &str) {
        if session.state().has_stream() {
            session.hangup.send_replace(Some(reason.to_owned()));
        } else {
            self.end(&session.id, reason);
        }
    }
}
