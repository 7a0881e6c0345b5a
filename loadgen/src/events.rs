//! Listens to the host's admin event stream (`GET /api/events`, SSE) during
//! a run: end-of-speech-to-final latency of every `voice.stt.final`, and
//! `error` events (an STT queue that is full says so there).

use std::{collections::BTreeMap, time::Duration};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::{sync::watch, task::JoinHandle};

/// What the stream showed.
#[derive(Debug, Default)]
pub struct EventTally {
    /// `voice.stt.final` latency (`latency_ms`), ms, in arrival order.
    pub stt_final_ms: Vec<u64>,
    /// `error` events by `stage` (`stt`, `responder`, … or `other`).
    pub errors: BTreeMap<String, u64>,
    /// Events read, by type.
    pub by_type: BTreeMap<String, u64>,
    /// Times the host said this subscriber fell behind.
    pub lagged: u64,
}

impl EventTally {
    fn on_event(&mut self, event: &Value) {
        let kind = event["type"].as_str().unwrap_or("?");
        *self.by_type.entry(kind.to_owned()).or_default() += 1;
        match kind {
            "voice.stt.final" => {
                if let Some(ms) = event["latency_ms"].as_u64() {
                    self.stt_final_ms.push(ms);
                }
            }
            "error" => {
                let stage = event["stage"].as_str().unwrap_or("other");
                *self.errors.entry(stage.to_owned()).or_default() += 1;
            }
            "lagged" => self.lagged += 1,
            _ => {}
        }
    }
}

/// A running subscription.
pub struct Listener {
    stop: watch::Sender<bool>,
    task: JoinHandle<EventTally>,
}

/// Why the subscription failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The request failed.
    #[error("GET /api/events: {0}")]
    Request(#[from] reqwest::Error),
    /// The host refused it.
    #[error("GET /api/events answered {0} (is --admin-token right?)")]
    Status(u16),
}

impl Listener {
    /// Subscribes; events are tallied until [`Listener::finish`].
    pub async fn start(
        http: &reqwest::Client,
        base: &str,
        admin_token: &str,
    ) -> Result<Self, ListenError> {
        let resp = http
            .get(format!("{}/api/events", base.trim_end_matches('/')))
            .bearer_auth(admin_token)
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(ListenError::Status(resp.status().as_u16()));
        }
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tally = EventTally::default();
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            loop {
                let chunk = tokio::select! {
                    c = body.next() => c,
                    _ = stopped.changed() => break,
                };
                let Some(Ok(chunk)) = chunk else { break };
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    for line in buf[..end].lines() {
                        if let Some(data) = line.strip_prefix("data:") {
                            if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                                tally.on_event(&v);
                            }
                        }
                    }
                    buf.drain(..end + 2);
                }
            }
            tally
        });
        Ok(Self { stop, task })
    }

    /// Stops listening; returns the tally.
    pub async fn finish(self) -> EventTally {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
