//! One incident's state: who is connected, who is ringing, and what was asked for.

use std::collections::HashMap;
use std::time::Instant;

use super::keys::KeySequence;
use super::{HandoffMode, LegId, SeatId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Caller,
    /// `first` marks the seat that answered first: the first receiver (首接).
    Seat {
        seat: SeatId,
        first: bool,
    },
}

/// A leg that answered and is in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub leg: LegId,
    pub role: Role,
}

/// A seat that sent REFER: it left the call but holds its leg until the transfer ends, and
/// takes the caller back, in the role it had, when the transfer fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Referrer {
    pub leg: LegId,
    pub seat: SeatId,
    pub first: bool,
}

/// Why a seat is being rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To take the caller: first routing, or taking the caller back after a failed handoff.
    Answer,
    /// The linked hotline joins a three-way call started by the seat on leg `by`.
    ThreeWay { by: LegId },
    /// The linked hotline takes the caller; `return_to` is the seat that handed it over.
    Transfer { return_to: Option<SeatId> },
}

/// The one outbound leg that is ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub leg: LegId,
    pub seat: SeatId,
    pub purpose: Purpose,
}

#[derive(Debug)]
pub struct Incident {
    /// Index of the hotline whose number was called (the first receiver, 首接).
    pub hotline: usize,
    pub caller_leg: LegId,
    pub started: Instant,
    /// The caller's leg has been answered.
    pub answered: bool,
    pub members: Vec<Member>,
    pub pending: Option<Pending>,
    /// A seat that asked for a transfer with REFER and waits on its leg for the outcome.
    pub referrer: Option<Referrer>,
    /// The first receiver (首接): the seat that answered first, once one has.
    pub first_receiver: Option<SeatId>,
    /// The caller waits for a free seat.
    pub queued: bool,
    /// When the caller first had to wait for a seat; the queue time counts from here.
    pub queued_at: Option<Instant>,
    /// Seats that were rung for this incident and did not take it.
    pub tried: Vec<SeatId>,
    pub category: Option<String>,
    /// Marked for dispatch to the local government and departments (emergency rule).
    pub dispatch: bool,
    /// The mode of the handoff under way or last completed.
    pub handoff: Option<HandoffMode>,
    pub keys: HashMap<LegId, KeySequence>,
    /// The hotline of the seat that last talked with the caller.
    pub handled_by: Option<usize>,
    /// The media set-up last asked for, so that an unchanged one is not sent again.
    pub media: Option<super::Command>,
    /// Set once the incident's recording has started.
    pub recording: Option<super::recording::RecordingState>,
}

impl Incident {
    pub fn new(hotline: usize, caller_leg: LegId, now: Instant) -> Self {
        Self {
            hotline,
            caller_leg,
            started: now,
            answered: false,
            members: Vec::new(),
            pending: None,
            referrer: None,
            first_receiver: None,
            queued: false,
            queued_at: None,
            tried: Vec::new(),
            category: None,
            dispatch: false,
            handoff: None,
            keys: HashMap::new(),
            handled_by: None,
            media: None,
            recording: None,
        }
    }

    pub fn member(&self, leg: LegId) -> Option<Member> {
        self.members.iter().copied().find(|m| m.leg == leg)
    }

    pub fn has_caller(&self) -> bool {
        self.members.iter().any(|m| m.role == Role::Caller)
    }

    pub fn seats(&self) -> impl Iterator<Item = (LegId, SeatId, bool)> + '_ {
        self.members.iter().filter_map(|m| match m.role {
            Role::Seat { seat, first } => Some((m.leg, seat, first)),
            Role::Caller => None,
        })
    }

    pub fn remove_member(&mut self, leg: LegId) -> Option<Member> {
        let index = self.members.iter().position(|m| m.leg == leg)?;
        self.keys.remove(&leg);
        Some(self.members.remove(index))
    }
}
