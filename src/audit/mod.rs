//! The auditor's tools on the command line: list incidents, print one incident's timeline
//! with its recordings, verify the handoff log's hash chain, and export an incident.

pub mod export;

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::handoff_log::recordings::RecordingFile;
use crate::handoff_log::{IncidentSummary, Stored};

/// UTC time with milliseconds, as RFC 3339.
pub fn utc(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// The event's details as `key=value` pairs, in the order stored.
fn details(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    map.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn timeline_text(incident: i64, entries: &[Stored]) -> String {
    let mut out = String::new();
    let hotline = entries
        .first()
        .map(|e| e.entry.hotline.as_str())
        .unwrap_or("?");
    let _ = writeln!(
        out,
        "incident {incident} (first receiver {hotline}), {} events",
        entries.len()
    );
    let _ = writeln!(
        out,
        "{:<26} {:>10}  {:<12} {:<20} details",
        "time (UTC)", "offset", "actor", "event"
    );
    for stored in entries {
        let e = &stored.entry;
        let _ = writeln!(
            out,
            "{:<26} {:>9.3}s  {:<12} {:<20} {}",
            utc(e.at_ms),
            e.offset_ms as f64 / 1000.0,
            e.actor,
            e.event,
            details(&e.details)
        );
    }
    out
}

/// The recordings of an incident, as `audit INCIDENT` lists them under the timeline.
pub fn recordings_text(files: &[RecordingFile], dir: &std::path::Path) -> String {
    if files.is_empty() {
        return "no recording\n".into();
    }
    let mut out = String::from("recordings:\n");
    for file in files {
        let duration = file
            .duration_ms
            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
            .unwrap_or_else(|| "not closed".into());
        let _ = writeln!(
            out,
            "  {}  {} ({})  from {:.3}s, {}  sha256 {}",
            dir.join(&file.file).display(),
            file.kind,
            file.channels.join(", "),
            file.started_offset_ms as f64 / 1000.0,
            duration,
            file.sha256.as_deref().unwrap_or("not logged"),
        );
    }
    out
}

pub fn list_text(incidents: &[IncidentSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8}  {:<26} {:<8} {:>6}  last event",
        "incident", "started (UTC)", "hotline", "events"
    );
    for i in incidents {
        let _ = writeln!(
            out,
            "{:>8}  {:<26} {:<8} {:>6}  {}",
            i.incident,
            utc(i.started_ms),
            i.hotline,
            i.events,
            i.last_event
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff_log::Entry;

    #[test]
    fn a_timeline_line_shows_time_offset_actor_event_and_details() {
        let stored = Stored {
            id: 1,
            entry: Entry {
                incident: 3,
                at_ms: 1_796_320_000_123,
                offset_ms: 1500,
                actor: "seat:1001".into(),
                event: "answered".into(),
                details: r#"{"leg":"L4","seat":"1001"}"#.into(),
                hotline: "12345".into(),
                category: None,
            },
            prev_hash: String::new(),
            hash: String::new(),
        };
        let text = timeline_text(3, &[stored]);
        assert!(text.starts_with("incident 3 (first receiver 12345), 1 events\n"));
        assert!(text.contains("2026-12-03T"), "{text}");
        assert!(text.contains(".123Z"), "{text}");
        assert!(
            text.contains("    1.500s  seat:1001    answered             leg=L4 seat=1001"),
            "{text}"
        );
    }
}
