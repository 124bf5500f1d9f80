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
    let notices = find_overdue(pool, calendar, now, accept_within_ms).await?;
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

/// The overdue tickets at `now`, without recording anything (for metrics).
pub async fn find_overdue(
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
    Ok(notices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff_log::HandoffLog;

    const DAY: i64 = 86_400_000;

    fn calendar() -> Calendar {
        let file = toml::from_str(include_str!("../../config/calendar.toml")).unwrap();
        Calendar::from_file(&file).unwrap()
    }

    /// A ticket's times (milliseconds; `None` for unset).
    #[derive(Default)]
    struct Times {
        handed_over: Option<i64>,
        accepted: Option<i64>,
        finished: Option<i64>,
        deadline: Option<i64>,
        sent: Option<i64>,
    }

    async fn ticket(pool: &AnyPool, number: &str, status: &str, times: Times) {
        static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
        let incident = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sqlx::query(
            "INSERT INTO tickets (number, incident, platform, caller, received_ms, handoff_mode, dispatch, \
             status, updated_ms, peer_ticket, handed_over_ms, accepted_ms, finished_ms, \
             work_log_deadline_ms, work_log_sent_ms) \
             VALUES ($1, $2, '12345', '1', 0, 'phone_transfer', 0, $3, 0, 'peer', $4, $5, $6, $7, $8)",
        )
        .bind(number.to_string())
        .bind(incident)
        .bind(status.to_string())
        .bind(times.handed_over)
        .bind(times.accepted)
        .bind(times.finished)
        .bind(times.deadline)
        .bind(times.sent)
        .execute(pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn the_report_lists_exactly_the_late_tickets_with_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let log = HandoffLog::open(&url, calendar()).await.unwrap();
        let pool = log.pool();
        // Tuesday 2026-12-01, 10:00 in Beijing.
        let now = 1_796_090_400_000i64;
        let accept = 30 * 60_000;
        let t = Times::default;
        let handed_over = Some(now - 2 * accept);
        ticket(
            pool,
            "not-accepted",
            "handed_over",
            Times { handed_over, ..t() },
        )
        .await;
        let accepted = Some(now - accept);
        ticket(
            pool,
            "accepted-in-time",
            "accepted",
            Times {
                handed_over,
                accepted,
                ..t()
            },
        )
        .await;
        let handed_over = Some(now - accept / 2);
        ticket(
            pool,
            "still-within",
            "handed_over",
            Times { handed_over, ..t() },
        )
        .await;
        let (handed_over, accepted) = (Some(now - 20 * DAY), Some(now - 20 * DAY));
        ticket(
            pool,
            "no-result",
            "accepted",
            Times {
                handed_over,
                accepted,
                ..t()
            },
        )
        .await;
        let (finished, deadline) = (Some(now - 10 * DAY), Some(now - DAY));
        ticket(
            pool,
            "log-late",
            "finished",
            Times {
                finished,
                deadline,
                ..t()
            },
        )
        .await;
        let sent = Some(now - 2 * DAY);
        ticket(
            pool,
            "log-sent",
            "closed",
            Times {
                finished,
                deadline,
                sent,
                ..t()
            },
        )
        .await;
        let (finished, deadline) = (Some(now - DAY), Some(now + DAY));
        ticket(
            pool,
            "log-due",
            "finished",
            Times {
                finished,
                deadline,
                ..t()
            },
        )
        .await;

        let notices = overdue(pool, log.calendar(), now, accept).await.unwrap();
        let mut listed: Vec<(&str, &str)> = notices
            .iter()
            .map(|n| (n.ticket.as_str(), n.reason.as_str()))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                (
                    "log-late",
                    "the work log has not reached the other platform"
                ),
                ("no-result", "no result (反馈) from the other platform"),
                (
                    "not-accepted",
                    "the other platform has not accepted the handoff"
                ),
            ]
        );

        // Each notice is recorded once on its ticket, however often the report runs.
        overdue(pool, log.calendar(), now + 1000, accept)
            .await
            .unwrap();
        assert_eq!(notices_of(pool, "log-late").await, 1);
        assert_eq!(notices_of(pool, "log-due").await, 0);
    }

    async fn notices_of(pool: &AnyPool, ticket: &str) -> usize {
        notices(pool, ticket).await.unwrap().len()
    }
}
