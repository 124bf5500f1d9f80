//! One entry of the handoff log as it is stored, and the hash that chains it to the one
//! before.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::control::{Actor, IncidentRecord};

/// The hash the first entry of a log follows.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub incident: i64,
    /// UTC wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Milliseconds since the incident was received.
    pub offset_ms: i64,
    pub actor: String,
    pub event: String,
    /// The event's fields as a JSON object (written out as JSON, not as a string).
    #[serde(serialize_with = "as_json")]
    pub details: String,
    /// The first receiver's hotline.
    pub hotline: String,
    pub category: Option<String>,
}

/// A stored entry with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stored {
    pub id: i64,
    #[serde(flatten)]
    pub entry: Entry,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// The log entry for a record of call control, stamped with its wall-clock time.
    pub fn from_record(record: &IncidentRecord, at_ms: i64) -> Self {
        let mut value = serde_json::to_value(&record.kind).unwrap_or_default();
        let event = value
            .get("event")
            .and_then(|e| e.as_str())
            .unwrap_or("unknown")
            .to_string();
        if let Some(object) = value.as_object_mut() {
            object.remove("event");
        }
        if let Some(leg) = record.leg {
            if let Some(object) = value.as_object_mut() {
                object.insert("leg".into(), serde_json::Value::String(leg.to_string()));
            }
        }
        Self {
            incident: record.incident.0 as i64,
            at_ms,
            offset_ms: record.offset.as_millis() as i64,
            actor: actor_name(&record.actor),
            event,
            details: value.to_string(),
            hotline: record.hotline.clone(),
            category: record.category.clone(),
        }
    }

    /// SHA-256 over the previous hash and every field, each length-prefixed so that no two
    /// different entries share an encoding.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        let fields = [
            prev_hash.to_string(),
            self.incident.to_string(),
            self.at_ms.to_string(),
            self.offset_ms.to_string(),
            self.actor.clone(),
            self.event.clone(),
            self.details.clone(),
            self.hotline.clone(),
            self.category.clone().unwrap_or_default(),
        ];
        for field in fields {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn as_json<S: serde::Serializer>(details: &str, serializer: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(value) => value.serialize(serializer),
        Err(_) => serializer.serialize_str(details),
    }
}

pub fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::Caller => "caller".into(),
        Actor::Seat(number) => format!("seat:{number}"),
        Actor::System => "system".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{EndReason, IncidentId, LegId, RecordKind};
    use std::time::{Duration, Instant};

    fn record(kind: RecordKind) -> IncidentRecord {
        IncidentRecord {
            incident: IncidentId(7),
            leg: Some(LegId(9)),
            at: Instant::now(),
            offset: Duration::from_millis(1500),
            actor: Actor::Seat("1001".into()),
            hotline: "12345".into(),
            category: Some("31".into()),
            kind,
        }
    }

    #[test]
    fn a_record_becomes_an_event_name_and_json_details() {
        let entry = Entry::from_record(
            &record(RecordKind::Answered {
                seat: "1001".into(),
            }),
            1000,
        );
        assert_eq!(entry.event, "answered");
        assert_eq!(entry.details, r#"{"leg":"L9","seat":"1001"}"#);
        assert_eq!(entry.actor, "seat:1001");
        assert_eq!(entry.offset_ms, 1500);
        let ended = Entry::from_record(
            &record(RecordKind::CallEnded {
                reason: EndReason::CallerHungUp,
            }),
            1000,
        );
        assert_eq!(ended.details, r#"{"leg":"L9","reason":"caller_hung_up"}"#);
    }

    #[test]
    fn the_hash_depends_on_every_field_and_on_the_previous_hash() {
        let entry = Entry::from_record(&record(RecordKind::Queued), 1000);
        let base = entry.chain_hash(GENESIS);
        assert_ne!(base, entry.chain_hash(&base));
        let mut changed = entry.clone();
        changed.offset_ms += 1;
        assert_ne!(base, changed.chain_hash(GENESIS));
        let mut moved = entry.clone();
        moved.actor = "seat:100".into();
        moved.event = "1queued".into();
        assert_ne!(
            base,
            moved.chain_hash(GENESIS),
            "field boundaries are part of the hash"
        );
    }
}
