//! Recording decisions: when an incident's recording starts and stops, and which party is
//! heard on which channel. The audio itself is captured and written by the media layer.
//!
//! One recording covers the whole incident from the first seat's answer to its end, on
//! one timebase, whatever transfers and three-way calls happen in between: the caller
//! keeps channel 1, the first seat channel 2, and any other seat channel 3.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::incident::Role;
use super::{Actor, CallControl, Command, IncidentId, LegId, RecordKind};

/// A channel of the multichannel recording, named by the party it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Caller,
    /// The seat that answered first (the first receiver).
    FirstSeat,
    /// Any other seat: the linked hotline's seat in a handoff. Two such seats connected at
    /// once share the channel.
    LinkedSeat,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Caller, Channel::FirstSeat, Channel::LinkedSeat];

    /// The channel's position in the multichannel file, from 0.
    pub fn index(self) -> usize {
        match self {
            Channel::Caller => 0,
            Channel::FirstSeat => 1,
            Channel::LinkedSeat => 2,
        }
    }

    fn of(role: Role) -> Self {
        match role {
            Role::Caller => Channel::Caller,
            Role::Seat { first: true, .. } => Channel::FirstSeat,
            Role::Seat { first: false, .. } => Channel::LinkedSeat,
        }
    }
}

/// A finished recording file as the media layer reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedFile {
    /// The file's name inside the recordings directory.
    pub file: String,
    /// Where it was written.
    pub path: String,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    pub bytes: u64,
}

/// The names of an incident's two files inside the recordings directory: the multichannel
/// file and the mixed mono file. Incident numbers are unique per handoff log, so the names
/// are too.
pub fn file_names(hotline: &str, incident: IncidentId) -> [String; 2] {
    let stem = format!("{hotline}-{:05}", incident.0);
    [format!("{stem}.wav"), format!("{stem}-mixed.wav")]
}

/// What an incident being recorded remembers: which leg is on which channel.
#[derive(Debug, Default)]
pub struct RecordingState {
    channels: HashMap<LegId, Channel>,
}

/// What is needed to log the end of a recording after its incident ended.
#[derive(Debug)]
pub(super) struct Finishing {
    pub started: Instant,
    pub hotline: usize,
    pub category: Option<String>,
}

impl CallControl {
    /// Starts the incident's recording once a seat has answered, and puts every member on
    /// its channel. Called whenever the members change.
    pub(super) fn update_recording(&mut self, id: IncidentId, now: Instant) {
        if !self.record_calls {
            return;
        }
        let Some(incident) = self.incidents.get_mut(&id) else {
            return;
        };
        if !incident.answered {
            return;
        }
        if incident.recording.is_none() {
            incident.recording = Some(RecordingState::default());
            let files = file_names(&self.hotlines[incident.hotline].name, id);
            self.commands.push_back(Command::RecordStart {
                incident: id,
                files: files.clone(),
            });
            let kind = RecordKind::RecordingStarted {
                files: files.to_vec(),
                channels: Channel::ALL.to_vec(),
            };
            self.record(id, None, Actor::System, kind, now);
        }
        let incident = self.incidents.get_mut(&id).expect("checked above");
        let members: Vec<LegId> = incident.members.iter().map(|m| m.leg).collect();
        let recording = incident.recording.as_mut().expect("started above");
        let mut gone: Vec<LegId> = recording
            .channels
            .keys()
            .filter(|leg| !members.contains(leg))
            .copied()
            .collect();
        gone.sort();
        for leg in gone {
            recording.channels.remove(&leg);
            self.commands
                .push_back(Command::RecordLeave { incident: id, leg });
        }
        for member in &incident.members {
            let channel = Channel::of(member.role);
            if recording.channels.insert(member.leg, channel) != Some(channel) {
                self.commands.push_back(Command::RecordParty {
                    incident: id,
                    leg: member.leg,
                    channel,
                });
            }
        }
    }

    /// Stops the recording of an incident that is ending and remembers enough of the
    /// incident to log the files once the media layer has saved them.
    pub(super) fn stop_recording(&mut self, id: IncidentId, now: Instant) {
        let incident = &self.incidents[&id];
        if incident.recording.is_none() {
            return;
        }
        let finishing = Finishing {
            started: incident.started,
            hotline: incident.hotline,
            category: incident.category.clone(),
        };
        self.record(id, None, Actor::System, RecordKind::RecordingStopped, now);
        self.commands
            .push_back(Command::RecordStop { incident: id });
        self.finishing.insert(id, finishing);
    }

    /// The media layer closed the incident's files.
    pub(super) fn on_recording_saved(
        &mut self,
        id: IncidentId,
        files: Vec<SavedFile>,
        duration_ms: u64,
        lost_ms: u64,
        now: Instant,
    ) {
        let kind = RecordKind::RecordingSaved {
            files,
            duration_ms,
            lost_ms,
        };
        self.record_late(id, kind, now);
        self.finishing.remove(&id);
    }

    /// The media layer could not write the recording (a full disk, a missing directory);
    /// the call goes on unrecorded.
    pub(super) fn on_recording_failed(&mut self, id: IncidentId, reason: String, now: Instant) {
        self.record_late(id, RecordKind::RecordingFailed { reason }, now);
    }

    /// Records an event of an incident that may already have ended.
    fn record_late(&mut self, id: IncidentId, kind: RecordKind, now: Instant) {
        if self.incidents.contains_key(&id) {
            self.record(id, None, Actor::System, kind, now);
            return;
        }
        let Some(finishing) = self.finishing.get(&id) else {
            return;
        };
        self.records.push_back(super::IncidentRecord {
            incident: id,
            leg: None,
            at: now,
            offset: now.saturating_duration_since(finishing.started),
            actor: Actor::System,
            hotline: self.hotlines[finishing.hotline].name.clone(),
            category: finishing.category.clone(),
            kind,
        });
    }
}
