//! Call control: the sans-IO core that decides what happens to each incident.
//!
//! It knows nothing of SIP, sockets or tasks. The signalling layer reports what happened to
//! a leg ([`Event`]) with the current time; call control answers with what to do
//! ([`Command`]) and with the records of the handoff log ([`IncidentRecord`]). Timers are
//! deadlines that the driver reads with [`CallControl::poll_timeout`] and hands back through
//! [`CallControl::handle_timeout`], so every flow runs on a virtual clock in tests.
//!
//! An incident has members (answered legs: the caller and seats) and at most one pending
//! leg (a seat ringing). Two members are relayed to each other, three are mixed; a caller
//! left alone while a seat rings hears ringback.

mod handoff;
mod incident;
pub mod keys;
mod record;
mod recording;
mod routing;
mod seats;

#[cfg(test)]
mod handoff_tests;
#[cfg(test)]
mod recording_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use crate::media::dtmf::Trigger;
use crate::rules::Category;
use crate::timer::TimerTable;
use incident::{Incident, Role};
pub use keys::{KeyAction, KeyMap};
pub use record::{Actor, EndReason, HandoffTrigger, IncidentRecord, RecordKind, SeatFailure};
use recording::Finishing;
pub use recording::{file_names, Channel, SavedFile};
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

/// How a matter is handed to the other hotline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffMode {
    /// 电话转接: the seat leaves, the caller is connected to the linked seat.
    PhoneTransfer,
    /// 三方通话: caller, seat and linked seat talk together.
    ThreeWay,
    /// The seat consulted the other seat itself and joined them (REFER with Replaces).
    Attended,
}

impl HandoffMode {
    pub fn name(self) -> &'static str {
        match self {
            HandoffMode::PhoneTransfer => "phone-transfer",
            HandoffMode::ThreeWay => "three-way",
            HandoffMode::Attended => "attended",
        }
    }
}

/// A hotline: a group of seats reached by one or more numbers.
#[derive(Debug, Clone)]
pub struct HotlineInfo {
    pub name: String,
    pub numbers: Vec<String>,
    /// The hotline that transfer keys hand over to.
    pub linked: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub hotlines: Vec<HotlineInfo>,
    pub seats: Vec<SeatInfo>,
    /// How long a seat rings before the call moves to the next seat.
    pub ring_timeout: Duration,
    /// How long a caller waits for a free seat before the call is refused.
    pub queue_timeout: Duration,
    pub keys: KeyMap,
    pub categories: Vec<Category>,
    /// How an emergency category starts the linkage.
    pub emergency_mode: HandoffMode,
    /// Whether incidents are recorded.
    pub record_calls: bool,
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
    /// A key pressed on the leg's phone, counted once.
    KeyPress {
        leg: LegId,
        digit: char,
        trigger: Trigger,
    },
    /// The leg's phone asked to transfer its call to `number` (REFER without Replaces).
    Refer { leg: LegId, number: String },
    /// The leg's phone asked to join its call's other party with the far end of `replaces`,
    /// a call it made itself (REFER with Replaces).
    ReferReplaces { leg: LegId, replaces: LegId },
    /// The media layer closed an incident's recording files.
    RecordingSaved {
        incident: IncidentId,
        files: Vec<SavedFile>,
        duration_ms: u64,
        /// Audio dropped because the disk could not keep up.
        lost_ms: u64,
    },
    /// The media layer stopped recording an incident because writing failed.
    RecordingFailed {
        incident: IncidentId,
        reason: String,
    },
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
    /// Mix the legs' audio: each hears all the others.
    Mix { legs: Vec<LegId> },
    /// Play ringback to a leg that waits alone.
    Ringback { leg: LegId },
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
    /// Report a REFER's progress to the phone that sent it (RFC 3515 §2.4.5 NOTIFY);
    /// `done` ends the implicit subscription.
    NotifyRefer { leg: LegId, status: u16, done: bool },
    /// Start recording an incident into `files` (multichannel, mixed) in the recordings
    /// directory; the recording's time starts now.
    RecordStart {
        incident: IncidentId,
        files: [String; 2],
    },
    /// Record what the leg's party says on `channel` of the incident's recording, from now
    /// until the leg closes or is put on another recording.
    RecordParty {
        incident: IncidentId,
        leg: LegId,
        channel: Channel,
    },
    /// Stop recording the leg's party: it left the call (a seat that sent REFER keeps its
    /// leg until the transfer ends, but is no longer heard in the call or the recording).
    RecordLeave { incident: IncidentId, leg: LegId },
    /// Close the incident's recording files.
    RecordStop { incident: IncidentId },
}

pub struct CallControl {
    hotlines: Vec<HotlineInfo>,
    ring_timeout: Duration,
    queue_timeout: Duration,
    keymap: KeyMap,
    categories: Vec<Category>,
    emergency_mode: HandoffMode,
    record_calls: bool,
    seats: SeatBoard,
    incidents: HashMap<IncidentId, Incident>,
    legs: HashMap<LegId, IncidentId>,
    queue: VecDeque<IncidentId>,
    timers: TimerTable<IncidentId>,
    commands: VecDeque<Command>,
    records: VecDeque<IncidentRecord>,
    /// Ended incidents whose recording files are not yet saved.
    finishing: HashMap<IncidentId, Finishing>,
    next_id: u64,
    next_incident: u64,
    accepting: bool,
}

impl CallControl {
    pub fn new(config: ControlConfig, now: Instant) -> Self {
        Self {
            hotlines: config.hotlines,
            ring_timeout: config.ring_timeout,
            queue_timeout: config.queue_timeout,
            keymap: config.keys,
            categories: config.categories,
            emergency_mode: config.emergency_mode,
            record_calls: config.record_calls,
            seats: SeatBoard::new(config.seats, now),
            incidents: HashMap::new(),
            legs: HashMap::new(),
            queue: VecDeque::new(),
            timers: TimerTable::default(),
            commands: VecDeque::new(),
            records: VecDeque::new(),
            finishing: HashMap::new(),
            next_id: 1,
            next_incident: 0,
            accepting: true,
        }
    }

    /// Numbers new incidents after `last`, so that numbers stay unique across restarts.
    pub fn continue_incidents_after(&mut self, last: u64) {
        self.next_incident = self.next_incident.max(last);
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

    /// The name of the hotline a seat answers for.
    pub fn info_hotline(&self, seat: SeatId) -> &str {
        &self.hotlines[self.seats.info(seat).hotline].name
    }

    /// The incident a leg belongs to, while the incident lasts.
    pub fn incident_of(&self, leg: LegId) -> Option<IncidentId> {
        self.legs.get(&leg).copied()
    }

    /// Whether a leg is a seat's leg (its keys are transfer keys; the caller's are not).
    pub fn is_seat_leg(&self, leg: LegId) -> bool {
        let Some(incident) = self.legs.get(&leg).and_then(|id| self.incidents.get(id)) else {
            return false;
        };
        incident
            .member(leg)
            .is_some_and(|m| matches!(m.role, Role::Seat { .. }))
            || incident.pending.is_some_and(|p| p.leg == leg)
            || incident.referrer.is_some_and(|r| r.leg == leg)
    }

    pub fn active_incidents(&self) -> usize {
        self.incidents.len()
    }

    /// Recordings of ended incidents whose files are still being closed.
    pub fn recordings_closing(&self) -> usize {
        self.finishing.len()
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
            Event::Cancelled { leg } | Event::HungUp { leg } => self.on_gone(leg, now),
            Event::MediaTimeout { leg } => self.on_media_timeout(leg, now),
            Event::SeatOnline { seat, online } => {
                if self.seats.set_online(seat, online, now) {
                    self.seat_returned(seat, now);
                }
            }
            Event::KeyPress {
                leg,
                digit,
                trigger,
            } => self.on_key(leg, digit, trigger, now),
            Event::Refer { leg, number } => self.on_refer(leg, &number, now),
            Event::ReferReplaces { leg, replaces } => self.on_refer_replaces(leg, replaces, now),
            Event::RecordingSaved {
                incident,
                files,
                duration_ms,
                lost_ms,
            } => self.on_recording_saved(incident, files, duration_ms, lost_ms, now),
            Event::RecordingFailed { incident, reason } => {
                self.on_recording_failed(incident, reason, now)
            }
        }
    }

    fn on_media_timeout(&mut self, leg: LegId, now: Instant) {
        let Some(id) = self.legs.get(&leg).copied() else {
            return;
        };
        let incident = &self.incidents[&id];
        if incident.member(leg).is_none() {
            return;
        }
        let members: Vec<LegId> = incident.members.iter().map(|m| m.leg).collect();
        for member in members {
            self.commands.push_back(Command::Hangup { leg: member });
        }
        self.end(id, EndReason::MediaTimeout, now);
    }

    /// Sets up the media of an answered incident after its members changed.
    fn remedia(&mut self, id: IncidentId, now: Instant) {
        let Some(incident) = self.incidents.get(&id) else {
            return;
        };
        if !incident.answered {
            return;
        }
        self.update_recording(id, now);
        let incident = &self.incidents[&id];
        let last_seat = incident.seats().last().map(|(_, seat, _)| seat);
        let legs: Vec<LegId> = incident.members.iter().map(|m| m.leg).collect();
        let waiting = incident.pending.is_some() || incident.queued;
        if let Some(seat) = last_seat.filter(|_| incident.has_caller()) {
            let hotline = self.seats.info(seat).hotline;
            self.incidents.get_mut(&id).expect("live").handled_by = Some(hotline);
        }
        let command = match legs.as_slice() {
            [a, b] => Command::Bridge { a: *a, b: *b },
            [_, _, _, ..] => Command::Mix { legs },
            [alone] if waiting => Command::Ringback { leg: *alone },
            _ => return,
        };
        let incident = self.incidents.get_mut(&id).expect("live");
        if incident.media.as_ref() == Some(&command) {
            return;
        }
        incident.media = Some(command.clone());
        self.commands.push_back(command);
    }

    fn record(
        &mut self,
        id: IncidentId,
        leg: Option<LegId>,
        actor: Actor,
        kind: RecordKind,
        now: Instant,
    ) {
        let incident = &self.incidents[&id];
        self.records.push_back(IncidentRecord {
            incident: id,
            leg,
            at: now,
            offset: now - incident.started,
            actor,
            hotline: self.hotlines[incident.hotline].name.clone(),
            category: incident.category.clone(),
            kind,
        });
    }

    fn seat_actor(&self, seat: SeatId) -> Actor {
        Actor::Seat(self.seats.info(seat).number.clone())
    }

    fn seat_name(&self, seat: SeatId) -> String {
        self.seats.info(seat).number.clone()
    }

    /// Ends the incident: records the outcome, forgets its legs and frees its seats. The
    /// caller has already sent what ends each leg.
    fn end(&mut self, id: IncidentId, reason: EndReason, now: Instant) {
        if !self.incidents.contains_key(&id) {
            return;
        }
        self.stop_recording(id, now);
        self.record_outcome(id, now);
        let actor = match reason {
            EndReason::CallerHungUp | EndReason::CallerCancelled => Actor::Caller,
            EndReason::SeatHungUp => Actor::System,
            _ => Actor::System,
        };
        self.record(id, None, actor, RecordKind::CallEnded { reason }, now);
        let incident = self.incidents.remove(&id).expect("checked above");
        self.timers.cancel(&id);
        self.queue.retain(|queued| *queued != id);
        self.legs.retain(|_, owner| *owner != id);
        let mut seats: Vec<SeatId> = incident.seats().map(|(_, seat, _)| seat).collect();
        seats.extend(incident.pending.map(|p| p.seat));
        seats.extend(incident.referrer.map(|r| r.seat));
        for seat in seats {
            if self.seats.release(seat, now) {
                self.seat_returned(seat, now);
            }
        }
    }
}
