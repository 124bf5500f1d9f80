//! Two hotline-bridge instances on loopback, one for 12345 and one for 110, each the
//! other's peer platform: a call handed over by the transfer key on 12345 reaches 110's
//! switch, the handoff notice links the two tickets, 110's feedback and work log come back,
//! and a peer that is down for a while loses nothing and duplicates nothing.

mod support;

use std::time::Duration;

use support::http::{json, request};
use support::{
    eventually, free_port, rtp_endpoint, service_port, sipp_seat, Options, Service, Sipp,
    OPERATOR_TOKEN, PEER_TOKEN,
};

const CALL: Duration = Duration::from_secs(40);
const LOOP: Duration = Duration::from_secs(20);

struct Platforms {
    hotline: Service,
    police: Service,
}

/// 12345 routes 110 to the police instance's switch and the police instance routes 12345
/// back; each names the other as its peer platform.
fn platforms() -> Platforms {
    let (a_sip, a_http) = (service_port(), service_port());
    let (b_sip, b_http) = (service_port(), service_port());
    let hotline = Service::start(Options {
        sip_port: Some(a_sip),
        http_port: Some(a_http),
        hotline_trunks: vec![("110".into(), format!("sip:110@127.0.0.1:{b_sip}"))],
        peer_url: Some(format!("http://127.0.0.1:{b_http}")),
        ..Options::default()
    });
    let police = Service::start(Options {
        sip_port: Some(b_sip),
        http_port: Some(b_http),
        hotline_trunks: vec![("12345".into(), format!("sip:12345@127.0.0.1:{a_sip}"))],
        peer_url: Some(format!("http://127.0.0.1:{a_http}")),
        ..Options::default()
    });
    Platforms { hotline, police }
}

fn tickets(service: &Service) -> Vec<serde_json::Value> {
    let (status, body) = request(
        service.http,
        "GET",
        "/tickets",
        Some(OPERATOR_TOKEN),
        None,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    json(&body).as_array().cloned().unwrap_or_default()
}

fn ticket(service: &Service, number: &str) -> serde_json::Value {
    let (status, body) = request(
        service.http,
        "GET",
        &format!("/tickets/{number}"),
        Some(OPERATOR_TOKEN),
        None,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    json(&body)
}

/// A caller on 12345 is transferred with *2 to 110, whose seat 2001 answers on the police
/// instance. Returns (12345's ticket number, 110's ticket number) once they are linked.
fn hand_over(p: &Platforms) -> (String, String) {
    let port = free_port();
    let seat = Sipp::server("seat_transfer_info.xml", port)
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .key("k1", "*")
        .key("k2", "2")
        .key("k3", "")
        .key("k4", "")
        .run();
    p.hotline.register_seat("1001", port);
    let police_seat = sipp_seat(&p.police, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&p.hotline, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(
        seat.wait(CALL).success(),
        "1001 transferred and was released"
    );
    assert!(pbx.wait(CALL).success(), "{}", p.hotline.log_text());
    assert!(
        police_seat.wait(CALL).success(),
        "110's seat talked with the caller"
    );

    let mut linked = None;
    let done = eventually(LOOP, || {
        let ours = tickets(&p.hotline);
        let theirs = tickets(&p.police);
        if let (Some(a), Some(b)) = (ours.first(), theirs.first()) {
            if a["status"] == "accepted"
                && a["peer_ticket"] == b["number"]
                && b["peer_ticket"] == a["number"]
            {
                linked = Some((
                    a["number"].as_str().unwrap().to_string(),
                    b["number"].as_str().unwrap().to_string(),
                ));
                return true;
            }
        }
        false
    });
    assert!(
        done,
        "the tickets were not linked:\n12345: {:?}\n110: {:?}\n{}",
        tickets(&p.hotline),
        tickets(&p.police),
        p.hotline.log_text()
    );
    linked.unwrap()
}

fn post_feedback(service: &Service, number: &str, kind: &str, text: &str) {
    let body = serde_json::json!({ "kind": kind, "text": text }).to_string();
    let (status, response) = request(
        service.http,
        "POST",
        &format!("/tickets/{number}/feedback"),
        Some(OPERATOR_TOKEN),
        Some(&body),
        &[],
    );
    assert_eq!(status, 201, "{response}");
}

#[test]
fn a_handoff_by_transfer_key_closes_the_loop_between_the_two_platforms() {
    let p = platforms();
    let (ours, theirs) = hand_over(&p);
    assert!(
        ours.starts_with("12345-") && theirs.starts_with("110-"),
        "{ours} {theirs}"
    );
    assert_eq!(tickets(&p.hotline)[0]["handoff_mode"], "phone_transfer");
    assert_eq!(tickets(&p.police)[0]["caller"], "13800000000");

    post_feedback(
        &p.police,
        &theirs,
        "progress",
        "警员已到达现场 officers on site",
    );
    post_feedback(&p.police, &theirs, "result", "纠纷已调解 dispute settled");

    let done = eventually(LOOP, || {
        let shown = ticket(&p.hotline, &ours);
        shown["ticket"]["status"] == "closed"
            && shown["feedback"].as_array().is_some_and(|f| f.len() == 2)
            && shown["ticket"]["work_log_received_ms"].is_i64()
    });
    let hotline_view = ticket(&p.hotline, &ours);
    assert!(
        done,
        "12345 did not get 110's feedback and work log: {hotline_view}"
    );
    assert_eq!(
        hotline_view["feedback"][1]["text"],
        "纠纷已调解 dispute settled"
    );
    assert_eq!(
        hotline_view["feedback"][1]["source"],
        format!("peer:{theirs}")
    );

    assert!(
        eventually(LOOP, || {
            let police_view = ticket(&p.police, &theirs);
            police_view["ticket"]["work_log_sent_ms"].is_i64()
                && police_view["ticket"]["status"] == "closed"
        }),
        "110 recorded its work log as sent and closed the ticket"
    );
    let (_, metrics) = request(
        p.police.http,
        "GET",
        "/metrics",
        Some(support::AUDITOR_TOKEN),
        None,
        &[],
    );
    assert!(metrics.contains("hotline_outbox_backlog 0"), "{metrics}");
    assert!(
        metrics.contains("hotline_tickets{status=\"closed\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_peer_down_for_a_while_loses_nothing_and_duplicates_nothing() {
    let mut p = platforms();
    let (ours, theirs) = hand_over(&p);

    // 12345 goes down; 110 records its feedback meanwhile.
    p.hotline.kill();
    post_feedback(&p.police, &theirs, "progress", "on the way");
    post_feedback(&p.police, &theirs, "result", "done");
    assert!(
        p.police.wait_for_log("delivery failed; will retry", LOOP),
        "{}",
        p.police.log_text()
    );

    p.hotline.restart();
    let done = eventually(LOOP, || {
        let shown = ticket(&p.hotline, &ours);
        shown["ticket"]["work_log_received_ms"].is_i64()
            && shown["feedback"].as_array().is_some_and(|f| f.len() >= 2)
    });
    assert!(done, "{}", p.police.log_text());
    let shown = ticket(&p.hotline, &ours);
    let texts: Vec<&str> = shown["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["on the way", "done"], "each once, in order");
}

#[test]
fn a_repeated_delivery_changes_nothing() {
    let p = platforms();
    let (ours, theirs) = hand_over(&p);
    let message = serde_json::json!({
        "ticket": ours, "from_ticket": theirs, "kind": "progress", "text": "sent twice", "at_ms": 1
    })
    .to_string();
    for _ in 0..3 {
        let (status, body) = request(
            p.hotline.http,
            "POST",
            "/peer/feedback",
            Some(PEER_TOKEN),
            Some(&message),
            &[("Idempotency-Key", "feedback:test:1")],
        );
        assert_eq!(status, 200, "{body}");
    }
    let feedback = ticket(&p.hotline, &ours)["feedback"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(feedback, 1);

    let (status, body) = request(
        p.hotline.http,
        "POST",
        "/peer/feedback",
        Some(PEER_TOKEN),
        Some(&message),
        &[],
    );
    assert_eq!(status, 400, "the key is required: {body}");
    let (status, _) = request(
        p.hotline.http,
        "POST",
        "/peer/feedback",
        Some(OPERATOR_TOKEN),
        Some(&message),
        &[("Idempotency-Key", "x")],
    );
    assert_eq!(status, 403, "operators do not speak for the other platform");
}

#[test]
fn the_overdue_report_lists_exactly_the_late_tickets_and_records_the_notice() {
    // The other platform never answers, and has no time at all to accept a handoff.
    let service = Service::start(Options {
        peer_url: Some(format!("http://127.0.0.1:{}", free_port())),
        accept_minutes: 0,
        ..Options::default()
    });
    // An ordinary call that stays with 12345.
    let seat = sipp_seat(&service, "1002", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    // A call handed to 110 whose notice cannot be delivered.
    let port = free_port();
    let transferring = Sipp::server("seat_transfer_info.xml", port)
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .key("k1", "*")
        .key("k2", "2")
        .key("k3", "")
        .key("k4", "")
        .run();
    service.register_seat("1001", port);
    let police = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(transferring.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(police.wait(CALL).success());
    service.timeline_events(2);

    let all = tickets(&service);
    let handed = all
        .iter()
        .find(|t| t["status"] == "handed_over")
        .expect("a handed-over ticket");
    let number = handed["number"].as_str().unwrap();
    let (status, body) = request(
        service.http,
        "GET",
        "/overdue",
        Some(OPERATOR_TOKEN),
        None,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let report = json(&body);
    let listed: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ticket"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [number], "exactly the late ticket: {report}");
    assert_eq!(
        report[0]["reason"],
        "the other platform has not accepted the handoff"
    );

    let shown = ticket(&service, number);
    assert_eq!(
        shown["supervision"][0]["reason"],
        "the other platform has not accepted the handoff"
    );
    let (code, text) = service.command("tickets", &["--overdue"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(number), "{text}");
}
