//! The B2BUA: the sans-IO engine that joins the transaction layer, the registrar, call
//! control and media negotiation.
//!
//! Datagrams and stream messages go in with the time ([`Engine::handle_message`]); bytes to
//! send, media commands and handoff records come out. The driver in `server` owns the
//! sockets and calls [`Engine::handle_timeout`] at [`Engine::poll_timeout`].

mod commands;
mod inbound;
mod leg;
mod outbound;
mod transfer;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::control::{CallControl, ControlConfig, Event, IncidentRecord, LegId, SeatId};
use crate::media::dtmf::DtmfReceiver;
use crate::media::ports::PortPool;
use crate::media::relay::{MediaCommand, MediaEvent};
use crate::media::sdp::Direction;
use crate::sip::message::{self, Method, Request, SipMessage};
use crate::sip::registrar::{Registrar, RegistrarConfig, RegistrarEvent};
use crate::sip::transaction::{ClientTx, Transactions, TxEvent};
use crate::sip::{Peer, Transport};
use leg::{Leg, LegKind, LegState};

/// Who may send us INVITEs without authenticating: a PBX trunk by source address.
#[derive(Debug, Clone)]
pub struct TrunkAcl {
    pub name: String,
    pub sources: Vec<Source>,
}

/// An allowed source: an address with an optional port, or a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Addr(IpAddr, Option<u16>),
    Net(IpAddr, u8),
}

impl Source {
    pub fn matches(&self, addr: SocketAddr) -> bool {
        match *self {
            Source::Addr(ip, port) => ip == addr.ip() && port.is_none_or(|p| p == addr.port()),
            Source::Net(net, bits) => match (net, addr.ip()) {
                (IpAddr::V4(n), IpAddr::V4(a)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    u32::from(n) & mask == u32::from(a) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(a)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                    u128::from(n) & mask == u128::from(a) & mask
                }
                _ => false,
            },
        }
    }
}

/// How a seat is reached.
#[derive(Debug, Clone)]
pub enum SeatReach {
    /// The seat registers to us with a password.
    Registered { password: String },
    /// The seat is a fixed SIP URI (a phone behind the PBX, or a trunk to another switch).
    Fixed { uri: String },
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The address the service puts in Via and Contact.
    pub sip_addr: SocketAddr,
    pub media_addr: IpAddr,
    pub rtp_ports: (u16, u16),
    pub trunks: Vec<TrunkAcl>,
    pub registrar: RegistrarConfig,
    /// Per seat, in the order of `control.seats`.
    pub seat_reach: Vec<SeatReach>,
    pub control: ControlConfig,
    /// Seeds nonces, tags and branches.
    pub secret: [u8; 32],
}

/// What the engine asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Transmit { to: Peer, bytes: Vec<u8> },
    Media(MediaCommand),
}

pub struct Engine {
    config: EngineConfig,
    tx: Transactions,
    registrar: Registrar,
    control: CallControl,
    ports: PortPool,
    legs: HashMap<LegId, Leg>,
    /// In-dialog requests find their leg by Call-ID and our tag.
    dialogs: HashMap<(String, String), LegId>,
    /// CANCEL finds the caller's INVITE by its branch.
    invites: HashMap<String, LegId>,
    client_txs: HashMap<ClientTx, (LegId, Method)>,
    /// Key presses being counted, per leg.
    dtmf: HashMap<LegId, DtmfReceiver>,
    media: VecDeque<MediaCommand>,
    records: VecDeque<IncidentRecord>,
    ident_prefix: String,
    ident_counter: u64,
}

impl Engine {
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let passwords = config
            .control
            .seats
            .iter()
            .zip(&config.seat_reach)
            .filter_map(|(seat, reach)| match reach {
                SeatReach::Registered { password } => Some((seat.number.clone(), password.clone())),
                SeatReach::Fixed { .. } => None,
            })
            .collect();
        let prefix: String = config.secret[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            tx: Transactions::default(),
            registrar: Registrar::new(config.registrar.clone(), passwords, config.secret, now),
            control: CallControl::new(config.control.clone(), now),
            ports: PortPool::new(config.rtp_ports.0, config.rtp_ports.1),
            legs: HashMap::new(),
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            client_txs: HashMap::new(),
            dtmf: HashMap::new(),
            media: VecDeque::new(),
            records: VecDeque::new(),
            ident_prefix: prefix,
            ident_counter: 0,
            config,
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(command) = self.media.pop_front() {
            return Some(Output::Media(command));
        }
        self.tx
            .poll_transmit()
            .map(|(to, bytes)| Output::Transmit { to, bytes })
    }

    pub fn poll_record(&mut self) -> Option<IncidentRecord> {
        self.records.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tx.poll_timeout(),
            self.registrar.poll_timeout(),
            self.control.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn active_incidents(&self) -> usize {
        self.control.active_incidents()
    }

    pub fn recordings_closing(&self) -> usize {
        self.control.recordings_closing()
    }

    pub fn active_legs(&self) -> usize {
        self.legs.len()
    }

    /// Numbers new incidents after `last` (the highest number in the handoff log).
    pub fn continue_incidents_after(&mut self, last: u64) {
        self.control.continue_incidents_after(last);
    }

    /// Stops taking new calls; calls in progress go on.
    pub fn stop_accepting(&mut self) {
        self.control.stop_accepting();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.control.handle_timeout(now);
        self.drain(now);
    }

    pub fn handle_message(&mut self, from: Peer, bytes: &[u8], now: Instant) {
        match message::parse(bytes) {
            Ok(SipMessage::Request(request)) => self.on_request(request, from, now),
            Ok(SipMessage::Response(response)) => self.on_response(response, now),
            Err(error) => {
                tracing::debug!(peer = %from, %error, "dropping unparsable message");
            }
        }
        self.drain(now);
    }

    pub fn handle_media_event(&mut self, event: MediaEvent, now: Instant) {
        match event {
            MediaEvent::Timeout { leg } => {
                tracing::info!(%leg, "no RTP within the media timeout");
                self.control.handle(Event::MediaTimeout { leg }, now);
            }
            MediaEvent::OpenFailed { leg, .. } => {
                self.control.handle(Event::MediaTimeout { leg }, now);
            }
            MediaEvent::Dtmf {
                leg,
                timestamp,
                payload,
            } => self.on_rtp_event(leg, timestamp, payload, now),
            MediaEvent::RecordingSaved {
                incident,
                files,
                duration_ms,
                lost_ms,
            } => {
                let event = Event::RecordingSaved {
                    incident,
                    files,
                    duration_ms,
                    lost_ms,
                };
                self.control.handle(event, now);
            }
            MediaEvent::RecordingFailed { incident, reason } => {
                tracing::warn!(%incident, %reason, "recording failed; the call goes on unrecorded");
                self.control
                    .handle(Event::RecordingFailed { incident, reason }, now);
            }
        }
        self.drain(now);
    }

    /// Carries out what the lower layers and call control produced, until all is quiet.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.tx.poll_event() {
                progressed = true;
                self.on_tx_event(event, now);
            }
            while let Some(event) = self.registrar.poll_event() {
                progressed = true;
                self.on_registrar_event(event, now);
            }
            while let Some(command) = self.control.poll_command() {
                progressed = true;
                self.apply(command, now);
            }
            while let Some(record) = self.control.poll_record() {
                progressed = true;
                self.records.push_back(record);
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_registrar_event(&mut self, event: RegistrarEvent, now: Instant) {
        let (user, online) = match event {
            RegistrarEvent::Online { user } => (user, true),
            RegistrarEvent::Offline { user } => (user, false),
        };
        if let Some(seat) = self.control.seat_by_number(&user) {
            self.control.handle(Event::SeatOnline { seat, online }, now);
        }
    }

    fn on_tx_event(&mut self, event: TxEvent, now: Instant) {
        match event {
            TxEvent::Timeout { tx } => self.on_client_timeout(tx, now),
            TxEvent::NoAck { call_id, .. } => {
                let leg = self
                    .legs
                    .values()
                    .find(|l| l.call_id == call_id && l.is_inbound())
                    .map(|l| l.id);
                if let Some(leg) = leg {
                    tracing::info!(%leg, "no ACK for our 2xx; ending the leg");
                    self.send_bye(leg, now);
                    self.control.handle(Event::HungUp { leg }, now);
                }
            }
        }
    }

    /// A fresh token for tags, branches and Call-IDs: unique within this process and
    /// unguessable across restarts.
    fn ident(&mut self) -> String {
        self.ident_counter += 1;
        format!("{}{:x}", self.ident_prefix, self.ident_counter)
    }

    fn via(&mut self, transport: Transport) -> String {
        let branch = self.ident();
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{branch};rport",
            transport.via_name(),
            self.config.sip_addr,
        )
    }

    fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:hotline-bridge@{}>", self.config.sip_addr),
            Transport::Tcp => format!(
                "<sip:hotline-bridge@{};transport=tcp>",
                self.config.sip_addr
            ),
        }
    }

    /// Tells the relay where the leg's party wants RTP and in which codec.
    fn sync_media(&mut self, id: LegId) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let remote = leg.media.remote.as_ref();
        let direction = remote.map(|r| r.direction).unwrap_or_default();
        self.media.push_back(MediaCommand::Remote {
            leg: id,
            rtp: remote.and_then(|r| r.rtp),
            codec: leg.media.codec,
            telephone_event: remote.and_then(|r| r.telephone_event),
            sending: matches!(direction, Direction::SendRecv | Direction::SendOnly),
        });
    }

    /// Releases everything a leg holds: its port, its dialog and its relay socket.
    fn close_leg(&mut self, id: LegId) {
        let Some(leg) = self.legs.remove(&id) else {
            return;
        };
        self.dialogs
            .remove(&(leg.call_id.clone(), leg.local_tag.clone()));
        if let LegKind::Inbound { invite } = &leg.kind {
            if let Ok(keys) = message::keys(&invite.headers) {
                self.invites.remove(&keys.branch);
            }
        }
        self.client_txs.retain(|_, (l, _)| *l != id);
        self.dtmf.remove(&id);
        self.ports.release(leg.media.port);
        self.media.push_back(MediaCommand::Close { leg: id });
        tracing::debug!(leg = %id, party = %leg.party, "leg closed");
    }

    /// Sends an in-dialog request on a confirmed leg; returns its transaction.
    fn send_in_dialog(
        &mut self,
        id: LegId,
        method: Method,
        extra: &[(&str, String)],
        body: Option<(String, String)>,
        now: Instant,
    ) -> Option<ClientTx> {
        let transport = self.legs.get(&id)?.peer.transport;
        let via = self.via(transport);
        let contact = self.contact(transport);
        let leg = self.legs.get_mut(&id)?;
        let cseq = leg.next_cseq();
        let remote_tag = leg.remote_tag.clone().unwrap_or_default();
        let mut request = message::new_request(method, &leg.remote_target).ok()?;
        let h = &mut request.headers;
        message::push_header(h, "Via", via);
        message::push_header(h, "Max-Forwards", "70");
        for route in &leg.route_set {
            message::push_header(h, "Route", route.clone());
        }
        message::push_header(h, "From", message::with_tag(&leg.local_uri, &leg.local_tag));
        message::push_header(h, "To", message::with_tag(&leg.remote_uri, &remote_tag));
        message::push_header(h, "Call-ID", leg.call_id.clone());
        message::push_header(h, "CSeq", format!("{cseq} {method}"));
        message::push_header(h, "Contact", contact);
        for (name, value) in extra {
            message::push_header(h, name, value.clone());
        }
        if let Some((content_type, text)) = body {
            message::push_header(h, "Content-Type", content_type);
            request.body = text.into_bytes();
        }
        let peer = next_hop(leg);
        let tx = self.tx.send_request(request, peer, now);
        self.client_txs.insert(tx, (id, method));
        Some(tx)
    }

    /// Ends a confirmed leg with BYE; the leg closes when the BYE completes.
    fn send_bye(&mut self, id: LegId, now: Instant) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if leg.state == LegState::Ending {
            return;
        }
        leg.state = LegState::Ending;
        if self
            .send_in_dialog(id, Method::Bye, &[], None, now)
            .is_none()
        {
            self.close_leg(id);
        }
    }

    fn seat_target(&self, seat: SeatId) -> Option<(String, Peer)> {
        let number = &self.control.seat_info(seat).number;
        match &self.config.seat_reach[seat.0 as usize] {
            SeatReach::Registered { .. } => {
                let binding = self.registrar.binding(number)?;
                Some((binding.contact.clone(), binding.peer))
            }
            SeatReach::Fixed { uri } => {
                let target = message::target(uri).ok()?;
                let transport = if target.tcp {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                Some((
                    uri.clone(),
                    Peer {
                        transport,
                        addr: target.addr?,
                    },
                ))
            }
        }
    }

    fn is_trunk(&self, addr: SocketAddr) -> bool {
        self.config
            .trunks
            .iter()
            .any(|t| t.sources.iter().any(|s| s.matches(addr)))
    }

    fn respond(&mut self, request: &Request, status: u16, now: Instant) {
        let response = message::response_to(request, status);
        self.tx.respond(request, response, now);
    }
}

/// Where an in-dialog request goes: over TCP back through the leg's connection; over UDP to
/// the first route, or the remote target, falling back to where the leg came from.
fn next_hop(leg: &Leg) -> Peer {
    if leg.peer.transport == Transport::Tcp {
        return leg.peer;
    }
    let uri = leg
        .route_set
        .first()
        .and_then(|r| message::uri_of(r).ok())
        .unwrap_or_else(|| leg.remote_target.clone());
    match message::target(&uri) {
        Ok(target) => Peer {
            transport: if target.tcp {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            addr: target.addr.unwrap_or(leg.peer.addr),
        },
        Err(_) => leg.peer,
    }
}

#[cfg(test)]
mod tests;
