//! Which seats exist, which are reachable, and which one should ring next.

use std::time::Instant;

/// Index of a seat in the directory given to call control at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatId(pub u16);

#[derive(Debug, Clone)]
pub struct SeatInfo {
    /// The seat's account, as dialled and as written in the handoff log ("1001").
    pub number: String,
    /// Index of the hotline the seat answers for.
    pub hotline: usize,
    /// A fixed seat behind the PBX is always reachable; a registering seat only while its
    /// registration lasts.
    pub always_online: bool,
    /// How many calls the seat takes at once: 1 for a phone, the channel count for a trunk
    /// towards another switch.
    pub capacity: u32,
}

#[derive(Debug)]
struct SeatState {
    info: SeatInfo,
    online: bool,
    /// Number of legs (ringing or connected) that currently occupy the seat.
    engaged: u32,
    /// When the seat last became free; the longest-idle free seat rings first.
    idle_since: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct SeatBoard {
    seats: Vec<SeatState>,
}

impl SeatBoard {
    pub fn new(seats: Vec<SeatInfo>, now: Instant) -> Self {
        let seats = seats
            .into_iter()
            .map(|info| SeatState {
                online: info.always_online,
                idle_since: Some(now),
                engaged: 0,
                info,
            })
            .collect();
        Self { seats }
    }

    pub fn info(&self, seat: SeatId) -> &SeatInfo {
        &self.seats[seat.0 as usize].info
    }

    pub fn find(&self, number: &str) -> Option<SeatId> {
        self.seats
            .iter()
            .position(|s| s.info.number == number)
            .map(|i| SeatId(i as u16))
    }

    pub fn is_free(&self, seat: SeatId) -> bool {
        let s = &self.seats[seat.0 as usize];
        s.online && s.engaged < s.info.capacity
    }

    /// Marks the seat online or offline; returns true when it became free by this change.
    pub fn set_online(&mut self, seat: SeatId, online: bool, now: Instant) -> bool {
        let s = &mut self.seats[seat.0 as usize];
        let was_free = s.online && s.engaged < s.info.capacity;
        if online && !s.online {
            s.idle_since = Some(now);
        }
        s.online = online || s.info.always_online;
        !was_free && s.online && s.engaged < s.info.capacity
    }

    pub fn engage(&mut self, seat: SeatId) {
        self.seats[seat.0 as usize].engaged += 1;
    }

    /// Releases one leg's hold on the seat; returns true when the seat is now free.
    pub fn release(&mut self, seat: SeatId, now: Instant) -> bool {
        let s = &mut self.seats[seat.0 as usize];
        s.engaged = s.engaged.saturating_sub(1);
        if s.engaged == 0 {
            s.idle_since = Some(now);
        }
        s.online && s.engaged < s.info.capacity
    }

    /// The free seat of `hotline` that has been idle longest, skipping `exclude`.
    pub fn longest_idle(&self, hotline: usize, exclude: &[SeatId]) -> Option<SeatId> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                s.info.hotline == hotline
                    && s.online
                    && s.engaged < s.info.capacity
                    && !exclude.contains(&SeatId(*i as u16))
            })
            .min_by_key(|(i, s)| (s.engaged, s.idle_since, *i))
            .map(|(i, _)| SeatId(i as u16))
    }
}
