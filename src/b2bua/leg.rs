//! The SIP side of one leg: its dialog (RFC 3261 §12) and its media description.

use crate::control::LegId;
use crate::media::sdp::{Codec, Direction, RemoteMedia};
use crate::sip::message::Request;
use crate::sip::transaction::ClientTx;
use crate::sip::Peer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// INVITE sent or received, no final response yet.
    Early,
    /// 2xx sent or received.
    Confirmed,
    /// CANCEL or BYE sent; waiting for the other side to finish.
    Ending,
}

#[derive(Debug)]
pub enum LegKind {
    /// The caller's leg: the INVITE the PBX (or a seat) sent us.
    Inbound { invite: Box<Request> },
    /// A leg we placed towards a seat.
    Outbound {
        invite: Box<Request>,
        tx: ClientTx,
        /// A provisional response arrived, so a CANCEL may be sent (RFC 3261 §9.1).
        provisional: bool,
        /// CANCEL was asked for before any provisional response.
        cancel_pending: bool,
    },
}

#[derive(Debug)]
pub struct LegMedia {
    pub port: u16,
    pub session_id: u64,
    /// The version of our SDP origin line, raised with every new description (RFC 3264 §8).
    pub version: u64,
    pub remote: Option<RemoteMedia>,
    /// The codec both sides of this leg agreed on.
    pub codec: Option<Codec>,
    /// The direction we last offered or answered on this leg.
    pub direction: Direction,
}

#[derive(Debug)]
pub struct Leg {
    pub id: LegId,
    pub kind: LegKind,
    pub state: LegState,
    /// Where requests for this leg go, and where it was reached.
    pub peer: Peer,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our From (outbound) or To (inbound) header value, without tag.
    pub local_uri: String,
    /// The other side's header value, without tag.
    pub remote_uri: String,
    /// The other side's Contact URI: the Request-URI of in-dialog requests.
    pub remote_target: String,
    /// Record-Route, in the order in-dialog requests must follow it.
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub media: LegMedia,
    /// The leg whose media this one is relayed to.
    pub bridged: Option<LegId>,
    /// The caller's number or the seat's, for logs.
    pub party: String,
    /// A REFER received on this leg whose progress is reported by NOTIFY (RFC 3515).
    pub refer: Option<ReferState>,
}

#[derive(Debug, Clone, Copy)]
pub struct ReferState {
    /// The REFER's CSeq number: the `id` of its implicit subscription.
    pub cseq: u32,
    /// False when the phone sent `Refer-Sub: false` (RFC 4488): no NOTIFY at all.
    pub subscribed: bool,
}

impl Leg {
    pub fn is_inbound(&self) -> bool {
        matches!(self.kind, LegKind::Inbound { .. })
    }

    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }
}
