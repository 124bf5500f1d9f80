//! Finding incidents for auditors: the list with its filters (local date, hotline,
//! category, handoff mode, result), each incident summarised from its log entries.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::{HandoffLog, LogError};
use crate::tickets::calendar::Date;

/// How an incident's handoff ended, as the filters name it.
pub const RESULTS: &[&str] = &["completed", "cancelled", "failed", "none"];
pub const MODES: &[&str] = &["phone_transfer", "three_way", "attended", "none"];

#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    /// The local date (calendar's time zone) on which any of its events happened.
    pub date: Option<Date>,
    pub hotline: Option<String>,
    pub category: Option<String>,
    /// One of [`MODES`].
    pub mode: Option<String>,
    /// One of [`RESULTS`].
    pub result: Option<String>,
    pub limit: usize,
}

/// One incident in the auditors' list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentOverview {
    pub incident: i64,
    /// The first receiver's hotline.
    pub hotline: String,
    pub started_ms: i64,
    /// When `call_ended` was logged; none while the call goes on.
    pub ended_ms: Option<i64>,
    pub events: i64,
    pub last_event: String,
    pub category: Option<String>,
    /// The mode of the last handoff asked for.
    pub mode: Option<String>,
    /// `completed`, `cancelled` or `failed` for the last handoff; none without a handoff.
    pub result: Option<String>,
    pub ticket: Option<String>,
}

/// The most incidents one search reads before filtering.
const SCAN: i64 = 5000;

impl HandoffLog {
    /// The newest incidents that pass `filter`, newest first.
    pub async fn find_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<IncidentOverview>, LogError> {
        let (from_ms, to_ms) = match filter.date {
            Some(date) => self.calendar().day_span(date),
            None => (i64::MIN, i64::MAX),
        };
        let rows = sqlx::query(
            "SELECT incident, MIN(hotline) AS hotline, MIN(at_ms) AS started, COUNT(*) AS events, \
             MAX(id) AS last_id, MAX(category) AS category FROM handoff_events \
             WHERE at_ms >= $1 AND at_ms < $2 AND ($3 = '' OR hotline = $3) \
             GROUP BY incident ORDER BY incident DESC LIMIT $4",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(filter.hotline.clone().unwrap_or_default())
        .bind(SCAN)
        .fetch_all(self.pool())
        .await?;
        let Some(low) = rows.iter().map(|r| r.get::<i64, _>("incident")).min() else {
            return Ok(Vec::new());
        };
        let high: i64 = rows[0].get("incident");

        let events = sqlx::query(
            "SELECT id, incident, event, details, at_ms FROM handoff_events \
             WHERE incident >= $1 AND incident <= $2 AND event IN \
             ('transfer_requested', 'transfer_completed', 'transfer_cancelled', 'target_failed', \
              'call_ended') ORDER BY id",
        )
        .bind(low)
        .bind(high)
        .fetch_all(self.pool())
        .await?;
        let mut handoffs: HashMap<i64, Handoff> = HashMap::new();
        for row in &events {
            let details: serde_json::Value =
                serde_json::from_str(&row.get::<String, _>("details")).unwrap_or_default();
            let handoff = handoffs.entry(row.get("incident")).or_default();
            handoff.apply(&row.get::<String, _>("event"), &details, row.get("at_ms"));
        }
        let last_ids: Vec<i64> = rows.iter().map(|r| r.get("last_id")).collect();
        let last_events = self.events_by_id(&last_ids).await?;
        let tickets: HashMap<i64, String> = sqlx::query(
            "SELECT incident, number FROM tickets WHERE incident >= $1 AND incident <= $2",
        )
        .bind(low)
        .bind(high)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| (r.get("incident"), r.get("number")))
        .collect();

        let mut found = Vec::new();
        for row in rows {
            let incident: i64 = row.get("incident");
            let handoff = handoffs.remove(&incident).unwrap_or_default();
            let overview = IncidentOverview {
                incident,
                hotline: row.get("hotline"),
                started_ms: row.get("started"),
                ended_ms: handoff.ended_ms,
                events: row.get("events"),
                last_event: last_events
                    .get(&row.get::<i64, _>("last_id"))
                    .cloned()
                    .unwrap_or_default(),
                category: row.get("category"),
                mode: handoff.mode,
                result: handoff.result.map(String::from),
                ticket: tickets.get(&incident).cloned(),
            };
            if filter.admits(&overview) {
                found.push(overview);
                if found.len() >= filter.limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn events_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, String>, LogError> {
        let (Some(low), Some(high)) = (ids.iter().min(), ids.iter().max()) else {
            return Ok(HashMap::new());
        };
        let rows = sqlx::query("SELECT id, event FROM handoff_events WHERE id >= $1 AND id <= $2")
            .bind(low)
            .bind(high)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<i64, _>("id"), r.get::<String, _>("event")))
            .filter(|(id, _)| ids.contains(id))
            .collect())
    }
}

impl IncidentFilter {
    fn admits(&self, overview: &IncidentOverview) -> bool {
        let matches = |wanted: &Option<String>, actual: &Option<String>| match wanted.as_deref() {
            None => true,
            Some("none") => actual.is_none(),
            Some(value) => actual.as_deref() == Some(value),
        };
        matches(&self.category, &overview.category)
            && matches(&self.mode, &overview.mode)
            && matches(&self.result, &overview.result)
    }
}

/// The last handoff of an incident, folded from its events in order.
#[derive(Debug, Default)]
struct Handoff {
    mode: Option<String>,
    result: Option<&'static str>,
    ended_ms: Option<i64>,
}

impl Handoff {
    fn apply(&mut self, event: &str, details: &serde_json::Value, at_ms: i64) {
        match event {
            "transfer_requested" => {
                self.mode = details["mode"].as_str().map(String::from);
                self.result = None;
            }
            "transfer_completed" => self.result = Some("completed"),
            "transfer_cancelled" => self.result = Some("cancelled"),
            "target_failed" if self.result.is_none() => self.result = Some("failed"),
            "call_ended" => self.ended_ms = Some(at_ms),
            _ => {}
        }
    }
}
