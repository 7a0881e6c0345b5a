//! A scripted agent service for the HTTP responder's webhook mode: a real
//! HTTP server on loopback that answers each turn as the test says (text,
//! a delay past the responder's timeout, an error status) and records every
//! turn it was sent.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use serde_json::{json, Value};

/// How the agent answers one turn.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with `{"text": …}`.
    Text(String),
    /// Waits, then answers with the text.
    Slow(Duration, String),
    /// An error status with a small body.
    Status(u16),
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    last: Option<Reply>,
    turns: Vec<Value>,
}

/// The running agent.
pub struct Agent {
    /// The webhook URL to configure.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts answering with `script`, in order; the last reply repeats.
    pub async fn start(script: Vec<Reply>) -> Agent {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/turn", post(turn))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the agent's port");
        let addr = listener.local_addr().expect("agent address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Agent {
            url: format!("http://{addr}/turn"),
            shared,
            task,
        }
    }

    /// Every turn received so far, as JSON.
    pub fn turns(&self) -> Vec<Value> {
        self.shared
            .lock()
            .map(|s| s.turns.clone())
            .unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn turn(
    State(shared): State<Arc<Mutex<Shared>>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let reply = {
        let Ok(mut s) = shared.lock() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
        };
        s.turns.push(body);
        let next = s.script.pop_front().or_else(|| s.last.clone());
        s.last = next.clone();
        next
    };
    match reply {
        Some(Reply::Text(text)) => (StatusCode::OK, Json(json!({ "text": text }))),
        Some(Reply::Slow(delay, text)) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, Json(json!({ "text": text })))
        }
        Some(Reply::Status(code)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": "scripted failure"})),
        ),
        None => (StatusCode::OK, Json(json!({ "text": "" }))),
    }
}
