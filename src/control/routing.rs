//! Getting a seat to the caller: the first routing, the queue, answers and failures of the
//! ringing leg, and parties leaving.

use std::time::Instant;

use super::incident::{Incident, Member, Pending, Purpose, Role};
use super::{
    Actor, CallControl, Command, EndReason, IncidentId, LegId, RecordKind, SeatFailure, SeatId,
};

impl CallControl {
    pub(super) fn on_inbound_call(
        &mut self,
        leg: LegId,
        number: String,
        caller: String,
        now: Instant,
    ) {
        if !self.accepting {
            self.commands.push_back(Command::Reject {
                leg,
                status: 503,
                reason: "Service Unavailable",
            });
            return;
        }
        let Some(hotline) = self.hotline_of_number(&number) else {
            self.commands.push_back(Command::Reject {
                leg,
                status: 404,
                reason: "Not Found",
            });
            return;
        };

        self.next_incident += 1;
        let id = IncidentId(self.next_incident);
        self.incidents.insert(id, Incident::new(hotline, leg, now));
        self.legs.insert(leg, id);
        let kind = RecordKind::CallReceived {
            caller,
            number,
            hotline: self.hotlines[hotline].name.clone(),
        };
        self.record(id, Some(leg), Actor::Caller, kind, now);
        self.commands.push_back(Command::Ring { leg });
        self.route(id, now);
    }

    pub(super) fn hotline_of_number(&self, number: &str) -> Option<usize> {
        self.hotlines
            .iter()
            .position(|h| h.numbers.iter().any(|n| n == number))
    }

    /// Rings the longest-idle free seat of the first hotline that the incident has not tried,
    /// or queues the caller.
    pub(super) fn route(&mut self, id: IncidentId, now: Instant) {
        let incident = &self.incidents[&id];
        match self.seats.longest_idle(incident.hotline, &incident.tried) {
            Some(seat) => self.dial(id, seat, Purpose::Answer, now),
            None => self.enqueue(id, now),
        }
    }

    /// Starts ringing `seat` for the incident.
    pub(super) fn dial(&mut self, id: IncidentId, seat: SeatId, purpose: Purpose, now: Instant) {
        let leg = self.allocate_leg();
        let incident = self
            .incidents
            .get_mut(&id)
            .expect("dial for a live incident");
        let caller_leg = incident.caller_leg;
        incident.pending = Some(Pending { leg, seat, purpose });
        incident.queued = false;
        self.queue.retain(|queued| *queued != id);
        self.legs.insert(leg, id);
        self.seats.engage(seat);
        self.timers.set(id, now + self.ring_timeout);
        self.commands.push_back(Command::Dial {
            leg,
            seat,
            offer_from: caller_leg,
        });
        let name = self.seat_name(seat);
        let kind = match purpose {
            Purpose::Answer => RecordKind::SeatRinging { seat: name },
            Purpose::ThreeWay { .. } | Purpose::Transfer { .. } => {
                RecordKind::TargetRinging { seat: name }
            }
        };
        self.record(id, Some(leg), Actor::System, kind, now);
        self.remedia(id, now);
    }

    /// No seat is free: the caller waits, with ringback, until one is or the time runs out.
    pub(super) fn enqueue(&mut self, id: IncidentId, now: Instant) {
        let incident = self
            .incidents
            .get_mut(&id)
            .expect("enqueue a live incident");
        incident.queued = true;
        let first_time = incident.queued_at.is_none();
        let deadline = *incident.queued_at.get_or_insert(now) + self.queue_timeout;
        if deadline <= now {
            self.give_up(id, now);
            return;
        }
        self.timers.set(id, deadline);
        if !self.queue.contains(&id) {
            self.queue.push_back(id);
        }
        if first_time {
            self.record(id, None, Actor::System, RecordKind::Queued, now);
        }
        self.remedia(id, now);
    }

    /// The queue time ran out: refuse the caller, or hang up on it if it was answered.
    fn give_up(&mut self, id: IncidentId, now: Instant) {
        let incident = &self.incidents[&id];
        let caller_leg = incident.caller_leg;
        if incident.answered {
            let legs: Vec<LegId> = incident.members.iter().map(|m| m.leg).collect();
            for leg in legs {
                self.commands.push_back(Command::Hangup { leg });
            }
        } else {
            self.commands.push_back(Command::Reject {
                leg: caller_leg,
                status: 480,
                reason: "Temporarily Unavailable",
            });
        }
        self.end(id, EndReason::NoSeat, now);
    }

    pub(super) fn on_deadline(&mut self, id: IncidentId, now: Instant) {
        let Some(incident) = self.incidents.get(&id) else {
            return;
        };
        if let Some(pending) = incident.pending {
            self.commands
                .push_back(Command::Cancel { leg: pending.leg });
            self.pending_failed(id, SeatFailure::NoAnswer, now);
        } else if incident.queued {
            self.give_up(id, now);
        }
    }

    pub(super) fn on_answered(&mut self, leg: LegId, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            // A seat that answers after we gave up on it (CANCEL crossed its 200 OK).
            self.commands.push_back(Command::Hangup { leg });
            return;
        };
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        let Some(pending) = incident.pending.filter(|p| p.leg == leg) else {
            return;
        };
        incident.pending = None;
        self.timers.cancel(&id);
        // The first seat to take the caller is the first receiver; taking the caller back
        // after a failed handoff, only the first receiver is the first seat again.
        let first = pending.purpose == Purpose::Answer
            && !incident.seats().any(|(_, _, f)| f)
            && incident.first_receiver.is_none_or(|s| s == pending.seat);
        if first {
            incident.first_receiver = Some(pending.seat);
        }
        incident.members.push(Member {
            leg,
            role: Role::Seat {
                seat: pending.seat,
                first,
            },
        });
        let caller_leg = incident.caller_leg;
        let newly_answered = !incident.answered;
        if newly_answered {
            incident.answered = true;
            incident.members.insert(
                0,
                Member {
                    leg: caller_leg,
                    role: Role::Caller,
                },
            );
            self.commands.push_back(Command::Answer {
                leg: caller_leg,
                peer: leg,
            });
        }
        let name = self.seat_name(pending.seat);
        let actor = self.seat_actor(pending.seat);
        match pending.purpose {
            Purpose::Answer if newly_answered => {
                self.record(
                    id,
                    Some(leg),
                    actor,
                    RecordKind::Answered { seat: name },
                    now,
                );
            }
            Purpose::Answer => {
                self.record(
                    id,
                    Some(leg),
                    actor,
                    RecordKind::CallerReturned { seat: name },
                    now,
                );
            }
            Purpose::ThreeWay { .. } | Purpose::Transfer { .. } => {
                self.handoff_answered(id, leg, pending, now);
            }
        }
        self.remedia(id, now);
    }

    pub(super) fn on_failed(&mut self, leg: LegId, status: u16, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            return;
        };
        let incident = &self.incidents[&id];
        if incident.pending.is_some_and(|p| p.leg == leg) {
            let failure = match status {
                486 | 600 => SeatFailure::Busy,
                408 => SeatFailure::NoAnswer,
                other => SeatFailure::Rejected(other),
            };
            self.pending_failed(id, failure, now);
        } else {
            self.on_gone(leg, now);
        }
    }

    /// The ringing seat did not take the call: forget its leg and decide what comes next.
    pub(super) fn pending_failed(&mut self, id: IncidentId, failure: SeatFailure, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        let Some(pending) = incident.pending.take() else {
            return;
        };
        self.timers.cancel(&id);
        self.legs.remove(&pending.leg);
        let name = self.seat_name(pending.seat);
        let actor = self.seat_actor(pending.seat);
        match pending.purpose {
            Purpose::Answer => {
                self.incidents
                    .get_mut(&id)
                    .expect("live")
                    .tried
                    .push(pending.seat);
                let kind = RecordKind::SeatFailed {
                    seat: name,
                    failure,
                };
                self.record(id, Some(pending.leg), actor, kind, now);
                self.route(id, now);
            }
            Purpose::ThreeWay { .. } | Purpose::Transfer { .. } => {
                let kind = RecordKind::TargetFailed {
                    seat: Some(name),
                    failure,
                };
                self.record(id, Some(pending.leg), actor, kind, now);
                self.handoff_failed(id, pending, now);
            }
        }
        if self.seats.release(pending.seat, now) {
            self.serve_queue(self.seats.info(pending.seat).hotline, now);
        }
    }

    /// A leg hung up (BYE), or the caller cancelled before answer.
    pub(super) fn on_gone(&mut self, leg: LegId, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            return;
        };
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        if incident.pending.is_some_and(|p| p.leg == leg) {
            // A BYE on an early dialog: the seat gave up ringing.
            self.pending_failed(id, SeatFailure::Rejected(487), now);
            return;
        }
        if let Some(referrer) = incident.referrer.filter(|r| r.leg == leg) {
            // The phone that sent REFER hung up while the transfer goes on: it cannot take
            // the caller back, so its seat is free again.
            incident.referrer = None;
            self.legs.remove(&leg);
            if self.seats.release(referrer.seat, now) {
                self.seat_returned(referrer.seat, now);
            }
            return;
        }

        if leg == incident.caller_leg && !incident.answered {
            if let Some(pending) = incident.pending {
                self.commands
                    .push_back(Command::Cancel { leg: pending.leg });
            }
            self.end(id, EndReason::CallerCancelled, now);
            return;
        }
        let Some(member) = incident.remove_member(leg) else {
            return;
        };
        self.legs.remove(&leg);
        let party = match member.role {
            Role::Caller => "caller".to_string(),
            Role::Seat { seat, .. } => self.seat_name(seat),
        };
        let actor = match member.role {
            Role::Caller => Actor::Caller,
            Role::Seat { seat, .. } => self.seat_actor(seat),
        };
        self.record(id, Some(leg), actor, RecordKind::PartyLeft { party }, now);
        if let Role::Seat { seat, .. } = member.role {
            if self.seats.release(seat, now) {
                self.seat_returned(seat, now);
            }
        }
        let reason = match member.role {
            Role::Caller => EndReason::CallerHungUp,
            Role::Seat { .. } => EndReason::SeatHungUp,
        };
        self.after_departure(id, reason, now);
    }

    /// Decides what is left of the call after a member went: two or more talk on, the
    /// caller alone waits if a seat is ringing for it, otherwise the incident ends.
    pub(super) fn after_departure(&mut self, id: IncidentId, reason: EndReason, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        let remaining = incident.members.len();
        let caller_waits = remaining == 1 && incident.has_caller();
        if remaining >= 2 {
            self.remedia(id, now);
            return;
        }
        if caller_waits {
            if let Some(pending) = incident.pending.as_mut() {
                // A three-way call still ringing becomes a phone transfer once the seat that
                // asked for it is gone.
                if let Purpose::ThreeWay { .. } = pending.purpose {
                    pending.purpose = Purpose::Transfer { return_to: None };
                }
                self.remedia(id, now);
                return;
            }
            if incident.referrer.is_some() {
                return;
            }
        }
        if let Some(pending) = incident.pending {
            self.commands
                .push_back(Command::Cancel { leg: pending.leg });
        }
        if let Some(referrer) = incident.referrer {
            self.commands
                .push_back(Command::Hangup { leg: referrer.leg });
        }
        let legs: Vec<LegId> = incident.members.iter().map(|m| m.leg).collect();
        for leg in legs {
            self.commands.push_back(Command::Hangup { leg });
        }
        self.end(id, reason, now);
    }

    /// A seat became free after a call or came online: queued callers may have it again.
    pub(super) fn seat_returned(&mut self, seat: SeatId, now: Instant) {
        let hotline = self.seats.info(seat).hotline;
        for id in &self.queue {
            if let Some(incident) = self.incidents.get_mut(id) {
                incident.tried.retain(|tried| *tried != seat);
            }
        }
        self.serve_queue(hotline, now);
    }

    /// Gives free seats of `hotline` to queued callers, first come first served.
    pub(super) fn serve_queue(&mut self, hotline: usize, now: Instant) {
        let waiting: Vec<IncidentId> = self.queue.iter().copied().collect();
        for id in waiting {
            let Some(incident) = self.incidents.get(&id) else {
                continue;
            };
            if incident.hotline != hotline || !incident.queued || incident.pending.is_some() {
                continue;
            }
            if let Some(seat) = self.seats.longest_idle(hotline, &incident.tried) {
                self.dial(id, seat, Purpose::Answer, now);
            }
        }
    }
}
