//! Reads `/api/events` (Server-Sent Events) like an operator's script.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

/// A live subscription; events arrive in `rx`.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Events {
    /// Subscribes with the admin token.
    pub async fn subscribe(base: &str, token: &str) -> Events {
        let resp = crate::host::client()
            .get(format!("{base}/api/events"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("subscribe to events");
        assert_eq!(resp.status(), 200, "GET /api/events");
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut sse = voicegate_loadgen::events::SseReader::default();
            while let Some(Ok(chunk)) = stream.next().await {
                sse.push(&chunk, |v| {
                    let _ = tx.send(v);
                });
            }
        });
        Events {
            rx,
            seen: Vec::new(),
            task,
        }
    }

    /// Waits for the first event (seen or new) matching `pred`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Ok(None) => panic!(
                    "event stream ended while waiting for {what}; seen: {:#?}",
                    self.seen
                ),
                Err(_) => panic!(
                    "timed out after {timeout:?} waiting for {what}; seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Everything received so far.
    pub fn seen(&mut self) -> &[Value] {
        while let Ok(v) = self.rx.try_recv() {
            self.seen.push(v);
        }
        &self.seen
    }
}

/// Whether an event has this type and session.
pub fn is(event: &Value, kind: &str, session: &str) -> bool {
    event["type"] == kind && (session.is_empty() || event["session_id"] == session)
}
