//! The outbox: every message to the other platform is written in the same transaction as
//! the change that caused it, then delivered with retries and back-off, each with an
//! idempotency key the receiver honours. A peer that is down for hours loses nothing; a
//! restart of either side loses nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::task::JoinHandle;

/// Where and how to reach the other platform.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Base URL of the other platform's API, such as `http://192.0.2.7:8080`.
    pub url: String,
    /// The bearer token the other platform issued to us (its `peer` role).
    pub token: String,
    /// How long the other platform has to accept a handoff before it is overdue.
    pub accept_within: Duration,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Queues a message; a second message with the same key is ignored.
pub async fn enqueue(
    connection: &mut AnyConnection,
    kind: &str,
    ticket: &str,
    path: &str,
    body: &Value,
    key: &str,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (created_ms, kind, ticket, path, body, idempotency_key, next_attempt_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(at_ms)
    .bind(kind.to_string())
    .bind(ticket.to_string())
    .bind(path.to_string())
    .bind(body.to_string())
    .bind(key.to_string())
    .bind(at_ms)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Messages not yet delivered.
pub async fn backlog(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE delivered_ms IS NULL")
            .fetch_one(pool)
            .await?
            .get("n"),
    )
}

struct Pending {
    id: i64,
    kind: String,
    ticket: String,
    path: String,
    body: String,
    key: String,
    attempts: i64,
}

/// Starts delivering the outbox to the peer, until the task is aborted.
pub fn spawn_deliverer(pool: AnyPool, peer: PeerConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = deliver_due(&pool, &peer).await {
                tracing::warn!(%error, "outbox delivery round failed");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

async fn deliver_due(pool: &AnyPool, peer: &PeerConfig) -> Result<(), sqlx::Error> {
    let now = now_ms();
    // Strictly in order: the other platform sees progress before the result, and a message
    // that cannot be delivered holds back the ones after it.
    let rows = sqlx::query(
        "SELECT id, kind, ticket, path, body, idempotency_key, attempts, next_attempt_ms FROM outbox \
         WHERE delivered_ms IS NULL ORDER BY id LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        if row.get::<i64, _>("next_attempt_ms") > now {
            break;
        }
        let item = Pending {
            id: row.get("id"),
            kind: row.get("kind"),
            ticket: row.get("ticket"),
            path: row.get("path"),
            body: row.get("body"),
            key: row.get("idempotency_key"),
            attempts: row.get("attempts"),
        };
        let url = format!("{}{}", peer.url.trim_end_matches('/'), item.path);
        let (token, key, body) = (peer.token.clone(), item.key.clone(), item.body.clone());
        let sent = tokio::task::spawn_blocking(move || post(&url, &token, &key, &body))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match sent {
            Ok(response) => {
                delivered(pool, &item, &response).await?;
                tracing::info!(kind = %item.kind, ticket = %item.ticket, "delivered to the other platform");
            }
            Err(error) => {
                // Back off: 0.5 s, 1 s, 2 s ... up to a minute between attempts.
                let wait = 500i64.saturating_mul(1 << item.attempts.min(7)).min(60_000);
                tracing::info!(kind = %item.kind, ticket = %item.ticket, attempts = item.attempts + 1, %error, "delivery failed; will retry");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $1, last_error = $2 WHERE id = $3",
                )
                .bind(now_ms() + wait)
                .bind(error)
                .bind(item.id)
                .execute(pool)
                .await?;
                break;
            }
        }
    }
    Ok(())
}

fn post(url: &str, token: &str, key: &str, body: &str) -> Result<Value, String> {
    let result = ureq::post(url)
        .timeout(Duration::from_secs(5))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Idempotency-Key", key)
        .set("Content-Type", "application/json")
        .send_string(body);
    match result {
        Ok(response) => response.into_json::<Value>().map_err(|e| e.to_string()),
        Err(ureq::Error::Status(code, response)) => Err(format!(
            "{code} {}",
            response
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect::<String>()
        )),
        Err(error) => Err(error.to_string()),
    }
}

/// Marks a message delivered and applies what the peer answered.
async fn delivered(pool: &AnyPool, item: &Pending, response: &Value) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = crate::handoff_log::begin_write(pool).await?;
    sqlx::query("UPDATE outbox SET delivered_ms = $1, attempts = attempts + 1 WHERE id = $2")
        .bind(now)
        .bind(item.id)
        .execute(&mut *tx)
        .await?;
    match item.kind.as_str() {
        "handoff_notice" => {
            let peer_ticket = response
                .get("ticket")
                .and_then(|t| t.as_str())
                .map(str::to_string);
            sqlx::query(
                "UPDATE tickets SET peer_ticket = COALESCE(peer_ticket, $1), \
                 status = CASE WHEN status = 'handed_over' THEN 'accepted' ELSE status END, \
                 accepted_ms = COALESCE(accepted_ms, $2), updated_ms = $3 WHERE number = $4",
            )
            .bind(peer_ticket)
            .bind(now)
            .bind(now)
            .bind(item.ticket.clone())
            .execute(&mut *tx)
            .await?;
        }
        "work_log" => {
            // The matter is finished and its work log has reached the other platform: the
            // loop is closed.
            sqlx::query(
                "UPDATE tickets SET work_log_sent_ms = $1, updated_ms = $2, \
                 status = CASE WHEN status = 'finished' THEN 'closed' ELSE status END WHERE number = $3",
            )
            .bind(now)
            .bind(now)
            .bind(item.ticket.clone())
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    tx.commit().await
}
