//! Handoffs between hotlines: transfer keys, three-way calls, phone transfers, REFER, and
//! the category rules that start a linkage by themselves.

use std::time::Instant;

use super::incident::{Member, Pending, Purpose, Referrer, Role};
use super::{
    Actor, CallControl, Command, EndReason, HandoffMode, HandoffTrigger, IncidentId, KeyAction,
    LegId, RecordKind, SeatFailure,
};
use crate::media::dtmf::Trigger;
use crate::rules::Rule;

impl CallControl {
    pub(super) fn on_key(&mut self, leg: LegId, digit: char, trigger: Trigger, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            return;
        };
        let incident = self.incidents.get_mut(&id).expect("owner is live");
        // Keys count only from seats in the call; the caller's digits never act.
        let Some(Member {
            role: Role::Seat { seat, .. },
            ..
        }) = incident.member(leg)
        else {
            return;
        };
        let sequence = incident.keys.entry(leg).or_default();
        let Some(action) = sequence.push(&self.keymap, digit, now) else {
            return;
        };
        let keys = match &action {
            KeyAction::ThreeWay => self.keymap.three_way.clone(),
            KeyAction::Transfer => self.keymap.transfer.clone(),
            KeyAction::Leave => self.keymap.leave.clone(),
            KeyAction::Cancel => self.keymap.cancel.clone(),
            KeyAction::Category(code) => format!("{}{code}", self.keymap.category),
        };
        let kind = RecordKind::KeyPressed {
            seat: self.seat_name(seat),
            keys,
            trigger,
        };
        self.record(id, Some(leg), self.seat_actor(seat), kind, now);
        let trigger = HandoffTrigger::Keys(trigger);
        match action {
            KeyAction::ThreeWay => {
                self.start_handoff(id, leg, None, HandoffMode::ThreeWay, trigger, now);
            }
            KeyAction::Transfer => {
                self.start_handoff(id, leg, None, HandoffMode::PhoneTransfer, trigger, now);
            }
            KeyAction::Leave => self.leave(id, leg, now),
            KeyAction::Cancel => self.cancel_handoff(id, leg, now),
            KeyAction::Category(code) => self.tag_category(id, leg, &code, now),
        }
    }

    /// Starts handing the caller from the seat on `leg` to `target` (by default the seat's
    /// linked hotline). Only a seat talking alone with the caller can start one.
    fn start_handoff(
        &mut self,
        id: IncidentId,
        leg: LegId,
        target: Option<usize>,
        mode: HandoffMode,
        trigger: HandoffTrigger,
        now: Instant,
    ) -> bool {
        let incident = &self.incidents[&id];
        let Some(Member {
            role: Role::Seat { seat, .. },
            ..
        }) = incident.member(leg)
        else {
            return false;
        };
        if incident.pending.is_some() || incident.members.len() != 2 || !incident.has_caller() {
            tracing::info!(incident = %id, %leg, "handoff refused: the seat is not alone with the caller");
            return false;
        }
        let from = self.seats.info(seat).hotline;
        let Some(to) = target.or(self.hotlines[from].linked) else {
            tracing::info!(incident = %id, %leg, "handoff refused: the hotline has no linked hotline");
            return false;
        };
        let kind = RecordKind::TransferRequested {
            mode,
            from: self.hotlines[from].name.clone(),
            to: self.hotlines[to].name.clone(),
            trigger,
        };
        let actor = match trigger {
            HandoffTrigger::Rule => Actor::System,
            _ => self.seat_actor(seat),
        };
        self.record(id, Some(leg), actor, kind, now);

        let Some(target_seat) = self.seats.longest_idle(to, &[]) else {
            let kind = RecordKind::TargetFailed {
                seat: None,
                failure: SeatFailure::NoFreeSeat,
            };
            self.record(id, Some(leg), Actor::System, kind, now);
            self.record(
                id,
                Some(leg),
                Actor::System,
                RecordKind::TransferCancelled { mode },
                now,
            );
            return false;
        };
        self.incidents.get_mut(&id).expect("live").handoff = Some(mode);
        match mode {
            HandoffMode::ThreeWay => {
                self.dial(id, target_seat, Purpose::ThreeWay { by: leg }, now);
            }
            HandoffMode::PhoneTransfer | HandoffMode::Attended => {
                // The transferring seat is released at once; the caller hears ringback.
                self.commands.push_back(Command::Hangup { leg });
                self.drop_member(id, leg, now);
                self.dial(
                    id,
                    target_seat,
                    Purpose::Transfer {
                        return_to: Some(seat),
                    },
                    now,
                );
            }
        }
        true
    }

    /// Takes a seat out of the call without ending the incident, and frees the seat.
    fn drop_member(&mut self, id: IncidentId, leg: LegId, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("live");
        let Some(member) = incident.remove_member(leg) else {
            return;
        };
        self.legs.remove(&leg);
        if let Role::Seat { seat, .. } = member.role {
            let kind = RecordKind::PartyLeft {
                party: self.seat_name(seat),
            };
            self.record(id, Some(leg), self.seat_actor(seat), kind, now);
            if self.seats.release(seat, now) {
                self.seat_returned(seat, now);
            }
        }
    }

    /// `*3`: the seat leaves a three-way call and the other two stay. A seat whose
    /// three-way call is still ringing leaves the caller to the linked seat, as a transfer.
    fn leave(&mut self, id: IncidentId, leg: LegId, now: Instant) {
        let incident = &self.incidents[&id];
        let three = incident.members.len() >= 3;
        let ringing_for_me = incident
            .pending
            .is_some_and(|p| p.purpose == Purpose::ThreeWay { by: leg });
        if !three && !ringing_for_me {
            return;
        }
        let leaving_first = incident
            .member(leg)
            .is_some_and(|m| matches!(m.role, Role::Seat { first: true, .. }));
        self.commands.push_back(Command::Hangup { leg });
        self.drop_member(id, leg, now);
        if three {
            if leaving_first {
                self.complete_handoff(id, HandoffMode::ThreeWay, now);
            }
            self.remedia(id, now);
        } else {
            let incident = self.incidents.get_mut(&id).expect("live");
            if let Some(pending) = incident.pending.as_mut() {
                pending.purpose = Purpose::Transfer { return_to: None };
            }
            incident.handoff = Some(HandoffMode::PhoneTransfer);
            self.remedia(id, now);
        }
    }

    /// `*0` from the first seat: drop the linked seat, or stop a handoff still ringing.
    fn cancel_handoff(&mut self, id: IncidentId, leg: LegId, now: Instant) {
        let incident = &self.incidents[&id];
        let is_first = incident
            .member(leg)
            .is_some_and(|m| matches!(m.role, Role::Seat { first: true, .. }));
        if !is_first {
            return;
        }
        let mode = incident.handoff.unwrap_or(HandoffMode::ThreeWay);
        if let Some(pending) = incident.pending.filter(|p| p.purpose != Purpose::Answer) {
            self.commands
                .push_back(Command::Cancel { leg: pending.leg });
            self.pending_cancelled(id, pending, now);
            self.record(
                id,
                Some(leg),
                Actor::System,
                RecordKind::TransferCancelled { mode },
                now,
            );
            return;
        }
        let linked: Vec<LegId> = incident
            .seats()
            .filter(|(_, _, first)| !first)
            .map(|(l, _, _)| l)
            .collect();
        if linked.is_empty() {
            return;
        }
        for other in linked {
            self.commands.push_back(Command::Hangup { leg: other });
            self.drop_member(id, other, now);
        }
        self.record(
            id,
            Some(leg),
            Actor::System,
            RecordKind::TransferCancelled { mode },
            now,
        );
        self.incidents.get_mut(&id).expect("live").handoff = None;
        self.remedia(id, now);
    }

    fn pending_cancelled(&mut self, id: IncidentId, pending: Pending, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("live");
        incident.pending = None;
        incident.handoff = None;
        self.timers.cancel(&id);
        self.legs.remove(&pending.leg);
        let kind = RecordKind::TargetFailed {
            seat: Some(self.seat_name(pending.seat)),
            failure: SeatFailure::Cancelled,
        };
        self.record(id, Some(pending.leg), Actor::System, kind, now);
        if self.seats.release(pending.seat, now) {
            self.seat_returned(pending.seat, now);
        }
    }

    /// The linked seat answered a three-way call or a transfer.
    pub(super) fn handoff_answered(
        &mut self,
        id: IncidentId,
        leg: LegId,
        pending: Pending,
        now: Instant,
    ) {
        let name = self.seat_name(pending.seat);
        let actor = self.seat_actor(pending.seat);
        self.record(
            id,
            Some(leg),
            actor,
            RecordKind::TargetAnswered { seat: name },
            now,
        );
        let incident = &self.incidents[&id];
        match pending.purpose {
            Purpose::ThreeWay { .. } if incident.members.len() >= 3 => {
                self.record(id, None, Actor::System, RecordKind::ConferenceStarted, now);
            }
            _ => {
                let mode = incident.handoff.unwrap_or(HandoffMode::PhoneTransfer);
                self.complete_handoff(id, mode, now);
                if let Some(referrer) = self.incidents[&id].referrer {
                    self.notify_refer(referrer.leg, 200, true);
                    self.commands
                        .push_back(Command::Hangup { leg: referrer.leg });
                    self.release_referrer(id, now);
                }
            }
        }
    }

    fn complete_handoff(&mut self, id: IncidentId, mode: HandoffMode, now: Instant) {
        let incident = &self.incidents[&id];
        let to = incident
            .seats()
            .map(|(_, seat, _)| self.seats.info(seat).hotline)
            .next()
            .map(|h| self.hotlines[h].name.clone())
            .unwrap_or_default();
        self.record(
            id,
            None,
            Actor::System,
            RecordKind::TransferCompleted { mode, to },
            now,
        );
    }

    fn release_referrer(&mut self, id: IncidentId, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("live");
        if let Some(referrer) = incident.referrer.take() {
            self.legs.remove(&referrer.leg);
            if self.seats.release(referrer.seat, now) {
                self.seat_returned(referrer.seat, now);
            }
        }
    }

    /// The linked seat did not take the call. A three-way call goes on as it was; a
    /// transferred caller goes back to the seat that transferred it if that seat is free,
    /// else to the next free seat of the first hotline, else waits in the queue.
    pub(super) fn handoff_failed(&mut self, id: IncidentId, pending: Pending, now: Instant) {
        let incident = self.incidents.get_mut(&id).expect("live");
        let mode = incident
            .handoff
            .take()
            .unwrap_or(HandoffMode::PhoneTransfer);
        self.record(
            id,
            Some(pending.leg),
            Actor::System,
            RecordKind::TransferCancelled { mode },
            now,
        );
        let Purpose::Transfer { return_to } = pending.purpose else {
            self.remedia(id, now);
            return;
        };
        let incident = self.incidents.get_mut(&id).expect("live");
        if let Some(Referrer { leg, seat, first }) = incident.referrer.take() {
            // The phone that sent REFER still holds its call: the caller goes back to it.
            incident.members.push(Member {
                leg,
                role: Role::Seat { seat, first },
            });
            self.notify_refer(leg, 487, true);
            let kind = RecordKind::CallerReturned {
                seat: self.seat_name(seat),
            };
            self.record(id, Some(leg), self.seat_actor(seat), kind, now);
            self.remedia(id, now);
            return;
        }
        match return_to.filter(|seat| self.seats.is_free(*seat)) {
            Some(seat) => self.dial(id, seat, Purpose::Answer, now),
            None => self.route(id, now),
        }
    }

    /// `*9NN`: tags the incident; an emergency tagged on the hotline its rule names starts
    /// the linkage with the owner at once.
    fn tag_category(&mut self, id: IncidentId, leg: LegId, code: &str, now: Instant) {
        let Some(category) = self.categories.iter().find(|c| c.code == code).cloned() else {
            tracing::info!(incident = %id, code, "unknown category code");
            return;
        };
        let incident = self.incidents.get_mut(&id).expect("live");
        incident.category = Some(category.code.clone());
        let kind = RecordKind::CategoryTagged {
            code: category.code.clone(),
            owner: self.hotlines[category.owner].name.clone(),
        };
        self.record(id, Some(leg), Actor::System, kind, now);
        if let Rule::Immediate { from } = category.rule {
            let incident = self.incidents.get_mut(&id).expect("live");
            if incident.hotline == from {
                incident.dispatch = true;
                let mode = self.emergency_mode;
                self.start_handoff(
                    id,
                    leg,
                    Some(category.owner),
                    mode,
                    HandoffTrigger::Rule,
                    now,
                );
            }
        }
    }

    /// REFER without Replaces (RFC 3515, RFC 5589 §6): a phone transfer to the number in
    /// Refer-To. The seat's leg stays until the outcome is known, so that a failed transfer
    /// can give the caller back to it.
    pub(super) fn on_refer(&mut self, leg: LegId, number: &str, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            self.notify_refer(leg, 481, true);
            return;
        };
        let Some(target) = self.hotline_of_number(number) else {
            self.notify_refer(leg, 404, true);
            return;
        };
        let incident = &self.incidents[&id];
        let Some(Member {
            role: Role::Seat { seat, first },
            ..
        }) = incident.member(leg)
        else {
            self.notify_refer(leg, 403, true);
            return;
        };
        if incident.pending.is_some() || incident.members.len() != 2 || !incident.has_caller() {
            self.notify_refer(leg, 491, true);
            return;
        }
        let from = self.seats.info(seat).hotline;
        let kind = RecordKind::TransferRequested {
            mode: HandoffMode::PhoneTransfer,
            from: self.hotlines[from].name.clone(),
            to: self.hotlines[target].name.clone(),
            trigger: HandoffTrigger::Refer,
        };
        self.record(id, Some(leg), self.seat_actor(seat), kind, now);
        let Some(target_seat) = self.seats.longest_idle(target, &[]) else {
            let kind = RecordKind::TargetFailed {
                seat: None,
                failure: SeatFailure::NoFreeSeat,
            };
            self.record(id, Some(leg), Actor::System, kind, now);
            let mode = HandoffMode::PhoneTransfer;
            self.record(
                id,
                Some(leg),
                Actor::System,
                RecordKind::TransferCancelled { mode },
                now,
            );
            self.notify_refer(leg, 480, true);
            return;
        };
        self.notify_refer(leg, 100, false);
        let incident = self.incidents.get_mut(&id).expect("live");
        incident.remove_member(leg);
        incident.referrer = Some(Referrer { leg, seat, first });
        incident.handoff = Some(HandoffMode::PhoneTransfer);
        self.dial(id, target_seat, Purpose::Transfer { return_to: None }, now);
    }

    /// REFER with Replaces (RFC 3891, RFC 5589 §7): the seat on `leg` talked with the caller,
    /// then called another seat itself (the call of `replaces`); the caller and that other
    /// seat are joined, the referring seat leaves both calls, and the consultation call's
    /// incident ends merged into the caller's.
    pub(super) fn on_refer_replaces(&mut self, leg: LegId, replaces: LegId, now: Instant) {
        let (Some(id), Some(other)) = (
            self.legs.get(&leg).copied(),
            self.legs.get(&replaces).copied(),
        ) else {
            self.notify_refer(leg, 481, true);
            return;
        };
        let consult = &self.incidents[&other];
        // In the consultation the referring phone is the caller; the seat it reached is the
        // one member that is not `replaces`.
        let target = consult
            .seats()
            .find(|(l, _, _)| *l != replaces)
            .map(|(l, seat, _)| (l, seat));
        let referrer_is_seat = self.incidents[&id]
            .member(leg)
            .is_some_and(|m| matches!(m.role, Role::Seat { .. }));
        let (Some((target_leg, target_seat)), true, true) = (target, referrer_is_seat, id != other)
        else {
            self.notify_refer(leg, 403, true);
            return;
        };

        // Take the target seat out of the consultation and end that incident.
        let consult = self.incidents.get_mut(&other).expect("live");
        consult.remove_member(target_leg);
        self.legs.remove(&target_leg);
        self.commands.push_back(Command::Hangup { leg: replaces });
        let kind = RecordKind::PartyLeft {
            party: self.seat_name(target_seat),
        };
        self.record(other, Some(target_leg), Actor::System, kind, now);
        self.end(other, EndReason::Merged, now);

        // Join the target seat to the caller's incident in place of the referring seat.
        self.notify_refer(leg, 200, true);
        self.commands.push_back(Command::Hangup { leg });
        self.drop_member(id, leg, now);
        let incident = self.incidents.get_mut(&id).expect("live");
        incident.members.push(Member {
            leg: target_leg,
            role: Role::Seat {
                seat: target_seat,
                first: false,
            },
        });
        incident.handoff = Some(HandoffMode::Attended);
        self.legs.insert(target_leg, id);
        self.complete_handoff(id, HandoffMode::Attended, now);
        self.remedia(id, now);
    }

    /// Queues a REFER progress report for the phone on `leg`.
    fn notify_refer(&mut self, leg: LegId, status: u16, done: bool) {
        self.commands
            .push_back(Command::NotifyRefer { leg, status, done });
    }

    /// Records who handled the matter against who owns it by rule (首接负责制 when no
    /// category applies).
    pub(super) fn record_outcome(&mut self, id: IncidentId, now: Instant) {
        let incident = &self.incidents[&id];
        if !incident.answered {
            return;
        }
        let handled_by = incident.handled_by.unwrap_or(incident.hotline);
        let owner = incident
            .category
            .as_ref()
            .and_then(|code| self.categories.iter().find(|c| c.code == *code))
            .map(|c| c.owner)
            .unwrap_or(incident.hotline);
        let kind = RecordKind::Outcome {
            handled_by: self.hotlines[handled_by].name.clone(),
            owner: self.hotlines[owner].name.clone(),
            followed_rule: handled_by == owner,
            dispatch: incident.dispatch,
        };
        self.record(id, None, Actor::System, kind, now);
    }
}
