//! A bounded pool for STT: at most `workers` transcriptions at once on the
//! blocking pool, at most `queue` waiting; beyond that, utterances are
//! refused (and the caller gets an `error` event) instead of piling up.
//! An utterance whose call has gone by the time a worker is free is not
//! transcribed: nobody would receive the transcript, and under load the
//! worker is better spent on callers still on the line.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, OnceCell, Semaphore};

use crate::{
    events::{kinds, Event, EventBus},
    model::{Hypothesis, Transcript},
    plugins::{api::PartialSink, CallError, Stt, SttSession},
};

/// What comes back from one transcription.
#[derive(Debug)]
pub struct SttDone {
    /// The transcript or the plugin's error.
    pub result: Result<Transcript, CallError>,
    /// When the caller stopped speaking (wall clock).
    pub speech_end: Instant,
    /// Time spent waiting for a worker.
    pub wait: Duration,
    /// Time spent transcribing.
    pub run: Duration,
    /// Length of the utterance.
    pub audio: Duration,
}

/// The queue is full.
#[derive(Debug, thiserror::Error)]
#[error("the STT queue is full ({0} utterances waiting)")]
pub struct QueueFull(pub usize);

/// One call's STT session, opened once (when the call is accepted, or by the
/// first utterance if that comes first) on the blocking pool, and closed
/// there when the call's last holder lets go.
pub struct SttSlot {
    stt: Arc<Stt>,
    session_id: String,
    events: EventBus,
    session: OnceCell<Option<Arc<SttSession>>>,
}

impl std::fmt::Debug for SttSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SttSlot")
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// Publishes a session's interim hypotheses as `voice.stt.partial`.
struct PublishPartials {
    events: EventBus,
    session_id: String,
}

impl PartialSink for PublishPartials {
    fn partial(&self, h: Hypothesis) {
        self.events.publish(
            Event::new(kinds::STT_PARTIAL, &self.session_id)
                .with("utterance", h.utterance)
                .with("text", h.text)
                .with("stable", h.stable),
        );
    }
}

impl SttSlot {
    /// A slot for one call; nothing is opened yet.
    pub fn new(stt: Arc<Stt>, session_id: &str, events: EventBus) -> Arc<Self> {
        Arc::new(Self {
            stt,
            session_id: session_id.to_owned(),
            events,
            session: OnceCell::new(),
        })
    }

    /// Opens the session in the background (the call was just accepted).
    pub fn prepare(self: &Arc<Self>) {
        let slot = self.clone();
        tokio::spawn(async move {
            slot.session().await;
        });
    }

    /// The session, opening it on the blocking pool if needed; `None` when
    /// the plugin could not open it (logged once).
    async fn session(&self) -> Option<Arc<SttSession>> {
        self.session
            .get_or_init(|| async {
                let stt = self.stt.clone();
                let id = self.session_id.clone();
                let partials: Arc<dyn PartialSink> = Arc::new(PublishPartials {
                    events: self.events.clone(),
                    session_id: id.clone(),
                });
                match tokio::task::spawn_blocking(move || stt.open_session(&id, partials)).await {
                    Ok(Ok(session)) => Some(Arc::new(session)),
                    Ok(Err(error)) => {
                        tracing::warn!(session_id = %self.session_id, %error, "STT could not open a session for the call; it is not transcribed.");
                        None
                    }
                    Err(join) => {
                        tracing::error!(session_id = %self.session_id, error = %join, "Opening the STT session failed.");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Abandons `utterance` (a superseded speculation); quick.
    pub fn cancel(&self, utterance: u64) {
        if let Some(Some(session)) = self.session.get() {
            session.cancel(utterance);
        }
    }
}

impl Drop for SttSlot {
    fn drop(&mut self) {
        // Closing a session runs plugin code that may block: not here,
        // possibly on the reactor.
        if let Some(Some(session)) = self.session.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(session));
                }
                Err(_) => drop(session),
            }
        }
    }
}

/// Shared by every call.
#[derive(Debug, Clone)]
pub struct SttPool {
    stt: Arc<Stt>,
    permits: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    completed: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    limit: usize,
    workers: usize,
}

impl SttPool {
    /// A pool sized by the engine's concurrency (or the core count).
    pub fn new(stt: Arc<Stt>, queue_limit: usize) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let workers = match stt.info.max_concurrency {
            0 => cores,
            n => n as usize,
        };
        Self {
            stt,
            permits: Arc::new(Semaphore::new(workers)),
            queued: Arc::new(AtomicUsize::new(0)),
            completed: Arc::new(AtomicU64::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            skipped: Arc::new(AtomicU64::new(0)),
            limit: queue_limit.max(1),
            workers,
        }
    }

    /// The engine.
    pub fn stt(&self) -> &Arc<Stt> {
        &self.stt
    }

    /// The rate the engine wants.
    pub fn sample_rate(&self) -> u32 {
        self.stt.info.sample_rate
    }

    /// Queues one utterance of a call; the result is sent to `done` as
    /// `wrap(SttDone)`.
    pub fn submit<T: Send + 'static>(
        &self,
        slot: &Arc<SttSlot>,
        utterance: u64,
        pcm: Vec<i16>,
        speech_end: Instant,
        done: mpsc::Sender<T>,
        wrap: impl FnOnce(SttDone) -> T + Send + 'static,
    ) -> Result<(), QueueFull> {
        let waiting = self.queued.fetch_add(1, Ordering::AcqRel);
        if waiting >= self.limit {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("voicegate_stt_refused_total").increment(1);
            return Err(QueueFull(waiting));
        }
        metrics::gauge!("voicegate_stt_queue_depth").set((waiting + 1) as f64);
        let pool = self.clone();
        let slot = slot.clone();
        tokio::spawn(async move {
            let enqueued = Instant::now();
            let permit = pool.permits.clone().acquire_owned().await;
            let depth = pool.queued.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
            metrics::gauge!("voicegate_stt_queue_depth").set(depth as f64);
            let wait = enqueued.elapsed();
            metrics::histogram!("voicegate_stt_queue_wait_seconds").record(wait.as_secs_f64());
            if done.is_closed() {
                pool.skipped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("voicegate_stt_skipped_total").increment(1);
                tracing::debug!(session_id = %slot.session_id, "Call gone before its utterance reached a worker; not transcribed.");
                return;
            }
            let Some(session) = slot.session().await else {
                return;
            };
            drop(slot);
            let rate = pool.stt.info.sample_rate;
            let audio = Duration::from_secs_f64(pcm.len() as f64 / f64::from(rate.max(1)));
            // The session moves into the worker, so the last reference (and
            // the plugin's close) never drops on the reactor.
            let joined = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let result = session
                    .push(utterance, &pcm)
                    .and_then(|()| session.finish(utterance));
                (result, started.elapsed())
            })
            .await;
            drop(permit);
            let (result, run) = match joined {
                Ok(r) => r,
                Err(join) => {
                    tracing::error!(error = %join, "STT task failed.");
                    return;
                }
            };
            pool.completed.fetch_add(1, Ordering::Relaxed);
            metrics::histogram!("voicegate_stt_seconds").record(run.as_secs_f64());
            let _ = done
                .send(wrap(SttDone {
                    result,
                    speech_end,
                    wait,
                    run,
                    audio,
                }))
                .await;
        });
        Ok(())
    }

    /// Queues a speculative transcription only when a worker is free and
    /// nothing waits: speculation uses idle capacity and never delays another
    /// caller's final utterance in the queue. `false` when not queued.
    pub fn submit_if_idle<T: Send + 'static>(
        &self,
        slot: &Arc<SttSlot>,
        utterance: u64,
        pcm: Vec<i16>,
        speech_end: Instant,
        done: mpsc::Sender<T>,
        wrap: impl FnOnce(SttDone) -> T + Send + 'static,
    ) -> bool {
        self.is_idle()
            && self
                .submit(slot, utterance, pcm, speech_end, done, wrap)
                .is_ok()
    }

    /// A worker is free and nothing waits for one.
    pub fn is_idle(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0 && self.permits.available_permits() > 0
    }

    /// Numbers for the admin API.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "instance": self.stt.id.instance,
            "workers": self.workers,
            "queue_limit": self.limit,
            "queued": self.queued.load(Ordering::Relaxed),
            "busy": self.workers - self.permits.available_permits().min(self.workers),
            "completed": self.completed.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "skipped": self.skipped.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::{
        model::{Failure, SttInfo},
        plugins::{
            api::{SttApi, SttSessionApi},
            InstanceId, Kind,
        },
    };

    /// An engine with one worker whose transcriptions wait until the test
    /// opens the gate, which says when the first one has started, and which
    /// counts what it transcribed. A session's transcript is its call's id.
    #[derive(Default)]
    struct Gated {
        open: Mutex<bool>,
        opened: Condvar,
        started: tokio::sync::Notify,
        calls: AtomicUsize,
    }

    struct GatedStt(Arc<Gated>);

    struct GatedSession(Arc<Gated>, String);

    impl SttApi for GatedStt {
        fn describe(&self) -> Result<SttInfo, Failure> {
            Ok(SttInfo {
                sample_rate: 16_000,
                max_concurrency: 1,
                streaming: false,
            })
        }
        fn open_session(
            &self,
            session_id: &str,
            _: Arc<dyn PartialSink>,
        ) -> Result<Box<dyn SttSessionApi>, Failure> {
            Ok(Box::new(GatedSession(
                self.0.clone(),
                session_id.to_owned(),
            )))
        }
    }

    impl SttSessionApi for GatedSession {
        fn push(&self, _: u64, _: &[i16]) -> Result<(), Failure> {
            Ok(())
        }
        fn finish(&self, _: u64) -> Result<Transcript, Failure> {
            self.0.started.notify_one();
            let mut open = self.0.open.lock().unwrap_or_else(|p| p.into_inner());
            while !*open {
                open = self.0.opened.wait(open).unwrap_or_else(|p| p.into_inner());
            }
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            Ok(Transcript {
                text: self.1.clone(),
                confidence: None,
                language: "en".to_owned(),
            })
        }
        fn cancel(&self, _: u64) {}
    }

    fn pool(gate: &Arc<Gated>) -> SttPool {
        let id = InstanceId {
            kind: Kind::Stt,
            instance: "gated".to_owned(),
            plugin: "test".to_owned(),
        };
        let stt = Stt::new(id, Box::new(GatedStt(gate.clone()))).expect("describe");
        SttPool::new(Arc::new(stt), 8)
    }

    // One runtime thread: spawned jobs reach the semaphore in the order they
    // were queued, so the test does not depend on the scheduler.
    #[tokio::test(flavor = "current_thread")]
    async fn an_utterance_whose_call_has_gone_is_not_transcribed() {
        let gate = Arc::new(Gated::default());
        let pool = pool(&gate);
        let bus = EventBus::default();
        let slot = |id: &str| SttSlot::new(pool.stt().clone(), id, bus.clone());
        let (live_1, gone, live_2) = (slot("live-1"), slot("gone"), slot("live-2"));
        let (live_tx, mut live_rx) = mpsc::channel(4);
        let (gone_tx, gone_rx) = mpsc::channel(4);
        let now = Instant::now();
        // The first call's utterance takes the only worker and holds it.
        pool.submit(&live_1, 1, vec![0; 160], now, live_tx.clone(), |d| d)
            .expect("queued");
        tokio::time::timeout(Duration::from_secs(10), gate.started.notified())
            .await
            .expect("the first transcription starts");
        // The next two wait behind it, in this order; then the second
        // call hangs up.
        pool.submit(&gone, 1, vec![0; 160], now, gone_tx, |d| d)
            .expect("queued");
        pool.submit(&live_2, 1, vec![0; 160], now, live_tx, |d| d)
            .expect("queued");
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.stats()["queued"], 2, "both wait for the worker");
        drop(gone_rx);
        *gate.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        gate.opened.notify_all();

        let mut texts = Vec::new();
        for _ in 0..2 {
            let done = tokio::time::timeout(Duration::from_secs(10), live_rx.recv())
                .await
                .expect("a transcript within 10 s")
                .expect("channel open");
            texts.push(done.result.expect("transcribed").text);
        }
        assert_eq!(
            texts,
            ["live-1", "live-2"],
            "callers still on the line are served in order"
        );
        assert_eq!(
            gate.calls.load(Ordering::SeqCst),
            2,
            "the gone call's utterance never ran"
        );
        let stats = pool.stats();
        assert_eq!(stats["skipped"], 1, "{stats}");
        assert_eq!(stats["completed"], 2, "{stats}");
        assert_eq!(stats["queued"], 0, "{stats}");
    }
}
