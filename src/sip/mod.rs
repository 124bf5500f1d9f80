//! SIP signalling: messages, stream framing, transactions, digest authentication and the
//! registrar. All of it is sans-IO; sockets live in `server`.

pub mod digest;
pub mod framing;
pub mod message;
pub mod registrar;
pub mod transaction;

use std::fmt;
use std::net::SocketAddr;

/// A transport and remote address: where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Whether the transport itself retransmits (RFC 3261 §17: timers A, E and G run only
    /// over unreliable transports).
    pub fn reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.transport.via_name().to_lowercase(),
            self.addr
        )
    }
}
