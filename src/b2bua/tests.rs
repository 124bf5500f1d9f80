//! The engine on a virtual clock: SIP messages in, SIP messages and media commands out.

use std::time::Duration;

use super::*;
use crate::control::{HotlineInfo, SeatInfo};
use crate::sip::digest::{self, Algorithm, Credentials};

const PBX: &str = "127.0.0.1:5080";
const PHONE: &str = "127.0.0.1:5090";

const CALLER_SDP: &str =
    "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

struct Bench {
    engine: Engine,
    now: Instant,
}

fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

impl Bench {
    fn new() -> Self {
        let now = Instant::now();
        let config = EngineConfig {
            sip_addr: "127.0.0.1:5060".parse().unwrap(),
            media_addr: "127.0.0.1".parse().unwrap(),
            rtp_ports: (20000, 20100),
            trunks: vec![TrunkAcl {
                name: "pbx".into(),
                sources: vec![Source::Addr("127.0.0.1".parse().unwrap(), Some(5080))],
            }],
            registrar: RegistrarConfig::default(),
            seat_reach: vec![SeatReach::Registered {
                password: "secret-1001".into(),
            }],
            control: ControlConfig {
                hotlines: vec![HotlineInfo {
                    name: "12345".into(),
                    numbers: vec!["12345".into()],
                    linked: None,
                }],
                seats: vec![SeatInfo {
                    number: "1001".into(),
                    hotline: 0,
                    always_online: false,
                    capacity: 1,
                }],
                ring_timeout: Duration::from_secs(20),
                queue_timeout: Duration::from_secs(60),
                keys: crate::control::KeyMap::default(),
                categories: Vec::new(),
                emergency_mode: crate::control::HandoffMode::ThreeWay,
                record_calls: true,
            },
            secret: [9; 32],
        };
        Self {
            engine: Engine::new(config, now),
            now,
        }
    }

    fn receive(&mut self, from: &str, text: &str) {
        self.engine
            .handle_message(udp(from), text.replace('\n', "\r\n").as_bytes(), self.now);
    }

    /// Everything sent since the last call, as text, with the media commands apart.
    fn sent(&mut self) -> (Vec<(SocketAddr, String)>, Vec<MediaCommand>) {
        let mut messages = Vec::new();
        let mut media = Vec::new();
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Transmit { to, bytes } => {
                    messages.push((to.addr, String::from_utf8(bytes).unwrap()))
                }
                Output::Media(command) => media.push(command),
            }
        }
        (messages, media)
    }

    fn register_seat(&mut self) {
        let register = "REGISTER sip:127.0.0.1 SIP/2.0\n\
            Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-r\n\
            From: <sip:1001@127.0.0.1>;tag=r\nTo: <sip:1001@127.0.0.1>\n\
            Call-ID: reg\nCSeq: 1 REGISTER\nContact: <sip:1001@127.0.0.1:5090>\n\
            Content-Length: 0\n\n";
        self.receive(PHONE, register);
        let (sent, _) = self.sent();
        let nonce = sent[0]
            .1
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let mut credentials = Credentials {
            username: "1001".into(),
            realm: "hotline-bridge".into(),
            nonce,
            uri: "sip:127.0.0.1".into(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("x".into()),
        };
        credentials.response =
            digest::expected_response(Algorithm::Md5, &credentials, "secret-1001", "REGISTER")
                .unwrap();
        let authorized = register.replace("branch=z9hG4bK-r", "branch=z9hG4bK-r2").replace(
            "CSeq: 1 REGISTER\n",
            &format!(
                "CSeq: 2 REGISTER\nAuthorization: Digest username=\"1001\", realm=\"hotline-bridge\", \
                 nonce=\"{}\", uri=\"sip:127.0.0.1\", response=\"{}\", algorithm=MD5, qop=auth, \
                 nc=00000001, cnonce=\"x\"\n",
                credentials.nonce, credentials.response
            ),
        );
        self.receive(PHONE, &authorized);
        let (sent, _) = self.sent();
        assert!(sent[0].1.starts_with("SIP/2.0 200 OK"), "{}", sent[0].1);
    }

    fn invite(&mut self, branch: &str) {
        let invite = format!(
            "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\n\
             Via: SIP/2.0/UDP 127.0.0.1:5080;branch={branch}\n\
             From: <sip:13800000000@127.0.0.1>;tag=pbx\nTo: <sip:12345@127.0.0.1>\n\
             Call-ID: call-1\nCSeq: 1 INVITE\nContact: <sip:13800000000@127.0.0.1:5080>\n\
             Content-Type: application/sdp\nContent-Length: {}\n\n{}",
            CALLER_SDP.len(),
            CALLER_SDP.replace("\r\n", "\n")
        );
        self.receive(PBX, &invite);
    }
}

/// A header's value in a message's text.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in\n{message}"))
}

fn reply(request: &str, status: &str, to_tag: &str, body: &str) -> String {
    let mut text = format!("SIP/2.0 {status}\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        text += &format!("{name}: {}\n", header(request, name));
    }
    text += &format!(
        "To: {};tag={to_tag}\nContact: <sip:1001@127.0.0.1:5090>\n",
        header(request, "To")
    );
    if body.is_empty() {
        text += "Content-Length: 0\n\n";
    } else {
        let wire_length = body.replace('\n', "\r\n").len();
        text += &format!("Content-Type: application/sdp\nContent-Length: {wire_length}\n\n{body}");
    }
    text
}

#[test]
fn a_trunk_call_rings_the_registered_seat_and_connects_both_legs() {
    let mut bench = Bench::new();
    bench.register_seat();
    bench.invite("z9hG4bK-i1");

    let (sent, media) = bench.sent();
    let to_pbx: Vec<_> = sent.iter().filter(|(a, _)| a.to_string() == PBX).collect();
    assert!(to_pbx[0].1.starts_with("SIP/2.0 100 Trying"));
    assert!(to_pbx[1].1.starts_with("SIP/2.0 180 Ringing"));
    let (_, seat_invite) = sent.iter().find(|(a, _)| a.to_string() == PHONE).unwrap();
    assert!(seat_invite.starts_with("INVITE sip:1001@127.0.0.1:5090 SIP/2.0"));
    assert!(
        seat_invite.contains("m=audio 2000"),
        "our own media address, not the caller's"
    );
    assert!(
        seat_invite.contains("RTP/AVP 0 101"),
        "the caller's codec only"
    );
    assert!(matches!(media[0], MediaCommand::Open { .. }));

    let answer = "v=0\no=seat 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 41000 RTP/AVP 0\n";
    bench.receive(PHONE, &reply(seat_invite, "200 OK", "seat", answer));
    let (sent, media) = bench.sent();
    let ack = &sent.iter().find(|(a, _)| a.to_string() == PHONE).unwrap().1;
    assert!(
        ack.starts_with("ACK sip:1001@127.0.0.1:5090 SIP/2.0"),
        "{ack}"
    );
    let ok = &sent.iter().find(|(a, _)| a.to_string() == PBX).unwrap().1;
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
    assert!(ok.contains("RTP/AVP 0 101"));
    assert!(media
        .iter()
        .any(|m| matches!(m, MediaCommand::Bridge { .. })));

    let records: Vec<_> = std::iter::from_fn(|| bench.engine.poll_record())
        .map(|r| r.kind)
        .collect();
    assert!(records.contains(&crate::control::RecordKind::Answered {
        seat: "1001".into()
    }));
}

#[test]
fn the_pbx_cancelling_before_a_seat_responds_cancels_after_its_first_provisional() {
    let mut bench = Bench::new();
    bench.register_seat();
    bench.invite("z9hG4bK-i2");
    let (sent, _) = bench.sent();
    let seat_invite = sent
        .iter()
        .find(|(a, _)| a.to_string() == PHONE)
        .unwrap()
        .1
        .clone();

    bench.receive(
        PBX,
        "CANCEL sip:12345@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-i2\n\
         From: <sip:13800000000@127.0.0.1>;tag=pbx\nTo: <sip:12345@127.0.0.1>\nCall-ID: call-1\n\
         CSeq: 1 CANCEL\nContent-Length: 0\n\n",
    );
    let (sent, _) = bench.sent();
    let to_pbx: Vec<_> = sent
        .iter()
        .map(|(_, m)| m.lines().next().unwrap().to_string())
        .collect();
    assert_eq!(to_pbx, ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]);

    // RFC 3261 §9.1: no CANCEL towards the seat until it has sent a provisional response.
    bench.receive(PHONE, &reply(&seat_invite, "180 Ringing", "seat", ""));
    let (sent, _) = bench.sent();
    assert!(
        sent[0]
            .1
            .starts_with("CANCEL sip:1001@127.0.0.1:5090 SIP/2.0"),
        "{}",
        sent[0].1
    );
    assert_eq!(header(&sent[0].1, "Via"), header(&seat_invite, "Via"));
}

#[test]
fn a_seat_that_never_answers_the_invite_is_given_up_after_timer_b() {
    let mut bench = Bench::new();
    bench.register_seat();
    bench.invite("z9hG4bK-i3");
    bench.sent();

    for _ in 0..70 {
        bench.now += crate::sip::transaction::T1;
        bench.engine.handle_timeout(bench.now);
    }
    let records: Vec<_> = std::iter::from_fn(|| bench.engine.poll_record())
        .map(|r| r.kind)
        .collect();
    assert!(records.contains(&crate::control::RecordKind::SeatFailed {
        seat: "1001".into(),
        failure: crate::control::SeatFailure::NoAnswer
    }));
    assert!(records.contains(&crate::control::RecordKind::Queued));
}

#[test]
fn an_invite_from_outside_the_trunks_is_challenged() {
    let mut bench = Bench::new();
    let invite = "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6666;branch=z9hG4bK-x\n\
        From: <sip:x@127.0.0.1>;tag=x\nTo: <sip:12345@127.0.0.1>\nCall-ID: fraud\nCSeq: 1 INVITE\n\
        Contact: <sip:x@127.0.0.1:6666>\nContent-Length: 0\n\n";
    bench.receive("127.0.0.1:6666", invite);
    let (sent, media) = bench.sent();
    let finals: Vec<_> = sent
        .iter()
        .map(|(_, m)| m.lines().next().unwrap())
        .collect();
    assert_eq!(
        finals,
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 407 Proxy Authentication Required"
        ]
    );
    assert!(media.is_empty());
    assert_eq!(bench.engine.active_incidents(), 0);
}

#[test]
fn a_request_without_call_id_gets_400_naming_it() {
    let mut bench = Bench::new();
    bench.receive(
        PBX,
        "OPTIONS sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-o\n\
         From: <sip:p@127.0.0.1>;tag=o\nTo: <sip:127.0.0.1>\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
    );
    let (sent, _) = bench.sent();
    assert!(sent[0].1.starts_with("SIP/2.0 400 Bad Request"));
    assert!(sent[0]
        .1
        .contains("Warning: 399 hotline-bridge \"missing Call-ID header\""));
}

#[test]
fn an_offer_without_g711_gets_488() {
    let mut bench = Bench::new();
    bench.register_seat();
    let sdp = CALLER_SDP.replace("RTP/AVP 0 101", "RTP/AVP 18");
    let invite = format!(
        "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-g\n\
         From: <sip:1@127.0.0.1>;tag=g\nTo: <sip:12345@127.0.0.1>\nCall-ID: g729\nCSeq: 1 INVITE\n\
         Contact: <sip:1@127.0.0.1:5080>\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        sdp.len(),
        sdp.replace("\r\n", "\n")
    );
    bench.receive(PBX, &invite);
    let (sent, _) = bench.sent();
    assert!(sent
        .iter()
        .any(|(_, m)| m.starts_with("SIP/2.0 488 Not Acceptable Here")));
}
