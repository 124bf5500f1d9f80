//! The endpoints the other platform calls, and the overdue report. Peer messages must carry
//! an `Idempotency-Key` header; a repeated delivery gets the first answer again.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde::de::DeserializeOwned;

use super::auth::{authorize, Role};
use super::error::ApiError;
use super::ApiState;
use crate::tickets::outbox::now_ms;
use crate::tickets::peer::{self, HandoffNotice, PeerError, PeerFeedback, WorkLog};
use crate::tickets::supervision;

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadRequest("an Idempotency-Key header is required".into()))
}

/// Reads the body as `T`, keeping the raw JSON too.
fn body<T: DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(serde_json::Value, T), ApiError> {
    let Json(value) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let typed = serde_json::from_value(value.clone())
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    Ok((value, typed))
}

fn peer_error(error: PeerError) -> ApiError {
    match error {
        PeerError::NotFound(m) => ApiError::NotFound(m),
        PeerError::NotYet(m) => ApiError::Conflict(m),
        PeerError::Invalid(m) => ApiError::Unprocessable(m),
        PeerError::Database(e) => ApiError::Internal(e.to_string()),
    }
}

pub async fn handoff_notice(
    State(state): State<ApiState>,
    headers: HeaderMap,
    raw: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Peer])?;
    let key = idempotency_key(&headers)?;
    let (_, notice): (_, HandoffNotice) = body(raw)?;
    let response = peer::receive_notice(state.log.pool(), &key, &notice, now_ms())
        .await
        .map_err(peer_error)?;
    Ok(Json(response))
}

pub async fn feedback(
    State(state): State<ApiState>,
    headers: HeaderMap,
    raw: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Peer])?;
    let key = idempotency_key(&headers)?;
    let (_, feedback): (_, PeerFeedback) = body(raw)?;
    let response = peer::receive_feedback(
        state.log.pool(),
        state.log.calendar(),
        &key,
        &feedback,
        now_ms(),
    )
    .await
    .map_err(peer_error)?;
    Ok(Json(response))
}

pub async fn work_log(
    State(state): State<ApiState>,
    headers: HeaderMap,
    raw: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Peer])?;
    let key = idempotency_key(&headers)?;
    let (value, log): (_, WorkLog) = body(raw)?;
    let response = peer::receive_work_log(state.log.pool(), &key, &value, &log, now_ms())
        .await
        .map_err(peer_error)?;
    Ok(Json(response))
}

pub async fn overdue(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Operator, Role::Auditor])?;
    let notices = supervision::overdue(
        state.log.pool(),
        state.log.calendar(),
        now_ms(),
        state.accept_within.as_millis() as i64,
    )
    .await?;
    Ok(Json(notices))
}
