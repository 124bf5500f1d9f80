//! Time from the end of a transfer key press to the INVITE towards the linked seat, in the
//! engine: the INFO carrying the last key is parsed, matched to its dialog, counted by the
//! DTMF receiver, turned into a three-way action by call control, and the INVITE for the
//! 110 seat is built and queued for sending. Socket time is not included.
//!
//!     cargo bench --bench key_latency
//!
//! Prints the median, 99th percentile and maximum over 10,000 presses, each on a fresh call.

use std::time::{Duration, Instant};

use hotline_bridge::b2bua::{Engine, EngineConfig, Output, SeatReach, Source, TrunkAcl};
use hotline_bridge::control::{ControlConfig, HandoffMode, HotlineInfo, KeyMap, SeatInfo};
use hotline_bridge::sip::registrar::RegistrarConfig;
use hotline_bridge::sip::{Peer, Transport};

const PBX: &str = "127.0.0.1:5080";
const SEAT: &str = "127.0.0.1:5090";

fn config() -> EngineConfig {
    let seat = |number: &str, hotline| SeatInfo {
        number: number.into(),
        hotline,
        always_online: true,
        capacity: 1,
    };
    EngineConfig {
        sip_addr: "127.0.0.1:5060".parse().unwrap(),
        media_addr: "127.0.0.1".parse().unwrap(),
        rtp_ports: (20000, 20100),
        trunks: vec![TrunkAcl {
            name: "pbx".into(),
            sources: vec![Source::Addr("127.0.0.1".parse().unwrap(), Some(5080))],
        }],
        registrar: RegistrarConfig::default(),
        seat_reach: vec![
            SeatReach::Fixed {
                uri: format!("sip:1001@{SEAT}"),
            },
            SeatReach::Fixed {
                uri: "sip:2001@127.0.0.1:5091".into(),
            },
        ],
        control: ControlConfig {
            hotlines: vec![
                HotlineInfo {
                    name: "12345".into(),
                    numbers: vec!["12345".into()],
                    linked: Some(1),
                },
                HotlineInfo {
                    name: "110".into(),
                    numbers: vec!["110".into()],
                    linked: Some(0),
                },
            ],
            seats: vec![seat("1001", 0), seat("2001", 1)],
            ring_timeout: Duration::from_secs(20),
            queue_timeout: Duration::from_secs(60),
            keys: KeyMap::default(),
            categories: Vec::new(),
            emergency_mode: HandoffMode::ThreeWay,
            record_calls: true,
        },
        secret: [5; 32],
    }
}

fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .trim_end_matches('\r')
}

/// Everything the engine sent to `to`, as text.
fn sent_to(engine: &mut Engine, to: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(output) = engine.poll_output() {
        if let Output::Transmit { to: peer, bytes } = output {
            if peer.addr.to_string() == to {
                out.push(String::from_utf8(bytes).unwrap());
            }
        }
    }
    out
}

/// A new engine with a caller talking to seat 1001; returns the INFO template for 1001's
/// dialog (with `{KEY}` and `{CSEQ}` to fill in).
fn connected(now: Instant) -> (Engine, String) {
    let mut engine = Engine::new(config(), now);
    let sdp = "v=0\no=pbx 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n";
    let invite = format!(
        "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK-b1\n\
         From: <sip:13800000000@127.0.0.1>;tag=pbx\nTo: <sip:12345@127.0.0.1>\nCall-ID: bench\n\
         CSeq: 1 INVITE\nContact: <sip:13800000000@{PBX}>\nContent-Type: application/sdp\n\
         Content-Length: {}\n\n{sdp}",
        sdp.replace('\n', "\r\n").len()
    );
    engine.handle_message(udp(PBX), &crlf(&invite), now);
    let seat_invite = sent_to(&mut engine, SEAT).remove(0);
    let answer = "v=0\no=seat 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 41000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n";
    let ok = format!(
        "SIP/2.0 200 OK\nVia: {}\nFrom: {}\nTo: {};tag=seat\nCall-ID: {}\nCSeq: 1 INVITE\n\
         Contact: <sip:1001@{SEAT}>\nContent-Type: application/sdp\nContent-Length: {}\n\n{answer}",
        header(&seat_invite, "Via"),
        header(&seat_invite, "From"),
        header(&seat_invite, "To"),
        header(&seat_invite, "Call-ID"),
        answer.replace('\n', "\r\n").len()
    );
    engine.handle_message(udp(SEAT), &crlf(&ok), now);
    let info = format!(
        "INFO sip:hotline-bridge@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bK-i{{CSEQ}}\n\
         From: {};tag=seat\nTo: {}\nCall-ID: {}\nCSeq: {{CSEQ}} INFO\n\
         Content-Type: application/dtmf-relay\nContent-Length: 10\n\nSignal={{KEY}}\n",
        header(&seat_invite, "To"),
        header(&seat_invite, "From"),
        header(&seat_invite, "Call-ID"),
    );
    sent_to(&mut engine, SEAT);
    (engine, info)
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` this runs as a quick check.
    let benching = std::env::args().any(|a| a == "--bench");
    let presses = if benching { 10_000 } else { 100 };
    let mut times = Vec::with_capacity(presses);
    let start = Instant::now();
    for n in 0..presses {
        let now = start + Duration::from_secs(n as u64 * 10);
        let (mut engine, info) = connected(now);
        let star = crlf(&info.replace("{CSEQ}", "2").replace("{KEY}", "*"));
        engine.handle_message(udp(SEAT), &star, now);
        sent_to(&mut engine, SEAT);
        let one = crlf(&info.replace("{CSEQ}", "3").replace("{KEY}", "1"));

        let began = Instant::now();
        engine.handle_message(udp(SEAT), &one, now);
        let invite = sent_to(&mut engine, "127.0.0.1:5091");
        let took = began.elapsed();

        assert!(
            invite.iter().any(|m| m.starts_with("INVITE sip:2001@")),
            "no INVITE to the linked seat"
        );
        times.push(took);
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "key press to INVITE, {presses} presses: median {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        times[times.len() - 1]
    );
}
