//! One recording per incident on a virtual clock: which party is on which channel as
//! seats join, leave, transfer and take the caller back.

use super::handoff_tests::{conference, desk, key, linked_by, talking};
use super::tests::Desk;
use super::*;

/// The recording commands given so far, leaving the others where they are.
fn recording_commands(desk: &mut Desk) -> Vec<Command> {
    desk.commands();
    std::mem::take(&mut desk.recording_commands)
}

#[test]
fn one_recording_follows_a_three_way_call_through_leave_and_cancel() {
    let mut desk = desk();
    let (call, linked) = conference(&mut desk);
    let incident = desk.control.incident_of(call.caller).expect("live");
    let commands = recording_commands(&mut desk);
    assert_eq!(
        commands
            .iter()
            .filter(|c| matches!(c, Command::RecordStart { .. }))
            .count(),
        1
    );
    assert!(commands.contains(&Command::RecordParty {
        incident,
        leg: linked,
        channel: Channel::LinkedSeat
    }));

    // *0 drops the linked seat: the recording goes on without it, nobody changes channel.
    key(&mut desk, call.seat, "*0");
    assert_eq!(
        recording_commands(&mut desk),
        vec![Command::RecordLeave {
            incident,
            leg: linked
        }]
    );

    // A second three-way call, then *3: the first seat leaves, the recording goes on.
    key(&mut desk, call.seat, "*1");
    let (second, _) = desk.dialled();
    desk.event(Event::Answered { leg: second });
    assert_eq!(
        recording_commands(&mut desk),
        vec![Command::RecordParty {
            incident,
            leg: second,
            channel: Channel::LinkedSeat
        }]
    );
    key(&mut desk, call.seat, "*3");
    assert_eq!(
        recording_commands(&mut desk),
        vec![Command::RecordLeave {
            incident,
            leg: call.seat
        }]
    );

    desk.event(Event::HungUp { leg: call.caller });
    assert_eq!(
        recording_commands(&mut desk),
        vec![Command::RecordStop { incident }]
    );
    desk.records();
    let started = |r: &&RecordKind| matches!(r, RecordKind::RecordingStarted { .. });
    let stopped = |r: &&RecordKind| matches!(r, RecordKind::RecordingStopped);
    assert_eq!(desk.recording_records.iter().filter(started).count(), 1);
    assert_eq!(desk.recording_records.iter().filter(stopped).count(), 1);
}

#[test]
fn a_phone_transfer_keeps_the_callers_channel_and_puts_the_linked_seat_on_its_own() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    let incident = desk.control.incident_of(call.caller).expect("live");
    desk.recording_commands.clear();

    key(&mut desk, call.seat, "*2");
    let (linked, _) = desk.dialled();
    desk.event(Event::Answered { leg: linked });
    assert_eq!(
        recording_commands(&mut desk),
        vec![
            Command::RecordLeave {
                incident,
                leg: call.seat
            },
            Command::RecordParty {
                incident,
                leg: linked,
                channel: Channel::LinkedSeat
            }
        ],
        "the caller stays where it was; no new recording starts"
    );
}

/// A caller on 12345 handed to 110 seat 2001 by `*2`; returns the caller's and 2001's legs.
fn handed_to_110(desk: &mut Desk) -> (LegId, LegId) {
    let (call, linked) = linked_by(desk, "*2");
    desk.recording_commands.clear();
    (call.caller, linked)
}

fn channels_of(commands: &[Command], leg: LegId) -> Vec<Channel> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::RecordParty {
                leg: l, channel, ..
            } if *l == leg => Some(*channel),
            _ => None,
        })
        .collect()
}

#[test]
fn a_110_seat_whose_refer_back_fails_takes_the_caller_back_as_the_seat_it_was() {
    let mut desk = desk();
    let (caller, linked) = handed_to_110(&mut desk);
    desk.event(Event::Refer {
        leg: linked,
        number: "12345".into(),
    });
    let Command::Dial { leg: target, .. } = desk.commands()[1] else {
        panic!()
    };

    desk.event(Event::Failed {
        leg: target,
        status: 486,
    });

    let commands = desk.commands();
    assert!(commands.contains(&Command::Bridge {
        a: caller,
        b: linked
    }));
    let recording = recording_commands(&mut desk);
    assert!(
        !channels_of(&recording, linked).contains(&Channel::FirstSeat),
        "2001 stays off the first receiver's channel: {recording:?}"
    );
    // Still not the first receiver: `*0` (the first seat's key) does nothing for it.
    key(&mut desk, linked, "*1");
    let (ringing, _) = desk.dialled();
    key(&mut desk, linked, "*0");
    assert!(
        !desk.commands().contains(&Command::Cancel { leg: ringing }),
        "only the first receiver cancels a handoff"
    );
}

#[test]
fn a_failed_handoff_back_from_110_rings_its_seat_again_on_the_linked_channel() {
    let mut desk = desk();
    let (caller, linked) = handed_to_110(&mut desk);
    key(&mut desk, linked, "*2");
    let (target, _) = desk.dialled();

    desk.event(Event::Failed {
        leg: target,
        status: 486,
    });
    let (back, seat) = desk.dialled();
    assert_eq!(seat, "2001");
    desk.event(Event::Answered { leg: back });

    assert!(desk
        .commands()
        .contains(&Command::Bridge { a: caller, b: back }));
    assert_eq!(
        channels_of(&recording_commands(&mut desk), back),
        [Channel::LinkedSeat]
    );
}

#[test]
fn a_seat_that_sent_refer_is_no_longer_recorded_while_it_waits_for_the_outcome() {
    let mut desk = desk();
    let call = talking(&mut desk, "12345");
    let incident = desk.control.incident_of(call.caller).expect("live");
    desk.recording_commands.clear();

    desk.event(Event::Refer {
        leg: call.seat,
        number: "110".into(),
    });

    assert_eq!(
        recording_commands(&mut desk),
        vec![Command::RecordLeave {
            incident,
            leg: call.seat
        }]
    );
}
