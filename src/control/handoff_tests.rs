//! Handoffs on a virtual clock: three-way calls and phone transfers in both directions,
//! every party hanging up in every state, timeouts, cancel and leave, REFER and the
//! category rules.

use super::tests::{end_reason, Desk};
use super::*;

const RING: Duration = Duration::from_secs(20);

pub(super) fn key(desk: &mut Desk, leg: LegId, keys: &str) {
    for digit in keys.chars() {
        desk.event(Event::KeyPress {
            leg,
            digit,
            trigger: Trigger::SipInfo,
        });
    }
}

/// The legs of a call in progress, by party.
pub(super) struct Call {
    pub caller: LegId,
    pub seat: LegId,
}

/// A caller on `number` talking with the first seat of that hotline.
pub(super) fn talking(desk: &mut Desk, number: &str) -> Call {
    let caller = desk.call(number);
    let (seat, _) = desk.dialled();
    desk.event(Event::Answered { leg: seat });
    desk.commands();
    desk.records();
    Call { caller, seat }
}

pub(super) fn desk() -> Desk {
    Desk::with_seats_online(&["1001", "1002", "2001", "2002"])
}

fn has(records: &[RecordKind], wanted: impl Fn(&RecordKind) -> bool) -> bool {
    records.iter().any(wanted)
}

/// A call on 12345 in a three-way call with 110 seat 2001; returns the linked leg.
pub(super) fn conference(desk: &mut Desk) -> (Call, LegId) {
    linked_by(desk, "*1")
}

/// A call on 12345 whose seat pressed `keys` (`*1` or `*2`) and 110 seat 2001 answered;
/// returns the linked leg.
pub(super) fn linked_by(desk: &mut Desk, keys: &str) -> (Call, LegId) {
    let call = talking(desk, "12345");
    key(desk, call.seat, keys);
    let (linked, _) = desk.dialled();
    desk.event(Event::Answered { leg: linked });
    desk.commands();
    desk.records();
    (call, linked)
}

#[test]
fn star_one_rings_the_linked_hotline_while_caller_and_seat_talk_on() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");

    key(&mut desk, call.seat, "*1");

    let commands = desk.commands();
    assert_eq!(commands.len(), 1, "{commands:?}");
    let Command::Dial {
        seat, offer_from, ..
    } = commands[0]
    else {
        panic!("{commands:?}")
    };
    assert_eq!(desk.control.seat_info(seat).number, "2001");
    assert_eq!(offer_from, call.caller);
    let records = desk.records();
    assert!(has(
        &records,
        |r| matches!(r, RecordKind::KeyPressed { keys, .. } if keys == "*1")
    ));
    assert!(has(&records, |r| matches!(r,
        RecordKind::TransferRequested { mode: HandoffMode::ThreeWay, from, to, .. }
            if from == "12345" && to == "110")));
}

#[test]
fn the_linked_seat_answering_mixes_all_three() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    desk.event(Event::Answered { leg: linked });

    assert_eq!(
        desk.commands(),
        vec![Command::Mix {
            legs: vec![call.caller, call.seat, linked]
        }]
    );
    let records = desk.records();
    assert!(has(&records, |r| *r == RecordKind::ConferenceStarted));
    assert!(has(
        &records,
        |r| matches!(r, RecordKind::TargetAnswered { seat } if seat == "2001")
    ));
}

#[test]
fn three_way_ringing_and_the_caller_hangs_up() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    desk.event(Event::HungUp { leg: call.caller });

    let commands = desk.commands();
    assert!(commands.contains(&Command::Cancel { leg: linked }));
    assert!(commands.contains(&Command::Hangup { leg: call.seat }));
    assert_eq!(end_reason(&desk.records()), Some(EndReason::CallerHungUp));
    assert_eq!(desk.control.active_incidents(), 0);
}

#[test]
fn three_way_ringing_and_the_seat_hangs_up_becomes_a_transfer() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    desk.event(Event::HungUp { leg: call.seat });
    assert_eq!(
        desk.commands(),
        vec![Command::Ringback { leg: call.caller }]
    );

    desk.event(Event::Answered { leg: linked });
    assert_eq!(
        desk.commands(),
        vec![Command::Bridge {
            a: call.caller,
            b: linked
        }]
    );
    assert!(has(&desk.records(), |r| matches!(r,
        RecordKind::TransferCompleted { to, .. } if to == "110")));
}

#[test]
fn three_way_ringing_and_the_linked_seat_is_busy() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    desk.event(Event::Failed {
        leg: linked,
        status: 486,
    });

    assert!(desk.commands().is_empty(), "caller and seat simply go on");
    let records = desk.records();
    assert!(has(&records, |r| matches!(
        r,
        RecordKind::TargetFailed {
            failure: SeatFailure::Busy,
            ..
        }
    )));
    assert!(has(&records, |r| matches!(
        r,
        RecordKind::TransferCancelled { .. }
    )));
}

#[test]
fn three_way_ringing_times_out() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    desk.advance(RING);

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Cancel { leg: linked });
    assert!(has(&desk.records(), |r| matches!(
        r,
        RecordKind::TargetFailed {
            failure: SeatFailure::NoAnswer,
            ..
        }
    )));
    assert_eq!(desk.control.active_incidents(), 1);
}

#[test]
fn star_zero_while_ringing_cancels_the_linked_seat() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    key(&mut desk, call.seat, "*0");

    assert_eq!(desk.commands(), vec![Command::Cancel { leg: linked }]);
    assert!(has(&desk.records(), |r| matches!(
        r,
        RecordKind::TransferCancelled { .. }
    )));
    // The linked seat answering now is too late.
    desk.event(Event::Answered { leg: linked });
    assert_eq!(desk.commands(), vec![Command::Hangup { leg: linked }]);
}

#[test]
fn star_three_while_ringing_leaves_the_caller_to_the_linked_seat() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*1");
    let (linked, _) = desk.dialled();

    key(&mut desk, call.seat, "*3");
    assert_eq!(
        desk.commands(),
        vec![
            Command::Hangup { leg: call.seat },
            Command::Ringback { leg: call.caller }
        ]
    );
    desk.event(Event::Answered { leg: linked });
    assert_eq!(
        desk.commands(),
        vec![Command::Bridge {
            a: call.caller,
            b: linked
        }]
    );
}

#[test]
fn in_a_three_way_call_the_first_seat_leaves_and_the_handoff_completes() {
    let mut desk = desk();
    let (call, linked) = conference(&mut desk);

    key(&mut desk, call.seat, "*3");

    assert_eq!(
        desk.commands(),
        vec![
            Command::Hangup { leg: call.seat },
            Command::Bridge {
                a: call.caller,
                b: linked
            }
        ]
    );
    assert!(has(&desk.records(), |r| matches!(r,
        RecordKind::TransferCompleted { mode: HandoffMode::ThreeWay, to } if to == "110")));
    // 1001 is free again for the next caller.
    desk.call("12345");
    assert_eq!(desk.dialled().1, "1002", "1002 has been idle longest");
}

#[test]
fn in_a_three_way_call_the_linked_seat_leaves() {
    let mut desk = desk();
    let (call, linked) = conference(&mut desk);

    key(&mut desk, linked, "*3");

    assert_eq!(
        desk.commands(),
        vec![
            Command::Hangup { leg: linked },
            Command::Bridge {
                a: call.caller,
                b: call.seat
            }
        ]
    );
}

#[test]
fn in_a_three_way_call_star_zero_drops_the_linked_seat_and_only_the_first_seat_may() {
    let mut desk = desk();
    let (call, linked) = conference(&mut desk);

    key(&mut desk, linked, "*0");
    assert!(desk.commands().is_empty(), "the linked seat cannot cancel");

    key(&mut desk, call.seat, "*0");
    assert_eq!(
        desk.commands(),
        vec![
            Command::Hangup { leg: linked },
            Command::Bridge {
                a: call.caller,
                b: call.seat
            }
        ]
    );
}

#[test]
fn in_a_three_way_call_any_one_hanging_up_leaves_the_other_two() {
    for who in 0..3 {
        let mut desk = desk();
        let (call, linked) = conference(&mut desk);
        let legs = [call.caller, call.seat, linked];
        desk.event(Event::HungUp { leg: legs[who] });
        let rest: Vec<LegId> = legs.iter().copied().filter(|l| *l != legs[who]).collect();
        assert_eq!(
            desk.commands(),
            vec![Command::Bridge {
                a: rest[0],
                b: rest[1]
            }],
            "party {who} left"
        );
        // Then either of the two hanging up ends it.
        desk.event(Event::HungUp { leg: rest[0] });
        assert_eq!(desk.commands(), vec![Command::Hangup { leg: rest[1] }]);
        assert_eq!(desk.control.active_incidents(), 0);
    }
}

#[test]
fn the_callers_keys_never_act() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.caller, "*1*2");
    assert!(desk.commands().is_empty());
    assert!(desk.records().is_empty());
}

#[test]
fn star_two_releases_the_seat_and_connects_the_caller_to_110() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");

    key(&mut desk, call.seat, "*2");

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Hangup { leg: call.seat });
    let Command::Dial {
        leg: linked, seat, ..
    } = commands[1]
    else {
        panic!("{commands:?}")
    };
    assert_eq!(desk.control.seat_info(seat).number, "2001");
    assert_eq!(commands[2], Command::Ringback { leg: call.caller });

    desk.event(Event::Answered { leg: linked });
    assert_eq!(
        desk.commands(),
        vec![Command::Bridge {
            a: call.caller,
            b: linked
        }]
    );
    assert!(has(&desk.records(), |r| matches!(r,
        RecordKind::TransferCompleted { mode: HandoffMode::PhoneTransfer, to } if to == "110")));
}

#[test]
fn a_failed_transfer_returns_the_caller_to_the_transferring_seat() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*2");
    let commands = desk.commands();
    let Command::Dial { leg: linked, .. } = commands[1] else {
        panic!()
    };

    desk.event(Event::Failed {
        leg: linked,
        status: 486,
    });

    let commands = desk.commands();
    let Command::Dial {
        leg: back, seat, ..
    } = commands[0]
    else {
        panic!("{commands:?}")
    };
    assert_eq!(desk.control.seat_info(seat).number, "1001");
    desk.event(Event::Answered { leg: back });
    assert_eq!(
        desk.commands(),
        vec![Command::Bridge {
            a: call.caller,
            b: back
        }]
    );
    assert!(has(
        &desk.records(),
        |r| matches!(r, RecordKind::CallerReturned { seat } if seat == "1001")
    ));
}

#[test]
fn a_failed_transfer_goes_to_the_next_free_seat_when_the_first_is_busy() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*2");
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };
    // 1001 takes another call meanwhile; 1002 is busy too, with a third caller.
    let _other = talking(&mut desk, "12345");
    let _third = talking(&mut desk, "12345");
    let seat = desk.seat("1002");
    desk.event(Event::SeatOnline { seat, online: true });

    desk.advance(RING);

    let commands = desk.commands();
    assert_eq!(commands[0], Command::Cancel { leg: linked });
    assert!(
        !commands.iter().any(|c| matches!(c, Command::Dial { .. })),
        "no 12345 seat is free: {commands:?}"
    );
    assert!(has(&desk.records(), |r| *r == RecordKind::Queued));
}

#[test]
fn the_caller_hanging_up_during_a_transfer_cancels_it() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*2");
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };

    desk.event(Event::HungUp { leg: call.caller });

    assert_eq!(desk.commands(), vec![Command::Cancel { leg: linked }]);
    assert_eq!(end_reason(&desk.records()), Some(EndReason::CallerHungUp));
}

#[test]
fn a_transfer_with_no_free_linked_seat_keeps_the_call_as_it_is() {
    let mut desk = Desk::with_seats_online(&["1001"]);
    let call = talking(&mut desk, "12345");

    key(&mut desk, call.seat, "*2");

    assert!(desk.commands().is_empty(), "the seat is not released");
    let records = desk.records();
    assert!(has(&records, |r| matches!(
        r,
        RecordKind::TargetFailed {
            seat: None,
            failure: SeatFailure::NoFreeSeat
        }
    )));
}

#[test]
fn handoffs_work_from_110_towards_12345() {
    let mut desk = desk();
    let call = talking(&mut desk, "110");
    key(&mut desk, call.seat, "*2");
    let commands = desk.commands();
    let Command::Dial { seat, .. } = commands[1] else {
        panic!("{commands:?}")
    };
    assert_eq!(desk.control.info_hotline(seat), "12345");
}

#[test]
fn refer_transfers_and_reports_progress_then_releases_the_referrer() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");

    desk.event(Event::Refer {
        leg: call.seat,
        number: "110".into(),
    });
    let commands = desk.commands();
    assert_eq!(
        commands[0],
        Command::NotifyRefer {
            leg: call.seat,
            status: 100,
            done: false
        }
    );
    let Command::Dial { leg: linked, .. } = commands[1] else {
        panic!("{commands:?}")
    };
    assert_eq!(commands[2], Command::Ringback { leg: call.caller });

    desk.event(Event::Answered { leg: linked });
    let commands = desk.commands();
    assert!(commands.contains(&Command::NotifyRefer {
        leg: call.seat,
        status: 200,
        done: true
    }));
    assert!(commands.contains(&Command::Hangup { leg: call.seat }));
    assert!(commands.contains(&Command::Bridge {
        a: call.caller,
        b: linked
    }));
}

#[test]
fn a_refer_whose_target_never_answers_ends_with_a_final_notify_and_the_caller_back() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    desk.event(Event::Refer {
        leg: call.seat,
        number: "110".into(),
    });
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };

    desk.advance(RING);

    let commands = desk.commands();
    assert!(commands.contains(&Command::Cancel { leg: linked }));
    assert!(commands.contains(&Command::NotifyRefer {
        leg: call.seat,
        status: 487,
        done: true
    }));
    assert!(commands.contains(&Command::Bridge {
        a: call.caller,
        b: call.seat
    }));
}

#[test]
fn a_refer_to_an_unknown_number_is_reported_and_changes_nothing() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    desk.event(Event::Refer {
        leg: call.seat,
        number: "999".into(),
    });
    assert_eq!(
        desk.commands(),
        vec![Command::NotifyRefer {
            leg: call.seat,
            status: 404,
            done: true
        }]
    );
}

#[test]
fn the_referrer_hanging_up_during_the_transfer_leaves_it_going() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    desk.event(Event::Refer {
        leg: call.seat,
        number: "110".into(),
    });
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };

    desk.event(Event::HungUp { leg: call.seat });
    assert!(desk.commands().is_empty());

    desk.event(Event::Answered { leg: linked });
    assert_eq!(
        desk.commands(),
        vec![Command::Bridge {
            a: call.caller,
            b: linked
        }]
    );
}

#[test]
fn an_emergency_category_on_12345_starts_a_three_way_call_with_110_at_once() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");

    key(&mut desk, call.seat, "*931");

    let commands = desk.commands();
    assert!(
        matches!(commands[0], Command::Dial { seat, .. } if desk.control.info_hotline(seat) == "110")
    );
    let records = desk.records();
    assert!(has(
        &records,
        |r| matches!(r, RecordKind::CategoryTagged { code, owner } if code == "31" && owner == "110")
    ));
    assert!(has(&records, |r| matches!(
        r,
        RecordKind::TransferRequested {
            trigger: HandoffTrigger::Rule,
            mode: HandoffMode::ThreeWay,
            ..
        }
    )));

    desk.event(Event::HungUp { leg: call.caller });
    let records = desk.records();
    assert!(has(&records, |r| matches!(
        r,
        RecordKind::Outcome { dispatch: true, .. }
    )));
}

#[test]
fn the_outcome_says_whether_the_rule_was_followed() {
    // A police matter (21) handed to 110 follows the rule.
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*921*2");
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };
    desk.event(Event::Answered { leg: linked });
    desk.event(Event::HungUp { leg: linked });
    let records = desk.records();
    assert!(has(&records, |r| matches!(r,
        RecordKind::Outcome { handled_by, owner, followed_rule: true, .. }
            if handled_by == "110" && owner == "110")));

    // An untagged call handed away breaks first-receiver responsibility (首接负责制).
    let mut desk = self::desk();
    let call = talking(&mut desk, "12345");
    key(&mut desk, call.seat, "*2");
    let Command::Dial { leg: linked, .. } = desk.commands()[1] else {
        panic!()
    };
    desk.event(Event::Answered { leg: linked });
    desk.event(Event::HungUp { leg: call.caller });
    assert!(has(&desk.records(), |r| matches!(r,
        RecordKind::Outcome { followed_rule: false, owner, .. } if owner == "12345")));
}

#[test]
fn refer_with_replaces_joins_the_caller_with_the_consulted_seat() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    // Seat 1001's phone calls 110 itself to consult; 2001 answers.
    let consult_caller = desk.control.allocate_leg();
    desk.event(Event::InboundCall {
        leg: consult_caller,
        number: "110".into(),
        caller: "1001".into(),
    });
    let (consulted, _) = desk.dialled();
    desk.event(Event::Answered { leg: consulted });
    desk.commands();
    desk.records();

    desk.event(Event::ReferReplaces {
        leg: call.seat,
        replaces: consult_caller,
    });

    let commands = desk.commands();
    assert!(commands.contains(&Command::Hangup {
        leg: consult_caller
    }));
    assert!(commands.contains(&Command::Hangup { leg: call.seat }));
    assert!(commands.contains(&Command::NotifyRefer {
        leg: call.seat,
        status: 200,
        done: true
    }));
    assert!(commands.contains(&Command::Bridge {
        a: call.caller,
        b: consulted
    }));
    let records = desk.records();
    assert!(has(&records, |r| *r
        == RecordKind::CallEnded {
            reason: EndReason::Merged
        }));
    assert!(has(&records, |r| matches!(r,
        RecordKind::TransferCompleted { mode: HandoffMode::Attended, to } if to == "110")));
    assert_eq!(desk.control.active_incidents(), 1);
}
