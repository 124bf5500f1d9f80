//! The DTMF receiver: turns RFC 4733 telephone-events and SIP INFO into key presses, each
//! press counted exactly once.
//!
//! RFC 4733 §2.5.1.3 sends one event as several packets that share an RTP timestamp (start
//! and update packets, then the end packet three times), so a press is counted on the first
//! packet of a timestamp not seen before, whichever packet that is: a lost start, a
//! reordered update or an end-only stream all give one press. A phone that also sends the
//! same press as SIP INFO (`application/dtmf-relay` or `application/dtmf`) gets that copy
//! matched to the RTP one within a short window, and the other way round.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How a key press reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Rfc4733,
    SipInfo,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Rfc4733 => "rfc4733",
            Trigger::SipInfo => "sip-info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPress {
    pub digit: char,
    pub trigger: Trigger,
    pub at: Instant,
}

/// One RFC 4733 §2.3 event report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the 4-byte payload; shorter payloads are not events.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Self {
            event: bytes[0],
            end: bytes[1] & 0x80 != 0,
            volume: bytes[1] & 0x3f,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }

    /// The key of a DTMF event (RFC 4733 §3.2: 0-9, then `*`, `#`, A-D).
    pub fn digit(&self) -> Option<char> {
        digit_of_event(self.event)
    }
}

fn digit_of_event(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("INFO body has no Signal= line")]
    NoSignal,
    #[error("INFO signal {0:?} is not a DTMF key")]
    NotAKey(String),
    #[error("INFO content type {0:?} does not carry DTMF")]
    ContentType(String),
}

/// Reads the key from an INFO body: `Signal=5` lines for `application/dtmf-relay`, the bare
/// key for `application/dtmf`.
pub fn info_digit(content_type: &str, body: &str) -> Result<char, InfoError> {
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let signal = match content_type.as_str() {
        "application/dtmf-relay" => body
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("signal")
                    .then(|| value.trim())
            })
            .ok_or(InfoError::NoSignal)?,
        "application/dtmf" => body.trim(),
        other => return Err(InfoError::ContentType(other.to_string())),
    };
    let key = match signal {
        "10" => Some('*'),
        "11" => Some('#'),
        s if s.len() == 1 => {
            let c = s.chars().next().unwrap_or(' ').to_ascii_uppercase();
            matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
        }
        _ => None,
    };
    key.ok_or_else(|| InfoError::NotAKey(signal.to_string()))
}

/// How long after a press by one method the same key by the other method counts as the same
/// press.
pub const SAME_PRESS_WINDOW: Duration = Duration::from_millis(500);
/// How many recent RTP event timestamps are remembered.
const REMEMBERED: usize = 16;

#[derive(Debug)]
struct SeenEvent {
    timestamp: u32,
    event: u8,
    last: Instant,
    ended: bool,
}

/// How long after its end an event's timestamp stops naming the same press: end packets
/// are repeated within a few tens of milliseconds (RFC 4733 §2.5.1.4), while a recording
/// replayed twice, or a phone that reuses timestamps, sends the same values much later.
const SAME_EVENT_AFTER_END: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Counted {
    digit: char,
    trigger: Trigger,
    at: Instant,
    /// Already paired with a copy from the other method.
    paired: bool,
}

#[derive(Debug, Default)]
pub struct DtmfReceiver {
    /// Recent events by (timestamp, key): when their last packet came and whether it was
    /// an end packet.
    events: VecDeque<SeenEvent>,
    recent: VecDeque<Counted>,
    presses: VecDeque<KeyPress>,
}

impl DtmfReceiver {
    pub fn poll(&mut self) -> Option<KeyPress> {
        self.presses.pop_front()
    }

    /// A telephone-event packet's RTP timestamp and payload.
    pub fn on_rtp_event(&mut self, timestamp: u32, payload: &[u8], now: Instant) {
        let Some(event) = TelephoneEvent::parse(payload) else {
            return;
        };
        let Some(digit) = event.digit() else {
            return;
        };
        let seen = self
            .events
            .iter_mut()
            .find(|e| e.timestamp == timestamp && e.event == event.event);
        if let Some(seen) = seen {
            let new_press =
                seen.ended && now.saturating_duration_since(seen.last) > SAME_EVENT_AFTER_END;
            seen.last = now;
            if !new_press {
                seen.ended |= event.end;
                return;
            }
            seen.ended = event.end;
        } else {
            if self.events.len() == REMEMBERED {
                self.events.pop_front();
            }
            self.events.push_back(SeenEvent {
                timestamp,
                event: event.event,
                last: now,
                ended: event.end,
            });
        }
        self.count(digit, Trigger::Rfc4733, now);
    }

    pub fn on_info(
        &mut self,
        content_type: &str,
        body: &str,
        now: Instant,
    ) -> Result<(), InfoError> {
        let digit = info_digit(content_type, body)?;
        self.count(digit, Trigger::SipInfo, now);
        Ok(())
    }

    fn count(&mut self, digit: char, trigger: Trigger, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|c| now.saturating_duration_since(c.at) > SAME_PRESS_WINDOW)
        {
            self.recent.pop_front();
        }
        let copy = self
            .recent
            .iter_mut()
            .find(|c| !c.paired && c.digit == digit && c.trigger != trigger);
        if let Some(first) = copy {
            first.paired = true;
            return;
        }
        self.recent.push_back(Counted {
            digit,
            trigger,
            at: now,
            paired: false,
        });
        self.presses.push_back(KeyPress {
            digit,
            trigger,
            at: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `*` (event 10), volume 10, as start, update, and end packets.
    const STAR_START: [u8; 4] = [10, 0x0a, 0x00, 0xa0];
    const STAR_UPDATE: [u8; 4] = [10, 0x0a, 0x01, 0x40];
    const STAR_END: [u8; 4] = [10, 0x8a, 0x03, 0x20];
    const ONE_START: [u8; 4] = [1, 0x0a, 0x00, 0xa0];
    const ONE_END: [u8; 4] = [1, 0x8a, 0x03, 0x20];

    fn digits(receiver: &mut DtmfReceiver) -> String {
        std::iter::from_fn(|| receiver.poll())
            .map(|p| p.digit)
            .collect()
    }

    #[test]
    fn one_press_with_repeated_end_packets_counts_once() {
        let now = Instant::now();
        let mut r = DtmfReceiver::default();
        for payload in [STAR_START, STAR_UPDATE, STAR_END, STAR_END, STAR_END] {
            r.on_rtp_event(8000, &payload, now);
        }
        r.on_rtp_event(9600, &ONE_START, now);
        r.on_rtp_event(9600, &ONE_END, now);
        assert_eq!(digits(&mut r), "*1");
    }

    #[test]
    fn a_lost_start_or_an_end_only_stream_still_counts() {
        let now = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_rtp_event(8000, &STAR_UPDATE, now);
        r.on_rtp_event(8000, &STAR_END, now);
        r.on_rtp_event(9600, &ONE_END, now);
        r.on_rtp_event(9600, &ONE_END, now);
        assert_eq!(digits(&mut r), "*1");
    }

    #[test]
    fn reordered_packets_of_two_presses_count_each_once() {
        let now = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_rtp_event(8000, &STAR_UPDATE, now);
        r.on_rtp_event(9600, &ONE_START, now);
        r.on_rtp_event(8000, &STAR_START, now);
        r.on_rtp_event(8000, &STAR_END, now);
        r.on_rtp_event(9600, &ONE_END, now);
        assert_eq!(digits(&mut r), "*1");
    }

    #[test]
    fn a_recording_replayed_later_counts_again() {
        let t0 = Instant::now();
        let mut r = DtmfReceiver::default();
        for _ in 0..2 {
            r.on_rtp_event(8000, &STAR_START, t0);
            r.on_rtp_event(8000, &STAR_END, t0 + Duration::from_millis(60));
        }
        r.on_rtp_event(8000, &STAR_END, t0 + Duration::from_millis(100));
        r.on_rtp_event(8000, &STAR_START, t0 + Duration::from_secs(1));
        r.on_rtp_event(8000, &STAR_END, t0 + Duration::from_millis(1060));
        assert_eq!(digits(&mut r), "**");
    }

    #[test]
    fn the_same_key_pressed_twice_counts_twice() {
        let now = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_rtp_event(8000, &ONE_START, now);
        r.on_rtp_event(8000, &ONE_END, now);
        r.on_rtp_event(12000, &ONE_START, now);
        r.on_rtp_event(12000, &ONE_END, now);
        assert_eq!(digits(&mut r), "11");
    }

    #[test]
    fn info_and_rfc4733_for_the_same_press_count_once_in_either_order() {
        let t0 = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_info("application/dtmf-relay", "Signal=*\r\nDuration=160\r\n", t0)
            .unwrap();
        r.on_rtp_event(8000, &STAR_START, t0 + Duration::from_millis(20));
        r.on_rtp_event(9600, &ONE_START, t0 + Duration::from_millis(300));
        r.on_info("application/dtmf", "1", t0 + Duration::from_millis(310))
            .unwrap();
        let presses: Vec<_> = std::iter::from_fn(|| r.poll()).collect();
        assert_eq!(presses.len(), 2);
        assert_eq!(
            (presses[0].digit, presses[0].trigger),
            ('*', Trigger::SipInfo)
        );
        assert_eq!(
            (presses[1].digit, presses[1].trigger),
            ('1', Trigger::Rfc4733)
        );
    }

    #[test]
    fn info_copies_far_apart_are_separate_presses() {
        let t0 = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_rtp_event(8000, &ONE_START, t0);
        r.on_info("application/dtmf", "1", t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!(digits(&mut r), "11");
    }

    #[test]
    fn info_bodies_are_read_or_refused_with_a_reason() {
        assert_eq!(
            info_digit("application/dtmf-relay", "Signal=10\r\n"),
            Ok('*')
        );
        assert_eq!(
            info_digit("Application/DTMF-Relay; x=1", "Signal= #\r\n"),
            Ok('#')
        );
        assert_eq!(info_digit("application/dtmf", "5"), Ok('5'));
        assert_eq!(
            info_digit("application/dtmf-relay", "Duration=100"),
            Err(InfoError::NoSignal)
        );
        assert!(info_digit("application/dtmf-relay", "Signal=hello").is_err());
        assert!(info_digit("text/plain", "5").is_err());
    }

    #[test]
    fn short_payloads_and_non_dtmf_events_are_ignored() {
        let now = Instant::now();
        let mut r = DtmfReceiver::default();
        r.on_rtp_event(1, &[10, 0x8a], now);
        r.on_rtp_event(2, &[66, 0x8a, 0, 0], now);
        assert_eq!(digits(&mut r), "");
    }
}
