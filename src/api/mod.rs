//! The HTTP API (axum): health, Prometheus metrics, incidents and their timelines,
//! recordings, tickets, feedback, the OpenAPI document, and the auditor's page. Each
//! endpoint that returns data checks the caller's role.

mod audit;
mod auth;
mod console;
mod error;
mod peer;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use auth::{ApiToken, Role};
pub use error::ApiError;

use crate::handoff_log::HandoffLog;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub log: HandoffLog,
    pub tokens: Arc<Vec<ApiToken>>,
    /// How long the other platform has to accept a handoff (for the overdue report).
    pub accept_within: std::time::Duration,
    /// Where recordings are, to serve their files.
    pub recordings_dir: std::path::PathBuf,
}

/// The OpenAPI description of this API, kept in the repository and served as is.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .route("/incidents", get(audit::incidents))
        .route("/incidents/{incident}", get(audit::incident))
        .route(
            "/incidents/{incident}/recordings",
            get(audit::incident_recordings),
        )
        .route("/recordings/{file}", get(audit::recording_file))
        .route("/log/verify", get(audit::verify_log))
        .route("/console/audit", get(console::page))
        .route("/console/audit.js", get(console::script))
        .route("/console/audit.css", get(console::style))
        .route("/tickets", get(routes::tickets))
        .route("/tickets/{number}", get(routes::ticket))
        .route("/tickets/{number}/feedback", post(routes::feedback))
        .route("/overdue", get(peer::overdue))
        .route("/peer/handoff-notice", post(peer::handoff_notice))
        .route("/peer/feedback", post(peer::feedback))
        .route("/peer/work-log", post(peer::work_log))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(http = ?address, "HTTP API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
