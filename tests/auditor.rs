//! The auditor's tools on a recorded three-way call: `audit INCIDENT` lists the
//! recordings, `audit export` writes a folder that verifies (and stops verifying when a
//! file is changed), the API finds incidents by filter and serves the recordings, and the
//! auditor's page, driven in headless Chromium, draws the call and plays its recording.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::browser::Browser;
use support::http::{get_bytes, json, request};
use support::{
    keyed_seat, rtp_endpoint, sipp_seat, Options, Service, Sipp, AUDITOR_TOKEN, OPERATOR_TOKEN,
};

const CALL: Duration = Duration::from_secs(40);

/// Incident 1: the caller, 1001 and 2001 in a three-way call (*1), then 1001 leaves (*3).
fn service_after_a_three_way_call() -> Service {
    let service = Service::start(Options::default());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        rtp_endpoint().port(),
        ["*", "1", "*", "3"],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .pause_ms(6500)
        .run();
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    service.timeline(1);
    service
}

fn hotline_bridge(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hotline-bridge"))
        .args(args)
        .output()
        .expect("run hotline-bridge");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn an_exported_incident_verifies_elsewhere_and_a_changed_file_is_caught() {
    let service = service_after_a_three_way_call();
    let (code, text) = service.audit(&["1"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("recordings:"), "{text}");
    assert!(
        text.contains("12345-00001.wav  parties (caller, first_seat, linked_seat)"),
        "{text}"
    );
    assert!(text.contains("12345-00001-mixed.wav  mixed"), "{text}");
    assert!(
        !text.contains("not logged"),
        "both digests are in the log: {text}"
    );

    let away = tempfile::tempdir().unwrap();
    let folder = away.path().join("incident-1");
    let (code, text) = service.audit(&["export", "1", folder.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    for name in [
        "timeline.json",
        "timeline.txt",
        "manifest.json",
        "SHA256SUMS",
    ] {
        assert!(folder.join(name).is_file(), "{name} missing");
    }
    let recording = folder.join("recordings/12345-00001-mixed.wav");
    assert!(hound::WavReader::open(&recording).is_ok());

    // The folder stands alone: no configuration, no database, and plain sha256sum agrees.
    let (code, text) = hotline_bridge(&["audit", "verify-export", folder.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let status = Command::new("sha256sum")
        .args(["--check", "--quiet", "SHA256SUMS"])
        .current_dir(&folder)
        .status()
        .unwrap();
    assert!(status.success());

    // One changed sample in a recording.
    let mut bytes = std::fs::read(&recording).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&recording, &bytes).unwrap();
    let (code, text) = hotline_bridge(&["audit", "verify-export", folder.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("recordings/12345-00001-mixed.wav: contents changed"),
        "{text}"
    );
    bytes[last] ^= 0x01;
    std::fs::write(&recording, &bytes).unwrap();

    // An edited event, with the sums rewritten to hide it, is still caught by its hash.
    let timeline = folder.join("timeline.json");
    let edited = std::fs::read_to_string(&timeline).unwrap().replacen(
        "\"seat\": \"2001\"",
        "\"seat\": \"2002\"",
        1,
    );
    std::fs::write(&timeline, edited).unwrap();
    rewrite_sums(&folder);
    let (code, text) = hotline_bridge(&["audit", "verify-export", folder.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("was altered"), "{text}");

    // A recording taken out of the folder, the manifest and the sums is missed by the log.
    let second = away.path().join("incident-1-again");
    let (code, text) = service.audit(&["export", "1", second.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let manifest_path = second.join("manifest.json");
    let mut manifest = json(&std::fs::read_to_string(&manifest_path).unwrap());
    manifest["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != "recordings/12345-00001.wav");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    std::fs::remove_file(second.join("recordings/12345-00001.wav")).unwrap();
    rewrite_sums(&second);
    let (code, text) = hotline_bridge(&["audit", "verify-export", second.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("recordings/12345-00001.wav: in the log but not in the export"),
        "{text}"
    );

    // An export never overwrites another.
    let (code, text) = service.audit(&["export", "1", folder.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not empty"), "{text}");
}

/// Recomputes the manifest's and SHA256SUMS's digests, as someone covering tracks would.
fn rewrite_sums(folder: &Path) {
    let manifest_path = folder.join("manifest.json");
    let mut manifest = json(&std::fs::read_to_string(&manifest_path).unwrap());
    for file in manifest["files"].as_array_mut().unwrap() {
        let bytes = std::fs::read(folder.join(file["path"].as_str().unwrap())).unwrap();
        file["sha256"] = sha256_hex(&bytes).into();
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let mut sums = String::new();
    let names = manifest["files"].as_array().unwrap().iter();
    for name in names
        .map(|f| f["path"].as_str().unwrap())
        .chain(["manifest.json"])
    {
        let bytes = std::fs::read(folder.join(name)).unwrap();
        sums += &format!("{}  {name}\n", sha256_hex(&bytes));
    }
    std::fs::write(folder.join("SHA256SUMS"), sums).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_api_finds_incidents_by_filter_and_serves_recordings_to_auditors_only() {
    let service = service_after_a_three_way_call();
    let get = |path: &str, token| request(service.http, "GET", path, Some(token), None, &[]);

    let (status, body) = get("/incidents?mode=three_way&result=completed", AUDITOR_TOKEN);
    assert_eq!(status, 200, "{body}");
    let found = json(&body);
    assert_eq!(found[0]["incident"], 1, "{found}");
    assert_eq!(found[0]["hotline"], "12345");
    assert!(found[0]["ticket"].as_str().unwrap().starts_with("12345-"));
    for filter in [
        "mode=phone_transfer",
        "result=cancelled",
        "hotline=110",
        "date=2001-01-01",
    ] {
        let (status, body) = get(&format!("/incidents?{filter}"), AUDITOR_TOKEN);
        assert_eq!(
            (status, json(&body)),
            (200, serde_json::json!([])),
            "{filter}"
        );
    }
    let (status, body) = get("/incidents?mode=teleport", AUDITOR_TOKEN);
    assert_eq!(status, 422, "{body}");
    let (status, _) = get("/incidents?date=yesterday", AUDITOR_TOKEN);
    assert_eq!(status, 422);

    let (status, body) = get("/incidents/1/recordings", AUDITOR_TOKEN);
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    let files = listed["recordings"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let mixed = files.iter().find(|f| f["kind"] == "mixed").unwrap();
    let (status, content_type, bytes) =
        get_bytes(service.http, mixed["url"].as_str().unwrap(), AUDITOR_TOKEN);
    assert_eq!((status, content_type.as_str()), (200, "audio/wav"));
    assert_eq!(sha256_hex(&bytes), mixed["sha256"].as_str().unwrap());

    let (status, _) = get("/incidents/1/recordings", OPERATOR_TOKEN);
    assert_eq!(status, 403);
    let (status, _, _) = get_bytes(service.http, "/recordings/12345-00001.wav", OPERATOR_TOKEN);
    assert_eq!(status, 403);
    let (status, _, _) = get_bytes(service.http, "/recordings/..%2Fhotline.toml", AUDITOR_TOKEN);
    assert_eq!(status, 400);
    let (status, _, _) = get_bytes(service.http, "/recordings/12345-09999.wav", AUDITOR_TOKEN);
    assert_eq!(status, 404);

    let (status, body) = get("/log/verify", AUDITOR_TOKEN);
    assert_eq!(status, 200);
    assert_eq!(json(&body)["ok"], true, "{body}");

    let ticket = found[0]["ticket"].as_str().unwrap();
    let (status, body) = get(&format!("/tickets/{ticket}"), AUDITOR_TOKEN);
    assert_eq!(status, 200);
    assert_eq!(
        json(&body)["recordings"].as_array().unwrap().len(),
        2,
        "{body}"
    );
}

/// Where test artefacts are kept: `target/tmp/test-artefacts/`.
fn artefact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The auditor's page on incident 1, once the page says it is done and has thrown
/// nothing; the browser and the page's DOM.
fn open_incident_1(service: &Service, height: u32) -> (Browser, String) {
    let url = format!(
        "http://{}/console/audit#token={AUDITOR_TOKEN}&incident=1",
        service.http
    );
    let mut browser = Browser::start(1280, height);
    browser.open(&url);
    let ready = browser.wait_for_body_data("ready", "incident-1", Duration::from_secs(60));
    let dom = browser.dom();
    assert!(ready, "the page never finished: {dom}");
    assert_eq!(
        browser.page_errors(),
        [] as [String; 0],
        "the page's scripts threw"
    );
    (browser, dom)
}

#[test]
fn the_auditors_page_draws_the_call_and_plays_its_recording_in_headless_chromium() {
    let service = service_after_a_three_way_call();
    let timeline = service.timeline(1);
    let marks = timeline
        .iter()
        .filter(|e| {
            [
                "key_pressed",
                "transfer_requested",
                "transfer_completed",
                "transfer_cancelled",
                "caller_returned",
                "seat_failed",
                "target_failed",
                "recording_failed",
                "conference_started",
            ]
            .contains(&e["event"].as_str().unwrap())
        })
        .count();
    let keys = timeline
        .iter()
        .filter(|e| e["event"] == "key_pressed")
        .count();
    assert!(keys >= 2 && marks >= keys + 2, "{timeline:?}");

    let (mut browser, dom) = open_incident_1(&service, 1400);
    assert!(
        dom.contains("data-incident=\"1\""),
        "the list shows incident 1"
    );
    assert_eq!(
        dom.matches("class=\"lane\"").count(),
        3,
        "caller, 1001 and 2001"
    );
    assert_eq!(
        dom.matches("class=\"mark").count(),
        marks,
        "one mark per event drawn"
    );
    assert_eq!(dom.matches("data-kind=\"key\"").count(), keys);
    assert!(dom.contains("data-ok=\"true\""), "the chain check is shown");
    let duration: f64 = dom
        .split("data-audio-duration=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("the audio element reported no duration"));
    assert!(duration > 3.0, "the recording lasts {duration} s");

    let shot = artefact("auditor-page.png");
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::write(&shot, png).unwrap();
    println!("screenshot: {}", shot.display());
}

#[test]
fn the_auditors_page_shows_a_call_nobody_answered_without_a_recording() {
    let service = Service::start(Options::default());
    let seat = sipp_seat(&service, "1001", "seat_no_answer.xml", 0);
    let pbx = Sipp::client(&service, "pbx_cancel.xml", "12345")
        .key("rtp_port", &rtp_endpoint().port().to_string())
        .run();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    let timeline = service.timeline(1);
    assert!(timeline.iter().all(|e| e["event"] != "recording_started"));

    let (_browser, dom) = open_incident_1(&service, 900);
    assert_eq!(dom.matches("class=\"lane\"").count(), 1, "the caller alone");
    assert!(dom.contains(">No recording<"), "{dom}");
    assert!(!dom.contains("data-audio-duration"), "nothing to play");
}
