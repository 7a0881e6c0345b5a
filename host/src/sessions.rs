//! Sessions: one per accepted call, from webhook to stream stop.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Instant,
};

use rand::Rng;
use serde::Serialize;
use tokio::sync::watch;

use crate::{
    model::{CallInfo, RiskTier},
    pipeline::SttSlot,
    plugins::Transport,
};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SessionState {
    /// The webhook accepted the call; no media yet.
    Created,
    /// A media socket has claimed the session and waits for the stream to
    /// start. Shown as `CREATED` in the admin API (the documented states).
    #[serde(rename = "CREATED")]
    Connecting,
    /// Media is flowing.
    Active,
    /// Ended; resources freed.
    Stopped,
}

impl SessionState {
    fn from_u8(v: u8) -> Self {
        match v {
            CREATED => Self::Created,
            CONNECTING => Self::Connecting,
            ACTIVE => Self::Active,
            _ => Self::Stopped,
        }
    }

    /// Whether a media socket owns the session (and will end it).
    pub fn has_stream(self) -> bool {
        matches!(self, Self::Connecting | Self::Active)
    }
}

const CREATED: u8 = 0;
const CONNECTING: u8 = 1;
const ACTIVE: u8 = 2;
const STOPPED: u8 = 3;

/// Per-stream counters, updated by the connection task without locks.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Frames received.
    pub frames_in: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Frames sent.
    pub frames_out: AtomicU64,
    /// Bytes sent.
    pub bytes_out: AtomicU64,
    /// Audio chunks decoded.
    pub audio_chunks_in: AtomicU64,
    /// Audio chunks sent.
    pub audio_chunks_out: AtomicU64,
    /// Frames the transport could not decode.
    pub decode_errors: AtomicU64,
    /// Frames dropped by the flood guard.
    pub frames_dropped: AtomicU64,
    /// Marks sent.
    pub marks_out: AtomicU64,
    /// Marks echoed back.
    pub marks_in: AtomicU64,
    /// Samples of silence inserted for gaps in timestamps.
    pub gap_fill_samples: AtomicU64,
    /// Utterances detected (and sent to STT when one is configured).
    pub utterances: AtomicU64,
    /// Utterances dropped because the STT queue was full.
    pub utterances_dropped: AtomicU64,
    /// Replies the caller interrupted.
    pub barge_ins: AtomicU64,
    /// Short speech over a reply, taken as a backchannel and not a turn.
    pub backchannels: AtomicU64,
    /// Marks echoed for replies already dropped (ignored).
    pub marks_stale: AtomicU64,
}

/// A snapshot of [`StreamStats`] for the admin API, or their sum over
/// many streams.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Frames received.
    pub frames_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Audio chunks decoded.
    pub audio_chunks_in: u64,
    /// Audio chunks sent.
    pub audio_chunks_out: u64,
    /// Frames the transport could not decode.
    pub decode_errors: u64,
    /// Frames dropped by the flood guard.
    pub frames_dropped: u64,
    /// Marks sent.
    pub marks_out: u64,
    /// Marks echoed back.
    pub marks_in: u64,
    /// Samples of silence inserted for gaps in timestamps.
    pub gap_fill_samples: u64,
    /// Utterances detected.
    pub utterances: u64,
    /// Utterances dropped because the STT queue was full.
    pub utterances_dropped: u64,
    /// Replies the caller interrupted.
    pub barge_ins: u64,
    /// Short speech over a reply, taken as a backchannel.
    pub backchannels: u64,
    /// Marks echoed for replies already dropped.
    pub marks_stale: u64,
}

impl StatsSnapshot {
    /// Adds another snapshot's counts.
    pub fn add(&mut self, o: &StatsSnapshot) {
        self.frames_in += o.frames_in;
        self.bytes_in += o.bytes_in;
        self.frames_out += o.frames_out;
        self.bytes_out += o.bytes_out;
        self.audio_chunks_in += o.audio_chunks_in;
        self.audio_chunks_out += o.audio_chunks_out;
        self.decode_errors += o.decode_errors;
        self.frames_dropped += o.frames_dropped;
        self.marks_out += o.marks_out;
        self.marks_in += o.marks_in;
        self.gap_fill_samples += o.gap_fill_samples;
        self.utterances += o.utterances;
        self.utterances_dropped += o.utterances_dropped;
        self.barge_ins += o.barge_ins;
        self.backchannels += o.backchannels;
        self.marks_stale += o.marks_stale;
    }
}

impl StreamStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            frames_in: r(&self.frames_in),
            bytes_in: r(&self.bytes_in),
            frames_out: r(&self.frames_out),
            bytes_out: r(&self.bytes_out),
            audio_chunks_in: r(&self.audio_chunks_in),
            audio_chunks_out: r(&self.audio_chunks_out),
            decode_errors: r(&self.decode_errors),
            frames_dropped: r(&self.frames_dropped),
            marks_out: r(&self.marks_out),
            marks_in: r(&self.marks_in),
            gap_fill_samples: r(&self.gap_fill_samples),
            utterances: r(&self.utterances),
            utterances_dropped: r(&self.utterances_dropped),
            barge_ins: r(&self.barge_ins),
            backchannels: r(&self.backchannels),
            marks_stale: r(&self.marks_stale),
        }
    }
}

/// One call.
#[derive(Debug)]
pub struct Session {
    /// Unguessable id, naming the transport.
    pub id: String,
    /// The transport instance.
    pub transport: Arc<Transport>,
    /// The call as the transport reported it.
    pub call: CallInfo,
    /// Tier assigned by policy.
    pub tier: RiskTier,
    /// When it was created.
    pub created: Instant,
    /// RFC 3339 creation time.
    pub created_at: String,
    state: AtomicU8,
    /// The carrier's stream id, once known.
    pub stream_id: Mutex<String>,
    /// Counters.
    pub stats: StreamStats,
    /// Set to a reason to end the call (admin hang-up, carrier notice).
    pub hangup: watch::Sender<Option<String>>,
    /// Why it ended.
    pub end_reason: Mutex<Option<String>>,
    /// RFC 3339 end time.
    pub ended_at: Mutex<Option<String>>,
    /// The call's STT session, opened when the call is accepted.
    pub stt: Option<Arc<SttSlot>>,
}

/// What the admin API shows of a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    session_id: String,
    transport: String,
    state: SessionState,
    call_id: String,
    stream_id: String,
    from: String,
    to: String,
    tier: &'static str,
    created_at: String,
    ended_at: Option<String>,
    end_reason: Option<String>,
    stats: StatsSnapshot,
}

impl Session {
    /// Current state.
    pub fn state(&self) -> SessionState {
        SessionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// CREATED → CONNECTING: a media socket claims the session. Only one
    /// socket wins; false for every other (and for ended sessions).
    pub fn claim(&self) -> bool {
        self.state
            .compare_exchange(CREATED, CONNECTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// CONNECTING (or CREATED) → ACTIVE; false if it was neither.
    pub fn activate(&self) -> bool {
        self.state
            .compare_exchange(CONNECTING, ACTIVE, Ordering::AcqRel, Ordering::Acquire)
            .or_else(|_| {
                self.state
                    .compare_exchange(CREATED, ACTIVE, Ordering::AcqRel, Ordering::Acquire)
            })
            .is_ok()
    }

    /// Any state → STOPPED; true only the first time.
    pub fn stop(&self, reason: &str) -> bool {
        let was = self.state.swap(STOPPED, Ordering::AcqRel);
        if was == STOPPED {
            return false;
        }
        if let Ok(mut r) = self.end_reason.lock() {
            *r = Some(reason.to_owned());
        }
        if let Ok(mut t) = self.ended_at.lock() {
            *t = Some(crate::events::now_rfc3339());
        }
        true
    }

    /// The admin view.
    pub fn view(&self) -> SessionView {
        SessionView {
            session_id: self.id.clone(),
            transport: self.transport.id.instance.clone(),
            state: self.state(),
            call_id: self.call.call_id.clone(),
            stream_id: self.stream_id.lock().map(|s| s.clone()).unwrap_or_default(),
            from: self.call.from.clone(),
            to: self.call.to.clone(),
            tier: self.tier.name(),
            created_at: self.created_at.clone(),
            ended_at: self.ended_at.lock().ok().and_then(|t| t.clone()),
            end_reason: self.end_reason.lock().ok().and_then(|r| r.clone()),
            stats: self.stats.snapshot(),
        }
    }
}

/// Live sessions, plus a short memory of ended ones for the admin API.
#[derive(Debug, Default)]
pub struct Sessions {
    live: RwLock<HashMap<String, Arc<Session>>>,
    /// Live sessions plus admissions in progress: what `limits.max_calls`
    /// bounds. Reserved before the policy chain runs, so a burst of
    /// webhooks cannot all pass the check and overshoot.
    slots: std::sync::atomic::AtomicUsize,
    ended: Mutex<VecDeque<Arc<Session>>>,
    /// Counters of every ended session, by transport instance. Streams
    /// count into their own session only; totals are summed on request.
    ended_totals: Mutex<BTreeMap<String, StatsSnapshot>>,
}

/// How many ended sessions stay visible.
const ENDED_KEPT: usize = 200;

/// A fresh session id: `<transport>-<call id>-<128 random bits>`.
pub fn new_session_id(transport: &str, call_id: &str) -> String {
    let call: String = call_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    let random: u128 = rand::rng().random();
    if call.is_empty() {
        format!("{transport}-{random:032x}")
    } else {
        format!("{transport}-{call}-{random:032x}")
    }
}

/// A slot under `limits.max_calls`, held while a call is admitted; it
/// becomes the session's slot, or is given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    sessions: Arc<Sessions>,
    armed: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.sessions.slots.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Sessions {
    /// Takes one of `max` call slots, or `None` when all are taken.
    pub fn reserve(self: &Arc<Self>, max: usize) -> Option<Reservation> {
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Reservation {
                sessions: self.clone(),
                armed: true,
            })
    }

    /// Registers a new session in the slot `reservation` holds: CREATED, or
    /// ACTIVE for a stream that opened its own call.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        mut reservation: Reservation,
        id: String,
        transport: Arc<Transport>,
        call: CallInfo,
        tier: RiskTier,
        active: bool,
        stt: Option<Arc<SttSlot>>,
    ) -> Arc<Session> {
        let (hangup, _) = watch::channel(None);
        let session = Arc::new(Session {
            id: id.clone(),
            transport,
            call,
            tier,
            created: Instant::now(),
            created_at: crate::events::now_rfc3339(),
            state: AtomicU8::new(if active { ACTIVE } else { CREATED }),
            stream_id: Mutex::new(String::new()),
            stats: StreamStats::default(),
            hangup,
            end_reason: Mutex::new(None),
            ended_at: Mutex::new(None),
            stt,
        });
        if let Ok(mut live) = self.live.write() {
            live.insert(id, session.clone());
            // The slot now belongs to the session; `finish` gives it back.
            reservation.armed = false;
        }
        metrics::gauge!("voicegate_calls_active").set(self.live_count() as f64);
        session
    }

    /// A live session.
    pub fn get_live(&self, id: &str) -> Option<Arc<Session>> {
        self.live.read().ok()?.get(id).cloned()
    }

    /// A live or recently ended session.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.get_live(id)
            .or_else(|| self.ended.lock().ok()?.iter().find(|s| s.id == id).cloned())
    }

    /// The live session of a transport's call id.
    pub fn find_by_call(&self, transport: &str, call_id: &str) -> Option<Arc<Session>> {
        self.live
            .read()
            .ok()?
            .values()
            .find(|s| s.transport.id.instance == transport && s.call.call_id == call_id)
            .cloned()
    }

    /// Stops a session and moves it to the ended list. True the first time.
    pub fn finish(&self, id: &str, reason: &str) -> Option<Arc<Session>> {
        let session = {
            let mut live = self.live.write().ok()?;
            let session = live.remove(id)?;
            self.slots.fetch_sub(1, Ordering::AcqRel);
            // Under the live lock, so `totals` sees the session in exactly
            // one of the two places.
            if let Ok(mut totals) = self.ended_totals.lock() {
                totals
                    .entry(session.transport.id.instance.clone())
                    .or_default()
                    .add(&session.stats.snapshot());
            }
            session
        };
        session.stop(reason);
        metrics::gauge!("voicegate_calls_active").set(self.live_count() as f64);
        if let Ok(mut ended) = self.ended.lock() {
            if ended.len() >= ENDED_KEPT {
                ended.pop_front();
            }
            ended.push_back(session.clone());
        }
        Some(session)
    }

    /// Live sessions.
    pub fn live(&self) -> Vec<Arc<Session>> {
        self.live
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Recently ended sessions, newest last.
    pub fn ended(&self) -> Vec<Arc<Session>> {
        self.ended
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of live sessions.
    pub fn live_count(&self) -> usize {
        self.live.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Every stream's counters since the host started, by transport
    /// instance: ended sessions plus live ones. O(live sessions); for
    /// `/metrics` and the admin API, never the media path.
    pub fn totals(&self) -> BTreeMap<String, StatsSnapshot> {
        let Ok(live) = self.live.read() else {
            return BTreeMap::new();
        };
        let mut totals = self
            .ended_totals
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        for session in live.values() {
            totals
                .entry(session.transport.id.instance.clone())
                .or_default()
                .add(&session.stats.snapshot());
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_bound_the_calls_and_come_back() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.reserve(2).expect("first");
        let b = sessions.reserve(2).expect("second");
        assert!(sessions.reserve(2).is_none(), "both slots are taken");
        drop(a);
        let c = sessions
            .reserve(2)
            .expect("a dropped reservation frees its slot");
        drop((b, c));
        assert!(sessions.reserve(1).is_some());
    }

    #[test]
    fn session_ids_name_the_transport_and_are_unique() {
        let a = new_session_id("twilio", "CA0123");
        let b = new_session_id("twilio", "CA0123");
        assert!(a.starts_with("twilio-CA0123-"));
        assert_ne!(a, b);
        assert_eq!(a.len(), "twilio-CA0123-".len() + 32);
        assert!(new_session_id("t", "../x?").starts_with("t-x-"));
    }
}
