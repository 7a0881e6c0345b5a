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

use tokio::sync::{mpsc, Semaphore};
use voicegate_plugin_api::{RSlice, RStr, SttRequest, Transcript};

use crate::plugins::{CallError, Stt};

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

    /// Queues one utterance; the result is sent to `done` as `wrap(SttDone)`.
    pub fn submit<T: Send + 'static>(
        &self,
        session_id: &str,
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
        let session_id = session_id.to_owned();
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
                tracing::debug!(session_id = %session_id, "Call gone before its utterance reached a worker; not transcribed.");
                return;
            }
            let rate = pool.stt.info.sample_rate;
            let audio = Duration::from_secs_f64(pcm.len() as f64 / f64::from(rate.max(1)));
            let stt = pool.stt.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let req = SttRequest {
                    pcm: RSlice::from_slice(&pcm),
                    sample_rate: rate,
                    session_id: RStr::from(session_id.as_str()),
                    language: RStr::from(""),
                    extensions_json: RStr::from(""),
                };
                let result = stt.transcribe(&req);
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
        session_id: &str,
        pcm: Vec<i16>,
        speech_end: Instant,
        done: mpsc::Sender<T>,
        wrap: impl FnOnce(SttDone) -> T + Send + 'static,
    ) -> bool {
        self.is_idle() && self.submit(session_id, pcm, speech_end, done, wrap).is_ok()
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

    use abi_stable::{sabi_trait::TD_Opaque, std_types::RResult};
    use voicegate_plugin_api::{
        abi::{SttFfi, SttFfi_TO},
        PluginError, PluginKind, RString, RVec, SttInfo,
    };

    use super::*;
    use crate::plugins::InstanceId;

    /// An engine with one worker whose first transcription waits until the
    /// test opens the gate, and which counts what it transcribed.
    #[derive(Default)]
    struct Gated {
        open: Mutex<bool>,
        opened: Condvar,
        calls: AtomicUsize,
    }

    struct GatedStt(Arc<Gated>);

    impl SttFfi for GatedStt {
        fn describe(&self) -> RResult<SttInfo, PluginError> {
            RResult::ROk(SttInfo {
                sample_rate: 16_000,
                max_concurrency: 1,
                extensions_json: RString::new(),
            })
        }
        fn transcribe(&self, req: &SttRequest<'_>) -> RResult<Transcript, PluginError> {
            let mut open = self.0.open.lock().unwrap_or_else(|p| p.into_inner());
            while !*open {
                open = self.0.opened.wait(open).unwrap_or_else(|p| p.into_inner());
            }
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            RResult::ROk(Transcript {
                text: RString::from(req.session_id.as_str()),
                segments: RVec::new(),
                confidence: abi_stable::std_types::ROption::RNone,
                language: RString::from("en"),
                extensions_json: RString::new(),
            })
        }
        fn prepare_call(&self, _: RStr<'_>) -> RResult<(), PluginError> {
            RResult::ROk(())
        }
        fn end_call(&self, _: RStr<'_>) -> RResult<(), PluginError> {
            RResult::ROk(())
        }
        fn call_ext(&self, _: RStr<'_>, _: RStr<'_>) -> RResult<RString, PluginError> {
            RResult::ROk(RString::new())
        }
    }

    fn pool(gate: &Arc<Gated>) -> SttPool {
        let id = InstanceId {
            kind: PluginKind::STT,
            instance: "gated".to_owned(),
            plugin: "test".to_owned(),
        };
        let obj = SttFfi_TO::from_value(GatedStt(gate.clone()), TD_Opaque);
        let stt = Stt::new(id, obj).expect("describe");
        SttPool::new(Arc::new(stt), 8)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_utterance_whose_call_has_gone_is_not_transcribed() {
        let gate = Arc::new(Gated::default());
        let pool = pool(&gate);
        let (live_tx, mut live_rx) = mpsc::channel(4);
        let (gone_tx, gone_rx) = mpsc::channel(4);
        let now = Instant::now();
        // The first call's utterance takes the only worker and holds it;
        // the second call's waits behind it, and that call hangs up.
        pool.submit("live-1", vec![0; 160], now, live_tx.clone(), |d| d)
            .expect("queued");
        pool.submit("gone", vec![0; 160], now, gone_tx, |d| d)
            .expect("queued");
        pool.submit("live-2", vec![0; 160], now, live_tx, |d| d)
            .expect("queued");
        drop(gone_rx);
        *gate.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        gate.opened.notify_all();

        let mut texts = Vec::new();
        for _ in 0..2 {
            let done = tokio::time::timeout(Duration::from_secs(10), live_rx.recv())
                .await
                .expect("a transcript within 10 s")
                .expect("channel open");
            texts.push(done.result.expect("transcribed").text.to_string());
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
