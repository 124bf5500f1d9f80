//! The state of one incident in the basic call: ringing a seat, waiting in the queue, or
//! connected to a seat.

use std::time::Instant;

use super::{LegId, SeatId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A seat is being rung on `leg`; the caller hears ringback.
    Ringing { leg: LegId, seat: SeatId },
    /// No seat is free; the caller hears ringback until one is or the queue time runs out.
    Queued,
    /// The caller and the seat are talking.
    Connected { leg: LegId, seat: SeatId },
}

#[derive(Debug)]
pub struct Incident {
    /// Index of the hotline whose number was called (the first receiver, 首接).
    pub hotline: usize,
    pub caller_leg: LegId,
    pub started: Instant,
    pub phase: Phase,
    /// Seats that were rung for this incident and did not take it.
    pub tried: Vec<SeatId>,
    /// When the caller first had to wait for a seat; the queue time counts from here.
    pub queued_at: Option<Instant>,
}

impl Incident {
    pub fn new(hotline: usize, caller_leg: LegId, now: Instant) -> Self {
        Self {
            hotline,
            caller_leg,
            started: now,
            phase: Phase::Queued,
            tried: Vec::new(),
            queued_at: None,
        }
    }
}
