//! Tickets in the database: created and updated from the handoff log's events (in the same
//! transaction as the events themselves, so the log and the ticket never disagree), listed,
//! shown, and given feedback.

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use super::calendar::Calendar;
use crate::handoff_log::Entry;

/// Where a ticket is in the closed loop.
pub const STATUSES: [&str; 6] = [
    "open",
    "handed_over",
    "accepted",
    "in_progress",
    "finished",
    "closed",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub number: String,
    pub incident: i64,
    /// The first receiver's platform: `12345` issues work orders (工单), `110` police tickets
    /// (警单).
    pub platform: String,
    pub caller: String,
    pub first_receiver: Option<String>,
    pub received_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub category: Option<String>,
    pub owner: Option<String>,
    pub handoff_mode: String,
    pub handed_to: Option<String>,
    pub followed_rule: Option<bool>,
    pub dispatch: bool,
    pub peer_ticket: Option<String>,
    pub status: String,
    pub finished_ms: Option<i64>,
    pub work_log_deadline_ms: Option<i64>,
    pub deadline_estimated: bool,
    pub handed_over_ms: Option<i64>,
    pub accepted_ms: Option<i64>,
    pub work_log_sent_ms: Option<i64>,
    pub work_log_received_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub at_ms: i64,
    pub source: String,
    pub kind: String,
    pub text: String,
}

/// The readable number of an incident's ticket: platform, local date, incident number.
pub fn ticket_number(platform: &str, local_date: &str, incident: i64) -> String {
    format!("{platform}-{}-{incident:05}", local_date.replace('-', ""))
}

/// Applies one handoff-log entry to its incident's ticket.
pub async fn apply_event(
    connection: &mut AnyConnection,
    entry: &Entry,
    calendar: &Calendar,
) -> Result<(), sqlx::Error> {
    let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap_or_default();
    let text = |key: &str| {
        details
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let incident = entry.incident;
    let at = entry.at_ms;
    match entry.event.as_str() {
        "call_received" => {
            let date = calendar.local_date(at).to_string();
            let number = ticket_number(&entry.hotline, &date, incident);
            sqlx::query(
                "INSERT INTO tickets (number, incident, platform, caller, received_ms, \
                 handoff_mode, dispatch, status, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, 'none', 0, 'open', $6)",
            )
            .bind(number)
            .bind(incident)
            .bind(&entry.hotline)
            .bind(text("caller").unwrap_or_default())
            .bind(at)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        "answered" => {
            sqlx::query(
                "UPDATE tickets SET first_receiver = COALESCE(first_receiver, $1), \
                 answered_ms = COALESCE(answered_ms, $2), updated_ms = $3 WHERE incident = $4",
            )
            .bind(text("seat"))
            .bind(at)
            .bind(at)
            .bind(incident)
            .execute(&mut *connection)
            .await?;
        }
        "category_tagged" => {
            sqlx::query(
                "UPDATE tickets SET category = $1, owner = $2, updated_ms = $3 WHERE incident = $4",
            )
            .bind(text("code"))
            .bind(text("owner"))
            .bind(at)
            .bind(incident)
            .execute(&mut *connection)
            .await?;
        }
        "conference_started" => {
            sqlx::query(
                "UPDATE tickets SET handoff_mode = 'three_way', updated_ms = $1 \
                 WHERE incident = $2 AND handoff_mode = 'none'",
            )
            .bind(at)
            .bind(incident)
            .execute(&mut *connection)
            .await?;
        }
        "transfer_completed" => {
            sqlx::query(
                "UPDATE tickets SET handoff_mode = $1, handed_to = $2, status = 'handed_over', \
                 handed_over_ms = $3, updated_ms = $4 WHERE incident = $5 AND status = 'open'",
            )
            .bind(text("mode").unwrap_or_else(|| "phone_transfer".into()))
            .bind(text("to"))
            .bind(at)
            .bind(at)
            .bind(incident)
            .execute(&mut *connection)
            .await?;
            queue_handoff_notice(connection, incident, at).await?;
        }
        "outcome" => {
            let followed = details.get("followed_rule").and_then(|v| v.as_bool());
            let dispatch = details
                .get("dispatch")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            sqlx::query(
                "UPDATE tickets SET followed_rule = $1, dispatch = $2, updated_ms = $3 WHERE incident = $4",
            )
            .bind(followed.map(i64::from))
            .bind(i64::from(dispatch))
            .bind(at)
            .bind(incident)
            .execute(&mut *connection)
            .await?;
        }
        "call_ended" => {
            sqlx::query("UPDATE tickets SET ended_ms = $1, updated_ms = $2 WHERE incident = $3")
                .bind(at)
                .bind(at)
                .bind(incident)
                .execute(&mut *connection)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The handoff notice for the other platform, queued with the change that caused it.
async fn queue_handoff_notice(
    connection: &mut AnyConnection,
    incident: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE incident = $1"
    )))
    .bind(incident)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let t = ticket(&row);
    let body = serde_json::json!({
        "ticket": t.number,
        "platform": t.platform,
        "incident": t.incident,
        "caller": t.caller,
        "category": t.category,
        "mode": t.handoff_mode,
        "received_ms": t.received_ms,
        "answered_ms": t.answered_ms,
        "handed_over_ms": at,
    });
    let key = format!("notice:{}", t.number);
    super::outbox::enqueue(
        connection,
        "handoff_notice",
        &t.number,
        "/peer/handoff-notice",
        &body,
        &key,
        at,
    )
    .await
}

const COLUMNS: &str =
    "number, incident, platform, caller, first_receiver, received_ms, answered_ms, \
    ended_ms, category, owner, handoff_mode, handed_to, followed_rule, dispatch, peer_ticket, \
    status, finished_ms, work_log_deadline_ms, deadline_estimated, handed_over_ms, accepted_ms, \
    work_log_sent_ms, work_log_received_ms";

fn ticket(row: &sqlx::any::AnyRow) -> Ticket {
    Ticket {
        number: row.get("number"),
        incident: row.get("incident"),
        platform: row.get("platform"),
        caller: row.get("caller"),
        first_receiver: row.get("first_receiver"),
        received_ms: row.get("received_ms"),
        answered_ms: row.get("answered_ms"),
        ended_ms: row.get("ended_ms"),
        category: row.get("category"),
        owner: row.get("owner"),
        handoff_mode: row.get("handoff_mode"),
        handed_to: row.get("handed_to"),
        followed_rule: row.get::<Option<i64>, _>("followed_rule").map(|v| v != 0),
        dispatch: row.get::<i64, _>("dispatch") != 0,
        peer_ticket: row.get("peer_ticket"),
        status: row.get("status"),
        finished_ms: row.get("finished_ms"),
        work_log_deadline_ms: row.get("work_log_deadline_ms"),
        deadline_estimated: row.get::<i64, _>("deadline_estimated") != 0,
        handed_over_ms: row.get("handed_over_ms"),
        accepted_ms: row.get("accepted_ms"),
        work_log_sent_ms: row.get("work_log_sent_ms"),
        work_log_received_ms: row.get("work_log_received_ms"),
    }
}

pub async fn list(
    pool: &AnyPool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let rows = match status {
        Some(status) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM tickets WHERE status = $1 ORDER BY received_ms DESC LIMIT $2"
            )))
            .bind(status.to_string())
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM tickets ORDER BY received_ms DESC LIMIT $1"
            )))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows.iter().map(ticket).collect())
}

/// The number of an incident's ticket, if it has one.
pub async fn number_of(pool: &AnyPool, incident: i64) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT number FROM tickets WHERE incident = $1")
        .bind(incident)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get("number")))
}

pub async fn show(
    pool: &AnyPool,
    number: &str,
) -> Result<Option<(Ticket, Vec<Feedback>)>, sqlx::Error> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE number = $1"
    )))
    .bind(number.to_string())
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let feedback = sqlx::query(
        "SELECT at_ms, source, kind, text FROM ticket_feedback WHERE ticket = $1 ORDER BY id",
    )
    .bind(number.to_string())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Feedback {
        at_ms: r.get("at_ms"),
        source: r.get("source"),
        kind: r.get("kind"),
        text: r.get("text"),
    })
    .collect();
    Ok(Some((ticket(&row), feedback)))
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("no ticket {0}")]
    NoTicket(String),
    #[error("feedback kind must be `progress` or `result`, not {0:?}")]
    Kind(String),
    #[error("feedback text is empty")]
    Empty,
    #[error("ticket {0} is closed")]
    Closed(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The work log of a finished matter: its flow (the handoff log's events), the handling and
/// the feedback, addressed to the other platform's ticket.
async fn work_log(
    connection: &mut AnyConnection,
    number: &str,
    peer_ticket: &str,
    finished_ms: i64,
) -> Result<serde_json::Value, sqlx::Error> {
    let incident: i64 = sqlx::query("SELECT incident FROM tickets WHERE number = $1")
        .bind(number.to_string())
        .fetch_one(&mut *connection)
        .await?
        .get("incident");
    let events: Vec<serde_json::Value> = sqlx::query(
        "SELECT at_ms, offset_ms, actor, event, details FROM handoff_events WHERE incident = $1 ORDER BY id",
    )
    .bind(incident)
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|r| {
        serde_json::json!({
            "at_ms": r.get::<i64, _>("at_ms"),
            "offset_ms": r.get::<i64, _>("offset_ms"),
            "actor": r.get::<String, _>("actor"),
            "event": r.get::<String, _>("event"),
            "details": serde_json::from_str::<serde_json::Value>(&r.get::<String, _>("details")).unwrap_or_default(),
        })
    })
    .collect();
    let feedback: Vec<serde_json::Value> = sqlx::query(
        "SELECT at_ms, source, kind, text FROM ticket_feedback WHERE ticket = $1 ORDER BY id",
    )
    .bind(number.to_string())
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|r| {
        serde_json::json!({
            "at_ms": r.get::<i64, _>("at_ms"),
            "source": r.get::<String, _>("source"),
            "kind": r.get::<String, _>("kind"),
            "text": r.get::<String, _>("text"),
        })
    })
    .collect();
    Ok(serde_json::json!({
        "ticket": peer_ticket,
        "from_ticket": number,
        "finished_ms": finished_ms,
        "events": events,
        "feedback": feedback,
    }))
}

/// Records progress or the result (反馈) on a ticket. A result finishes the matter and sets
/// the work-log deadline: three working days by the calendar.
pub async fn add_feedback(
    pool: &AnyPool,
    calendar: &Calendar,
    number: &str,
    kind: &str,
    text: &str,
    source: &str,
    at_ms: i64,
) -> Result<Ticket, FeedbackError> {
    if kind != "progress" && kind != "result" {
        return Err(FeedbackError::Kind(kind.to_string()));
    }
    if text.trim().is_empty() {
        return Err(FeedbackError::Empty);
    }
    let mut tx = crate::handoff_log::begin_write(pool).await?;
    let status: Option<String> = sqlx::query("SELECT status FROM tickets WHERE number = $1")
        .bind(number.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get("status"));
    let Some(status) = status else {
        return Err(FeedbackError::NoTicket(number.to_string()));
    };
    if status == "closed" {
        return Err(FeedbackError::Closed(number.to_string()));
    }
    sqlx::query("INSERT INTO ticket_feedback (ticket, at_ms, source, kind, text) VALUES ($1, $2, $3, $4, $5)")
        .bind(number.to_string())
        .bind(at_ms)
        .bind(source.to_string())
        .bind(kind.to_string())
        .bind(text.to_string())
        .execute(&mut *tx)
        .await?;
    // Our own feedback on a matter linked to the other platform goes to it; feedback that
    // came from it does not go back.
    let peer_ticket: Option<String> =
        sqlx::query("SELECT peer_ticket FROM tickets WHERE number = $1")
            .bind(number.to_string())
            .fetch_one(&mut *tx)
            .await?
            .get("peer_ticket");
    if let Some(peer_ticket) = peer_ticket.filter(|_| !source.starts_with("peer")) {
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ticket_feedback WHERE ticket = $1")
            .bind(number.to_string())
            .fetch_one(&mut *tx)
            .await?
            .get("n");
        let body = serde_json::json!({
            "ticket": peer_ticket,
            "from_ticket": number,
            "kind": kind,
            "text": text,
            "at_ms": at_ms,
        });
        let key = format!("feedback:{number}:{count}");
        super::outbox::enqueue(
            &mut tx,
            "feedback",
            number,
            "/peer/feedback",
            &body,
            &key,
            at_ms,
        )
        .await?;
        if kind == "result" {
            let work_log = work_log(&mut tx, number, &peer_ticket, at_ms).await?;
            let key = format!("work-log:{number}");
            super::outbox::enqueue(
                &mut tx,
                "work_log",
                number,
                "/peer/work-log",
                &work_log,
                &key,
                at_ms,
            )
            .await?;
        }
    }
    if kind == "result" && source.starts_with("peer") {
        // The other platform finished the matter; its work log is its to send.
        sqlx::query("UPDATE tickets SET status = 'finished', finished_ms = $1, updated_ms = $2 WHERE number = $3")
            .bind(at_ms)
            .bind(at_ms)
            .bind(number.to_string())
            .execute(&mut *tx)
            .await?;
    } else if kind == "result" {
        let deadline = calendar.working_days_after(at_ms, 3);
        if !deadline.covered {
            tracing::warn!(
                ticket = number,
                last_year = ?calendar.last_year(),
                "work-log deadline counted past the calendar's last year: weekends only, an estimate"
            );
        }
        sqlx::query(
            "UPDATE tickets SET status = 'finished', finished_ms = $1, work_log_deadline_ms = $2, \
             deadline_estimated = $3, updated_ms = $4 WHERE number = $5",
        )
        .bind(at_ms)
        .bind(deadline.at_ms)
        .bind(i64::from(!deadline.covered))
        .bind(at_ms)
        .bind(number.to_string())
        .execute(&mut *tx)
        .await?;
    } else if status == "open" || status == "handed_over" || status == "accepted" {
        sqlx::query("UPDATE tickets SET status = 'in_progress', updated_ms = $1 WHERE number = $2")
            .bind(at_ms)
            .bind(number.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(show(pool, number).await?.expect("just updated").0)
}
