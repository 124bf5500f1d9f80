//! The four transaction machines of RFC 3261 §17, sans-IO.
//!
//! Requests and responses go in with the time; bytes to send and transaction events come
//! out. Retransmissions over UDP, absorbing retransmitted requests, the ACK for a non-2xx
//! final response and the timeouts all live here, so the layer above sees each request and
//! each response once. The 2xx to an INVITE is retransmitted here too until its ACK arrives
//! (RFC 3261 §13.3.1.4, with the Accepted state of RFC 6026).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::message::{self, Keys, Method, Request, Response, SipMessage};
use super::Peer;
use crate::timer::TimerTable;

/// RFC 3261 §17.1.1.1: round-trip estimate, retransmit cap, and how long the network keeps
/// a message.
pub const T1: Duration = Duration::from_millis(500);
pub const T2: Duration = Duration::from_secs(4);
pub const T4: Duration = Duration::from_secs(5);

/// A client transaction, as the layer above knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTx(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ServerTx(u64);

/// What a received request means for the layer above.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A new request: handle it and respond with [`Transactions::respond`].
    New,
    /// A retransmission or an ACK for a non-2xx response: already dealt with.
    Absorbed,
}

/// What the transaction layer reports on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A client transaction got no final response in time (Timer B or F): act as on 408.
    Timeout { tx: ClientTx },
    /// A 2xx to an INVITE was never acknowledged (RFC 3261 §13.3.1.4): end the dialog.
    NoAck { call_id: String, cseq: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    /// A, E or G: send again.
    Retransmit,
    /// B, F, H, L or M: give up, or stop waiting.
    Timeout,
    /// D, J or K: stop absorbing retransmissions.
    Linger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TimerKey {
    Server(ServerTx, Timer),
    Client(ClientTx, Timer),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MatchKey {
    branch: String,
    sent_by: String,
    /// ACK matches its INVITE; CANCEL has a transaction of its own (RFC 3261 §17.2.3).
    method: Method,
}

#[derive(Debug, PartialEq, Eq)]
enum ServerState {
    Proceeding,
    /// Final non-2xx sent; waiting for the ACK.
    Completed,
    /// ACK received; absorbing stragglers.
    Confirmed,
    /// 2xx to an INVITE sent; retransmitting it until the ACK.
    Accepted,
}

struct ServerEntry {
    key: MatchKey,
    peer: Peer,
    invite: bool,
    state: ServerState,
    last_response: Option<Vec<u8>>,
    interval: Duration,
    call_id: String,
    cseq: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum ClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

struct ClientEntry {
    request: Request,
    bytes: Vec<u8>,
    peer: Peer,
    invite: bool,
    state: ClientState,
    interval: Duration,
    /// The ACK sent for a non-2xx final response, resent if that response is.
    ack: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct Transactions {
    servers: HashMap<ServerTx, ServerEntry>,
    server_index: HashMap<MatchKey, ServerTx>,
    /// INVITE transactions whose 2xx waits for its ACK, by Call-ID and CSeq: the ACK for a
    /// 2xx has a branch of its own, so it is found here rather than by branch.
    accepted_index: HashMap<(String, u32), ServerTx>,
    clients: HashMap<ClientTx, ClientEntry>,
    client_index: HashMap<(String, Method), ClientTx>,
    timers: TimerTable<TimerKey>,
    next_id: u64,
    transmit: VecDeque<(Peer, Vec<u8>)>,
    events: VecDeque<TxEvent>,
}

impl Transactions {
    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a message outside any transaction: an ACK for a 2xx, or a stateless reply.
    pub fn send_stateless(&mut self, peer: Peer, message: &SipMessage) {
        self.transmit.push_back((peer, message::encode(message)));
    }

    pub fn on_request(
        &mut self,
        request: &Request,
        keys: &Keys,
        peer: Peer,
        now: Instant,
    ) -> Incoming {
        let method = match request.method {
            Method::Ack => Method::Invite,
            other => other,
        };
        let key = MatchKey {
            branch: keys.branch.clone(),
            sent_by: keys.sent_by.clone(),
            method,
        };

        if let Some(id) = self.server_index.get(&key).copied() {
            let entry = self.servers.get_mut(&id).expect("indexed transaction");
            if request.method == Method::Ack {
                if entry.state == ServerState::Completed {
                    entry.state = ServerState::Confirmed;
                    self.timers.cancel(&TimerKey::Server(id, Timer::Retransmit));
                    self.timers.cancel(&TimerKey::Server(id, Timer::Timeout));
                    let linger = if peer.transport.reliable() {
                        Duration::ZERO
                    } else {
                        T4
                    };
                    self.timers
                        .set(TimerKey::Server(id, Timer::Linger), now + linger);
                }
                // An ACK with the INVITE's branch for a 2xx is a new request for the dialog
                // layer (RFC 2543 clients reuse the branch).
                if entry.state == ServerState::Accepted {
                    self.ack_accepted(&keys.call_id, keys.cseq);
                    return Incoming::New;
                }
                return Incoming::Absorbed;
            }
            if let Some(bytes) = entry.last_response.clone() {
                self.transmit.push_back((entry.peer, bytes));
            }
            return Incoming::Absorbed;
        }

        if request.method == Method::Ack {
            self.ack_accepted(&keys.call_id, keys.cseq);
            return Incoming::New;
        }

        self.next_id += 1;
        let id = ServerTx(self.next_id);
        let invite = request.method == Method::Invite;
        self.server_index.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerEntry {
                key,
                peer,
                invite,
                state: ServerState::Proceeding,
                last_response: None,
                interval: T1,
                call_id: keys.call_id.clone(),
                cseq: keys.cseq,
            },
        );
        if invite {
            // RFC 3261 §17.2.1: a 100 stops the client's retransmissions at once.
            self.respond(request, message::response_to(request, 100), now);
        }
        Incoming::New
    }

    /// Stops retransmitting the 2xx that this ACK acknowledges.
    fn ack_accepted(&mut self, call_id: &str, cseq: u32) {
        if let Some(id) = self.accepted_index.get(&(call_id.to_string(), cseq)) {
            self.timers
                .cancel(&TimerKey::Server(*id, Timer::Retransmit));
        }
    }

    /// Sends a response within the server transaction of `request`.
    pub fn respond(&mut self, request: &Request, response: Response, now: Instant) {
        let Ok(keys) = message::keys(&request.headers) else {
            return;
        };
        let method = match request.method {
            Method::Ack => Method::Invite,
            other => other,
        };
        let key = MatchKey {
            branch: keys.branch,
            sent_by: keys.sent_by,
            method,
        };
        let Some(id) = self.server_index.get(&key).copied() else {
            return;
        };
        let entry = self.servers.get_mut(&id).expect("indexed transaction");
        if entry.state != ServerState::Proceeding {
            return;
        }
        let status = message::status(&response);
        let bytes = message::encode(&SipMessage::Response(response));
        self.transmit.push_back((entry.peer, bytes.clone()));
        entry.last_response = Some(bytes);
        if status < 200 {
            return;
        }

        let reliable = entry.peer.transport.reliable();
        if entry.invite {
            entry.state = if status < 300 {
                ServerState::Accepted
            } else {
                ServerState::Completed
            };
            if status < 300 {
                self.accepted_index
                    .insert((entry.call_id.clone(), entry.cseq), id);
            }
            if !reliable || status < 300 {
                // Over TCP only the 2xx is still retransmitted (RFC 3261 §13.3.1.4).
                self.timers
                    .set(TimerKey::Server(id, Timer::Retransmit), now + T1);
            }
            self.timers
                .set(TimerKey::Server(id, Timer::Timeout), now + 64 * T1);
        } else {
            entry.state = ServerState::Completed;
            let linger = if reliable { Duration::ZERO } else { 64 * T1 };
            self.timers
                .set(TimerKey::Server(id, Timer::Linger), now + linger);
        }
    }

    /// Starts a client transaction for `request` towards `peer`.
    pub fn send_request(&mut self, request: Request, peer: Peer, now: Instant) -> ClientTx {
        self.next_id += 1;
        let id = ClientTx(self.next_id);
        let invite = request.method == Method::Invite;
        let branch = message::keys(&request.headers)
            .map(|k| k.branch)
            .unwrap_or_default();
        self.client_index.insert((branch, request.method), id);
        let bytes = message::encode(&SipMessage::Request(request.clone()));
        self.transmit.push_back((peer, bytes.clone()));
        if !peer.transport.reliable() {
            self.timers
                .set(TimerKey::Client(id, Timer::Retransmit), now + T1);
        }
        self.timers
            .set(TimerKey::Client(id, Timer::Timeout), now + 64 * T1);
        self.clients.insert(
            id,
            ClientEntry {
                request,
                bytes,
                peer,
                invite,
                state: ClientState::Calling,
                interval: T1,
                ack: None,
            },
        );
        id
    }

    /// Matches a response to its client transaction. Returns the transaction when the layer
    /// above should see the response; retransmitted non-2xx finals are absorbed.
    pub fn on_response(
        &mut self,
        response: &Response,
        keys: &Keys,
        now: Instant,
    ) -> Option<ClientTx> {
        let id = *self
            .client_index
            .get(&(keys.branch.clone(), keys.cseq_method))?;
        let entry = self.clients.get_mut(&id)?;
        let status = message::status(response);
        let reliable = entry.peer.transport.reliable();

        match entry.state {
            ClientState::Completed => {
                if let Some(ack) = entry.ack.clone() {
                    self.transmit.push_back((entry.peer, ack));
                }
                return None;
            }
            ClientState::Accepted => {
                return (200..300).contains(&status).then_some(id);
            }
            ClientState::Calling | ClientState::Proceeding => {}
        }

        if status < 200 {
            entry.state = ClientState::Proceeding;
            if entry.invite {
                self.timers.cancel(&TimerKey::Client(id, Timer::Retransmit));
            } else if !reliable {
                // Timer E keeps running at T2 in Proceeding (RFC 3261 §17.1.2.2).
                entry.interval = T2;
            }
            return Some(id);
        }

        self.timers.cancel(&TimerKey::Client(id, Timer::Retransmit));
        self.timers.cancel(&TimerKey::Client(id, Timer::Timeout));
        if entry.invite && status < 300 {
            entry.state = ClientState::Accepted;
            self.timers
                .set(TimerKey::Client(id, Timer::Linger), now + 64 * T1);
            return Some(id);
        }
        entry.state = ClientState::Completed;
        if entry.invite {
            let ack = non_2xx_ack(&entry.request, response);
            let bytes = message::encode(&SipMessage::Request(ack));
            self.transmit.push_back((entry.peer, bytes.clone()));
            entry.ack = Some(bytes);
        }
        let linger = match (reliable, entry.invite) {
            (true, _) => Duration::ZERO,
            (false, true) => Duration::from_secs(32),
            (false, false) => T4,
        };
        self.timers
            .set(TimerKey::Client(id, Timer::Linger), now + linger);
        Some(id)
    }

    /// The request that started a client transaction, while it lasts.
    pub fn client_request(&self, tx: ClientTx) -> Option<&Request> {
        self.clients.get(&tx).map(|e| &e.request)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Server(id, timer) => self.server_timer(id, timer, now),
                TimerKey::Client(id, timer) => self.client_timer(id, timer, now),
            }
        }
    }

    fn server_timer(&mut self, id: ServerTx, timer: Timer, now: Instant) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        match timer {
            Timer::Retransmit => {
                if let Some(bytes) = entry.last_response.clone() {
                    self.transmit.push_back((entry.peer, bytes));
                }
                entry.interval = (entry.interval * 2).min(T2);
                self.timers.set(
                    TimerKey::Server(id, Timer::Retransmit),
                    now + entry.interval,
                );
            }
            Timer::Timeout => {
                // The ACK cancels the retransmit timer; still armed means no ACK came.
                let retransmit = TimerKey::Server(id, Timer::Retransmit);
                if entry.state == ServerState::Accepted && self.timers.contains(&retransmit) {
                    self.events.push_back(TxEvent::NoAck {
                        call_id: entry.call_id.clone(),
                        cseq: entry.cseq,
                    });
                }
                self.remove_server(id);
            }
            Timer::Linger => self.remove_server(id),
        }
    }

    fn remove_server(&mut self, id: ServerTx) {
        if let Some(entry) = self.servers.remove(&id) {
            self.server_index.remove(&entry.key);
            if self
                .accepted_index
                .get(&(entry.call_id.clone(), entry.cseq))
                == Some(&id)
            {
                self.accepted_index.remove(&(entry.call_id, entry.cseq));
            }
        }
        self.timers.cancel(&TimerKey::Server(id, Timer::Retransmit));
        self.timers.cancel(&TimerKey::Server(id, Timer::Timeout));
        self.timers.cancel(&TimerKey::Server(id, Timer::Linger));
    }

    fn client_timer(&mut self, id: ClientTx, timer: Timer, now: Instant) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        match timer {
            Timer::Retransmit => {
                self.transmit.push_back((entry.peer, entry.bytes.clone()));
                entry.interval = if entry.invite {
                    entry.interval * 2
                } else {
                    (entry.interval * 2).min(T2)
                };
                self.timers.set(
                    TimerKey::Client(id, Timer::Retransmit),
                    now + entry.interval,
                );
            }
            Timer::Timeout => {
                self.events.push_back(TxEvent::Timeout { tx: id });
                self.remove_client(id);
            }
            Timer::Linger => self.remove_client(id),
        }
    }

    fn remove_client(&mut self, id: ClientTx) {
        if let Some(entry) = self.clients.remove(&id) {
            if let Ok(keys) = message::keys(&entry.request.headers) {
                self.client_index
                    .remove(&(keys.branch, entry.request.method));
            }
        }
        self.timers.cancel(&TimerKey::Client(id, Timer::Retransmit));
        self.timers.cancel(&TimerKey::Client(id, Timer::Timeout));
        self.timers.cancel(&TimerKey::Client(id, Timer::Linger));
    }
}

/// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response is part of the INVITE
/// transaction: same branch and Request-URI, the To of the response.
fn non_2xx_ack(invite: &Request, response: &Response) -> Request {
    let mut ack = invite.clone();
    ack.method = Method::Ack;
    ack.body.clear();
    ack.headers.retain(|h| {
        let name = h.name();
        ["Via", "From", "Call-ID", "Route", "Max-Forwards"]
            .iter()
            .any(|keep| name.eq_ignore_ascii_case(keep))
    });
    let via: Vec<_> = message::headers_named(&ack.headers, "Via")
        .into_iter()
        .take(1)
        .map(str::to_string)
        .collect();
    message::remove_headers(&mut ack.headers, "Via");
    for v in via {
        message::push_header(&mut ack.headers, "Via", v);
    }
    if let Some(to) = message::header(&response.headers, "To") {
        message::push_header(&mut ack.headers, "To", to.to_string());
    }
    if let Ok(keys) = message::keys(&invite.headers) {
        message::push_header(&mut ack.headers, "CSeq", format!("{} ACK", keys.cseq));
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;

    const INVITE: &str = "INVITE sip:1001@127.0.0.1:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-c1\r\n\
        From: <sip:a@127.0.0.1>;tag=f\r\nTo: <sip:1001@127.0.0.1>\r\n\
        Call-ID: tx-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    fn udp() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: "127.0.0.1:5070".parse().unwrap(),
        }
    }

    fn request(text: &str) -> Request {
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            _ => panic!("a request"),
        }
    }

    fn response(text: &str) -> Response {
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Response(r) => r,
            _ => panic!("a response"),
        }
    }

    fn drain(tx: &mut Transactions) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| tx.poll_transmit())
            .map(|(_, b)| b)
            .collect()
    }

    fn advance(tx: &mut Transactions, now: &mut Instant, by: Duration) {
        *now += by;
        tx.handle_timeout(*now);
    }

    /// RFC 3261 §17.1.1.2: Timer A doubles from T1 and Timer B gives up after 64*T1.
    #[test]
    fn an_unanswered_invite_is_retransmitted_then_times_out() {
        let mut now = Instant::now();
        let mut tx = Transactions::default();
        let id = tx.send_request(request(INVITE), udp(), now);
        assert_eq!(drain(&mut tx).len(), 1);

        let mut sent_at = Vec::new();
        for step in 1..=128 {
            advance(&mut tx, &mut now, T1 / 2);
            if !drain(&mut tx).is_empty() {
                sent_at.push(step);
            }
        }
        assert_eq!(sent_at[..4], [2, 6, 14, 30], "at 1, 3, 7 and 15 times T1");
        assert_eq!(tx.poll_event(), Some(TxEvent::Timeout { tx: id }));
        assert!(tx.is_empty());
    }

    #[test]
    fn a_provisional_response_stops_invite_retransmission_and_a_final_is_acked_once() {
        let mut now = Instant::now();
        let mut tx = Transactions::default();
        let id = tx.send_request(request(INVITE), udp(), now);
        drain(&mut tx);

        let ringing = response(&INVITE.replace(
            "INVITE sip:1001@127.0.0.1:5070 SIP/2.0",
            "SIP/2.0 180 Ringing",
        ));
        let keys = message::keys(&ringing.headers).unwrap();
        assert_eq!(tx.on_response(&ringing, &keys, now), Some(id));
        advance(&mut tx, &mut now, Duration::from_secs(10));
        assert!(drain(&mut tx).is_empty(), "no retransmission after 180");

        let busy = response(&INVITE.replace(
            "INVITE sip:1001@127.0.0.1:5070 SIP/2.0",
            "SIP/2.0 486 Busy Here",
        ));
        assert_eq!(tx.on_response(&busy, &keys, now), Some(id));
        let ack = String::from_utf8(drain(&mut tx).remove(0)).unwrap();
        assert!(
            ack.starts_with("ACK sip:1001@127.0.0.1:5070 SIP/2.0"),
            "{ack}"
        );
        assert!(ack.contains("branch=z9hG4bK-c1"));
        assert!(ack.contains("CSeq: 1 ACK"));

        // The retransmitted 486 is absorbed and acknowledged again.
        assert_eq!(tx.on_response(&busy, &keys, now), None);
        assert_eq!(drain(&mut tx).len(), 1);
    }

    #[test]
    fn a_retransmitted_request_gets_the_last_response_again() {
        let now = Instant::now();
        let mut tx = Transactions::default();
        let invite = request(INVITE);
        let keys = message::keys(&invite.headers).unwrap();
        assert_eq!(tx.on_request(&invite, &keys, udp(), now), Incoming::New);
        let trying = drain(&mut tx);
        assert!(String::from_utf8_lossy(&trying[0]).starts_with("SIP/2.0 100 Trying"));

        assert_eq!(
            tx.on_request(&invite, &keys, udp(), now),
            Incoming::Absorbed
        );
        assert_eq!(drain(&mut tx), trying);
    }

    #[test]
    fn an_unacknowledged_2xx_is_retransmitted_and_reported() {
        let mut now = Instant::now();
        let mut tx = Transactions::default();
        let invite = request(INVITE);
        let keys = message::keys(&invite.headers).unwrap();
        tx.on_request(&invite, &keys, udp(), now);
        tx.respond(&invite, message::response_to(&invite, 200), now);
        drain(&mut tx);

        advance(&mut tx, &mut now, T1);
        assert_eq!(drain(&mut tx).len(), 1, "Timer G resends the 2xx");
        advance(&mut tx, &mut now, 64 * T1);
        assert_eq!(
            tx.poll_event(),
            Some(TxEvent::NoAck {
                call_id: "tx-1".into(),
                cseq: 1
            })
        );
    }

    #[test]
    fn the_ack_stops_the_2xx_retransmissions() {
        let mut now = Instant::now();
        let mut tx = Transactions::default();
        let invite = request(INVITE);
        let keys = message::keys(&invite.headers).unwrap();
        tx.on_request(&invite, &keys, udp(), now);
        tx.respond(&invite, message::response_to(&invite, 200), now);
        drain(&mut tx);

        let ack = request(
            &INVITE
                .replace("INVITE sip", "ACK sip")
                .replace("1 INVITE", "1 ACK")
                .replace("z9hG4bK-c1", "z9hG4bK-ack"),
        );
        let ack_keys = message::keys(&ack.headers).unwrap();
        assert_eq!(tx.on_request(&ack, &ack_keys, udp(), now), Incoming::New);
        advance(&mut tx, &mut now, 64 * T1);
        assert!(drain(&mut tx).is_empty());
        assert_eq!(tx.poll_event(), None);
    }
}
