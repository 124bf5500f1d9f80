//! The basic call on a virtual clock: every party hanging up in every state, timeouts, and
//! messages that cross.

use super::*;

const RING: Duration = Duration::from_secs(20);
const QUEUE: Duration = Duration::from_secs(60);

pub(super) struct Desk {
    pub(super) control: CallControl,
    pub(super) now: Instant,
    /// Recording commands and records, kept apart so that the call flows' assertions list
    /// only signalling and media; the recording tests read these.
    pub(super) recording_commands: Vec<Command>,
    pub(super) recording_records: Vec<RecordKind>,
}

pub(super) fn config() -> ControlConfig {
    let seat = |number: &str, hotline| SeatInfo {
        number: number.into(),
        hotline,
        always_online: false,
        capacity: 1,
    };
    ControlConfig {
        hotlines: vec![
            HotlineInfo {
                name: "12345".into(),
                numbers: vec!["12345".into()],
                linked: Some(1),
            },
            HotlineInfo {
                name: "110".into(),
                numbers: vec!["110".into()],
                linked: Some(0),
            },
        ],
        seats: vec![
            seat("1001", 0),
            seat("1002", 0),
            seat("2001", 1),
            seat("2002", 1),
        ],
        ring_timeout: RING,
        queue_timeout: QUEUE,
        keys: KeyMap::default(),
        categories: categories(),
        emergency_mode: HandoffMode::ThreeWay,
        record_calls: true,
    }
}

/// The shipped category file, as call control sees it.
pub(super) fn categories() -> Vec<crate::rules::Category> {
    let file: crate::rules::CategoryFile =
        toml::from_str(include_str!("../../config/categories.toml")).expect("shipped file");
    crate::rules::load_categories(&file, &["12345", "110"]).0
}

impl Desk {
    /// Call control with the seats named online, in that order (the first is idle longest).
    pub(super) fn with_seats_online(numbers: &[&str]) -> Self {
        let now = Instant::now();
        let mut desk = Self {
            control: CallControl::new(config(), now),
            now,
            recording_commands: Vec::new(),
            recording_records: Vec::new(),
        };
        for number in numbers {
            desk.advance(Duration::from_millis(10));
            let seat = desk.seat(number);
            desk.event(Event::SeatOnline { seat, online: true });
        }
        desk
    }

    pub(super) fn seat(&self, number: &str) -> SeatId {
        self.control.seat_by_number(number).expect("known seat")
    }

    pub(super) fn event(&mut self, event: Event) {
        self.control.handle(event, self.now);
    }

    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.control.handle_timeout(self.now);
    }

    pub(super) fn call(&mut self, number: &str) -> LegId {
        let leg = self.control.allocate_leg();
        self.event(Event::InboundCall {
            leg,
            number: number.into(),
            caller: "13800000000".into(),
        });
        leg
    }

    pub(super) fn commands(&mut self) -> Vec<Command> {
        let (recording, others) =
            std::iter::from_fn(|| self.control.poll_command()).partition(|c| {
                matches!(
                    c,
                    Command::RecordStart { .. }
                        | Command::RecordParty { .. }
                        | Command::RecordLeave { .. }
                        | Command::RecordStop { .. }
                )
            });
        self.recording_commands.extend::<Vec<Command>>(recording);
        others
    }

    pub(super) fn records(&mut self) -> Vec<RecordKind> {
        let (recording, others) = std::iter::from_fn(|| self.control.poll_record())
            .map(|r| r.kind)
            .partition(|kind| {
                matches!(
                    kind,
                    RecordKind::RecordingStarted { .. }
                        | RecordKind::RecordingStopped
                        | RecordKind::RecordingSaved { .. }
                        | RecordKind::RecordingFailed { .. }
                )
            });
        self.recording_records.extend::<Vec<RecordKind>>(recording);
        others
    }

    /// Expects exactly one Dial among the pending commands and returns its leg and seat.
    pub(super) fn dialled(&mut self) -> (LegId, String) {
        let dials: Vec<_> = self
            .commands()
            .into_iter()
            .filter_map(|c| match c {
                Command::Dial { leg, seat, .. } => Some((leg, seat)),
                _ => None,
            })
            .collect();
        assert_eq!(dials.len(), 1, "expected one Dial, got {dials:?}");
        let (leg, seat) = dials[0];
        (leg, self.control.seat_info(seat).number.clone())
    }

    /// Places a call and lets the first seat rung answer it.
    pub(super) fn connected_call(&mut self) -> (LegId, LegId) {
        let caller = self.call("12345");
        let (seat_leg, _) = self.dialled();
        self.event(Event::Answered { leg: seat_leg });
        self.commands();
        self.records();
        (caller, seat_leg)
    }
}

fn ended(reason: EndReason) -> RecordKind {
    RecordKind::CallEnded { reason }
}

/// The reason the incident ended, from a list of records.
pub(super) fn end_reason(records: &[RecordKind]) -> Option<EndReason> {
    records.iter().find_map(|r| match r {
        RecordKind::CallEnded { reason } => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn a_call_rings_the_longest_idle_seat_and_connects_when_it_answers() {
    let mut desk = Desk::with_seats_online(&["1002", "1001"]);
    let caller = desk.call("12345");

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Ring { leg: caller });
    let Command::Dial {
        leg: seat_leg,
        seat,
        offer_from,
    } = commands[1]
    else {
        panic!("expected Dial, got {commands:?}");
    };
    assert_eq!(desk.control.seat_info(seat).number, "1002");
    assert_eq!(offer_from, caller);

    desk.advance(Duration::from_secs(3));
    desk.event(Event::Progress { leg: seat_leg });
    desk.event(Event::Answered { leg: seat_leg });
    assert_eq!(
        desk.commands(),
        vec![
            Command::Answer {
                leg: caller,
                peer: seat_leg
            },
            Command::Bridge {
                a: caller,
                b: seat_leg
            },
        ]
    );

    let records: Vec<_> = std::iter::from_fn(|| desk.control.poll_record()).collect();
    assert_eq!(records.len(), 4);
    assert!(
        matches!(records[0].kind, RecordKind::CallReceived { ref hotline, .. } if hotline == "12345")
    );
    assert_eq!(
        records[1].kind,
        RecordKind::SeatRinging {
            seat: "1002".into()
        }
    );
    assert_eq!(
        records[2].kind,
        RecordKind::Answered {
            seat: "1002".into()
        }
    );
    assert_eq!(records[2].offset, Duration::from_secs(3));
    assert_eq!(records[2].actor, Actor::Seat("1002".into()));
    assert!(matches!(
        records[3].kind,
        RecordKind::RecordingStarted { .. }
    ));
}

#[test]
fn the_caller_cancelling_while_the_seat_rings_cancels_the_seat() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("12345");
    let (seat_leg, _) = desk.dialled();
    desk.records();

    desk.event(Event::Cancelled { leg: caller });

    assert_eq!(desk.commands(), vec![Command::Cancel { leg: seat_leg }]);
    assert_eq!(desk.records(), vec![ended(EndReason::CallerCancelled)]);
    assert_eq!(desk.control.active_incidents(), 0);
    assert!(desk.control.seats.is_free(desk.seat("1001")));
}

#[test]
fn a_seat_answering_after_the_cancel_crossed_it_is_hung_up() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("12345");
    let (seat_leg, _) = desk.dialled();
    desk.event(Event::Cancelled { leg: caller });
    desk.commands();

    desk.event(Event::Answered { leg: seat_leg });

    assert_eq!(desk.commands(), vec![Command::Hangup { leg: seat_leg }]);
}

#[test]
fn a_busy_seat_moves_the_call_to_the_next_seat() {
    let mut desk = Desk::with_seats_online(&["1001", "1002"]);
    desk.call("12345");
    let (first, number) = desk.dialled();
    assert_eq!(number, "1001");

    desk.event(Event::Failed {
        leg: first,
        status: 486,
    });

    let (_, number) = desk.dialled();
    assert_eq!(number, "1002");
    let records = desk.records();
    assert!(records.contains(&RecordKind::SeatFailed {
        seat: "1001".into(),
        failure: SeatFailure::Busy
    }));
}

#[test]
fn a_seat_that_does_not_answer_in_time_is_cancelled_and_the_next_rings() {
    let mut desk = Desk::with_seats_online(&["1001", "1002"]);
    desk.call("12345");
    let (first, _) = desk.dialled();

    desk.advance(RING - Duration::from_millis(1));
    assert!(desk.commands().is_empty());
    desk.advance(Duration::from_millis(1));

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Cancel { leg: first });
    assert!(matches!(commands[1], Command::Dial { seat, .. } if seat == desk.seat("1002")));
    assert!(desk.records().contains(&RecordKind::SeatFailed {
        seat: "1001".into(),
        failure: SeatFailure::NoAnswer
    }));
}

#[test]
fn with_no_free_seat_the_caller_waits_then_gets_480() {
    let mut desk = Desk::with_seats_online(&[]);
    let caller = desk.call("12345");
    assert_eq!(desk.commands(), vec![Command::Ring { leg: caller }]);
    assert!(desk.records().contains(&RecordKind::Queued));

    desk.advance(QUEUE - Duration::from_millis(1));
    assert!(desk.commands().is_empty());
    desk.advance(Duration::from_millis(1));

    assert_eq!(
        desk.commands(),
        vec![Command::Reject {
            leg: caller,
            status: 480,
            reason: "Temporarily Unavailable"
        }]
    );
    assert_eq!(desk.records(), vec![ended(EndReason::NoSeat)]);
}

#[test]
fn every_seat_failing_queues_the_caller_until_the_queue_time_ends() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("12345");
    let (leg, _) = desk.dialled();
    desk.event(Event::Failed { leg, status: 603 });
    assert!(
        desk.commands().is_empty(),
        "the seat that declined is not rung again"
    );

    desk.advance(QUEUE);
    assert_eq!(
        desk.commands(),
        vec![Command::Reject {
            leg: caller,
            status: 480,
            reason: "Temporarily Unavailable"
        }]
    );
}

#[test]
fn a_queued_caller_gets_the_first_seat_that_comes_online() {
    let mut desk = Desk::with_seats_online(&[]);
    desk.call("12345");
    desk.commands();

    desk.advance(Duration::from_secs(5));
    let seat = desk.seat("1002");
    desk.event(Event::SeatOnline { seat, online: true });

    let (_, number) = desk.dialled();
    assert_eq!(number, "1002");
}

#[test]
fn a_queued_caller_gets_a_seat_freed_by_another_call() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (first_caller, first_seat) = desk.connected_call();
    let second_caller = desk.call("12345");
    assert_eq!(desk.commands(), vec![Command::Ring { leg: second_caller }]);

    desk.event(Event::HungUp { leg: first_caller });

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Hangup { leg: first_seat });
    assert!(matches!(commands[1], Command::Dial { offer_from, .. } if offer_from == second_caller));
}

#[test]
fn the_caller_hanging_up_while_queued_ends_the_incident_quietly() {
    let mut desk = Desk::with_seats_online(&[]);
    let caller = desk.call("12345");
    desk.commands();
    desk.records();

    desk.event(Event::Cancelled { leg: caller });

    assert!(desk.commands().is_empty());
    assert_eq!(desk.records(), vec![ended(EndReason::CallerCancelled)]);
    desk.advance(QUEUE * 2);
    assert!(desk.commands().is_empty(), "no timer outlives the incident");
}

#[test]
fn the_caller_hanging_up_a_connected_call_hangs_up_the_seat() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, seat_leg) = desk.connected_call();

    desk.event(Event::HungUp { leg: caller });

    assert_eq!(desk.commands(), vec![Command::Hangup { leg: seat_leg }]);
    assert_eq!(end_reason(&desk.records()), Some(EndReason::CallerHungUp));
    assert!(desk.control.seats.is_free(desk.seat("1001")));
}

#[test]
fn the_seat_hanging_up_a_connected_call_hangs_up_the_caller() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, seat_leg) = desk.connected_call();

    desk.event(Event::HungUp { leg: seat_leg });

    assert_eq!(desk.commands(), vec![Command::Hangup { leg: caller }]);
    assert_eq!(end_reason(&desk.records()), Some(EndReason::SeatHungUp));
}

#[test]
fn byes_crossing_end_the_call_once() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, seat_leg) = desk.connected_call();

    desk.event(Event::HungUp { leg: caller });
    desk.event(Event::HungUp { leg: seat_leg });

    assert_eq!(desk.commands(), vec![Command::Hangup { leg: seat_leg }]);
    assert_eq!(end_reason(&desk.records()), Some(EndReason::CallerHungUp));
}

#[test]
fn a_seat_giving_up_while_ringing_moves_the_call_on() {
    let mut desk = Desk::with_seats_online(&["1001", "1002"]);
    desk.call("12345");
    let (leg, _) = desk.dialled();

    desk.event(Event::HungUp { leg });

    let (_, number) = desk.dialled();
    assert_eq!(number, "1002");
}

#[test]
fn media_timeout_hangs_up_both_legs() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, seat_leg) = desk.connected_call();

    desk.event(Event::MediaTimeout { leg: seat_leg });

    assert_eq!(
        desk.commands(),
        vec![
            Command::Hangup { leg: caller },
            Command::Hangup { leg: seat_leg }
        ]
    );
    assert_eq!(end_reason(&desk.records()), Some(EndReason::MediaTimeout));
}

#[test]
fn an_unknown_number_is_refused_with_404() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("999");
    assert_eq!(
        desk.commands(),
        vec![Command::Reject {
            leg: caller,
            status: 404,
            reason: "Not Found"
        }]
    );
    assert_eq!(desk.control.active_incidents(), 0);
}

#[test]
fn calls_to_110_ring_only_110_seats() {
    let mut desk = Desk::with_seats_online(&["1001", "2001"]);
    desk.call("110");
    let (_, number) = desk.dialled();
    assert_eq!(number, "2001");
}

#[test]
fn an_offline_seat_is_never_rung() {
    let mut desk = Desk::with_seats_online(&["1001", "1002"]);
    let seat = desk.seat("1001");
    desk.event(Event::SeatOnline {
        seat,
        online: false,
    });
    desk.call("12345");
    let (_, number) = desk.dialled();
    assert_eq!(number, "1002");
}

#[test]
fn the_seat_that_just_finished_goes_to_the_back_of_the_line() {
    let mut desk = Desk::with_seats_online(&["1001", "1002"]);
    let (caller, _) = desk.connected_call();
    desk.advance(Duration::from_secs(30));
    desk.event(Event::HungUp { leg: caller });
    desk.commands();

    desk.call("12345");
    let (_, number) = desk.dialled();
    assert_eq!(number, "1002", "1002 has been idle longer than 1001");
}

#[test]
fn after_shutdown_begins_new_calls_get_503_and_calls_in_progress_go_on() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, seat_leg) = desk.connected_call();
    desk.control.stop_accepting();

    let late = desk.call("12345");
    assert_eq!(
        desk.commands(),
        vec![Command::Reject {
            leg: late,
            status: 503,
            reason: "Service Unavailable"
        }]
    );

    desk.event(Event::HungUp { leg: seat_leg });
    assert_eq!(desk.commands(), vec![Command::Hangup { leg: caller }]);
}

/// The recording commands and records so far.
fn recording(desk: &mut Desk) -> (Vec<Command>, Vec<RecordKind>) {
    desk.commands();
    desk.records();
    (
        std::mem::take(&mut desk.recording_commands),
        std::mem::take(&mut desk.recording_records),
    )
}

#[test]
fn recording_starts_when_the_first_seat_answers_with_each_party_on_its_channel() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("12345");
    let (seat, _) = desk.dialled();
    let (commands, records) = recording(&mut desk);
    assert!(
        commands.is_empty(),
        "nothing is recorded before answer: {commands:?}"
    );
    assert!(records.is_empty());

    desk.event(Event::Answered { leg: seat });
    let (commands, records) = recording(&mut desk);
    let incident = desk.control.incident_of(caller).expect("live");
    let files = file_names("12345", incident);
    assert_eq!(
        commands,
        vec![
            Command::RecordStart {
                incident,
                files: files.clone()
            },
            Command::RecordParty {
                incident,
                leg: caller,
                channel: Channel::Caller
            },
            Command::RecordParty {
                incident,
                leg: seat,
                channel: Channel::FirstSeat
            },
        ]
    );
    assert_eq!(
        records,
        vec![RecordKind::RecordingStarted {
            files: files.to_vec(),
            channels: Channel::ALL.to_vec()
        }]
    );
    assert_eq!(files[0], format!("12345-{:05}.wav", incident.0));
}

#[test]
fn recording_stops_before_the_call_ends_and_the_saved_files_are_logged_afterwards() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let (caller, _) = desk.connected_call();
    let incident = desk.control.incident_of(caller).expect("live");
    recording(&mut desk);

    desk.advance(Duration::from_secs(30));
    desk.event(Event::HungUp { leg: caller });
    let kinds: Vec<&'static str> = std::iter::from_fn(|| desk.control.poll_record())
        .map(|r| match r.kind {
            RecordKind::RecordingStopped => "recording_stopped",
            RecordKind::Outcome { .. } => "outcome",
            RecordKind::CallEnded { .. } => "call_ended",
            _ => "other",
        })
        .filter(|k| *k != "other")
        .collect();
    assert_eq!(kinds, ["recording_stopped", "outcome", "call_ended"]);
    let (commands, _) = recording(&mut desk);
    assert_eq!(commands, vec![Command::RecordStop { incident }]);

    desk.advance(Duration::from_millis(40));
    let saved = SavedFile {
        file: "12345-00001.wav".into(),
        path: "recordings/12345-00001.wav".into(),
        sha256: "ab".repeat(32),
        bytes: 1_440_044,
    };
    desk.event(Event::RecordingSaved {
        incident,
        files: vec![saved.clone()],
        duration_ms: 30_000,
        lost_ms: 0,
    });
    let record = desk.control.poll_record().expect("logged after the end");
    assert_eq!(record.incident, incident);
    assert_eq!(record.hotline, "12345");
    assert_eq!(
        record.kind,
        RecordKind::RecordingSaved {
            files: vec![saved],
            duration_ms: 30_000,
            lost_ms: 0
        }
    );
    assert!(record.offset >= Duration::from_secs(30));

    // A second report for the same incident has nothing left to attach to.
    desk.event(Event::RecordingFailed {
        incident,
        reason: "late".into(),
    });
    assert!(desk.control.poll_record().is_none());
}

#[test]
fn a_call_that_is_never_answered_is_not_recorded() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let caller = desk.call("12345");
    desk.dialled();
    desk.event(Event::Cancelled { leg: caller });
    let (commands, records) = recording(&mut desk);
    assert!(commands.is_empty(), "{commands:?}");
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn recording_can_be_turned_off() {
    let now = Instant::now();
    let mut config = config();
    config.record_calls = false;
    let mut desk = Desk {
        control: CallControl::new(config, now),
        now,
        recording_commands: Vec::new(),
        recording_records: Vec::new(),
    };
    let seat = desk.seat("1001");
    desk.event(Event::SeatOnline { seat, online: true });
    let (caller, _) = desk.connected_call();
    desk.event(Event::HungUp { leg: caller });
    let (commands, records) = recording(&mut desk);
    assert!(commands.is_empty(), "{commands:?}");
    assert!(records.is_empty(), "{records:?}");
}
