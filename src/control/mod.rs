//! Call control: the sans-IO core that decides what happens to each incident.
//!
//! It knows nothing of SIP, sockets or tasks. The signalling layer reports what happened to
//! a leg ([`Event`]) with the current time; call control answers with what to do
//! ([`Command`]) and with the records of the handoff log ([`IncidentRecord`]). Timers are
//! deadlines that the driver reads with [`CallControl::poll_timeout`] and hands back through
//! [`CallControl::handle_timeout`], so every flow runs on a virtual clock in tests.

mod incident;
mod record;
mod seats;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::timer::TimerTable;
use incident::{Incident, Phase};
pub use record::{Actor, EndReason, IncidentRecord, RecordKind, SeatFailure};
use seats::SeatBoard;
pub use seats::{SeatId, SeatInfo};

/// One caller's call, whatever happens to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId(pub u64);

/// One SIP dialog (or dialog attempt) of an incident: the caller's, or a seat's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I{}", self.0)
    }
}

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A hotline: a group of seats reached by one or more numbers.
#[derive(Debug, Clone)]
pub struct HotlineInfo {
    pub name: String,
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub hotlines: Vec<HotlineInfo>,
    pub seats: Vec<SeatInfo>,
    /// How long a seat rings before the call moves to the next seat.
    pub ring_timeout: Duration,
    /// How long a caller waits for a free seat before the call is refused.
    pub queue_timeout: Duration,
}

/// What the signalling layer observed on a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new call arrived from an authorised source for `number`.
    InboundCall {
        leg: LegId,
        number: String,
        caller: String,
    },
    /// The far end of an outbound leg is ringing (180 or 183).
    Progress { leg: LegId },
    /// The far end of an outbound leg answered (2xx).
    Answered { leg: LegId },
    /// An outbound leg ended before answer: a final status, 408 for a transaction timeout.
    Failed { leg: LegId, status: u16 },
    /// The caller cancelled an inbound leg before it was answered.
    Cancelled { leg: LegId },
    /// The far end sent BYE, or the dialog died (no ACK, unreachable).
    HungUp { leg: LegId },
    /// No RTP arrived on the leg for the configured time.
    MediaTimeout { leg: LegId },
    /// A seat registered, or its registration ended.
    SeatOnline { seat: SeatId, online: bool },
}

/// What call control asks the signalling and media layers to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send 180 Ringing on an inbound leg; the caller hears ringback.
    Ring { leg: LegId },
    /// Start a new outbound leg to a seat, offering the media of `offer_from`.
    Dial {
        leg: LegId,
        seat: SeatId,
        offer_from: LegId,
    },
    /// Answer an inbound leg with media matching what `peer` agreed to.
    Answer { leg: LegId, peer: LegId },
    /// Relay media between two legs.
    Bridge { a: LegId, b: LegId },
    /// Refuse an inbound leg with a final status.
    Reject {
        leg: LegId,
        status: u16,
        reason: &'static str,
    },
    /// Stop a ringing outbound leg (CANCEL).
    Cancel { leg: LegId },
    /// End an established leg (BYE).
    Hangup { leg: LegId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Caller,
    Seat(SeatId),
}

#[derive(Debug, Clone, Copy)]
struct LegOwner {
    incident: IncidentId,
    role: Role,
}

pub struct CallControl {
    hotlines: Vec<HotlineInfo>,
    ring_timeout: Duration,
    queue_timeout: Duration,
    seats: SeatBoard,
    incidents: HashMap<IncidentId, Incident>,
    legs: HashMap<LegId, LegOwner>,
    queue: VecDeque<IncidentId>,
    timers: TimerTable<IncidentId>,
    commands: VecDeque<Command>,
    records: VecDeque<IncidentRecord>,
    next_id: u64,
    accepting: bool,
}

impl CallControl {
    pub fn new(config: ControlConfig, now: Instant) -> Self {
        Self {
            hotlines: config.hotlines,
            ring_timeout: config.ring_timeout,
            queue_timeout: config.queue_timeout,
            seats: SeatBoard::new(config.seats, now),
            incidents: HashMap::new(),
            legs: HashMap::new(),
            queue: VecDeque::new(),
            timers: TimerTable::default(),
            commands: VecDeque::new(),
            records: VecDeque::new(),
            next_id: 1,
            accepting: true,
        }
    }

    /// A fresh leg identifier; the signalling layer takes one for every inbound call so that
    /// inbound and outbound legs never share a number.
    pub fn allocate_leg(&mut self) -> LegId {
        self.next_id += 1;
        LegId(self.next_id)
    }

    pub fn seat_by_number(&self, number: &str) -> Option<SeatId> {
        self.seats.find(number)
    }

    pub fn seat_info(&self, seat: SeatId) -> &SeatInfo {
        self.seats.info(seat)
    }

    /// The incident a leg belongs to, while the incident lasts.
    pub fn incident_of(&self, leg: LegId) -> Option<IncidentId> {
        self.legs.get(&leg).map(|owner| owner.incident)
    }

    pub fn active_incidents(&self) -> usize {
        self.incidents.len()
    }

    /// Refuses new calls from now on (graceful shutdown); calls in progress go on.
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    pub fn poll_record(&mut self) -> Option<IncidentRecord> {
        self.records.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.timers.pop_expired(now) {
            self.on_deadline(id, now);
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::InboundCall {
                leg,
                number,
                caller,
            } => self.on_inbound_call(leg, number, caller, now),
            Event::Progress { .. } => {}
            Event::Answered { leg } => self.on_answered(leg, now),
            Event::Failed { leg, status } => self.on_failed(leg, status, now),
            Event::Cancelled { leg } => self.on_caller_gone(leg, EndReason::CallerCancelled, now),
            Event::HungUp { leg } => self.on_hung_up(leg, now),
            Event::MediaTimeout { leg } => self.on_media_timeout(leg, now),
            Event::SeatOnline { seat, online } => {
                if self.seats.set_online(seat, online, now) {
                    self.seat_returned(seat, now);
                }
            }
        }
    }

    fn on_inbound_call(&mut self, leg: LegId, number: String, caller: String, now: Instant) {
        if !self.accepting {
            self.commands.push_back(Command::Reject {
                leg,
                status: 503,
                reason: "Service Unavailable",
            });
            return;
        }
        let Some(hotline) = self
            .hotlines
            .iter()
            .position(|h| h.numbers.contains(&number))
        else {
            self.commands.push_back(Command::Reject {
                leg,
                status: 404,
                reason: "Not Found",
            });
            return;
        };

        self.next_id += 1;
        let id = IncidentId(self.next_id);
        self.incidents.insert(id, Incident::new(hotline, leg, now));
        self.legs.insert(
            leg,
            LegOwner {
                incident: id,
                role: Role::Caller,
            },
        );
        let kind = RecordKind::CallReceived {
            caller,
            number,
            hotline: self.hotlines[hotline].name.clone(),
        };
        self.record(id, Some(leg), Actor::Caller, kind, now);
        self.commands.push_back(Command::Ring { leg });
        self.route(id, now);
    }

    /// Rings the longest-idle free seat the incident has not tried, or queues the caller.
    fn route(&mut self, id: IncidentId, now: Instant) {
        let incident = &self.incidents[&id];
        match self.seats.longest_idle(incident.hotline, &incident.tried) {
            Some(seat) => self.dial(id, seat, now),
            None => self.enqueue(id, now),
        }
    }

    fn dial(&mut self, id: IncidentId, seat: SeatId, now: Instant) {
        let leg = self.allocate_leg();
        let incident = self
            .incidents
            .get_mut(&id)
            .expect("dial for a live incident");
        let caller_leg = incident.caller_leg;
        incident.phase = Phase::Ringing { leg, seat };
        self.queue.retain(|queued| *queued != id);
        self.legs.insert(
            leg,
            LegOwner {
                incident: id,
                role: Role::Seat(seat),
            },
        );
        self.seats.engage(seat);
        self.timers.set(id, now + self.ring_timeout);
        self.commands.push_back(Command::Dial {
            leg,
            seat,
            offer_from: caller_leg,
        });
        let number = self.seats.info(seat).number.clone();
        self.record(
            id,
            Some(leg),
            Actor::System,
            RecordKind::SeatRinging { seat: number },
            now,
        );
    }

    fn enqueue(&mut self, id: IncidentId, now: Instant) {
        let incident = self
            .incidents
            .get_mut(&id)
            .expect("enqueue a live incident");
        incident.phase = Phase::Queued;
        let first_time = incident.queued_at.is_none();
        let queued_at = *incident.queued_at.get_or_insert(now);
        let deadline = queued_at + self.queue_timeout;
        if deadline <= now {
            self.end_before_answer(id, EndReason::NoSeat, 480, now);
            return;
        }
        self.timers.set(id, deadline);
        self.queue.push_back(id);
        if first_time {
            self.record(id, None, Actor::System, RecordKind::Queued, now);
        }
    }

    fn on_answered(&mut self, leg: LegId, now: Instant) {
        let Some(owner) = self.legs.get(&leg).copied() else {
            // A seat that answers after we gave up on it (CANCEL crossed its 200 OK).
            self.commands.push_back(Command::Hangup { leg });
            return;
        };
        let incident = self
            .incidents
            .get_mut(&owner.incident)
            .expect("owner is live");
        let Phase::Ringing { leg: ringing, seat } = incident.phase else {
            return;
        };
        if ringing != leg {
            return;
        }
        incident.phase = Phase::Connected { leg, seat };
        let caller_leg = incident.caller_leg;
        self.timers.cancel(&owner.incident);
        self.commands.push_back(Command::Answer {
            leg: caller_leg,
            peer: leg,
        });
        self.commands.push_back(Command::Bridge {
            a: caller_leg,
            b: leg,
        });
        let number = self.seats.info(seat).number.clone();
        self.record(
            owner.incident,
            Some(leg),
            Actor::Seat(number.clone()),
            RecordKind::Answered { seat: number },
            now,
        );
    }

    fn on_failed(&mut self, leg: LegId, status: u16, now: Instant) {
        let Some(owner) = self.legs.get(&leg).copied() else {
            return;
        };
        match owner.role {
            Role::Caller => self.on_caller_gone(leg, EndReason::CallerHungUp, now),
            Role::Seat(seat) => {
                let failure = match status {
                    486 | 600 => SeatFailure::Busy,
                    408 => SeatFailure::NoAnswer,
                    other => SeatFailure::Rejected(other),
                };
                self.seat_failed(owner.incident, leg, seat, failure, now);
            }
        }
    }

    /// A rung seat did not take the call: forget its leg and try the next seat.
    fn seat_failed(
        &mut self,
        id: IncidentId,
        leg: LegId,
        seat: SeatId,
        failure: SeatFailure,
        now: Instant,
    ) {
        self.legs.remove(&leg);
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        incident.tried.push(seat);
        let number = self.seats.info(seat).number.clone();
        self.record(
            id,
            Some(leg),
            Actor::Seat(number.clone()),
            RecordKind::SeatFailed {
                seat: number,
                failure,
            },
            now,
        );
        self.route(id, now);
        if self.seats.release(seat, now) {
            self.serve_queue(self.seats.info(seat).hotline, now);
        }
    }

    fn on_hung_up(&mut self, leg: LegId, now: Instant) {
        let Some(owner) = self.legs.get(&leg).copied() else {
            return;
        };
        match owner.role {
            Role::Caller => self.on_caller_gone(leg, EndReason::CallerHungUp, now),
            Role::Seat(seat) => {
                let incident = &self.incidents[&owner.incident];
                match incident.phase {
                    Phase::Connected { leg: connected, .. } if connected == leg => {
                        self.commands.push_back(Command::Hangup {
                            leg: incident.caller_leg,
                        });
                        self.end(owner.incident, EndReason::SeatHungUp, now);
                    }
                    // A BYE on an early dialog: the seat gave up ringing.
                    _ => {
                        self.seat_failed(owner.incident, leg, seat, SeatFailure::Rejected(487), now)
                    }
                }
            }
        }
    }

    /// The caller left: stop whatever the seat side is doing and end the incident.
    fn on_caller_gone(&mut self, leg: LegId, reason: EndReason, now: Instant) {
        let Some(owner) = self.legs.get(&leg).copied() else {
            return;
        };
        if owner.role != Role::Caller {
            return;
        }
        match self.incidents[&owner.incident].phase {
            Phase::Ringing { leg: seat_leg, .. } => {
                self.commands.push_back(Command::Cancel { leg: seat_leg });
            }
            Phase::Connected { leg: seat_leg, .. } => {
                self.commands.push_back(Command::Hangup { leg: seat_leg });
            }
            Phase::Queued => {}
        }
        self.end(owner.incident, reason, now);
    }

    fn on_media_timeout(&mut self, leg: LegId, now: Instant) {
        let Some(owner) = self.legs.get(&leg).copied() else {
            return;
        };
        let incident = &self.incidents[&owner.incident];
        if let Phase::Connected { leg: seat_leg, .. } = incident.phase {
            self.commands.push_back(Command::Hangup {
                leg: incident.caller_leg,
            });
            self.commands.push_back(Command::Hangup { leg: seat_leg });
            self.end(owner.incident, EndReason::MediaTimeout, now);
        }
    }

    fn on_deadline(&mut self, id: IncidentId, now: Instant) {
        let Some(incident) = self.incidents.get(&id) else {
            return;
        };
        match incident.phase {
            Phase::Ringing { leg, seat } => {
                self.commands.push_back(Command::Cancel { leg });
                self.seat_failed(id, leg, seat, SeatFailure::NoAnswer, now);
            }
            Phase::Queued => self.end_before_answer(id, EndReason::NoSeat, 480, now),
            Phase::Connected { .. } => {}
        }
    }

    fn end_before_answer(&mut self, id: IncidentId, reason: EndReason, status: u16, now: Instant) {
        let leg = self.incidents[&id].caller_leg;
        self.commands.push_back(Command::Reject {
            leg,
            status,
            reason: "Temporarily Unavailable",
        });
        self.end(id, reason, now);
    }

    /// Removes the incident and frees its seats; the caller of `end` has already sent what
    /// ends each leg.
    fn end(&mut self, id: IncidentId, reason: EndReason, now: Instant) {
        let Some(incident) = self.incidents.remove(&id) else {
            return;
        };
        self.timers.cancel(&id);
        self.queue.retain(|queued| *queued != id);
        self.legs.remove(&incident.caller_leg);
        self.records.push_back(IncidentRecord {
            incident: id,
            leg: None,
            at: now,
            offset: now - incident.started,
            actor: match reason {
                EndReason::CallerHungUp | EndReason::CallerCancelled => Actor::Caller,
                _ => Actor::System,
            },
            kind: RecordKind::CallEnded { reason },
        });
        let seat = match incident.phase {
            Phase::Ringing { leg, seat } | Phase::Connected { leg, seat } => {
                self.legs.remove(&leg);
                Some(seat)
            }
            Phase::Queued => None,
        };
        if let Some(seat) = seat {
            if self.seats.release(seat, now) {
                self.seat_returned(seat, now);
            }
        }
    }

    /// A seat became free after a call or came online: queued callers may have it again.
    fn seat_returned(&mut self, seat: SeatId, now: Instant) {
        let hotline = self.seats.info(seat).hotline;
        for id in &self.queue {
            if let Some(incident) = self.incidents.get_mut(id) {
                incident.tried.retain(|tried| *tried != seat);
            }
        }
        self.serve_queue(hotline, now);
    }

    /// Gives free seats of `hotline` to queued callers, first come first served.
    fn serve_queue(&mut self, hotline: usize, now: Instant) {
        let waiting: Vec<IncidentId> = self.queue.iter().copied().collect();
        for id in waiting {
            let Some(incident) = self.incidents.get(&id) else {
                continue;
            };
            if incident.hotline != hotline || incident.phase != Phase::Queued {
                continue;
            }
            if let Some(seat) = self.seats.longest_idle(hotline, &incident.tried) {
                self.dial(id, seat, now);
            }
        }
    }

    fn record(
        &mut self,
        id: IncidentId,
        leg: Option<LegId>,
        actor: Actor,
        kind: RecordKind,
        now: Instant,
    ) {
        let started = self.incidents[&id].started;
        self.records.push_back(IncidentRecord {
            incident: id,
            leg,
            at: now,
            offset: now - started,
            actor,
            kind,
        });
    }
}
