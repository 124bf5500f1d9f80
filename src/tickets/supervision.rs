//! Supervision (跟踪督办): tickets whose handoff was not accepted in time, whose result is
//! late, or whose work log missed its deadline. Each appears in the overdue report with the
//! reason and the deadline, and the notice is recorded on the ticket.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::calendar::Calendar;

/// Working days the platform that took a matter has to report its result.
pub const RESULT_WORKING_DAYS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub ticket: String,
    pub reason: String,
    pub deadline_ms: i64,
}

/// The supervision notices recorded on a ticket.
pub async fn notices(pool: &AnyPool, ticket: &str) -> Result<Vec<Notice>, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT ticket, reason, deadline_ms FROM supervision WHERE ticket = $1 ORDER BY id",
    )
    .bind(ticket.to_string())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Notice {
        ticket: r.get("ticket"),
        reason: r.get("reason"),
        deadline_ms: r.get("deadline_ms"),
    })
    .collect())
}

/// Lists the overdue tickets at `now` and records a notice on each (once per reason).
pub async fn overdue(
    pool: &AnyPool,
    calendar: &Calendar,
    now: i64,
    accept_within_ms: i64,
) -> Result<Vec<Notice>, sqlx::Error> {
    let mut notices = Vec::new();
    let rows = sqlx::query(
        "SELECT number, status, handed_over_ms, accepted_ms, finished_ms, work_log_deadline_ms, \
         work_log_sent_ms, peer_ticket FROM tickets WHERE status <> 'closed'",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let number: String = row.get("number");
        let status: String = row.get("status");
        let handed_over: Option<i64> = row.get("handed_over_ms");
        let accepted: Option<i64> = row.get("accepted_ms");
        let finished: Option<i64> = row.get("finished_ms");
        let work_log_deadline: Option<i64> = row.get("work_log_deadline_ms");
        let work_log_sent: Option<i64> = row.get("work_log_sent_ms");
        let peer_ticket: Option<String> = row.get("peer_ticket");

        if let (Some(handed_over), None) = (handed_over, accepted) {
            let deadline = handed_over + accept_within_ms;
            if now > deadline {
                notices.push(Notice {
                    ticket: number.clone(),
                    reason: "the other platform has not accepted the handoff".into(),
                    deadline_ms: deadline,
                });
            }
        }
        if let (Some(accepted), None) = (accepted, finished) {
            let deadline = calendar
                .working_days_after(accepted, RESULT_WORKING_DAYS)
                .at_ms;
            if now > deadline && status != "finished" {
                notices.push(Notice {
                    ticket: number.clone(),
                    reason: "no result (反馈) from the other platform".into(),
                    deadline_ms: deadline,
                });
            }
        }
        if let (Some(deadline), None, Some(_)) = (work_log_deadline, work_log_sent, peer_ticket) {
            if now > deadline {
                notices.push(Notice {
                    ticket: number.clone(),
                    reason: "the work log has not reached the other platform".into(),
                    deadline_ms: deadline,
                });
            }
        }
    }
    for notice in &notices {
        sqlx::query(
            "INSERT INTO supervision (ticket, at_ms, reason, deadline_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ticket, reason) DO NOTHING",
        )
        .bind(notice.ticket.clone())
        .bind(now)
        .bind(notice.reason.clone())
        .bind(notice.deadline_ms)
        .execute(pool)
        .await?;
    }
    Ok(notices)
}
