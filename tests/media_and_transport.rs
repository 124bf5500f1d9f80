//! More of the basic call against SIPp: hold and resume passed across, a late offer, the
//! media timeout, the PBX over TCP, and a graceful shutdown.

mod support;

use std::time::Duration;

use support::{rtp_endpoint, sipp_seat, Options, Service, Sipp};

const SETUP: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(30);

#[test]
fn the_callers_hold_and_resume_reach_the_seat() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(
        &service,
        "1001",
        "seat_hold_resume.xml",
        rtp_endpoint().port(),
    );

    let pbx = Sipp::client(&service, "pbx_hold_resume.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run()
        .wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(
        pbx.log.contains("answer 2: recvonly"),
        "hold answered recvonly:\n{}",
        pbx.log
    );
    assert!(pbx.log.contains("answer 3: sendrecv"), "{}", pbx.log);

    let seat = seat.wait(CALL);
    assert!(
        seat.success(),
        "the seat saw sendonly then sendrecv: {seat:?}"
    );
}

#[test]
fn a_late_offer_call_carries_rtp_both_ways() {
    let service = Service::start(Options::default());
    let seat_rtp = rtp_endpoint();
    let caller_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_late_offer.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    let caller_side = pbx
        .wait_for_service_rtp(SETUP)
        .expect("an offer in the 200 OK");
    let seat_side = seat
        .wait_for_service_rtp(SETUP)
        .expect("an offer to the seat");
    // The answer arrives in the ACK, just after the 200 OK that was logged.
    assert!(service.wait_for_log("event=Answered", SETUP));

    let mut delivered = 0;
    for _ in 0..5 {
        caller_rtp.send(caller_side, 10, 0x4444);
        delivered += seat_rtp.receive(Duration::from_millis(600)).len();
        if delivered > 0 {
            break;
        }
    }
    assert!(delivered > 0, "caller to seat after the ACK's answer");
    seat_rtp.send(seat_side, 20, 0x5555);
    assert_eq!(
        caller_rtp.receive(Duration::from_secs(2)).len(),
        20,
        "seat to caller"
    );

    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
}

#[test]
fn a_call_without_rtp_is_hung_up_on_both_sides_after_the_media_timeout() {
    let service = Service::start(Options {
        rtp_timeout_secs: 2,
        ..Options::default()
    });
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());

    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();

    let pbx = pbx.wait(CALL);
    let seat = seat.wait(CALL);
    assert!(pbx.success(), "the caller got BYE: {pbx:?}");
    assert!(seat.success(), "the seat got BYE: {seat:?}");
    assert!(service.wait_for_log("reason=MediaTimeout", SETUP));
}

#[test]
fn the_pbx_can_call_over_tcp() {
    let service = Service::start(Options::default());
    let seat_rtp = rtp_endpoint();
    let caller_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .args(["-t", "t1"])
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    let caller_side = pbx.wait_for_service_rtp(SETUP).expect("answered over TCP");
    caller_rtp.send(caller_side, 30, 0x6666);
    assert_eq!(seat_rtp.receive(Duration::from_secs(2)).len(), 30);

    let pbx = pbx.wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(seat.wait(CALL).success());
    assert!(service.wait_for_log("peer=tcp:127.0.0.1", SETUP));
}

#[test]
fn sigterm_refuses_new_calls_lets_the_current_one_finish_then_exits() {
    let mut service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());
    let first = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(service.wait_for_log("event=Answered", SETUP));

    service.signal("TERM");
    assert!(service.wait_for_log("shutting down", SETUP));
    let late = Sipp::client(&service, "pbx_refused.xml", "12345")
        .key("rtp_port", "40000")
        .run()
        .wait(CALL);
    assert_eq!(late.final_status(), Some(503), "{late:?}");

    assert!(first.wait(CALL).success(), "the call in progress went on");
    assert!(seat.wait(CALL).success());
    let status = service
        .wait_exit(SETUP)
        .expect("the service exits once the call ends");
    assert!(status.success());
    let (code, text) = service.command_stdout("audit", &["1", "--json"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("\"recording_saved\""),
        "the recording was closed and logged before the exit: {text}"
    );
}
