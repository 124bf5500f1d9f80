//! `hotline-bridge check-config` on the demo configuration and on broken copies of it:
//! each mistake is reported as `file: key: what is wrong`.

use std::path::Path;
use std::process::Command;

const DEMO_SERVICE: &str = include_str!("../config/hotline-bridge.toml");
const DEMO_TRUNKS: &str = include_str!("../sip-profiles/trunks.toml");
const DEMO_SEATS: &str = include_str!("../sip-profiles/seats.toml");

struct Files {
    service: String,
    trunks: String,
    seats: String,
}

/// Runs check-config on the demo files after `edit`; returns the exit code and the report.
fn check(edit: impl FnOnce(&mut Files)) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let mut files = Files {
        service: DEMO_SERVICE.replace(
            "profiles = \"sip-profiles\"",
            &format!("profiles = {:?}", profiles.display().to_string()),
        ),
        trunks: DEMO_TRUNKS.to_string(),
        seats: DEMO_SEATS.to_string(),
    };
    edit(&mut files);
    let config = dir.path().join("hotline-bridge.toml");
    std::fs::write(&config, &files.service).unwrap();
    std::fs::write(profiles.join("trunks.toml"), &files.trunks).unwrap();
    std::fs::write(profiles.join("seats.toml"), &files.seats).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_hotline-bridge"))
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let report = report.replace(&dir.path().display().to_string(), "DIR");
    (output.status.code().unwrap_or(-1), report)
}

fn assert_refused(report: (i32, String), expected: &str) {
    let (code, text) = report;
    assert_eq!(code, 1, "check-config should fail; it said:\n{text}");
    assert!(
        text.lines().any(|line| line == expected),
        "expected the line\n  {expected}\nin\n{text}"
    );
}

#[test]
fn the_demo_configuration_passes() {
    let (code, text) = check(|_| {});
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("ok (2 hotlines, 4 seats and trunks)"),
        "{text}"
    );
}

#[test]
fn the_shipped_files_pass_from_the_repository_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_hotline-bridge"))
        .current_dir(root)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn an_unknown_key_is_named_with_its_section() {
    assert_refused(
        check(|f| f.service = f.service.replace("[sip]\n", "[sip]\ncolour = \"red\"\n")),
        "DIR/hotline-bridge.toml: sip.colour: unknown field `colour`, expected one of `listen`, `advertised`, `realm`, `profiles` (line 5)",
    );
}

#[test]
fn a_bad_listen_address_is_refused() {
    assert_refused(
        check(|f| f.service = f.service.replace("listen = \"127.0.0.1:5060\"", "listen = \"localhost:50600x\"")),
        "DIR/hotline-bridge.toml: sip.listen: \"localhost:50600x\" is not an address:port such as 127.0.0.1:5060",
    );
}

#[test]
fn a_seat_without_password_is_refused() {
    assert_refused(
        check(|f| f.seats = f.seats.replace("password = \"secret-1001\"\n", "")),
        "DIR/profiles/seats.toml: seat[0]: seat 1001 has no password (or uri for a fixed seat)",
    );
}

#[test]
fn a_number_routed_nowhere_is_refused() {
    assert_refused(
        check(|f| f.seats = f.seats.replace("hotline = \"110\"", "hotline = \"12345\"")),
        "DIR/hotline-bridge.toml: hotline[1].numbers: number 110 is routed nowhere: hotline 110 has no seat and no trunk",
    );
}

#[test]
fn demo_passwords_are_refused_off_loopback() {
    assert_refused(
        check(|f| f.service = f.service.replace("listen = \"127.0.0.1:5060\"", "listen = \"0.0.0.0:5060\"")),
        "DIR/profiles/seats.toml: seat[2].password: seat 2001 uses the demo password, which is only allowed when SIP listens on loopback",
    );
}

#[test]
fn a_seat_of_an_unknown_hotline_is_refused() {
    assert_refused(
        check(|f| {
            f.seats = f
                .seats
                .replacen("hotline = \"12345\"", "hotline = \"119\"", 1)
        }),
        "DIR/profiles/seats.toml: seat[0].hotline: seat 1001 names unknown hotline \"119\"",
    );
}

#[test]
fn a_bad_trunk_source_is_refused() {
    assert_refused(
        check(|f| f.trunks = f.trunks.replace("sources = [\"127.0.0.1\"]", "sources = [\"127.0.0.1/40\"]")),
        "DIR/profiles/trunks.toml: trunk[0].sources: \"127.0.0.1/40\" is not an address, address:port or network",
    );
}

#[test]
fn a_missing_profile_file_is_named() {
    let (code, text) = check(|f| {
        f.service = f
            .service
            .replace("profiles = ", "profiles = \"/nonexistent\" # ")
    });
    assert_eq!(code, 1);
    assert!(
        text.contains("/nonexistent/seats.toml: (file): cannot read"),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let (code, text) = check(|f| {
        f.service = f
            .service
            .replace("rtp_port_max = 29999", "rtp_port_max = 100");
        f.seats = f.seats.replace("number = \"1002\"", "number = \"1001\"");
    });
    assert_eq!(code, 1);
    assert!(
        text.contains("media.rtp_port_min: RTP port range 20000-100"),
        "{text}"
    );
    assert!(
        text.contains("seat[1].number: seat 1001 is listed twice"),
        "{text}"
    );
}
