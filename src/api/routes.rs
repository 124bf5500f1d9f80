//! The endpoints. Bodies are validated before anything is written: malformed JSON is 400,
//! well-formed but invalid fields are 422, with a message that says which.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use sqlx::Row;

use super::auth::{authorize, Role};
use super::error::ApiError;
use super::{ApiState, OPENAPI};
use crate::tickets::store::{self, FeedbackError, STATUSES};

const READERS: &[Role] = &[Role::Operator, Role::Auditor];

pub async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Prometheus text exposition (version 0.0.4), counted from the database at each scrape.
pub async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Auditor])?;
    let pool = state.log.pool();
    let incidents: i64 = sqlx::query("SELECT COUNT(DISTINCT incident) AS n FROM handoff_events")
        .fetch_one(pool)
        .await?
        .get("n");
    let mut text = String::new();
    text += "# HELP hotline_incidents_total Incidents received.\n# TYPE hotline_incidents_total counter\n";
    text += &format!("hotline_incidents_total {incidents}\n");
    text += "# HELP hotline_transfers_total Handoffs by mode and result.\n# TYPE hotline_transfers_total counter\n";
    let rows = sqlx::query(
        "SELECT event, details FROM handoff_events WHERE event IN ('transfer_completed', 'transfer_cancelled')",
    )
    .fetch_all(pool)
    .await?;
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in rows {
        let event: String = row.get("event");
        let details: serde_json::Value =
            serde_json::from_str(&row.get::<String, _>("details")).unwrap_or_default();
        let mode = details["mode"].as_str().unwrap_or("unknown").to_string();
        let result = if event == "transfer_completed" {
            "completed"
        } else {
            "cancelled"
        };
        *counts.entry((mode, result.to_string())).or_default() += 1;
    }
    for ((mode, result), n) in counts {
        text += &format!("hotline_transfers_total{{mode=\"{mode}\",result=\"{result}\"}} {n}\n");
    }
    text += "# HELP hotline_tickets Tickets by status.\n# TYPE hotline_tickets gauge\n";
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tickets GROUP BY status")
        .fetch_all(pool)
        .await?;
    for row in rows {
        text += &format!(
            "hotline_tickets{{status=\"{}\"}} {}\n",
            row.get::<String, _>("status"),
            row.get::<i64, _>("n")
        );
    }
    let backlog = crate::tickets::outbox::backlog(pool).await?;
    text += "# HELP hotline_outbox_backlog Messages to the other platform not yet delivered.\n# TYPE hotline_outbox_backlog gauge\n";
    text += &format!("hotline_outbox_backlog {backlog}\n");
    let overdue = crate::tickets::supervision::find_overdue(
        pool,
        state.log.calendar(),
        crate::tickets::outbox::now_ms(),
        state.accept_within.as_millis() as i64,
    )
    .await?;
    text += "# HELP hotline_overdue_tickets Tickets in the overdue report.\n# TYPE hotline_overdue_tickets gauge\n";
    text += &format!("hotline_overdue_tickets {}\n", overdue.len());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketFilter {
    status: Option<String>,
    limit: Option<i64>,
}

pub async fn tickets(
    State(state): State<ApiState>,
    headers: HeaderMap,
    filter: Result<Query<TicketFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, READERS)?;
    let Query(filter) = filter.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(status) = &filter.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::Unprocessable(format!(
                "status must be one of {}, not {status:?}",
                STATUSES.join(", ")
            )));
        }
    }
    let limit = filter.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(
            "limit must be between 1 and 1000".into(),
        ));
    }
    Ok(Json(
        store::list(state.log.pool(), filter.status.as_deref(), limit).await?,
    ))
}

pub async fn ticket(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, READERS)?;
    let Some((ticket, feedback)) = store::show(state.log.pool(), &number).await? else {
        return Err(ApiError::NotFound(format!("no ticket {number}")));
    };
    let supervision = crate::tickets::supervision::notices(state.log.pool(), &number).await?;
    let timeline = state.log.timeline(ticket.incident).await?;
    let recordings = crate::handoff_log::recordings::recordings(&timeline);
    Ok(Json(serde_json::json!({
        "ticket": ticket,
        "feedback": feedback,
        "supervision": supervision,
        "recordings": recordings,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    kind: String,
    text: String,
}

pub async fn feedback(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Result<Json<NewFeedback>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = authorize(&headers, &state.tokens, &[Role::Operator])?;
    let Json(body) = body.map_err(|rejection| match rejection {
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable(e.body_text()),
        other => ApiError::BadRequest(other.body_text()),
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let source = format!("api:{}", caller.name);
    let ticket = store::add_feedback(
        state.log.pool(),
        state.log.calendar(),
        &number,
        &body.kind,
        &body.text,
        &source,
        now,
    )
    .await
    .map_err(|error| match error {
        FeedbackError::NoTicket(_) => ApiError::NotFound(error.to_string()),
        FeedbackError::Kind(_) | FeedbackError::Empty => ApiError::Unprocessable(error.to_string()),
        FeedbackError::Closed(_) => ApiError::Conflict(error.to_string()),
        FeedbackError::Database(e) => ApiError::Internal(e.to_string()),
    })?;
    Ok((StatusCode::CREATED, Json(ticket)))
}
