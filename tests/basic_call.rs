//! The basic call against real peers on loopback: SIPp as the PBX and as seat phones,
//! baresip as a softphone seat, and RTP endpoints owned by the test.

mod support;

use std::time::Duration;

use support::baresip::Baresip;
use support::{free_port, rtp_endpoint, sipp_seat, Options, Service, Sipp};

const SETUP: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(30);

#[test]
fn a_pbx_call_reaches_a_sipp_seat_with_rtp_both_ways_and_the_caller_hangs_up() {
    let service = Service::start(Options::default());
    let seat_rtp = rtp_endpoint();
    let caller_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    let service_caller_side = pbx.wait_for_service_rtp(SETUP).expect("200 OK with SDP");
    let service_seat_side = seat.wait_for_service_rtp(SETUP).expect("INVITE with SDP");
    assert_ne!(service_caller_side, service_seat_side);

    caller_rtp.send(service_caller_side, 50, 0x1111);
    let at_seat = seat_rtp.receive(Duration::from_secs(3));
    seat_rtp.send(service_seat_side, 40, 0x2222);
    let at_caller = caller_rtp.receive(Duration::from_secs(3));

    assert_eq!(at_seat.len(), 50, "caller to seat");
    assert_eq!(at_caller.len(), 40, "seat to caller");
    assert!(at_seat.iter().all(|(from, _)| *from == service_seat_side));
    assert!(at_caller
        .iter()
        .all(|(from, _)| *from == service_caller_side));
    // The B2BUA sends each side its own stream identity, not the other party's.
    assert!(at_seat
        .iter()
        .all(|(_, p)| p[8..12] != 0x1111u32.to_be_bytes()));

    let pbx = pbx.wait(CALL);
    let seat = seat.wait(CALL);
    assert!(pbx.success(), "PBX: {pbx:?}");
    assert!(seat.success(), "seat: {seat:?}");
    assert!(service.wait_for_log("reason=CallerHungUp", SETUP));
}

#[test]
fn a_seat_hanging_up_ends_the_callers_leg() {
    let service = Service::start(Options::default());
    let seat_rtp = rtp_endpoint();
    let caller_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_hangup.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();

    let seat = seat.wait(CALL);
    let pbx = pbx.wait(CALL);
    assert!(seat.success(), "seat: {seat:?}");
    assert!(pbx.success(), "the caller got the BYE: {pbx:?}");
    assert!(service.wait_for_log("reason=SeatHungUp", SETUP));
}

#[test]
fn a_baresip_seat_answers_and_exchanges_audio() {
    let mut phone = Baresip::seat("1002");
    let service = Service::start(Options {
        fixed_seats: vec![("1002".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let caller_rtp = rtp_endpoint();

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    let service_caller_side = pbx.wait_for_service_rtp(SETUP).expect("answered");
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "events: {:?}",
        phone.events
    );

    // baresip's tone reaches the caller through the service ...
    let from_seat = caller_rtp.receive(Duration::from_secs(2));
    assert!(
        from_seat.len() >= 20,
        "got {} packets from the seat",
        from_seat.len()
    );
    assert!(from_seat
        .iter()
        .all(|(from, _)| *from == service_caller_side));
    // ... and the caller's audio reaches baresip.
    caller_rtp.send(service_caller_side, 50, 0x3333);
    assert!(
        phone.wait_for("CALL_RTPESTAB", SETUP),
        "events: {:?}",
        phone.events
    );

    let pbx = pbx.wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(
        phone.wait_for("CALL_CLOSED", SETUP),
        "events: {:?}",
        phone.events
    );
}

#[test]
fn a_baresip_seat_hanging_up_ends_the_call() {
    let mut phone = Baresip::seat("2001");
    let service = Service::start(Options {
        fixed_seats: vec![("2001".into(), "110".into(), phone.uri.clone())],
        ..Options::default()
    });
    let caller_rtp = rtp_endpoint();

    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "110")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "events: {:?}",
        phone.events
    );
    phone.command("hangup");

    let pbx = pbx.wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(service.wait_for_log("reason=SeatHungUp", SETUP));
}

#[test]
fn cancel_before_answer_stops_the_seat_ringing() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_no_answer.xml", 0);

    let pbx = Sipp::client(&service, "pbx_cancel.xml", "12345")
        .key("rtp_port", "40000")
        .run()
        .wait(CALL);

    assert!(pbx.success(), "{pbx:?}");
    let seat = seat.wait(CALL);
    assert!(seat.success(), "the seat saw CANCEL: {seat:?}");
    assert!(service.wait_for_log("reason=CallerCancelled", SETUP));
}

#[test]
fn a_busy_seat_passes_the_call_to_the_next_seat() {
    let service = Service::start(Options::default());
    let busy = sipp_seat(&service, "1001", "seat_busy.xml", 0);
    let seat_rtp = rtp_endpoint();
    let free = sipp_seat(&service, "1002", "seat_answer.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run()
        .wait(CALL);

    assert!(pbx.success(), "{pbx:?}");
    let busy = busy.wait(CALL);
    assert!(busy.success(), "{busy:?}");
    assert!(free.wait(CALL).success());
    assert!(service.wait_for_log("failure: Busy", SETUP));
}

#[test]
fn a_seat_that_does_not_answer_is_cancelled_and_the_next_seat_rings() {
    let service = Service::start(Options {
        ring_secs: 2,
        ..Options::default()
    });
    let ringing = sipp_seat(&service, "1001", "seat_no_answer.xml", 0);
    let seat_rtp = rtp_endpoint();
    let free = sipp_seat(&service, "1002", "seat_answer.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run()
        .wait(CALL);

    assert!(pbx.success(), "{pbx:?}");
    assert!(ringing.wait(CALL).success(), "the first seat was cancelled");
    assert!(free.wait(CALL).success());
    assert!(service.wait_for_log("failure: NoAnswer", SETUP));
}

#[test]
fn with_no_seat_the_caller_queues_then_gets_480() {
    let service = Service::start(Options {
        queue_secs: 2,
        ..Options::default()
    });

    let pbx = Sipp::client(&service, "pbx_refused.xml", "12345")
        .key("rtp_port", "40000")
        .run()
        .wait(CALL);

    assert_eq!(pbx.final_status(), Some(480), "{pbx:?}");
    assert!(service.wait_for_log("event=Queued", SETUP));
    assert!(service.wait_for_log("reason=NoSeat", SETUP));
}

#[test]
fn a_wrong_password_is_refused_with_403() {
    let service = Service::start(Options::default());
    let result = Sipp::client(&service, "seat_register_refused.xml", "1001")
        .args(["-au", "1001", "-ap", "secret-1002"])
        .key("contact_port", "5999")
        .key("expires", "600")
        .run()
        .wait(CALL);
    assert!(result.success(), "{result:?}");

    let unknown = Sipp::client(&service, "seat_register_refused.xml", "7777")
        .args(["-au", "7777", "-ap", "secret-7777"])
        .key("contact_port", "5999")
        .key("expires", "600")
        .run()
        .wait(CALL);
    assert!(
        unknown.success(),
        "an unknown account also gets 403: {unknown:?}"
    );
    assert_eq!(service.count_logs("seat registered"), 0);
}

#[test]
fn an_invite_from_an_unlisted_source_is_refused() {
    let pbx_port = free_port();
    let service = Service::start(Options {
        trunk_sources: vec![format!("127.0.0.1:{pbx_port}")],
        ..Options::default()
    });
    let seat_rtp = rtp_endpoint();
    let _seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());

    let stranger = Sipp::client(&service, "pbx_refused.xml", "12345")
        .key("rtp_port", "40000")
        .run()
        .wait(CALL);
    assert_eq!(stranger.final_status(), Some(407), "{stranger:?}");
    assert_eq!(service.count_logs("call received"), 0);
}

#[test]
fn an_unknown_number_gets_404() {
    let service = Service::start(Options::default());
    let result = Sipp::client(&service, "pbx_refused.xml", "999")
        .key("rtp_port", "40000")
        .run()
        .wait(CALL);
    assert_eq!(result.final_status(), Some(404), "{result:?}");
}

#[test]
fn a_malformed_invite_gets_400_and_the_next_call_is_served() {
    let service = Service::start(Options::default());
    let bad = Sipp::client(&service, "pbx_malformed.xml", "12345")
        .run()
        .wait(CALL);
    assert_eq!(bad.final_status(), Some(400), "{bad:?}");

    let seat_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run()
        .wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(seat.wait(CALL).success());
}
