//! The HTTP API: health and the OpenAPI document without a token; every other endpoint
//! refuses a missing or unknown token (401) and a token of the wrong role (403), refuses
//! malformed bodies (400/422), and serves the incidents and tickets a real call produced.

mod support;

use std::time::Duration;

use support::http::json;
use support::{
    rtp_endpoint, sipp_seat, Options, Service, Sipp, ADMIN_TOKEN, AUDITOR_TOKEN, OPERATOR_TOKEN,
    PEER_TOKEN,
};

const CALL: Duration = Duration::from_secs(40);

fn request(
    service: &Service,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    support::http::request(service.http, method, path, token, body, &[])
}

/// A message from the other platform, with its idempotency key.
fn peer_request(service: &Service, path: &str, body: &str) -> (u16, String) {
    support::http::request(
        service.http,
        "POST",
        path,
        Some(PEER_TOKEN),
        Some(body),
        &[("Idempotency-Key", "k1")],
    )
}

/// A service with one finished call (1001 answered, the caller hung up).
fn service_after_a_call() -> Service {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    service.timeline_events(1);
    service
}

#[test]
fn health_and_the_openapi_document_need_no_token() {
    let service = Service::start(Options::default());
    let (status, body) = request(&service, "GET", "/health", None, None);
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));

    let (status, body) = request(&service, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    let document = json(&body);
    assert_eq!(document["openapi"], "3.0.3");
    let shipped: serde_json::Value =
        serde_json::from_str(include_str!("../docs/openapi.json")).unwrap();
    assert_eq!(
        document, shipped,
        "the service serves the document kept in the repository"
    );
    for path in [
        "/incidents",
        "/incidents/{incident}",
        "/tickets",
        "/tickets/{number}",
        "/tickets/{number}/feedback",
        "/metrics",
        "/incidents/{incident}/recordings",
        "/recordings/{file}",
        "/log/verify",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
}

#[test]
fn every_protected_endpoint_refuses_a_missing_or_unknown_token_and_a_wrong_role() {
    let service = Service::start(Options::default());
    let notice =
        r#"{"ticket":"110-20260101-00001","platform":"110","caller":"1","handed_over_ms":1}"#;
    let endpoints: [(&str, &str, Option<&str>, &str); 10] = [
        ("GET", "/metrics", None, PEER_TOKEN),
        ("GET", "/incidents", None, PEER_TOKEN),
        ("GET", "/incidents/1", None, PEER_TOKEN),
        ("GET", "/tickets", None, PEER_TOKEN),
        ("GET", "/tickets/12345-20260101-00001", None, PEER_TOKEN),
        (
            "POST",
            "/tickets/12345-20260101-00001/feedback",
            Some(r#"{"kind":"progress","text":"x"}"#),
            AUDITOR_TOKEN,
        ),
        ("GET", "/overdue", None, PEER_TOKEN),
        ("POST", "/peer/handoff-notice", Some(notice), OPERATOR_TOKEN),
        ("POST", "/peer/feedback", Some(notice), AUDITOR_TOKEN),
        ("POST", "/peer/work-log", Some(notice), OPERATOR_TOKEN),
    ];
    for (method, path, body, wrong_role) in endpoints {
        let (status, text) = request(&service, method, path, None, body);
        assert_eq!(status, 401, "{method} {path} without a token: {text}");
        assert!(text.contains("a valid bearer token is required"), "{text}");
        let (status, _) = request(&service, method, path, Some("not-a-token-at-all"), body);
        assert_eq!(status, 401, "{method} {path} with an unknown token");
        let (status, text) = request(&service, method, path, Some(wrong_role), body);
        assert_eq!(status, 403, "{method} {path} with the wrong role: {text}");
    }
}

#[test]
fn malformed_requests_get_400_or_422_with_the_reason() {
    let service = service_after_a_call();
    let tickets = json(&request(&service, "GET", "/tickets", Some(AUDITOR_TOKEN), None).1);
    let number = tickets[0]["number"].as_str().unwrap().to_string();
    let path = format!("/tickets/{number}/feedback");

    let (status, text) = request(
        &service,
        "POST",
        &path,
        Some(OPERATOR_TOKEN),
        Some("{not json"),
    );
    assert_eq!(status, 400, "{text}");
    let (status, text) = request(
        &service,
        "POST",
        &path,
        Some(OPERATOR_TOKEN),
        Some(r#"{"kind":"progress"}"#),
    );
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("text"), "names the missing field: {text}");
    let (status, text) = request(
        &service,
        "POST",
        &path,
        Some(OPERATOR_TOKEN),
        Some(r#"{"kind":"gossip","text":"x"}"#),
    );
    assert_eq!(status, 422, "{text}");
    assert!(
        text.contains("progress") && text.contains("result"),
        "{text}"
    );
    let (status, text) = request(
        &service,
        "POST",
        &path,
        Some(OPERATOR_TOKEN),
        Some(r#"{"kind":"progress","text":"x","extra":1}"#),
    );
    assert_eq!(status, 422, "unknown fields are refused: {text}");
    let (status, text) = request(
        &service,
        "GET",
        "/tickets?status=lost",
        Some(AUDITOR_TOKEN),
        None,
    );
    assert_eq!(status, 422, "{text}");
    let (status, _) = request(&service, "GET", "/incidents/abc", Some(AUDITOR_TOKEN), None);
    assert_eq!(status, 400);
    for path in ["/peer/handoff-notice", "/peer/feedback", "/peer/work-log"] {
        let (status, text) = peer_request(&service, path, "{oops");
        assert_eq!(status, 400, "{path}: {text}");
        let (status, text) = peer_request(&service, path, r#"{"ticket":"x"}"#);
        assert_eq!(status, 422, "{path}: {text}");
    }
    let (status, _) = request(&service, "GET", "/incidents/999", Some(AUDITOR_TOKEN), None);
    assert_eq!(status, 404);
    let (status, _) = request(
        &service,
        "POST",
        "/tickets/nope/feedback",
        Some(OPERATOR_TOKEN),
        Some(r#"{"kind":"progress","text":"x"}"#),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_calls_incident_ticket_and_metrics_are_served_and_feedback_is_recorded() {
    let service = service_after_a_call();

    let incidents = json(&request(&service, "GET", "/incidents", Some(OPERATOR_TOKEN), None).1);
    assert_eq!(incidents[0]["incident"], 1);
    let incident = json(&request(&service, "GET", "/incidents/1", Some(AUDITOR_TOKEN), None).1);
    let events: Vec<&str> = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"call_received"));
    assert!(events.contains(&"call_ended"), "{events:?}");
    assert_eq!(events.last(), Some(&"recording_saved"));
    assert!(
        incident["timeline"][2]["details"]["seat"] == "1001",
        "{incident}"
    );

    let tickets = json(
        &request(
            &service,
            "GET",
            "/tickets?status=open",
            Some(AUDITOR_TOKEN),
            None,
        )
        .1,
    );
    let number = tickets[0]["number"].as_str().unwrap().to_string();
    let (status, body) = request(
        &service,
        "POST",
        &format!("/tickets/{number}/feedback"),
        Some(OPERATOR_TOKEN),
        Some(r#"{"kind":"result","text":"答复已送达 resolved"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["status"], "finished");
    let shown = json(
        &request(
            &service,
            "GET",
            &format!("/tickets/{number}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .1,
    );
    assert_eq!(shown["feedback"][0]["text"], "答复已送达 resolved");
    assert_eq!(shown["feedback"][0]["source"], "api:console");

    let (status, metrics) = request(&service, "GET", "/metrics", Some(AUDITOR_TOKEN), None);
    assert_eq!(status, 200);
    assert!(metrics.contains("hotline_incidents_total 1"), "{metrics}");
    assert!(
        metrics.contains("hotline_tickets{status=\"finished\"} 1"),
        "{metrics}"
    );
}
