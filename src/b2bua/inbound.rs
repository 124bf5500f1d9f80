//! Requests that reach the service: registrations, new calls, CANCEL, and requests within a
//! dialog.

use std::time::Instant;

use super::leg::{Leg, LegKind, LegMedia, LegState};
use super::Engine;
use crate::control::Event;
use crate::media::relay::MediaCommand;
use crate::media::sdp::{self, Direction, LocalMedia};
use crate::sip::message::{self, Keys, Method, Request};
use crate::sip::registrar::AuthCheck;
use crate::sip::transaction::Incoming;
use crate::sip::Peer;

/// Methods the service understands, for Allow headers (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, REGISTER";

impl Engine {
    pub(super) fn on_request(&mut self, request: Request, from: Peer, now: Instant) {
        let keys = match message::keys(&request.headers) {
            Ok(keys) => keys,
            Err(error) => {
                self.refuse_malformed(&request, from, &error.to_string());
                return;
            }
        };
        if self.tx.on_request(&request, &keys, from, now) == Incoming::Absorbed {
            return;
        }

        if request.method == Method::Cancel {
            self.on_cancel(&request, &keys, now);
            return;
        }
        if keys.to_tag.is_some() {
            self.on_in_dialog(request, keys, now);
            return;
        }
        match request.method {
            Method::Options => {
                let mut response = message::response_to(&request, 200);
                message::push_header(&mut response.headers, "Allow", ALLOW);
                message::push_header(&mut response.headers, "Accept", "application/sdp");
                self.tx.respond(&request, response, now);
            }
            Method::Register => {
                let response = self.registrar.on_register(&request, from, now);
                self.tx.respond(&request, response, now);
            }
            Method::Invite => self.on_invite(request, keys, from, now),
            Method::Ack => {}
            Method::Bye
            | Method::Info
            | Method::Refer
            | Method::Notify
            | Method::Update
            | Method::PRack => {
                self.respond(&request, 481, now);
            }
            _ => {
                let mut response = message::response_to(&request, 405);
                message::push_header(&mut response.headers, "Allow", ALLOW);
                self.tx.respond(&request, response, now);
            }
        }
    }

    /// A request missing what every request needs gets 400 with the reason in a Warning
    /// header (RFC 3261 §20.43), sent straight back to its source.
    fn refuse_malformed(&mut self, request: &Request, from: Peer, reason: &str) {
        tracing::info!(peer = %from, %reason, "malformed request");
        if request.method == Method::Ack {
            return;
        }
        let mut response = message::response_to(request, 400);
        message::push_header(
            &mut response.headers,
            "Warning",
            format!("399 hotline-bridge \"{}\"", reason.replace('"', "'")),
        );
        self.tx
            .send_stateless(from, &message::SipMessage::Response(response));
    }

    pub(super) fn refuse_with_warning(
        &mut self,
        request: &Request,
        status: u16,
        reason: &str,
        now: Instant,
    ) {
        let mut response = message::response_to(request, status);
        message::push_header(
            &mut response.headers,
            "Warning",
            format!("399 hotline-bridge \"{}\"", reason.replace('"', "'")),
        );
        self.tx.respond(request, response, now);
    }

    fn on_invite(&mut self, request: Request, keys: Keys, from: Peer, now: Instant) {
        let caller = if self.is_trunk(from.addr) {
            message::header(&request.headers, "From")
                .and_then(|v| message::uri_of(v).ok())
                .and_then(|uri| message::target(&uri).ok())
                .and_then(|t| t.user)
                .unwrap_or_else(|| "anonymous".into())
        } else {
            match self.registrar.authenticate(&request, from, true, now) {
                AuthCheck::Authenticated(seat) => seat,
                AuthCheck::Refused(response) => {
                    tracing::info!(peer = %from, "INVITE from outside the trunks refused");
                    self.tx.respond(&request, response, now);
                    return;
                }
            }
        };
        let Some(number) = message::request_user(&request) else {
            self.respond(&request, 404, now);
            return;
        };
        let Some(contact) =
            message::header(&request.headers, "Contact").and_then(|c| message::uri_of(c).ok())
        else {
            self.refuse_with_warning(&request, 400, "missing Contact header", now);
            return;
        };
        let Some(from_uri) = message::header(&request.headers, "From").map(strip_tag) else {
            self.respond(&request, 400, now);
            return;
        };
        let to_uri = message::header(&request.headers, "To")
            .map(strip_tag)
            .unwrap_or_default();

        let offer = if request.body.is_empty() {
            None
        } else {
            match sdp::parse(&request.body) {
                Ok(offer) => Some(offer),
                Err(error) => {
                    self.refuse_with_warning(&request, 400, &error.to_string(), now);
                    return;
                }
            }
        };
        if let Some(offer) = &offer {
            if offer.codecs.is_empty() {
                self.refuse_with_warning(&request, 488, "no codec in common (PCMU, PCMA)", now);
                return;
            }
        }
        let Some(port) = self.ports.allocate() else {
            tracing::warn!("RTP port range exhausted");
            self.respond(&request, 503, now);
            return;
        };

        let id = self.control.allocate_leg();
        let local_tag = self.ident();
        let route_set = message::headers_named(&request.headers, "Record-Route")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|r| r.trim().to_string())
            .collect();
        let leg = Leg {
            id,
            kind: LegKind::Inbound {
                invite: Box::new(request.clone()),
            },
            state: LegState::Early,
            peer: from,
            call_id: keys.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: keys.from_tag.clone(),
            local_uri: to_uri,
            remote_uri: from_uri,
            remote_target: contact,
            route_set,
            local_cseq: 0,
            media: LegMedia {
                port,
                session_id: self.ident_counter,
                version: 1,
                remote: offer.clone(),
                codec: None,
                direction: Direction::SendRecv,
            },
            bridged: None,
            party: caller.clone(),
            refer: None,
        };
        self.legs.insert(id, leg);
        self.dialogs.insert((keys.call_id.clone(), local_tag), id);
        self.invites.insert(keys.branch.clone(), id);
        self.media.push_back(MediaCommand::Open {
            leg: id,
            port,
            seat: false,
        });
        self.sync_media(id);
        tracing::info!(leg = %id, %caller, %number, peer = %from, "call received");
        self.control.handle(
            Event::InboundCall {
                leg: id,
                number,
                caller,
            },
            now,
        );
    }

    /// RFC 3261 §9.2: CANCEL matches the INVITE by branch; a leg not yet answered gets 487.
    fn on_cancel(&mut self, request: &Request, keys: &Keys, now: Instant) {
        let Some(id) = self.invites.get(&keys.branch).copied() else {
            self.respond(request, 481, now);
            return;
        };
        self.respond(request, 200, now);
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if leg.state != LegState::Early {
            return;
        }
        if let LegKind::Inbound { invite } = &leg.kind {
            let invite = invite.clone();
            self.answer_invite(id, &invite, 487, None, now);
        }
        tracing::info!(leg = %id, "caller cancelled");
        self.control.handle(Event::Cancelled { leg: id }, now);
        self.close_leg(id);
    }

    fn on_in_dialog(&mut self, request: Request, keys: Keys, now: Instant) {
        let key = (
            keys.call_id.clone(),
            keys.to_tag.clone().unwrap_or_default(),
        );
        let Some(id) = self.dialogs.get(&key).copied() else {
            if request.method != Method::Ack {
                self.respond(&request, 481, now);
            }
            return;
        };
        match request.method {
            Method::Ack => self.on_ack(id, &request),
            Method::Bye => {
                self.respond(&request, 200, now);
                let ending = self
                    .legs
                    .get(&id)
                    .is_some_and(|l| l.state == LegState::Ending);
                tracing::info!(leg = %id, "BYE received");
                if !ending {
                    self.control.handle(Event::HungUp { leg: id }, now);
                }
                self.close_leg(id);
            }
            Method::Invite => self.on_reinvite(id, &request, now),
            Method::Info => self.on_info(id, &request, now),
            Method::Refer => self.on_refer(id, &request, now),
            Method::Options | Method::Notify => self.respond(&request, 200, now),
            Method::Update | Method::PRack => self.respond(&request, 501, now),
            _ => {
                let mut response = message::response_to(&request, 405);
                message::push_header(&mut response.headers, "Allow", ALLOW);
                self.tx.respond(&request, response, now);
            }
        }
    }

    /// The ACK to our 2xx; after a late offer it carries the caller's answer.
    fn on_ack(&mut self, id: crate::control::LegId, request: &Request) {
        if request.body.is_empty() {
            return;
        }
        let Ok(answer) = sdp::parse(&request.body) else {
            return;
        };
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.media.remote = Some(answer);
            self.sync_media(id);
        }
    }

    /// Hold and resume (RFC 3264 §8.4): answered here at once, and passed to the bridged leg
    /// as a re-INVITE with the same direction, so the other party's phone shows the hold.
    fn on_reinvite(&mut self, id: crate::control::LegId, request: &Request, now: Instant) {
        let offer = if request.body.is_empty() {
            None
        } else {
            match sdp::parse(&request.body) {
                Ok(offer) => Some(offer),
                Err(error) => {
                    self.refuse_with_warning(request, 488, &error.to_string(), now);
                    return;
                }
            }
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if leg.state != LegState::Confirmed {
            self.respond(request, 491, now);
            return;
        }
        let codec = leg.media.codec.unwrap_or(sdp::Codec::Pcmu);
        let offered_direction = offer.as_ref().map(|o| o.direction).unwrap_or_default();
        if let Some(offer) = &offer {
            if !offer.codecs.iter().any(|(c, _)| *c == codec) {
                self.refuse_with_warning(
                    request,
                    488,
                    "the call's codec is missing from the offer",
                    now,
                );
                return;
            }
            leg.media.remote = Some(offer.clone());
        }
        leg.media.version += 1;
        leg.media.direction = offered_direction.answer();
        let local = LocalMedia {
            address: self.config.media_addr,
            port: leg.media.port,
            session_id: leg.media.session_id,
            version: leg.media.version,
            codecs: vec![codec],
            telephone_event: leg.media.remote.as_ref().and_then(|r| r.telephone_event),
            direction: leg.media.direction,
        };
        let bridged = leg.bridged;
        let transport = leg.peer.transport;
        let contact = self.contact(transport);
        let mut response = message::response_to(request, 200);
        message::set_to_tag(&mut response, &self.legs[&id].local_tag);
        message::push_header(&mut response.headers, "Contact", contact);
        message::push_header(&mut response.headers, "Content-Type", "application/sdp");
        response.body = sdp::render(&local).into_bytes();
        self.tx.respond(request, response, now);

        self.sync_media(id);
        if let Some(other) = bridged {
            self.reoffer(other, offered_direction, now);
        }
    }

    /// Answers the caller's INVITE with a final status, and with SDP on a 2xx.
    pub(super) fn answer_invite(
        &mut self,
        id: crate::control::LegId,
        invite: &Request,
        status: u16,
        body: Option<String>,
        now: Instant,
    ) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let mut response = message::response_to(invite, status);
        message::set_to_tag(&mut response, &leg.local_tag);
        if status < 300 {
            message::push_header(
                &mut response.headers,
                "Contact",
                self.contact(leg.peer.transport),
            );
            message::push_header(&mut response.headers, "Allow", ALLOW);
        }
        if let Some(body) = body {
            message::push_header(&mut response.headers, "Content-Type", "application/sdp");
            response.body = body.into_bytes();
        }
        self.tx.respond(invite, response, now);
    }
}

/// A From or To header value without its tag parameter.
fn strip_tag(value: &str) -> String {
    let (head, params) = match value.rfind('>') {
        Some(end) => value.split_at(end + 1),
        None => (value, ""),
    };
    let kept: String = params
        .split(';')
        .filter(|p| !p.trim().is_empty() && !p.trim().to_ascii_lowercase().starts_with("tag="))
        .map(|p| format!(";{}", p.trim()))
        .collect();
    if head.contains('>') {
        format!("{head}{kept}")
    } else {
        // addr-spec form: the tag is the only parameter we add, so cut everything after ';'
        head.split(";tag=").next().unwrap_or(head).to_string()
    }
}
