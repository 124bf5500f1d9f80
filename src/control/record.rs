//! What call control reports about each incident: the entries of the handoff log.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Channel, HandoffMode, IncidentId, LegId, SavedFile};
use crate::media::dtmf::Trigger;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Caller,
    /// A seat, by its account number.
    Seat(String),
    /// The service itself (timers, routing, rules, media supervision).
    System,
}

/// What set a handoff off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffTrigger {
    /// Transfer keys, with how they arrived.
    Keys(Trigger),
    /// The phone's own transfer button (REFER).
    Refer,
    /// A category rule (an emergency tagged on the call).
    Rule,
}

/// Why a seat that was rung did not take the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatFailure {
    /// 486 or 600: the phone said it is busy.
    Busy,
    /// Nobody answered within the ring timeout.
    NoAnswer,
    /// Any other final response, with its status code.
    Rejected(u16),
    /// No seat of the target hotline was free to ring.
    NoFreeSeat,
    /// The handoff was cancelled before the seat answered.
    Cancelled,
}

/// Why an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    CallerHungUp,
    SeatHungUp,
    /// The caller (or the PBX on its behalf) cancelled before a seat answered.
    CallerCancelled,
    /// No seat took the call before the queue time ran out.
    NoSeat,
    /// No RTP arrived on a connected leg for the configured time.
    MediaTimeout,
    /// The incident's parties were joined into another incident (attended transfer).
    Merged,
}

/// Serialised with its name in `event` and its fields beside it, as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RecordKind {
    CallReceived {
        caller: String,
        number: String,
        hotline: String,
    },
    Queued,
    SeatRinging {
        seat: String,
    },
    SeatFailed {
        seat: String,
        failure: SeatFailure,
    },
    Answered {
        seat: String,
    },
    KeyPressed {
        seat: String,
        keys: String,
        trigger: Trigger,
    },
    TransferRequested {
        mode: HandoffMode,
        from: String,
        to: String,
        trigger: HandoffTrigger,
    },
    TargetRinging {
        seat: String,
    },
    TargetAnswered {
        seat: String,
    },
    TargetFailed {
        seat: Option<String>,
        failure: SeatFailure,
    },
    ConferenceStarted,
    PartyLeft {
        party: String,
    },
    TransferCompleted {
        mode: HandoffMode,
        to: String,
    },
    TransferCancelled {
        mode: HandoffMode,
    },
    /// The caller went back to a seat of the first hotline after a failed handoff.
    CallerReturned {
        seat: String,
    },
    CategoryTagged {
        code: String,
        owner: String,
    },
    /// How the incident ended up against the category rule.
    Outcome {
        handled_by: String,
        owner: String,
        followed_rule: bool,
        dispatch: bool,
    },
    CallEnded {
        reason: EndReason,
    },
    /// Recording began; `files` are the multichannel and mixed files in the recordings
    /// directory, `channels` the parties of the multichannel file in order.
    RecordingStarted {
        files: Vec<String>,
        channels: Vec<Channel>,
    },
    RecordingStopped,
    /// The files are closed; their digests let an auditor check them later.
    RecordingSaved {
        files: Vec<SavedFile>,
        duration_ms: u64,
        lost_ms: u64,
    },
    RecordingFailed {
        reason: String,
    },
}

/// One entry of the handoff log, as call control produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub incident: IncidentId,
    /// The leg the event concerns, when it concerns one.
    pub leg: Option<LegId>,
    pub at: Instant,
    /// Time since the incident was received.
    pub offset: Duration,
    pub actor: Actor,
    /// The first receiver's hotline.
    pub hotline: String,
    pub category: Option<String>,
    pub kind: RecordKind,
}
