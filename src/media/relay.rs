//! The RTP relay: one UDP socket per leg, one task per socket, forwarding each packet to the
//! bridged leg's party with that leg's own stream identity.
//!
//! This is the edge where sockets live; the decisions (which legs to bridge, where each
//! party's RTP goes) come from the SIP layer as [`MediaCommand`]s. Media goes to the address
//! in the party's SDP; there is no latching to the source address for parties behind NAT.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::stream::OutStream;
use crate::control::LegId;

/// What the SIP layer asks the relay to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind the leg's RTP port.
    Open { leg: LegId, port: u16 },
    /// Where the leg's party wants RTP, its telephone-event payload type, and whether it
    /// is expected to send (false while it holds the call).
    Remote {
        leg: LegId,
        rtp: Option<SocketAddr>,
        telephone_event: Option<u8>,
        sending: bool,
    },
    /// Relay between two legs, both ways.
    Bridge { a: LegId, b: LegId },
    /// Unbind the leg's port and forget it.
    Close { leg: LegId },
}

/// What the relay reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP arrived on a bridged leg for the configured time.
    Timeout { leg: LegId },
    /// The leg's port could not be bound.
    OpenFailed { leg: LegId, port: u16 },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LegCounters {
    pub received: u64,
    pub sent: u64,
}

struct LegState {
    remote: Option<SocketAddr>,
    telephone_event: Option<u8>,
    sending: bool,
    peer: Option<Arc<LegMedia>>,
    out: OutStream,
    counters: LegCounters,
}

struct LegMedia {
    socket: UdpSocket,
    state: Mutex<LegState>,
}

/// Packets through the relay since start, for the logs and the benchmarks.
#[derive(Debug, Default)]
pub struct RelayTotals {
    pub received: AtomicU64,
    pub relayed: AtomicU64,
}

pub struct Relay {
    totals: Arc<RelayTotals>,
    address: IpAddr,
    rtp_timeout: Duration,
    legs: HashMap<LegId, (Arc<LegMedia>, JoinHandle<()>)>,
    events: mpsc::UnboundedSender<MediaEvent>,
}

impl Relay {
    pub fn new(
        address: IpAddr,
        rtp_timeout: Duration,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Self {
        Self {
            totals: Arc::default(),
            address,
            rtp_timeout,
            legs: HashMap::new(),
            events,
        }
    }

    pub fn totals(&self) -> (u64, u64) {
        (
            self.totals.received.load(Ordering::Relaxed),
            self.totals.relayed.load(Ordering::Relaxed),
        )
    }

    pub fn legs(&self) -> usize {
        self.legs.len()
    }

    pub fn counters(&self, leg: LegId) -> Option<LegCounters> {
        let (media, _) = self.legs.get(&leg)?;
        Some(media.state.lock().expect("relay state").counters)
    }

    pub fn apply(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Open { leg, port } => {
                if let Err(error) = self.open(leg, port) {
                    tracing::warn!(%leg, port, %error, "cannot bind RTP port");
                    let _ = self.events.send(MediaEvent::OpenFailed { leg, port });
                }
            }
            MediaCommand::Remote {
                leg,
                rtp,
                telephone_event,
                sending,
            } => {
                if let Some((media, _)) = self.legs.get(&leg) {
                    let mut state = media.state.lock().expect("relay state");
                    state.remote = rtp;
                    state.telephone_event = telephone_event;
                    state.sending = sending;
                }
            }
            MediaCommand::Bridge { a, b } => {
                let (Some((ma, _)), Some((mb, _))) = (self.legs.get(&a), self.legs.get(&b)) else {
                    return;
                };
                ma.state.lock().expect("relay state").peer = Some(mb.clone());
                mb.state.lock().expect("relay state").peer = Some(ma.clone());
            }
            MediaCommand::Close { leg } => {
                if let Some((media, task)) = self.legs.remove(&leg) {
                    task.abort();
                    let peer = media.state.lock().expect("relay state").peer.take();
                    if let Some(peer) = peer {
                        let mut peer_state = peer.state.lock().expect("relay state");
                        if peer_state
                            .peer
                            .as_ref()
                            .is_some_and(|p| Arc::ptr_eq(p, &media))
                        {
                            peer_state.peer = None;
                        }
                    }
                }
            }
        }
    }

    fn open(&mut self, leg: LegId, port: u16) -> io::Result<()> {
        let std_socket = std::net::UdpSocket::bind(SocketAddr::new(self.address, port))?;
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        let media = Arc::new(LegMedia {
            socket,
            state: Mutex::new(LegState {
                remote: None,
                telephone_event: None,
                sending: true,
                peer: None,
                out: OutStream::new(rand::random()),
                counters: LegCounters::default(),
            }),
        });
        let task = tokio::spawn(forward(
            leg,
            media.clone(),
            self.rtp_timeout,
            self.events.clone(),
            self.totals.clone(),
        ));
        self.legs.insert(leg, (media, task));
        Ok(())
    }
}

/// Receives the leg's party's RTP and sends it on to the bridged leg's party.
async fn forward(
    leg: LegId,
    media: Arc<LegMedia>,
    rtp_timeout: Duration,
    events: mpsc::UnboundedSender<MediaEvent>,
    totals: Arc<RelayTotals>,
) {
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 2048];
    let mut timed_out = false;
    loop {
        let received = tokio::time::timeout(rtp_timeout, media.socket.recv_from(&mut buf)).await;
        let len = match received {
            Ok(Ok((len, _from))) => len,
            Ok(Err(error)) => {
                // ICMP port unreachable from an earlier send shows up here on Linux.
                tracing::debug!(%leg, %error, "RTP receive error");
                continue;
            }
            Err(_) => {
                let expected = {
                    let state = media.state.lock().expect("relay state");
                    state.peer.is_some() && state.sending
                };
                if expected && !timed_out {
                    timed_out = true;
                    let _ = events.send(MediaEvent::Timeout { leg });
                }
                continue;
            }
        };
        timed_out = false;
        totals.received.fetch_add(1, Ordering::Relaxed);
        let Ok(packet) = RtpReader::new(&buf[..len]) else {
            continue;
        };

        let (peer, source_event) = {
            let mut state = media.state.lock().expect("relay state");
            state.counters.received += 1;
            (state.peer.clone(), state.telephone_event)
        };
        let Some(peer) = peer else {
            continue;
        };
        let sent = {
            let mut state = peer.state.lock().expect("relay state");
            let Some(remote) = state.remote else {
                continue;
            };
            let payload_type = if Some(packet.payload_type()) == source_event {
                match state.telephone_event {
                    Some(pt) => pt,
                    None => continue,
                }
            } else {
                packet.payload_type()
            };
            let fields = state.out.rewrite(
                packet.ssrc(),
                u16::from(packet.sequence_number()),
                packet.timestamp(),
                packet.mark(),
            );
            let built = RtpPacketBuilder::new()
                .payload_type(payload_type)
                .ssrc(fields.ssrc)
                .sequence(Seq::from(fields.seq))
                .timestamp(fields.timestamp)
                .marked(fields.marker)
                .payload(packet.payload())
                .build_into(&mut out);
            let Ok(written) = built else {
                continue;
            };
            state.counters.sent += 1;
            (remote, written)
        };
        let (remote, written) = sent;
        match peer.socket.send_to(&out[..written], remote).await {
            Ok(_) => {
                totals.relayed.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::debug!(%leg, %error, "RTP send error"),
        }
    }
}
