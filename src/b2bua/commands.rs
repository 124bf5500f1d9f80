//! Carrying out call control's commands in SIP and media.

use std::time::Instant;

use super::leg::{Leg, LegKind, LegMedia, LegState};
use super::Engine;
use crate::control::{Command, Event, LegId, SeatId};
use crate::media::relay::MediaCommand;
use crate::media::sdp::{self, Direction, LocalMedia, DEFAULT_TELEPHONE_EVENT};
use crate::sip::message::{self, Method, Request};

impl Engine {
    pub(super) fn apply(&mut self, command: Command, now: Instant) {
        match command {
            Command::Ring { leg } => self.ring(leg, now),
            Command::Dial {
                leg,
                seat,
                offer_from,
            } => self.dial(leg, seat, offer_from, now),
            Command::Answer { leg, peer } => self.answer(leg, peer, now),
            Command::Bridge { a, b } => {
                for (x, y) in [(a, b), (b, a)] {
                    if let Some(leg) = self.legs.get_mut(&x) {
                        leg.bridged = Some(y);
                    }
                }
                self.media.push_back(MediaCommand::Bridge { a, b });
            }
            Command::Reject {
                leg,
                status,
                reason,
            } => {
                if let Some(LegKind::Inbound { invite }) = self.legs.get(&leg).map(|l| &l.kind) {
                    let invite = invite.clone();
                    tracing::info!(%leg, status, reason, "call refused");
                    self.answer_invite(leg, &invite, status, None, now);
                }
                self.close_leg(leg);
            }
            Command::Mix { legs } => {
                for leg in &legs {
                    if let Some(state) = self.legs.get_mut(leg) {
                        state.bridged = None;
                    }
                }
                self.media.push_back(MediaCommand::Mix { legs });
            }
            Command::Ringback { leg } => self.media.push_back(MediaCommand::Ringback { leg }),
            Command::Cancel { leg } => self.cancel(leg, now),
            Command::Hangup { leg } => self.hang_up(leg, now),
            Command::NotifyRefer { leg, status, done } => self.notify_refer(leg, status, done, now),
            Command::RecordStart { incident, files } => self
                .media
                .push_back(MediaCommand::RecordStart { incident, files }),
            Command::RecordParty {
                incident,
                leg,
                channel,
            } => self.media.push_back(MediaCommand::RecordParty {
                incident,
                leg,
                channel,
            }),
            Command::RecordLeave { incident, leg } => self
                .media
                .push_back(MediaCommand::RecordLeave { incident, leg }),
            Command::RecordStop { incident } => {
                self.media.push_back(MediaCommand::RecordStop { incident })
            }
        }
    }

    /// RFC 3515 §2.4.4: reports a REFER's progress as a `message/sipfrag` status line.
    fn notify_refer(&mut self, id: LegId, status: u16, done: bool, now: Instant) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let Some(refer) = leg.refer else {
            return;
        };
        if done {
            leg.refer = None;
        }
        if !refer.subscribed || leg.state != LegState::Confirmed {
            return;
        }
        let state = if done {
            "terminated;reason=noresource".to_string()
        } else {
            "active;expires=60".to_string()
        };
        let headers = [
            ("Event", format!("refer;id={}", refer.cseq)),
            ("Subscription-State", state),
        ];
        let body = format!("SIP/2.0 {status} {}\r\n", message::reason_phrase(status));
        let body = ("message/sipfrag;version=2.0".to_string(), body);
        self.send_in_dialog(id, Method::Notify, &headers, Some(body), now);
    }

    fn ring(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if let LegKind::Inbound { invite } = &leg.kind {
            let mut response = message::response_to(invite, 180);
            message::set_to_tag(&mut response, &leg.local_tag);
            message::push_header(
                &mut response.headers,
                "Contact",
                self.contact(leg.peer.transport),
            );
            let invite = invite.clone();
            self.tx.respond(&invite, response, now);
        }
    }

    /// Places an outbound leg to a seat, offering the caller's codecs.
    fn dial(&mut self, id: LegId, seat: SeatId, offer_from: LegId, now: Instant) {
        let caller_offer = self
            .legs
            .get(&offer_from)
            .and_then(|l| l.media.remote.clone());
        let caller_party = self
            .legs
            .get(&offer_from)
            .map(|l| l.party.clone())
            .unwrap_or_else(|| "anonymous".into());
        let agreed = self.legs.get(&offer_from).and_then(|l| l.media.codec);
        let offered = match agreed {
            Some(codec) => Ok(vec![codec]),
            None => sdp::codecs_to_offer(caller_offer.as_ref()),
        };
        let codecs = match offered {
            Ok(codecs) => codecs,
            Err(_) => {
                self.control.handle(
                    Event::Failed {
                        leg: id,
                        status: 488,
                    },
                    now,
                );
                return;
            }
        };
        let Some((target, peer)) = self.seat_target(seat) else {
            tracing::info!(leg = %id, "seat has no reachable contact");
            self.control.handle(
                Event::Failed {
                    leg: id,
                    status: 480,
                },
                now,
            );
            return;
        };
        let Some(port) = self.ports.allocate() else {
            tracing::warn!("RTP port range exhausted");
            self.control.handle(
                Event::Failed {
                    leg: id,
                    status: 503,
                },
                now,
            );
            return;
        };
        let Ok(mut request) = message::new_request(Method::Invite, &target) else {
            self.ports.release(port);
            self.control.handle(
                Event::Failed {
                    leg: id,
                    status: 416,
                },
                now,
            );
            return;
        };

        let seat_number = self.control.seat_info(seat).number.clone();
        let host = self.config.sip_addr;
        let local_uri = format!("\"{caller_party}\" <sip:{caller_party}@{host}>");
        let remote_uri = format!("<sip:{seat_number}@{host}>");
        let local_tag = self.ident();
        let call_id = format!("{}@hotline-bridge", self.ident());
        let via = self.via(peer.transport);
        let media = LegMedia {
            port,
            session_id: self.ident_counter,
            version: 1,
            remote: None,
            codec: None,
            direction: Direction::SendRecv,
        };
        let offer = LocalMedia {
            address: self.config.media_addr,
            port,
            session_id: media.session_id,
            version: media.version,
            codecs,
            telephone_event: Some(DEFAULT_TELEPHONE_EVENT),
            direction: Direction::SendRecv,
        };

        let h = &mut request.headers;
        message::push_header(h, "Via", via);
        message::push_header(h, "Max-Forwards", "70");
        message::push_header(h, "From", message::with_tag(&local_uri, &local_tag));
        message::push_header(h, "To", remote_uri.clone());
        message::push_header(h, "Call-ID", call_id.clone());
        message::push_header(h, "CSeq", "1 INVITE");
        message::push_header(h, "Contact", self.contact(peer.transport));
        message::push_header(h, "Allow", super::inbound::ALLOW);
        message::push_header(h, "Content-Type", "application/sdp");
        request.body = sdp::render(&offer).into_bytes();

        let tx = self.tx.send_request(request.clone(), peer, now);
        self.client_txs.insert(tx, (id, Method::Invite));
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), id);
        self.legs.insert(
            id,
            Leg {
                id,
                kind: LegKind::Outbound {
                    invite: Box::new(request),
                    tx,
                    provisional: false,
                    cancel_pending: false,
                },
                state: LegState::Early,
                peer,
                call_id,
                local_tag,
                remote_tag: None,
                local_uri,
                remote_uri,
                remote_target: target,
                route_set: Vec::new(),
                local_cseq: 1,
                media,
                bridged: None,
                party: seat_number.clone(),
                refer: None,
            },
        );
        self.media.push_back(MediaCommand::Open {
            leg: id,
            port,
            seat: true,
        });
        tracing::info!(leg = %id, seat = %seat_number, to = %peer, "ringing seat");
    }

    /// Answers the caller with the codec the seat chose.
    fn answer(&mut self, id: LegId, peer: LegId, now: Instant) {
        let Some(codec) = self.legs.get(&peer).and_then(|l| l.media.codec) else {
            return;
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let LegKind::Inbound { invite } = &leg.kind else {
            return;
        };
        let invite = invite.clone();
        leg.state = LegState::Confirmed;
        leg.media.codec = Some(codec);
        // With a caller offer, answer its telephone-event payload type; after a late offer,
        // offer our own and learn the caller's from the ACK.
        let telephone_event = match &leg.media.remote {
            Some(offer) => offer.telephone_event,
            None => Some(DEFAULT_TELEPHONE_EVENT),
        };
        let local = LocalMedia {
            address: self.config.media_addr,
            port: leg.media.port,
            session_id: leg.media.session_id,
            version: leg.media.version,
            codecs: vec![codec],
            telephone_event,
            direction: Direction::SendRecv,
        };
        tracing::info!(leg = %id, codec = codec.name(), "caller answered");
        self.answer_invite(id, &invite, 200, Some(sdp::render(&local)), now);
        self.sync_media(id);
    }

    fn cancel(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        match (&mut leg.kind, leg.state) {
            (
                LegKind::Outbound {
                    provisional,
                    cancel_pending,
                    ..
                },
                LegState::Early,
            ) => {
                leg.state = LegState::Ending;
                if *provisional {
                    self.send_cancel(id, now);
                } else {
                    // RFC 3261 §9.1: no CANCEL before a provisional response.
                    *cancel_pending = true;
                }
            }
            (_, LegState::Confirmed) => self.send_bye(id, now),
            _ => {}
        }
    }

    pub(super) fn send_cancel(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let LegKind::Outbound { invite, .. } = &leg.kind else {
            return;
        };
        let cancel = cancel_for(invite);
        let tx = self.tx.send_request(cancel, leg.peer, now);
        self.client_txs.insert(tx, (id, Method::Cancel));
    }

    fn hang_up(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        match (leg.state, leg.is_inbound()) {
            (LegState::Confirmed, _) => self.send_bye(id, now),
            (LegState::Early, false) => self.cancel(id, now),
            (LegState::Early, true) => {
                if let LegKind::Inbound { invite } = &leg.kind {
                    let invite = invite.clone();
                    self.answer_invite(id, &invite, 480, None, now);
                }
                self.close_leg(id);
            }
            (LegState::Ending, _) => {}
        }
    }

    /// Passes a hold or resume to a leg as a re-INVITE with the given direction.
    pub(super) fn reoffer(&mut self, id: LegId, direction: Direction, now: Instant) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if leg.state != LegState::Confirmed {
            return;
        }
        let Some(codec) = leg.media.codec else {
            return;
        };
        leg.media.version += 1;
        leg.media.direction = direction;
        let local = LocalMedia {
            address: self.config.media_addr,
            port: leg.media.port,
            session_id: leg.media.session_id,
            version: leg.media.version,
            codecs: vec![codec],
            telephone_event: leg.media.remote.as_ref().and_then(|r| r.telephone_event),
            direction,
        };
        let body = ("application/sdp".to_string(), sdp::render(&local));
        self.send_in_dialog(id, Method::Invite, &[], Some(body), now);
    }
}

/// RFC 3261 §9.1: CANCEL copies the INVITE's Request-URI, top Via, From, To, Call-ID and
/// CSeq number.
fn cancel_for(invite: &Request) -> Request {
    let mut cancel = invite.clone();
    cancel.method = Method::Cancel;
    cancel.body.clear();
    let keep = ["Via", "From", "To", "Call-ID", "Max-Forwards", "Route"];
    cancel
        .headers
        .retain(|h| keep.iter().any(|k| h.name().eq_ignore_ascii_case(k)));
    if let Ok(keys) = message::keys(&invite.headers) {
        message::push_header(&mut cancel.headers, "CSeq", format!("{} CANCEL", keys.cseq));
    }
    cancel
}
