//! What the other platform sends us: handoff notices, feedback and work logs. Each message
//! carries an idempotency key; the first delivery is applied and its answer kept, and a
//! repeated delivery gets the same answer and changes nothing.

use serde::Deserialize;
use serde_json::Value;
use sqlx::{AnyConnection, AnyPool, Row};

use super::calendar::Calendar;
use super::store::{add_feedback, FeedbackError};

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{0}")]
    NotFound(String),
    /// Not yet possible; the sender should retry later.
    #[error("{0}")]
    NotYet(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize)]
pub struct HandoffNotice {
    pub ticket: String,
    pub platform: String,
    pub caller: String,
    pub handed_over_ms: i64,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub incident: Option<i64>,
    #[serde(default)]
    pub received_ms: Option<i64>,
    #[serde(default)]
    pub answered_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct PeerFeedback {
    pub ticket: String,
    pub from_ticket: String,
    pub kind: String,
    pub text: String,
    pub at_ms: i64,
}

#[derive(Debug, Deserialize)]
pub struct WorkLog {
    pub ticket: String,
    pub from_ticket: String,
    pub finished_ms: i64,
    pub events: Vec<Value>,
    pub feedback: Vec<Value>,
}

/// A transferred call reaches us as a call of our own a moment before its notice; the
/// notice is matched to it by caller number within this window.
const MATCH_WINDOW_MS: i64 = 120_000;

async fn remembered(
    connection: &mut AnyConnection,
    key: &str,
) -> Result<Option<Value>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT response FROM inbox WHERE idempotency_key = $1")
            .bind(key.to_string())
            .fetch_optional(&mut *connection)
            .await?
            .and_then(|r| serde_json::from_str(&r.get::<String, _>("response")).ok()),
    )
}

async fn remember(
    connection: &mut AnyConnection,
    key: &str,
    response: &Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO inbox (idempotency_key, received_ms, response) VALUES ($1, $2, $3)")
        .bind(key.to_string())
        .bind(now)
        .bind(response.to_string())
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// A handoff notice: links the sender's ticket to ours for the same call and answers with
/// our ticket number.
pub async fn receive_notice(
    pool: &AnyPool,
    key: &str,
    notice: &HandoffNotice,
    now: i64,
) -> Result<Value, PeerError> {
    let mut tx = crate::handoff_log::begin_write(pool).await?;
    if let Some(response) = remembered(&mut tx, key).await? {
        return Ok(response);
    }
    let row = sqlx::query(
        "SELECT number FROM tickets WHERE caller = $1 AND (peer_ticket IS NULL OR peer_ticket = $2) \
         AND received_ms BETWEEN $3 AND $4 ORDER BY received_ms DESC LIMIT 1",
    )
    .bind(notice.caller.clone())
    .bind(notice.ticket.clone())
    .bind(notice.handed_over_ms - MATCH_WINDOW_MS)
    .bind(notice.handed_over_ms + MATCH_WINDOW_MS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(PeerError::NotYet(format!(
            "no call from {} around the handoff of {} yet",
            notice.caller, notice.ticket
        )));
    };
    let number: String = row.get("number");
    sqlx::query("UPDATE tickets SET peer_ticket = $1, updated_ms = $2 WHERE number = $3")
        .bind(notice.ticket.clone())
        .bind(now)
        .bind(number.clone())
        .execute(&mut *tx)
        .await?;
    let response = serde_json::json!({ "ticket": number });
    remember(&mut tx, key, &response, now).await?;
    tx.commit().await?;
    tracing::info!(ticket = %number, peer_ticket = %notice.ticket, from = %notice.platform, "handoff notice accepted");
    Ok(response)
}

/// Feedback from the platform that took the matter, recorded on our ticket.
pub async fn receive_feedback(
    pool: &AnyPool,
    calendar: &Calendar,
    key: &str,
    feedback: &PeerFeedback,
    now: i64,
) -> Result<Value, PeerError> {
    {
        let mut connection = pool.acquire().await?;
        if let Some(response) = remembered(&mut connection, key).await? {
            return Ok(response);
        }
    }
    let linked: Option<String> = sqlx::query("SELECT peer_ticket FROM tickets WHERE number = $1")
        .bind(feedback.ticket.clone())
        .fetch_optional(pool)
        .await?
        .map(|r| r.get::<Option<String>, _>("peer_ticket"))
        .ok_or_else(|| PeerError::NotFound(format!("no ticket {}", feedback.ticket)))?;
    if linked.as_deref().is_some_and(|p| p != feedback.from_ticket) {
        return Err(PeerError::Invalid(format!(
            "ticket {} is linked to {}, not {}",
            feedback.ticket,
            linked.unwrap_or_default(),
            feedback.from_ticket
        )));
    }
    let source = format!("peer:{}", feedback.from_ticket);
    add_feedback(
        pool,
        calendar,
        &feedback.ticket,
        &feedback.kind,
        &feedback.text,
        &source,
        feedback.at_ms,
    )
    .await
    .map_err(|error| match error {
        FeedbackError::NoTicket(t) => PeerError::NotFound(format!("no ticket {t}")),
        FeedbackError::Database(e) => PeerError::Database(e),
        other => PeerError::Invalid(other.to_string()),
    })?;
    let response = serde_json::json!({ "ticket": feedback.ticket, "recorded": true });
    let mut connection = pool.acquire().await?;
    remember(&mut connection, key, &response, now).await?;
    Ok(response)
}

/// The work log of a matter the other platform finished.
pub async fn receive_work_log(
    pool: &AnyPool,
    key: &str,
    body: &Value,
    log: &WorkLog,
    now: i64,
) -> Result<Value, PeerError> {
    let mut tx = crate::handoff_log::begin_write(pool).await?;
    if let Some(response) = remembered(&mut tx, key).await? {
        return Ok(response);
    }
    let found = sqlx::query(
        "UPDATE tickets SET work_log_received_ms = $1, updated_ms = $2, \
         status = CASE WHEN status = 'finished' THEN 'closed' ELSE status END WHERE number = $3",
    )
    .bind(now)
    .bind(now)
    .bind(log.ticket.clone())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if found == 0 {
        return Err(PeerError::NotFound(format!("no ticket {}", log.ticket)));
    }
    sqlx::query("INSERT INTO work_logs (ticket, received_ms, body) VALUES ($1, $2, $3)")
        .bind(log.ticket.clone())
        .bind(now)
        .bind(body.to_string())
        .execute(&mut *tx)
        .await?;
    let response = serde_json::json!({ "ticket": log.ticket, "events": log.events.len(), "feedback": log.feedback.len() });
    remember(&mut tx, key, &response, now).await?;
    tx.commit().await?;
    tracing::info!(ticket = %log.ticket, from = %log.from_ticket, finished_ms = log.finished_ms, "work log received");
    Ok(response)
}
