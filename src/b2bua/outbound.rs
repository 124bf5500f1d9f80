//! Responses to the requests the service sent: a seat ringing, answering or refusing, and
//! the ends of CANCEL, BYE and re-INVITE.

use std::time::Instant;

use super::leg::{LegKind, LegState};
use super::Engine;
use crate::control::{Event, LegId};
use crate::media::sdp;
use crate::sip::message::{self, Method, Response, SipMessage};
use crate::sip::transaction::ClientTx;

impl Engine {
    pub(super) fn on_response(&mut self, response: Response, now: Instant) {
        let Ok(keys) = message::keys(&response.headers) else {
            tracing::debug!("dropping a response without usable Via, Call-ID or CSeq");
            return;
        };
        let Some(tx) = self.tx.on_response(&response, &keys, now) else {
            return;
        };
        let Some((leg, method)) = self.client_txs.get(&tx).copied() else {
            return;
        };
        let status = message::status(&response);
        match method {
            Method::Invite => {
                let initial = matches!(
                    self.legs.get(&leg).map(|l| &l.kind),
                    Some(LegKind::Outbound { tx: first, .. }) if *first == tx
                );
                if initial {
                    self.on_invite_response(leg, &response, status, now);
                } else if (200..300).contains(&status) {
                    // A re-INVITE we sent was answered: acknowledge it.
                    self.ack_2xx(leg, &response);
                }
            }
            Method::Bye if status >= 200 => self.close_leg(leg),
            _ => {}
        }
        if status >= 200 && method != Method::Invite {
            self.client_txs.remove(&tx);
        }
    }

    fn on_invite_response(&mut self, id: LegId, response: &Response, status: u16, now: Instant) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let LegKind::Outbound {
            provisional,
            cancel_pending,
            ..
        } = &mut leg.kind
        else {
            return;
        };

        if status < 200 {
            *provisional = true;
            if std::mem::take(cancel_pending) {
                self.send_cancel(id, now);
            } else if status > 100 {
                self.control.handle(Event::Progress { leg: id }, now);
            }
            return;
        }

        if status >= 300 {
            tracing::info!(leg = %id, status, "seat did not take the call");
            let was_ending = leg.state == LegState::Ending;
            self.close_leg(id);
            if !was_ending {
                self.control.handle(Event::Failed { leg: id, status }, now);
            }
            return;
        }

        // 2xx: the dialog is confirmed (RFC 3261 §13.2.2.4). A retransmitted 2xx only needs
        // the ACK again.
        if leg.state == LegState::Confirmed {
            self.ack_2xx(id, response);
            return;
        }
        let was_ending = leg.state == LegState::Ending;
        leg.remote_tag = message::keys(&response.headers).ok().and_then(|k| k.to_tag);
        if let Some(contact) =
            message::header(&response.headers, "Contact").and_then(|c| message::uri_of(c).ok())
        {
            leg.remote_target = contact;
        }
        leg.route_set = message::headers_named(&response.headers, "Record-Route")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|r| r.trim().to_string())
            .rev()
            .collect();
        leg.state = LegState::Confirmed;

        let answer = sdp::parse(&response.body).ok();
        let codec = answer.as_ref().and_then(|a| a.preferred()).map(|(c, _)| c);
        leg.media.codec = codec;
        leg.media.remote = answer;
        self.sync_media(id);
        self.ack_2xx(id, response);

        if was_ending {
            // CANCEL crossed the 2xx: the seat answered a call that is gone.
            self.send_bye(id, now);
            return;
        }
        if codec.is_none() {
            tracing::info!(leg = %id, "seat answered without a usable codec");
            self.send_bye(id, now);
            self.control.handle(
                Event::Failed {
                    leg: id,
                    status: 488,
                },
                now,
            );
            return;
        }
        tracing::info!(leg = %id, "seat answered");
        self.control.handle(Event::Answered { leg: id }, now);
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx is a request of its own, with a new branch,
    /// sent along the route set to the remote target.
    fn ack_2xx(&mut self, id: LegId, response: &Response) {
        let Some(cseq) = message::keys(&response.headers).ok().map(|k| k.cseq) else {
            return;
        };
        let via = match self.legs.get(&id) {
            Some(leg) => self.via(leg.peer.transport),
            None => return,
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let Ok(mut ack) = message::new_request(Method::Ack, &leg.remote_target) else {
            return;
        };
        let h = &mut ack.headers;
        message::push_header(h, "Via", via);
        message::push_header(h, "Max-Forwards", "70");
        for route in &leg.route_set {
            message::push_header(h, "Route", route.clone());
        }
        message::push_header(h, "From", message::with_tag(&leg.local_uri, &leg.local_tag));
        let to = message::header(&response.headers, "To")
            .unwrap_or_default()
            .to_string();
        message::push_header(h, "To", to);
        message::push_header(h, "Call-ID", leg.call_id.clone());
        message::push_header(h, "CSeq", format!("{cseq} ACK"));
        let peer = super::next_hop(leg);
        self.tx.send_stateless(peer, &SipMessage::Request(ack));
    }

    pub(super) fn on_client_timeout(&mut self, tx: ClientTx, now: Instant) {
        let Some((id, method)) = self.client_txs.remove(&tx) else {
            return;
        };
        match method {
            Method::Invite => {
                let Some(leg) = self.legs.get(&id) else {
                    return;
                };
                let initial =
                    matches!(&leg.kind, LegKind::Outbound { tx: first, .. } if *first == tx);
                if initial && leg.state != LegState::Confirmed {
                    let was_ending = leg.state == LegState::Ending;
                    tracing::info!(leg = %id, "seat did not respond");
                    self.close_leg(id);
                    if !was_ending {
                        self.control.handle(
                            Event::Failed {
                                leg: id,
                                status: 408,
                            },
                            now,
                        );
                    }
                } else if !initial {
                    // RFC 3261 §14.1: a re-INVITE that times out ends the dialog.
                    self.send_bye(id, now);
                    self.control.handle(Event::HungUp { leg: id }, now);
                }
            }
            Method::Bye => self.close_leg(id),
            _ => {}
        }
    }
}
