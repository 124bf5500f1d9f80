//! Recording against real peers: each party sends its own tone, and the files the service
//! wrote are read back with `hound` and measured at the times the tones were sent. The
//! recording's start comes from the handoff log, so "the right time" is checked against
//! what the log says, as an auditor would.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::audio::{power, send_tone};
use support::{keyed_seat, rtp_endpoint, sipp_seat, Options, Service, Sipp};

const SETUP: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(40);

const CALLER_HZ: f64 = 400.0;
const SEAT_HZ: f64 = 1000.0;
const LINKED_HZ: f64 = 1700.0;
const TONES: [f64; 3] = [CALLER_HZ, SEAT_HZ, LINKED_HZ];

/// Power of a tone that is there, and the most a tone that is not there may show.
const PRESENT: f64 = 0.01;
const ABSENT: f64 = 0.001;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// An incident's recording as read back from disk.
struct Recording {
    /// Wall-clock time of the first sample, from the `recording_started` log entry.
    start_ms: i64,
    /// One vector per party: caller, first seat, linked seat.
    channels: Vec<Vec<i16>>,
    mixed: Vec<i16>,
}

impl Recording {
    /// Reads both files of a finished recording and checks them against the log.
    fn of(service: &Service, incident: u64) -> Recording {
        let timeline = service.timeline(incident);
        let started = entry(&timeline, "recording_started");
        let saved = entry(&timeline, "recording_saved");
        assert_eq!(
            started["details"]["channels"],
            serde_json::json!(["caller", "first_seat", "linked_seat"])
        );
        let files = saved["details"]["files"].as_array().expect("files");
        assert_eq!(files.len(), 2, "{saved}");
        for file in files {
            let path = Path::new(file["path"].as_str().unwrap());
            assert_eq!(
                file["sha256"].as_str().unwrap(),
                sha256_hex(&std::fs::read(path).unwrap()),
                "{} changed after it was logged",
                path.display()
            );
        }
        let (channels, mixed) = read_files(&recording_paths(service, incident));
        let duration_ms = saved["details"]["duration_ms"].as_i64().unwrap();
        assert_eq!(mixed.len() as i64 / 8, duration_ms, "duration in the log");
        Recording {
            start_ms: started["at_ms"].as_i64().unwrap(),
            channels,
            mixed,
        }
    }

    /// Samples from `from_ms` to `to_ms` of wall-clock time.
    fn window<'a>(&self, samples: &'a [i16], from_ms: i64, to_ms: i64) -> &'a [i16] {
        let at = |ms: i64| (((ms - self.start_ms).max(0) * 8) as usize).min(samples.len());
        &samples[at(from_ms)..at(to_ms)]
    }

    /// Each channel carries exactly the tone named for it (None: silence), and the mix
    /// carries all of them, between `from_ms` and `to_ms`.
    fn assert_tones(&self, from_ms: i64, to_ms: i64, expected: [Option<f64>; 3]) {
        for (index, (channel, own)) in self.channels.iter().zip(expected).enumerate() {
            let part = self.window(channel, from_ms, to_ms);
            assert!(
                part.len() > 4000,
                "channel {index} is too short: {}",
                part.len()
            );
            for tone in TONES {
                let p = power(part, tone);
                if Some(tone) == own {
                    assert!(p > PRESENT, "channel {index} lacks its {tone} Hz: {p}");
                } else {
                    assert!(p < ABSENT, "channel {index} carries {tone} Hz: {p}");
                }
            }
        }
        let mixed = self.window(&self.mixed, from_ms, to_ms);
        for tone in TONES {
            let p = power(mixed, tone);
            if expected.contains(&Some(tone)) {
                assert!(p > PRESENT, "the mix lacks {tone} Hz: {p}");
            } else {
                assert!(p < ABSENT, "the mix carries {tone} Hz: {p}");
            }
        }
    }
}

fn entry<'a>(timeline: &'a [serde_json::Value], event: &str) -> &'a serde_json::Value {
    timeline
        .iter()
        .find(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {timeline:?}"))
}

fn recording_paths(service: &Service, incident: u64) -> [PathBuf; 2] {
    let dir = service.dir.path().join("recordings");
    [
        dir.join(format!("12345-{incident:05}.wav")),
        dir.join(format!("12345-{incident:05}-mixed.wav")),
    ]
}

/// The parties' channels and the mix, as `hound` reads them.
fn read_files(paths: &[PathBuf; 2]) -> (Vec<Vec<i16>>, Vec<i16>) {
    let mut parties = hound::WavReader::open(&paths[0]).expect("multichannel file reads");
    let spec = parties.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (3, 8000, 16)
    );
    let samples: Vec<i16> = parties.samples::<i16>().map(Result::unwrap).collect();
    let mut channels = vec![Vec::new(); 3];
    for frame in samples.chunks_exact(3) {
        for (channel, sample) in channels.iter_mut().zip(frame) {
            channel.push(*sample);
        }
    }
    let mut mixed = hound::WavReader::open(&paths[1]).expect("mixed file reads");
    assert_eq!(mixed.spec().channels, 1);
    let mixed: Vec<i16> = mixed.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(mixed.len(), channels[0].len());
    (channels, mixed)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends `seconds` of each party's tone from its socket; returns when the first is sent
/// (wall-clock ms) after all have finished.
fn play(tones: &[(f64, &support::RtpEndpoint, std::net::SocketAddr)], seconds: f64) -> i64 {
    let started = now_ms();
    let senders: Vec<_> = tones
        .iter()
        .map(|(f, endpoint, to)| send_tone(&endpoint.socket, *to, *f, seconds))
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    started
}

#[test]
fn a_three_way_call_is_recorded_party_by_party_and_goes_on_after_star_three() {
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
        .pause_ms(8000)
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("caller answered");
    let at_seat = seat.wait_for_service_rtp(SETUP).expect("seat rung");
    assert!(service.wait_for_log("event=ConferenceStarted", SETUP));
    let at_linked = linked
        .wait_for_service_rtp(SETUP)
        .expect("linked seat rung");

    let all_three = [
        (CALLER_HZ, &caller_rtp, at_caller),
        (SEAT_HZ, &seat_rtp, at_seat),
        (LINKED_HZ, &linked_rtp, at_linked),
    ];
    let conference = play(&all_three, 1.6);
    assert!(
        service.wait_for_log("event=PartyLeft", SETUP),
        "1001 pressed *3: {}",
        service.log_text()
    );
    let after_leave = play(&[all_three[0], all_three[2]], 1.6);

    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    let recording = Recording::of(&service, 1);
    recording.assert_tones(
        conference + 300,
        conference + 1300,
        [Some(CALLER_HZ), Some(SEAT_HZ), Some(LINKED_HZ)],
    );
    recording.assert_tones(
        after_leave + 300,
        after_leave + 1300,
        [Some(CALLER_HZ), None, Some(LINKED_HZ)],
    );
}

#[test]
fn star_zero_leaves_the_linked_seats_channel_silent_and_the_recording_goes_on() {
    let service = Service::start(Options::default());
    let (caller_rtp, seat_rtp, linked_rtp) = (rtp_endpoint(), rtp_endpoint(), rtp_endpoint());
    let seat = keyed_seat(
        &service,
        "1001",
        "seat_keys_info.xml",
        seat_rtp.port(),
        ["*", "1", "*", "0"],
    );
    let linked = sipp_seat(&service, "2001", "seat_answer.xml", linked_rtp.port());
    let pbx = Sipp::client(&service, "pbx_call_wait_bye.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("caller answered");
    let at_seat = seat.wait_for_service_rtp(SETUP).expect("seat rung");
    assert!(service.wait_for_log("event=ConferenceStarted", SETUP));
    let at_linked = linked
        .wait_for_service_rtp(SETUP)
        .expect("linked seat rung");

    let all_three = [
        (CALLER_HZ, &caller_rtp, at_caller),
        (SEAT_HZ, &seat_rtp, at_seat),
        (LINKED_HZ, &linked_rtp, at_linked),
    ];
    let conference = play(&all_three, 1.6);
    assert!(service.wait_for_log("event=TransferCancelled", SETUP));
    // 1001 hangs up itself 1.5 s after *0; the tones fit before that.
    let after_cancel = play(&all_three[..2], 1.2);

    assert!(linked.wait(CALL).success());
    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    let recording = Recording::of(&service, 1);
    recording.assert_tones(
        conference + 300,
        conference + 1300,
        [Some(CALLER_HZ), Some(SEAT_HZ), Some(LINKED_HZ)],
    );
    recording.assert_tones(
        after_cancel + 200,
        after_cancel + 1000,
        [Some(CALLER_HZ), Some(SEAT_HZ), None],
    );
}

#[test]
fn a_phone_transfer_keeps_the_callers_channel_continuous_from_the_first_seat_to_110() {
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

    // The caller talks from before *2 until well after 110 answered.
    let caller_started = now_ms();
    let caller = send_tone(&caller_rtp.socket, at_caller, CALLER_HZ, 3.0);
    assert!(service.wait_for_log("TransferCompleted { mode: PhoneTransfer", SETUP));
    let at_linked = linked.wait_for_service_rtp(SETUP).expect("110 rung");
    let linked_started = play(&[(LINKED_HZ, &linked_rtp, at_linked)], 1.0);
    caller.join().unwrap();

    assert!(seat.wait(CALL).success());
    assert!(pbx.wait(CALL).success());
    assert!(linked.wait(CALL).success());
    let recording = Recording::of(&service, 1);
    let timeline = service.timeline(1);
    let requested = entry(&timeline, "transfer_requested")["at_ms"]
        .as_i64()
        .unwrap();
    let completed = entry(&timeline, "transfer_completed")["at_ms"]
        .as_i64()
        .unwrap();
    assert!(
        caller_started + 200 < requested && completed < caller_started + 2800,
        "the tone spans the transfer: tone from {caller_started}, transfer {requested}..{completed}"
    );
    // Every 100 ms of the caller's channel, across the transfer, carries the caller.
    let mut at = caller_started + 200;
    while at + 100 <= caller_started + 2800 {
        let block = recording.window(&recording.channels[0], at, at + 100);
        let p = power(block, CALLER_HZ);
        assert!(
            p > PRESENT,
            "the caller's channel drops at {} ms: {p}",
            at - caller_started
        );
        at += 100;
    }
    recording.assert_tones(
        linked_started + 200,
        linked_started + 800,
        [Some(CALLER_HZ), None, Some(LINKED_HZ)],
    );
}

#[test]
fn after_sigkill_mid_call_the_recording_reads_back_up_to_a_few_seconds_before() {
    let mut service = Service::start(Options::default());
    let caller_rtp = rtp_endpoint();
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", rtp_endpoint().port());
    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .pause_ms(30_000)
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("answered");
    let tone_started = now_ms();
    let tone = send_tone(&caller_rtp.socket, at_caller, CALLER_HZ, 5.0);
    std::thread::sleep(Duration::from_millis(4000));
    let killed = now_ms();
    service.kill();
    tone.join().unwrap();
    drop(pbx);
    drop(seat);

    let (code, text) = service.command_stdout("audit", &["1", "--json"]);
    assert_eq!(code, 0, "{text}");
    let timeline: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let start_ms = entry(&timeline, "recording_started")["at_ms"]
        .as_i64()
        .unwrap();
    assert!(timeline.iter().all(|e| e["event"] != "recording_saved"));

    let (channels, mixed) = read_files(&recording_paths(&service, 1));
    let kept_until = start_ms + channels[0].len() as i64 / 8;
    assert!(
        kept_until >= killed - 3000,
        "only {} ms before the kill are readable",
        killed - kept_until
    );
    let recording = Recording {
        start_ms,
        channels,
        mixed,
    };
    let tail = recording.window(&recording.channels[0], tone_started + 300, kept_until);
    assert!(tail.len() > 4000);
    assert!(power(tail, CALLER_HZ) > PRESENT);
}

/// A small tmpfs mounted over a folder, so that the disk really fills; unmounted on drop.
/// Mounting needs root, as the CI machine runs the suite.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let options = format!("size={size}");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs at {} failed; this test needs root",
            path.display()
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_stops_the_recording_with_an_error_and_the_call_goes_on() {
    let service = Service::start(Options::default());
    let disk = SmallDisk::mount(&service.dir.path().join("recordings"), "96k");
    let (caller_rtp, seat_rtp) = (rtp_endpoint(), rtp_endpoint());
    let seat = sipp_seat(&service, "1001", "seat_answer.xml", seat_rtp.port());
    let pbx = Sipp::client(&service, "pbx_call_long.xml", "12345")
        .key("rtp_port", &caller_rtp.port().to_string())
        .pause_ms(6000)
        .run();
    let at_caller = pbx.wait_for_service_rtp(SETUP).expect("answered");
    let tone = send_tone(&caller_rtp.socket, at_caller, CALLER_HZ, 5.0);
    assert!(
        service.wait_for_log("recording failed", SETUP),
        "the full disk was never noticed: {}",
        service.log_text()
    );
    let after = seat_rtp.receive(Duration::from_millis(1000));
    assert!(
        after.len() >= 40,
        "the seat still hears the caller once recording failed: {} packets",
        after.len()
    );
    tone.join().unwrap();
    assert!(pbx.wait(CALL).success());
    assert!(seat.wait(CALL).success());

    let timeline = service.timeline(1);
    let failed = entry(&timeline, "recording_failed");
    let reason = failed["details"]["reason"].as_str().unwrap();
    assert!(reason.contains("No space left"), "{reason}");
    let saved = entry(&timeline, "recording_saved");
    assert_eq!(
        saved["details"]["files"].as_array().unwrap().len(),
        2,
        "{saved}"
    );

    // What reached the disk before it filled reads back.
    let [parties, _] = recording_paths(&service, 1);
    let mut reader = hound::WavReader::open(&parties).expect("readable after the disk filled");
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    let caller: Vec<i16> = samples.iter().step_by(3).copied().collect();
    assert!(caller.len() >= 4000, "{} samples kept", caller.len());
    drop(disk);
}
