//! The HTTP API (axum): health, Prometheus metrics, incidents and their timelines, tickets,
//! feedback, and the OpenAPI document. Each endpoint checks the caller's role.

mod auth;
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
}

/// The OpenAPI description of this API, kept in the repository and served as is.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .route("/incidents", get(routes::incidents))
        .route("/incidents/{incident}", get(routes::incident))
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
