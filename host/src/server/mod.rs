//! The HTTP server: health, metrics, admin API, and every transport's routes.

mod admin;
mod calls;
mod dashboard;
mod health;
pub mod http;
mod metrics_init;
mod stream;
mod voice;

use std::{
    net::SocketAddr,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use axum::{
    extract::DefaultBodyLimit,
    routing::{any, get, post},
    serve::ListenerExt as _,
    Router,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::{
    audit::{Audit, AuditReader},
    config::Loaded,
    events::EventBus,
    lifecycle::Lifecycle,
    pipeline::{Pipeline, PipelineParts, SttPool},
    plugins::Registry,
    sessions::Sessions,
    telemetry::Telemetry,
};

/// Largest webhook body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Events kept for slow SSE subscribers.
const EVENT_BUFFER: usize = 4096;

/// Everything request handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The configuration.
    pub loaded: Loaded,
    /// Plugins and instances.
    pub registry: Arc<Registry>,
    /// Live calls.
    pub sessions: Arc<Sessions>,
    /// Ends calls (the one place that does).
    pub calls: Lifecycle,
    /// Events.
    pub events: EventBus,
    /// Admin bearer tokens.
    pub admin_tokens: Vec<String>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// The media pipeline's shared parts.
    pub pipeline: Pipeline,
    /// False while shutting down.
    pub ready: AtomicBool,
    /// Becomes true when shutdown begins; long-lived responses (SSE) end
    /// on it, or graceful shutdown would wait for them forever.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
    /// Audit queries; `None` when `audit.path` is empty. (Records reach the
    /// audit trail through `events`.)
    pub audit: Option<AuditReader>,
    /// Frame lag and processing histograms shared by every stream.
    pub telemetry: Arc<Telemetry>,
}

impl AppState {
    /// Builds the shared state from a loaded config and registry, without
    /// an audit trail.
    pub fn new(loaded: Loaded, registry: Registry, metrics: Option<PrometheusHandle>) -> Arc<Self> {
        Self::with_audit(loaded, registry, metrics, None)
    }

    /// Builds the shared state; every published event and admin action is
    /// also handed to `audit`.
    pub fn with_audit(
        loaded: Loaded,
        registry: Registry,
        metrics: Option<PrometheusHandle>,
        audit: Option<&Audit>,
    ) -> Arc<Self> {
        let registry = Arc::new(registry);
        let admin_tokens = loaded.config.admin.all_tokens();
        let stt = pick(&registry.stt, loaded.config.pipeline.stt.as_deref())
            .map(|stt| SttPool::new(stt, loaded.config.limits.stt_queue));
        let responder = pick(
            &registry.responders,
            loaded.config.pipeline.responder.as_deref(),
        );
        let tts = pick(&registry.tts, loaded.config.pipeline.tts.as_deref());
        let p = &loaded.config.pipeline;
        let pipeline = Pipeline::new(PipelineParts {
            stt,
            responder,
            tts,
            vad: p.vad.clone(),
            turn: p.turn.clone(),
            playout: p.playout.clone(),
            apology: p.apology.clone(),
        });
        let sessions = Arc::new(Sessions::default());
        let events = EventBus::with_audit(EVENT_BUFFER, audit.map(Audit::sink));
        Arc::new(Self {
            loaded,
            registry,
            calls: Lifecycle::new(sessions.clone(), events.clone()),
            sessions,
            events,
            admin_tokens,
            metrics,
            pipeline,
            ready: AtomicBool::new(true),
            shutting_down: tokio::sync::watch::Sender::new(false),
            audit: audit.map(Audit::reader),
            telemetry: Arc::default(),
        })
    }
}

fn pick<T>(map: &indexmap::IndexMap<String, Arc<T>>, name: Option<&str>) -> Option<Arc<T>> {
    match name {
        Some(n) => map.get(n).cloned(),
        None => map.values().next().cloned(),
    }
}

/// The full router.
pub fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/api/calls", get(admin::list_calls))
        .route("/api/calls/{session_id}", get(admin::get_call))
        .route("/api/calls/{session_id}/hangup", post(admin::hangup))
        .route("/api/events", get(admin::events))
        .route("/api/audit", get(admin::audit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(dashboard::routes())
        .route("/api/voice/{instance}", any(voice::dispatch_root))
        .route("/api/voice/{instance}/", any(voice::dispatch_root))
        .route("/api/voice/{instance}/{*path}", any(voice::dispatch))
        .merge(admin)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until SIGTERM or ctrl-c, then drains for `shutdown_grace_secs`.
pub async fn serve(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    metrics_init::describe();
    let grace = Duration::from_secs(state.loaded.config.server.shutdown_grace_secs);
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(%addr, public_url = %state.loaded.config.server.public_url, "Serving.");
    let expiry = tokio::spawn(calls::expire_unconnected(state.clone()));
    let shutdown_state = state.clone();
    // Media frames are small and latency-bound: no Nagle delay on replies
    // (marks, outbound audio) behind unacknowledged data.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "Cannot set TCP_NODELAY.");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "Shutting down: no new calls; ending live ones."
            );
            shutdown_state
                .ready
                .store(false, std::sync::atomic::Ordering::SeqCst);
            shutdown_state.shutting_down.send_replace(true);
            for session in shutdown_state.sessions.live() {
                shutdown_state.calls.hang_up(&session, "shutdown");
            }
            // Give streams a moment to say goodbye before connections close.
            let deadline = tokio::time::Instant::now() + grace;
            while shutdown_state.sessions.live_count() > 0 && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Whatever is left still gets its end recorded.
            for session in shutdown_state.sessions.live() {
                shutdown_state.calls.end(&session.id, "shutdown");
            }
        })
        .await;
    expiry.abort();
    tracing::info!("Stopped.");
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "Cannot listen for ctrl-c.");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "Cannot listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
