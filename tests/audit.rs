//! The handoff log as an auditor reads it: `audit INCIDENT` shows each flow's events in
//! order, and `audit --verify` finds an edited or removed event.

mod support;

use std::time::Duration;

use support::{keyed_seat, rtp_endpoint, sipp_seat, Options, Service, Sipp};

const CALL: Duration = Duration::from_secs(40);

/// The events in `wanted` appear in this order (others may come between).
fn assert_in_order(events: &[String], wanted: &[&str]) {
    let mut rest = events.iter();
    for name in wanted {
        assert!(
            rest.any(|e| e == name),
            "{name} missing or out of order in {events:?}"
        );
    }
}

#[test]
fn a_three_way_call_and_its_leave_are_in_the_log_in_order() {
    let service = Service::start(Options::default());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        rtp_endpoint().port(),
        ["*", "1", "*", "3"],
    );
    let linked = sipp_seat(&service, "2001", "seat_hangup.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    // seat_hangup.xml hangs up 3 s after answering, before *3: the three-way call goes on
    // as caller and 1001, and *3 then finds only two in the call.
    assert!(linked.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());

    let events = service.timeline_events(1);
    assert_in_order(
        &events,
        &[
            "call_received",
            "seat_ringing",
            "answered",
            "key_pressed",
            "transfer_requested",
            "target_ringing",
            "target_answered",
            "conference_started",
            "party_left",
            "key_pressed",
            "party_left",
            "outcome",
            "call_ended",
        ],
    );
    let (code, text) = service.audit(&["1"]);
    assert_eq!(code, 0);
    assert!(text.contains("key_pressed"), "{text}");
    assert!(
        text.contains("keys=*1 leg=L3 seat=1001 trigger=sip_info"),
        "{text}"
    );
    assert!(text.contains("mode=three_way"), "{text}");
}

#[test]
fn a_phone_transfer_is_in_the_log_in_order() {
    let service = Service::start(Options::default());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_transfer_info.xml",
        rtp_endpoint().port(),
        ["*", "2", "", ""],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());

    let events = service.timeline_events(1);
    assert_in_order(
        &events,
        &[
            "call_received",
            "answered",
            "key_pressed",
            "transfer_requested",
            "party_left",
            "target_ringing",
            "target_answered",
            "transfer_completed",
            "party_left",
            "outcome",
            "call_ended",
        ],
    );
}

#[test]
fn a_failed_handoff_is_logged_with_its_reason() {
    let service = Service::start(Options::default());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        rtp_endpoint().port(),
        ["*", "1", "*", "0"],
    );
    let busy = sipp_seat(&service, "2001", "seat_busy.xml", 0);
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    let busy = busy.wait(CALL);
    assert!(busy.success(), "{busy:?}");
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());

    let events = service.timeline_events(1);
    assert_in_order(
        &events,
        &[
            "transfer_requested",
            "target_ringing",
            "target_failed",
            "transfer_cancelled",
        ],
    );
    let (_, text) = service.audit(&["1"]);
    assert!(text.contains("failure=busy"), "{text}");
}

#[test]
fn verify_passes_on_the_log_and_fails_on_an_edited_or_removed_event() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    service.timeline_events(1);

    let (code, text) = service.audit(&["--verify"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("ok: the chain of"), "{text}");

    // Somebody with access to the database edits event 3, after dropping the schema's
    // guards as an attacker would.
    service.drop_log_guards();
    service
        .sql(&["UPDATE handoff_events SET details = '{\"seat\":\"1002\"}' WHERE id = 3"])
        .unwrap();
    let (code, text) = service.audit(&["--verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("event 3 (incident 1) its content does not match its hash"),
        "{text}"
    );
}

#[test]
fn verify_names_the_event_after_a_removed_one() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    service.timeline_events(1);

    service.drop_log_guards();
    service
        .sql(&["DELETE FROM handoff_events WHERE id = 2"])
        .unwrap();
    let (code, text) = service.audit(&["--verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("event 3 (incident 1) does not follow the entry before it"),
        "{text}"
    );
}

#[test]
fn the_service_refuses_to_change_the_log_itself() {
    let service = Service::start(Options::default());
    let pbx = Sipp::client(&service, "pbx_cancel.xml", "12345")
        .key("rtp_port", "40000")
        .run();
    let _seat = sipp_seat(&service, "1001", "seat_no_answer.xml", 0);
    let _ = pbx.wait(CALL);
    service.timeline_events(1);
    let error = service.sql(&["UPDATE handoff_events SET actor = 'x'"]);
    assert!(error.unwrap_err().contains("append-only"));
}

#[test]
fn calls_go_on_while_the_database_is_locked_and_the_events_arrive_afterwards() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());

    // Another process holds a lock on the log for the whole call.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lock: &[&'static str] = if service.is_postgres() {
        &[
            "BEGIN",
            "LOCK TABLE handoff_events IN ACCESS EXCLUSIVE MODE",
        ]
    } else {
        &["BEGIN EXCLUSIVE"]
    };
    let mut locker = runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(&service.database)
            .await
            .unwrap();
        for statement in lock {
            sqlx::query(*statement)
                .execute(&mut connection)
                .await
                .unwrap();
        }
        connection
    });

    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run()
        .wait(CALL);
    assert!(
        pbx.success(),
        "the call was not held up by the database: {pbx:?}"
    );
    assert!(seat.wait(CALL).success());
    if !service.is_postgres() {
        // SQLite gives up waiting for the lock after its busy timeout; PostgreSQL waits.
        assert!(
            service.wait_for_log(
                "handoff log write failed; retrying",
                Duration::from_secs(15)
            ),
            "{}",
            service.log_text()
        );
    }

    runtime.block_on(async {
        sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    });
    drop(locker);
    let events = service.timeline_events(1);
    assert_eq!(events.first().map(String::as_str), Some("call_received"));
    let (code, text) = service.audit(&["--verify"]);
    assert_eq!(code, 0, "{text}");
}
