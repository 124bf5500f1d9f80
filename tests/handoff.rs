//! Handoffs between 12345 and 110 against real peers: transfer keys by SIP INFO, by RFC
//! 4733 (SIPp's recorded telephone-events and baresip's `sndcode`), the phone's own transfer
//! button (REFER), and the audio of a three-way call measured at each party.

mod support;

use std::time::Duration;

use support::audio::{power, receive_audio, send_tone};
use support::baresip::Baresip;
use support::{keyed_seat, rtp_endpoint, sipp_seat, Options, Service, Sipp};

const SETUP: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(40);

#[test]
fn a_three_way_call_by_sip_info_mixes_the_three_and_star_three_leaves_it_to_110() {
    let service = Service::start(Options::default());
    let (caller_rtp, seat_rtp, linked_rtp) = (rtp_endpoint(), rtp_endpoint(), rtp_endpoint());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        seat_rtp.port(),
        ["*", "1", "*", "3"],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", linked_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .pause_ms(9000)
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("caller answered");
    let at_seat = seat.wait_for_service_rtp(SETUP).expect("seat rung");
    assert!(
        service.wait_for_log("event=ConferenceStarted", SETUP),
        "{}",
        service.log_text()
    );
    let at_linked = linked
        .wait_for_service_rtp(SETUP)
        .expect("linked seat rung");

    // Each party sends its own tone; each must hear the other two and not itself.
    let tones = [
        (400.0, &caller_rtp, at_caller),
        (1000.0, &seat_rtp, at_seat),
        (1700.0, &linked_rtp, at_linked),
    ];
    let senders: Vec<_> = tones
        .iter()
        .map(|(f, endpoint, to)| send_tone(&endpoint.socket, *to, *f, 1.6))
        .collect();
    std::thread::scope(|scope| {
        let heard: Vec<_> = tones
            .iter()
            .map(|(_, endpoint, _)| {
                scope.spawn(|| receive_audio(&endpoint.socket, Duration::from_millis(1500)))
            })
            .collect();
        for ((own, _, _), audio) in tones.iter().zip(heard) {
            let audio = audio.join().unwrap();
            assert!(
                audio.len() > 4000,
                "party {own} Hz received {} samples",
                audio.len()
            );
            let steady = &audio[audio.len() / 3..];
            for (other, _, _) in &tones {
                let p = power(steady, *other);
                if other == own {
                    assert!(p < 0.002, "the {own} Hz party hears itself: {p}");
                } else {
                    assert!(
                        p > 0.005,
                        "the {own} Hz party does not hear {other} Hz: {p}"
                    );
                }
            }
        }
    });
    for sender in senders {
        sender.join().unwrap();
    }

    let seat = seat.wait(CALL);
    assert!(seat.success(), "1001 pressed *3 and was released: {seat:?}");
    let pbx = pbx.wait(CALL);
    assert!(pbx.success(), "{pbx:?}");
    assert!(
        linked.wait(CALL).success(),
        "110 stayed with the caller until the end"
    );
    let log = service.log_text();
    assert!(
        log.contains("TransferCompleted { mode: ThreeWay, to: \"110\" }"),
        "{log}"
    );
    assert!(log.contains("trigger: Keys(SipInfo)"), "{log}");
}

#[test]
fn a_110_seat_presses_star_one_by_rfc_4733_and_12345_joins() {
    let service = Service::start(Options::default());
    let seat = keyed_seat(&service, "2001", "seat_keys_2833.xml", 0, ["", "", "", ""]);
    let linked = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());

    let pbx = Sipp::client(&service, "pbx_call_long.xml", "110")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .pause_ms(8000)
        .run();

    assert!(
        service.wait_for_log("event=ConferenceStarted", SETUP),
        "{}",
        service.log_text()
    );
    let seat = seat.wait(CALL);
    assert!(seat.success(), "2001 pressed *3 and was released: {seat:?}");
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    let log = service.log_text();
    assert!(
        log.contains("from: \"110\", to: \"12345\", trigger: Keys(Rfc4733)"),
        "{log}"
    );
    assert!(
        log.contains("TransferCompleted { mode: ThreeWay, to: \"12345\" }"),
        "{log}"
    );
}

#[test]
fn star_zero_drops_the_linked_seat_and_the_first_seat_goes_on() {
    let service = Service::start(Options::default());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        rtp_endpoint().port(),
        ["*", "1", "*", "0"],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());

    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();

    assert!(
        linked.wait(CALL).success(),
        "the linked seat was dropped with BYE"
    );
    assert!(
        seat.wait(CALL).success(),
        "1001 stayed, then hung up itself"
    );
    assert!(
        pbx.wait(CALL).success(),
        "the caller got BYE when 1001 hung up"
    );
    // The caller's BYE goes out before the incident's end is logged.
    assert!(
        service.wait_for_log("reason=SeatHungUp", SETUP),
        "{}",
        service.log_text()
    );
    let log = service.log_text();
    assert!(
        log.contains("event=TransferCancelled { mode: ThreeWay }"),
        "{log}"
    );
}

#[test]
fn star_two_transfers_the_caller_to_110_with_audio_through() {
    let service = Service::start(Options::default());
    let (caller_rtp, linked_rtp) = (rtp_endpoint(), rtp_endpoint());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_transfer_info.xml",
        rtp_endpoint().port(),
        ["*", "2", "", ""],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", linked_rtp.port());

    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .pause_ms(5000)
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("answered");
    assert!(seat.wait(CALL).success(), "1001 was released with BYE");
    assert!(
        service.wait_for_log("TransferCompleted { mode: PhoneTransfer", SETUP),
        "{}",
        service.log_text()
    );
    let at_linked = linked.wait_for_service_rtp(SETUP).expect("110 rung");

    caller_rtp.send(at_caller, 30, 0x7777);
    assert_eq!(
        linked_rtp.receive(Duration::from_secs(2)).len(),
        30,
        "caller to 110"
    );
    linked_rtp.send(at_linked, 25, 0x8888);
    let back = caller_rtp.receive(Duration::from_secs(2));
    assert!(
        back.iter()
            .filter(|(_, p)| p[1] & 0x7f == 8 && p[12..].iter().all(|b| *b == 0xd5))
            .count()
            >= 25,
        "110 to caller (ringback frames may come first): {} packets",
        back.len()
    );

    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
}

#[test]
fn a_baresip_seat_presses_star_one_then_star_three_with_sndcode() {
    let mut phone = Baresip::seat("1001");
    let service = Service::start(Options {
        fixed_seats: vec![("1001".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .pause_ms(8000)
        .run();
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.press("*1");
    assert!(
        service.wait_for_log("event=ConferenceStarted", SETUP),
        "{}",
        service.log_text()
    );
    phone.press("*3");
    assert!(
        phone.wait_for("CALL_CLOSED", SETUP),
        "baresip released: {:?}",
        phone.events
    );

    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    let log = service.log_text();
    assert!(log.contains("trigger: Keys(Rfc4733)"), "{log}");
    assert!(
        log.contains("TransferCompleted { mode: ThreeWay, to: \"110\" }"),
        "{log}"
    );
}

/// baresip's transfer command: REFER to 110, with the 110 seat given by `scenario`.
fn baresip_refer(scenario: &str, ring_secs: u64) -> (Service, Baresip, Sipp, Sipp) {
    let phone = Baresip::seat("1001");
    let service = Service::start(Options {
        ring_secs,
        fixed_seats: vec![("1001".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let linked = sipp_seat(&service, "2001", scenario, rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    (service, phone, linked, pbx)
}

#[test]
fn the_phones_transfer_button_refers_the_caller_to_110() {
    let (service, mut phone, linked, pbx) = baresip_refer("seat_hangup.xml", 20);
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.command(&format!("transfer sip:110@{}", service.sip));

    assert!(
        service.wait_for_log("TransferCompleted { mode: PhoneTransfer", SETUP),
        "{}",
        service.log_text()
    );
    assert!(phone.wait_for("CALL_CLOSED", SETUP), "{:?}", phone.events);
    assert!(linked.wait(CALL).success(), "110 talked, then hung up");
    assert!(
        pbx.wait(CALL).success(),
        "the caller got BYE from 110's hang-up"
    );
    assert!(service.log_text().contains("trigger: Refer"));
}

#[test]
fn a_refer_to_a_busy_110_gives_the_caller_back_to_the_seat() {
    let (service, mut phone, linked, pbx) = baresip_refer("seat_busy.xml", 20);
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.command(&format!("transfer sip:110@{}", service.sip));

    assert!(
        service.wait_for_log("event=CallerReturned { seat: \"1001\" }", SETUP),
        "{}",
        service.log_text()
    );
    assert!(linked.wait(CALL).success());
    phone.command("hangup");
    assert!(
        pbx.wait(CALL).success(),
        "the caller was with 1001 until it hung up"
    );
}

#[test]
fn a_refer_to_110_that_does_not_answer_gives_the_caller_back_to_the_seat() {
    let (service, mut phone, linked, pbx) = baresip_refer("seat_no_answer.xml", 2);
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.command(&format!("transfer sip:110@{}", service.sip));

    assert!(
        service.wait_for_log("failure: NoAnswer", SETUP),
        "{}",
        service.log_text()
    );
    assert!(service.wait_for_log("event=CallerReturned", SETUP));
    assert!(linked.wait(CALL).success(), "110 was cancelled");
    phone.command("hangup");
    assert!(pbx.wait(CALL).success());
}

#[test]
fn star_two_to_a_busy_110_returns_the_caller_to_the_transferring_seat() {
    let mut phone = Baresip::seat("1001");
    let service = Service::start(Options {
        fixed_seats: vec![("1001".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let busy = sipp_seat(&service, "2001", "seat_busy.xml", 0);
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.press("*2");

    assert!(
        service.wait_for_log("event=CallerReturned { seat: \"1001\" }", SETUP),
        "{}",
        service.log_text()
    );
    let busy = busy.wait(CALL);
    assert!(busy.success(), "{busy:?}");
    assert!(
        service.wait_for_logs("seat=1001", 2, SETUP),
        "1001 was rung a second time:\n{}",
        service.log_text()
    );
    phone.command("hangup");
    assert!(pbx.wait(CALL).success());
}

#[test]
fn star_two_to_a_110_seat_that_does_not_answer_returns_the_caller() {
    let mut phone = Baresip::seat("1001");
    let service = Service::start(Options {
        ring_secs: 2,
        fixed_seats: vec![("1001".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let silent = sipp_seat(&service, "2001", "seat_no_answer.xml", 0);
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(
        phone.wait_for("CALL_ESTABLISHED", SETUP),
        "{:?}",
        phone.events
    );

    phone.press("*2");

    assert!(
        service.wait_for_log("failure: NoAnswer", SETUP),
        "{}",
        service.log_text()
    );
    assert!(
        service.wait_for_log("event=CallerReturned { seat: \"1001\" }", SETUP),
        "{}",
        service.log_text()
    );
    assert!(silent.wait(CALL).success(), "110 was cancelled");
    phone.command("hangup");
    assert!(pbx.wait(CALL).success());
}
