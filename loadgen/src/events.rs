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
    /// Events the host skipped because this subscriber fell behind (its
    /// `lagged` messages): the tally is incomplete by that many.
    pub missed: u64,
}

impl EventTally {
    fn on_event(&mut self, event: &Value) {
        match event["type"].as_str().unwrap_or("?") {
            "voice.stt.final" => {
                if let Some(ms) = event["latency_ms"].as_u64() {
                    self.stt_final_ms.push(ms);
                }
            }
            "error" => {
                let stage = event["stage"].as_str().unwrap_or("other");
                *self.errors.entry(stage.to_owned()).or_default() += 1;
            }
            "lagged" => self.missed += event["missed"].as_u64().unwrap_or(0),
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
            let mut sse = SseReader::default();
            loop {
                let chunk = tokio::select! {
                    c = body.next() => c,
                    _ = stopped.changed() => break,
                };
                let Some(Ok(chunk)) = chunk else { break };
                sse.push(&chunk, |v| tally.on_event(&v));
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

/// Splits a Server-Sent Events body into its JSON `data:` payloads.
/// Bytes are kept until a whole event (`\n\n`) has arrived, so a UTF-8
/// character split between two network reads is decoded whole.
#[derive(Debug, Default)]
pub struct SseReader {
    buf: Vec<u8>,
}

impl SseReader {
    /// Adds `chunk` and calls `on` with every complete event's JSON data.
    pub fn push(&mut self, chunk: &[u8], mut on: impl FnMut(Value)) {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.buf[start..]
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| start + i)
        {
            let block = String::from_utf8_lossy(&self.buf[start..end]);
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        on(v);
                    }
                }
            }
            start = end + 2;
        }
        self.buf.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_arrive_whole() {
        let body = "event: voice.stt.final\ndata: {\"type\":\"voice.stt.final\",\"text\":\"café ☕\"}\n\n: keep-alive\n\nevent: lagged\ndata: {\"type\":\"lagged\",\"missed\":3}\n\n";
        let bytes = body.as_bytes();
        // Every split point, including inside the multi-byte characters.
        for cut in 0..=bytes.len() {
            let mut reader = SseReader::default();
            let mut got = Vec::new();
            reader.push(&bytes[..cut], |v| got.push(v));
            reader.push(&bytes[cut..], |v| got.push(v));
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0]["text"], "café ☕", "cut at {cut}");
            assert_eq!(got[1]["missed"], 3, "cut at {cut}");
        }
        let mut tally = EventTally::default();
        SseReader::default().push(bytes, |v| tally.on_event(&v));
        assert_eq!(tally.missed, 3);
    }
}
