//! What call control reports about each incident: the entries of the handoff log.

use std::time::{Duration, Instant};

use super::{IncidentId, LegId};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Caller,
    /// A seat, by its account number.
    Seat(String),
    /// The service itself (timers, routing, media supervision).
    System,
}

/// Why a seat that was rung did not take the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatFailure {
    /// 486 or 600: the phone said it is busy.
    Busy,
    /// Nobody answered within the ring timeout.
    NoAnswer,
    /// Any other final response, with its status code.
    Rejected(u16),
}

/// Why an incident ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    CallerHungUp,
    SeatHungUp,
    /// The caller (or the PBX on its behalf) cancelled before a seat answered.
    CallerCancelled,
    /// No seat took the call before the queue time ran out.
    NoSeat,
    /// No RTP arrived on a connected leg for the configured time.
    MediaTimeout,
    UnknownNumber,
    /// The service is shutting down and took no new calls.
    ShuttingDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    CallEnded {
        reason: EndReason,
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
    pub kind: RecordKind,
}
