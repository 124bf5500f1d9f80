//! Tickets from the operator's terminal: a call becomes a ticket that follows the handoff
//! log, and feedback finishes it with a work-log deadline from the calendar.

mod support;

use std::time::Duration;

use support::baresip::Baresip;
use support::{free_port, rtp_endpoint, sipp_seat, Options, Service, Sipp};

const CALL: Duration = Duration::from_secs(40);

fn tickets_json(service: &Service, args: &[&str]) -> serde_json::Value {
    let (code, text) = service.command_stdout("tickets", args);
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs a call on 12345 in which seat 1001 presses `keys` by SIP INFO, and 2001 answers.
fn transferred_call(keys: [&str; 2]) -> Service {
    let service = Service::start(Options::default());
    let port = free_port();
    let seat = Sipp::server("seat_transfer_info.xml", port)
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .key("k1", keys[0])
        .key("k2", keys[1])
        .key("k3", "")
        .key("k4", "")
        .run();
    service.register_seat("1001", port);
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    service.timeline_events(1);
    service
}

#[test]
fn a_transferred_call_becomes_a_work_order_handed_over_to_110() {
    let service = transferred_call(["*", "2"]);

    let list = tickets_json(&service, &["--json"]);
    let tickets = list.as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{list}");
    let ticket = &tickets[0];
    let number = ticket["number"].as_str().unwrap();
    assert!(
        number.starts_with("12345-2026") && number.ends_with("-00001"),
        "{number}"
    );
    assert_eq!(ticket["status"], "handed_over");
    assert_eq!(ticket["handoff_mode"], "phone_transfer");
    assert_eq!(ticket["handed_to"], "110");
    assert_eq!(ticket["first_receiver"], "1001");
    assert_eq!(ticket["caller"], "13800000000");
    assert!(ticket["answered_ms"].as_i64().unwrap() >= ticket["received_ms"].as_i64().unwrap());
    assert!(ticket["ended_ms"].is_i64());
    // An untagged matter handed away is not what first-receiver responsibility says.
    assert_eq!(ticket["followed_rule"], false);

    let (code, text) = service.command("tickets", &[number]);
    assert_eq!(code, 0);
    assert!(text.contains("工单 work order"), "{text}");
    assert!(text.contains("phone_transfer to 110"), "{text}");
}

#[test]
fn feedback_records_progress_then_the_result_sets_the_work_log_deadline() {
    let service = transferred_call(["*", "2"]);
    let number = tickets_json(&service, &["--json"])[0]["number"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, text) = service.command("feedback", &[&number, "police on site"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("status in_progress"), "{text}");
    let (code, text) = service.command(
        "feedback",
        &[&number, "--kind", "result", "matter resolved"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("status finished"), "{text}");
    assert!(text.contains("work log due by"), "{text}");

    let shown = tickets_json(&service, &[&number, "--json"]);
    assert_eq!(shown["ticket"]["status"], "finished");
    let finished = shown["ticket"]["finished_ms"].as_i64().unwrap();
    let deadline = shown["ticket"]["work_log_deadline_ms"].as_i64().unwrap();
    let days = (deadline - finished) as f64 / 86_400_000.0;
    assert!(
        (3.0..=10.0).contains(&days),
        "three working days later, {days} days"
    );
    let feedback = shown["feedback"].as_array().unwrap();
    assert_eq!(feedback.len(), 2);
    assert_eq!(feedback[0]["kind"], "progress");
    assert_eq!(feedback[1]["text"], "matter resolved");

    let finished_list = tickets_json(&service, &["--status", "finished", "--json"]);
    assert_eq!(finished_list.as_array().unwrap().len(), 1);
}

#[test]
fn bad_feedback_is_refused_with_a_clear_message() {
    let service = Service::start(Options::default());
    let (code, text) = service.command("feedback", &["12345-20260101-00009", "x"]);
    assert_eq!(code, 2);
    assert!(text.contains("no ticket 12345-20260101-00009"), "{text}");
    let (code, text) = service.command("tickets", &["--status", "lost"]);
    assert_eq!(code, 2);
    assert!(text.contains("unknown status \"lost\""), "{text}");
}

#[test]
fn an_emergency_category_marks_the_ticket_for_dispatch_and_110_as_owner() {
    let mut phone = Baresip::seat("1001");
    let service = Service::start(Options {
        fixed_seats: vec![("1001".into(), "12345".into(), phone.uri.clone())],
        ..Options::default()
    });
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .pause_ms(5000)
        .run();
    assert!(
        phone.wait_for("CALL_ESTABLISHED", Duration::from_secs(10)),
        "{:?}",
        phone.events
    );

    phone.press("*931");

    assert!(service.wait_for_log("event=ConferenceStarted", Duration::from_secs(10)));
    assert!(pbx.wait(CALL).success());
    // The two seats stay together after the caller left; 1001 ends it.
    phone.command("hangup");
    assert!(linked.wait(CALL).success());
    service.timeline_events(1);

    let ticket = &tickets_json(&service, &["--json"])[0];
    assert_eq!(ticket["category"], "31", "{ticket}");
    assert_eq!(ticket["owner"], "110");
    assert_eq!(ticket["dispatch"], true);
    assert_eq!(ticket["handoff_mode"], "three_way");
}
