//! How a seat's phone asks for a handoff: key presses as SIP INFO or RFC 4733 events, and
//! its own transfer button as REFER.

use std::time::Instant;

use super::leg::{LegState, ReferState};
use super::Engine;
use crate::control::{Event, LegId};
use crate::media::dtmf::InfoError;
use crate::sip::message::{self, Request};

impl Engine {
    /// A telephone-event packet from a seat leg, reported by the relay.
    pub(super) fn on_rtp_event(
        &mut self,
        leg: LegId,
        timestamp: u32,
        payload: [u8; 4],
        now: Instant,
    ) {
        self.dtmf
            .entry(leg)
            .or_default()
            .on_rtp_event(timestamp, &payload, now);
        self.deliver_keys(leg, now);
    }

    /// RFC 6086 INFO carrying a key (`application/dtmf-relay` or `application/dtmf`).
    pub(super) fn on_info(&mut self, leg: LegId, request: &Request, now: Instant) {
        let content_type = message::header(&request.headers, "Content-Type").unwrap_or_default();
        if request.body.is_empty() {
            // An empty INFO is a keep-alive probe of the dialog.
            self.respond(request, 200, now);
            return;
        }
        let body = String::from_utf8_lossy(&request.body).to_string();
        let result = self
            .dtmf
            .entry(leg)
            .or_default()
            .on_info(content_type, &body, now);
        match result {
            Ok(()) => self.respond(request, 200, now),
            Err(InfoError::ContentType(_)) => {
                let mut response = message::response_to(request, 415);
                message::push_header(
                    &mut response.headers,
                    "Accept",
                    "application/dtmf-relay, application/dtmf",
                );
                self.tx.respond(request, response, now);
            }
            Err(error) => self.refuse_with_warning(request, 400, &error.to_string(), now),
        }
        self.deliver_keys(leg, now);
    }

    /// Hands counted presses to call control; only seats' keys act.
    fn deliver_keys(&mut self, leg: LegId, now: Instant) {
        let Some(receiver) = self.dtmf.get_mut(&leg) else {
            return;
        };
        let presses: Vec<_> = std::iter::from_fn(|| receiver.poll()).collect();
        if !self.control.is_seat_leg(leg) {
            return;
        }
        for press in presses {
            tracing::info!(%leg, digit = %press.digit, trigger = press.trigger.name(), "key pressed");
            self.control.handle(
                Event::KeyPress {
                    leg,
                    digit: press.digit,
                    trigger: press.trigger,
                },
                now,
            );
        }
    }

    /// RFC 3515 REFER on an established leg: accepted with 202, then carried out by call
    /// control; REFER with Replaces (RFC 3891) names the dialog to join instead of a number.
    pub(super) fn on_refer(&mut self, leg: LegId, request: &Request, now: Instant) {
        let Some(refer_to) = message::header(&request.headers, "Refer-To") else {
            self.refuse_with_warning(request, 400, "missing Refer-To header", now);
            return;
        };
        let (uri, replaces) = split_refer_to(refer_to);
        let subscribed = !message::header(&request.headers, "Refer-Sub")
            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
        let Some(state) = self.legs.get_mut(&leg) else {
            return;
        };
        if state.state != LegState::Confirmed || state.refer.is_some() {
            self.respond(request, 491, now);
            return;
        }
        let cseq = message::keys(&request.headers).map(|k| k.cseq).unwrap_or(1);
        state.refer = Some(ReferState { cseq, subscribed });

        let mut response = message::response_to(request, 202);
        if !subscribed {
            message::push_header(&mut response.headers, "Refer-Sub", "false");
        }
        self.tx.respond(request, response, now);
        tracing::info!(%leg, refer_to = %refer_to, "REFER accepted");

        let event = match replaces {
            Some(replaces) => match self.dialog_of_replaces(&replaces) {
                Some(other) => Event::ReferReplaces {
                    leg,
                    replaces: other,
                },
                None => {
                    self.apply(
                        crate::control::Command::NotifyRefer {
                            leg,
                            status: 481,
                            done: true,
                        },
                        now,
                    );
                    return;
                }
            },
            None => {
                let number = message::target(&uri)
                    .ok()
                    .and_then(|t| t.user)
                    .unwrap_or_default();
                Event::Refer { leg, number }
            }
        };
        self.control.handle(event, now);
    }

    /// Finds our leg for a Replaces value `call-id;to-tag=..;from-tag=..` (RFC 3891 §6.1).
    /// The tags are read from the side of whoever receives the Replaces, so our own tag may
    /// be in either; both are tried.
    fn dialog_of_replaces(&self, replaces: &str) -> Option<LegId> {
        let mut parts = replaces.split(';');
        let call_id = parts.next()?.trim().to_string();
        let mut tags = Vec::new();
        for part in parts {
            if let Some((name, value)) = part.split_once('=') {
                let name = name.trim().to_ascii_lowercase();
                if name == "to-tag" || name == "from-tag" {
                    tags.push(value.trim().to_string());
                }
            }
        }
        tags.into_iter()
            .find_map(|tag| self.dialogs.get(&(call_id.clone(), tag)).copied())
    }
}

/// Splits a Refer-To value into its URI and the unescaped Replaces header parameter.
fn split_refer_to(value: &str) -> (String, Option<String>) {
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.split(';').next().unwrap_or(value),
    };
    let (uri, headers) = match inner.split_once('?') {
        Some((uri, headers)) => (uri, headers),
        None => (inner, ""),
    };
    let replaces = headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        name.eq_ignore_ascii_case("replaces")
            .then(|| unescape(value))
    });
    (uri.trim().to_string(), replaces)
}

/// Percent-decoding for URI header values (RFC 3261 §19.1.2).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_with_replaces_is_split_and_unescaped() {
        let (uri, replaces) = split_refer_to(
            "<sip:2001@127.0.0.1:5060?Replaces=abc%40host%3Bto-tag%3D12%3Bfrom-tag%3D34>",
        );
        assert_eq!(uri, "sip:2001@127.0.0.1:5060");
        assert_eq!(replaces.as_deref(), Some("abc@host;to-tag=12;from-tag=34"));
    }

    #[test]
    fn a_bare_refer_to_has_no_replaces() {
        let (uri, replaces) = split_refer_to("sip:110@127.0.0.1");
        assert_eq!(uri, "sip:110@127.0.0.1");
        assert_eq!(replaces, None);
        assert_eq!(unescape("100%"), "100%");
    }
}
