//! The RTP relay: one UDP socket per leg and one task per socket. Each leg is in one mode:
//! relayed to another leg (two parties), mixed in a conference (three parties), hearing
//! ringback (waiting alone), or idle.
//!
//! This is the edge where sockets live; the decisions come from the SIP layer as
//! [`MediaCommand`]s. Media goes to the address in the party's SDP; there is no latching to
//! the source address for parties behind NAT. Telephone-events from seat legs are reported
//! as [`MediaEvent::Dtmf`] and never relayed, so a caller never hears a seat's transfer keys.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::codec::FRAME;
use super::mixer::Mixer;
use super::recording_writer::WriterHandle;
use super::sdp::Codec;
use super::stream::OutStream;
use super::tone::Ringback;
use crate::control::{Channel, IncidentId, LegId, SavedFile};

mod recording;
use recording::Recording;

/// What the SIP layer asks the relay to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind the leg's RTP port; `seat` legs have their telephone-events reported, not
    /// relayed.
    Open { leg: LegId, port: u16, seat: bool },
    /// Where the leg's party wants RTP, the codec agreed on the leg, its telephone-event
    /// payload type, and whether it is expected to send (false while it holds the call).
    Remote {
        leg: LegId,
        rtp: Option<SocketAddr>,
        codec: Option<Codec>,
        telephone_event: Option<u8>,
        sending: bool,
    },
    /// Relay between two legs, both ways.
    Bridge { a: LegId, b: LegId },
    /// Mix the legs: each hears all the others.
    Mix { legs: Vec<LegId> },
    /// Play ringback to the leg.
    Ringback { leg: LegId },
    /// Unbind the leg's port and forget it.
    Close { leg: LegId },
    /// Start recording an incident into `files` in the recordings directory.
    RecordStart {
        incident: IncidentId,
        files: [String; 2],
    },
    /// Record what the leg's party says on a channel of the incident's recording.
    RecordParty {
        incident: IncidentId,
        leg: LegId,
        channel: Channel,
    },
    /// Stop recording the leg's party on the incident's recording.
    RecordLeave { incident: IncidentId, leg: LegId },
    /// Close the incident's recording.
    RecordStop { incident: IncidentId },
}

/// What the relay reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP arrived on a connected leg for the configured time.
    Timeout { leg: LegId },
    /// The leg's port could not be bound.
    OpenFailed { leg: LegId, port: u16 },
    /// A telephone-event packet from a seat leg: its RTP timestamp and payload.
    Dtmf {
        leg: LegId,
        timestamp: u32,
        payload: [u8; 4],
    },
    /// An incident's recording files are closed.
    RecordingSaved {
        incident: IncidentId,
        files: Vec<SavedFile>,
        duration_ms: u64,
        lost_ms: u64,
    },
    /// An incident's recording could not be written and has stopped.
    RecordingFailed {
        incident: IncidentId,
        reason: String,
    },
}

/// Packets through the relay since start, for the logs and the benchmarks.
#[derive(Debug, Default)]
pub struct RelayTotals {
    pub received: AtomicU64,
    pub relayed: AtomicU64,
    pub generated: AtomicU64,
}

enum Mode {
    Idle,
    Relay(Arc<LegMedia>),
    Mix(Arc<Conference>),
    Ringback,
}

struct LegState {
    remote: Option<SocketAddr>,
    codec: Option<Codec>,
    telephone_event: Option<u8>,
    sending: bool,
    seat: bool,
    mode: Mode,
    out: OutStream,
    /// The recording the leg's party is heard on.
    recording: Option<Arc<Recording>>,
}

struct LegMedia {
    leg: LegId,
    socket: UdpSocket,
    state: Mutex<LegState>,
}

struct Conference {
    mixer: Mutex<Mixer>,
    members: Mutex<Vec<Arc<LegMedia>>>,
}

/// Generated audio (mix or tone) has a stream of its own before each leg's rewriting.
struct Generator {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

impl Generator {
    fn new() -> Self {
        Self {
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
        }
    }

    fn advance(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
    }
}

pub struct Relay {
    totals: Arc<RelayTotals>,
    address: IpAddr,
    rtp_timeout: Duration,
    legs: HashMap<LegId, (Arc<LegMedia>, JoinHandle<()>)>,
    /// Tasks that generate audio: a conference's mix (by its first leg) or a leg's ringback.
    generators: HashMap<LegId, JoinHandle<()>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    recordings_dir: PathBuf,
    recordings: HashMap<IncidentId, (Arc<Recording>, JoinHandle<()>)>,
    /// Started with the first recording.
    writer: Option<WriterHandle>,
}

impl Relay {
    pub fn new(
        address: IpAddr,
        rtp_timeout: Duration,
        recordings_dir: PathBuf,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Self {
        Self {
            totals: Arc::default(),
            address,
            rtp_timeout,
            legs: HashMap::new(),
            generators: HashMap::new(),
            events,
            recordings_dir,
            recordings: HashMap::new(),
            writer: None,
        }
    }

    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.totals.received.load(Ordering::Relaxed),
            self.totals.relayed.load(Ordering::Relaxed),
            self.totals.generated.load(Ordering::Relaxed),
        )
    }

    pub fn legs(&self) -> usize {
        self.legs.len()
    }

    pub fn apply(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Open { leg, port, seat } => {
                if let Err(error) = self.open(leg, port, seat) {
                    tracing::warn!(%leg, port, %error, "cannot bind RTP port");
                    let _ = self.events.send(MediaEvent::OpenFailed { leg, port });
                }
            }
            MediaCommand::Remote {
                leg,
                rtp,
                codec,
                telephone_event,
                sending,
            } => {
                if let Some((media, _)) = self.legs.get(&leg) {
                    let mut state = media.state.lock().expect("relay state");
                    state.remote = rtp;
                    state.codec = codec.or(state.codec);
                    state.telephone_event = telephone_event;
                    state.sending = sending;
                }
            }
            MediaCommand::Bridge { a, b } => {
                self.detach(a);
                self.detach(b);
                let (Some((ma, _)), Some((mb, _))) = (self.legs.get(&a), self.legs.get(&b)) else {
                    return;
                };
                ma.state.lock().expect("relay state").mode = Mode::Relay(mb.clone());
                mb.state.lock().expect("relay state").mode = Mode::Relay(ma.clone());
            }
            MediaCommand::Mix { legs } => self.mix(legs),
            MediaCommand::Ringback { leg } => {
                self.detach(leg);
                if let Some((media, _)) = self.legs.get(&leg) {
                    media.state.lock().expect("relay state").mode = Mode::Ringback;
                    let task = tokio::spawn(ringback(media.clone(), self.totals.clone()));
                    self.generators.insert(leg, task);
                }
            }
            MediaCommand::Close { leg } => {
                self.detach(leg);
                if let Some((media, task)) = self.legs.remove(&leg) {
                    task.abort();
                    let recording = media.state.lock().expect("relay state").recording.take();
                    if let Some(recording) = recording {
                        recording.remove_party(leg);
                    }
                }
            }
            MediaCommand::RecordStart { incident, files } => self.start_recording(incident, files),
            MediaCommand::RecordParty {
                incident,
                leg,
                channel,
            } => self.record_party(incident, leg, channel),
            MediaCommand::RecordLeave { incident, leg } => self.forget_party(incident, leg),
            MediaCommand::RecordStop { incident } => self.stop_recording(incident),
        }
    }

    fn mix(&mut self, legs: Vec<LegId>) {
        for leg in &legs {
            self.detach(*leg);
        }
        let members: Vec<Arc<LegMedia>> = legs
            .iter()
            .filter_map(|leg| self.legs.get(leg).map(|(m, _)| m.clone()))
            .collect();
        let Some(first) = members.first().map(|m| m.leg) else {
            return;
        };
        let mut mixer = Mixer::default();
        for media in &members {
            let codec = media.state.lock().expect("relay state").codec;
            mixer.add(media.leg, codec.unwrap_or(Codec::Pcmu));
        }
        let conference = Arc::new(Conference {
            mixer: Mutex::new(mixer),
            members: Mutex::new(members.clone()),
        });
        for media in &members {
            media.state.lock().expect("relay state").mode = Mode::Mix(conference.clone());
        }
        let task = tokio::spawn(run_conference(conference, self.totals.clone()));
        self.generators.insert(first, task);
    }

    /// Takes a leg out of whatever mode it is in.
    fn detach(&mut self, leg: LegId) {
        let Some((media, _)) = self.legs.get(&leg) else {
            return;
        };
        let mode = std::mem::replace(
            &mut media.state.lock().expect("relay state").mode,
            Mode::Idle,
        );
        match mode {
            Mode::Idle => {}
            Mode::Ringback => {
                if let Some(task) = self.generators.remove(&leg) {
                    task.abort();
                }
            }
            Mode::Relay(peer) => {
                let mut peer_state = peer.state.lock().expect("relay state");
                if matches!(&peer_state.mode, Mode::Relay(p) if Arc::ptr_eq(p, media)) {
                    peer_state.mode = Mode::Idle;
                }
            }
            Mode::Mix(conference) => {
                conference.mixer.lock().expect("mixer").remove(leg);
                let mut members = conference.members.lock().expect("members");
                members.retain(|m| m.leg != leg);
                // The conference's task is kept under the leg that started it.
                if let Some(task) = self.generators.remove(&leg) {
                    match members.first() {
                        Some(next) => {
                            self.generators.insert(next.leg, task);
                        }
                        None => task.abort(),
                    }
                }
            }
        }
    }

    fn open(&mut self, leg: LegId, port: u16, seat: bool) -> io::Result<()> {
        let std_socket = std::net::UdpSocket::bind(SocketAddr::new(self.address, port))?;
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        let media = Arc::new(LegMedia {
            leg,
            socket,
            state: Mutex::new(LegState {
                remote: None,
                codec: None,
                telephone_event: None,
                sending: true,
                seat,
                mode: Mode::Idle,
                out: OutStream::new(rand::random()),
                recording: None,
            }),
        });
        let task = tokio::spawn(receive(
            media.clone(),
            self.rtp_timeout,
            self.events.clone(),
            self.totals.clone(),
        ));
        self.legs.insert(leg, (media, task));
        Ok(())
    }
}

/// What to do with one received packet, decided under the leg's lock.
enum Route {
    Drop,
    Dtmf([u8; 4]),
    Relay(Arc<LegMedia>),
    Mix(Arc<Conference>),
}

/// Receives the leg's party's RTP and passes it on according to the leg's mode.
async fn receive(
    media: Arc<LegMedia>,
    rtp_timeout: Duration,
    events: mpsc::UnboundedSender<MediaEvent>,
    totals: Arc<RelayTotals>,
) {
    let leg = media.leg;
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
                    !matches!(state.mode, Mode::Idle) && state.sending
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

        let (route, source_event, recording) = {
            let state = media.state.lock().expect("relay state");
            let is_event = state.telephone_event == Some(packet.payload_type());
            let recording = state.recording.clone().filter(|_| !is_event);
            let route = match (&state.mode, is_event, state.seat) {
                (_, true, true) => match packet.payload().get(..4) {
                    Some(bytes) => Route::Dtmf(bytes.try_into().expect("four bytes")),
                    None => Route::Drop,
                },
                (Mode::Relay(peer), _, _) => Route::Relay(peer.clone()),
                (Mode::Mix(conference), false, _) => Route::Mix(conference.clone()),
                _ => Route::Drop,
            };
            (route, state.telephone_event, recording)
        };
        if let Some(recording) = recording {
            recording.hear(leg, &packet);
        }
        match route {
            Route::Drop => {}
            Route::Dtmf(payload) => {
                let _ = events.send(MediaEvent::Dtmf {
                    leg,
                    timestamp: packet.timestamp(),
                    payload,
                });
            }
            Route::Mix(conference) => {
                conference.mixer.lock().expect("mixer").push(
                    leg,
                    packet.payload_type(),
                    packet.ssrc(),
                    packet.timestamp(),
                    packet.payload(),
                );
            }
            Route::Relay(peer) => {
                let built = {
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
                    let written = RtpPacketBuilder::new()
                        .payload_type(payload_type)
                        .ssrc(fields.ssrc)
                        .sequence(Seq::from(fields.seq))
                        .timestamp(fields.timestamp)
                        .marked(fields.marker)
                        .payload(packet.payload())
                        .build_into(&mut out);
                    match written {
                        Ok(written) => (remote, written),
                        Err(_) => continue,
                    }
                };
                let (remote, written) = built;
                match peer.socket.send_to(&out[..written], remote).await {
                    Ok(_) => {
                        totals.relayed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => tracing::debug!(%leg, %error, "RTP send error"),
                }
            }
        }
    }
}

/// Sends one generated frame to a leg, in the leg's own stream.
async fn send_generated(
    media: &LegMedia,
    generator: &Generator,
    payload: &[u8],
    totals: &RelayTotals,
) {
    let mut out = [0u8; 512];
    let built = {
        let mut state = media.state.lock().expect("relay state");
        let (Some(remote), Some(codec)) = (state.remote, state.codec) else {
            return;
        };
        let fields = state
            .out
            .rewrite(generator.ssrc, generator.seq, generator.timestamp, false);
        RtpPacketBuilder::new()
            .payload_type(codec.payload_type())
            .ssrc(fields.ssrc)
            .sequence(Seq::from(fields.seq))
            .timestamp(fields.timestamp)
            .marked(fields.marker)
            .payload(payload)
            .build_into(&mut out)
            .ok()
            .map(|written| (remote, written))
    };
    if let Some((remote, written)) = built {
        if media.socket.send_to(&out[..written], remote).await.is_ok() {
            totals.generated.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ticker() -> tokio::time::Interval {
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Mixes the conference every 20 ms and sends each member its frame.
async fn run_conference(conference: Arc<Conference>, totals: Arc<RelayTotals>) {
    let mut generator = Generator::new();
    let mut interval = ticker();
    let mut frames: Vec<(LegId, Vec<u8>)> = Vec::new();
    loop {
        interval.tick().await;
        frames.clear();
        conference
            .mixer
            .lock()
            .expect("mixer")
            .tick(|leg, _codec, encoded| frames.push((leg, encoded.to_vec())));
        let members: Vec<Arc<LegMedia>> = conference.members.lock().expect("members").clone();
        for (leg, payload) in &frames {
            if let Some(media) = members.iter().find(|m| m.leg == *leg) {
                send_generated(media, &generator, payload, &totals).await;
            }
        }
        generator.advance();
    }
}

/// Plays ringback to one leg until the task is stopped.
async fn ringback(media: Arc<LegMedia>, totals: Arc<RelayTotals>) {
    let mut generator = Generator::new();
    let mut tone = Ringback::default();
    let mut frame = [0i16; FRAME];
    let mut payload = Vec::with_capacity(FRAME);
    let mut interval = ticker();
    loop {
        interval.tick().await;
        tone.next_frame(&mut frame);
        let codec = media.state.lock().expect("relay state").codec;
        super::codec::encode(codec.unwrap_or(Codec::Pcmu), &frame, &mut payload);
        send_generated(&media, &generator, &payload, &totals).await;
        generator.advance();
    }
}
