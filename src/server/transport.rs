//! SIP sockets: one UDP socket and a TCP listener on the same address, and the TCP
//! connections opened from either side. Received messages go to the engine's channel;
//! the engine's transmissions come back through [`Transport::send`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::sip::framing::{next_frame, Frame};
use crate::sip::{Peer, Transport as Kind};

/// A message as it arrived, for the engine.
#[derive(Debug)]
pub struct Received {
    pub from: Peer,
    pub bytes: Vec<u8>,
}

type Connections = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

#[derive(Clone)]
pub struct Transport {
    udp: Arc<UdpSocket>,
    connections: Connections,
    inbox: mpsc::Sender<Received>,
}

impl Transport {
    /// Binds UDP and TCP on `addr` and starts receiving into `inbox`.
    pub async fn bind(addr: SocketAddr, inbox: mpsc::Sender<Received>) -> std::io::Result<Self> {
        let udp = Arc::new(UdpSocket::bind(addr).await?);
        let listener = TcpListener::bind(addr).await?;
        let transport = Self {
            udp,
            connections: Arc::default(),
            inbox,
        };
        tokio::spawn(transport.clone().receive_udp());
        tokio::spawn(transport.clone().accept_tcp(listener));
        Ok(transport)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    pub fn send(&self, to: Peer, bytes: Vec<u8>) {
        match to.transport {
            Kind::Udp => {
                if let Err(error) = self.udp.try_send_to(&bytes, to.addr) {
                    tracing::debug!(peer = %to, %error, "UDP send failed");
                }
            }
            Kind::Tcp => {
                let existing = self
                    .connections
                    .lock()
                    .expect("connections")
                    .get(&to.addr)
                    .cloned();
                match existing {
                    Some(writer) => {
                        let _ = writer.send(bytes);
                    }
                    None => {
                        let transport = self.clone();
                        tokio::spawn(async move {
                            match TcpStream::connect(to.addr).await {
                                Ok(stream) => {
                                    let writer = transport.serve_tcp(stream, to.addr);
                                    let _ = writer.send(bytes);
                                }
                                Err(error) => {
                                    tracing::info!(peer = %to, %error, "TCP connect failed");
                                }
                            }
                        });
                    }
                }
            }
        }
    }

    async fn receive_udp(self) {
        let mut buf = vec![0u8; 65_535];
        loop {
            match self.udp.recv_from(&mut buf).await {
                Ok((len, addr)) => {
                    // RFC 5626 §3.5.1 keep-alives and stray bytes are not messages.
                    if len < 16 {
                        continue;
                    }
                    let received = Received {
                        from: Peer {
                            transport: Kind::Udp,
                            addr,
                        },
                        bytes: buf[..len].to_vec(),
                    };
                    if self.inbox.send(received).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::debug!(%error, "UDP receive error"),
            }
        }
    }

    async fn accept_tcp(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    self.serve_tcp(stream, addr);
                }
                Err(error) => tracing::warn!(%error, "TCP accept failed"),
            }
        }
    }

    /// Starts the reader and writer tasks of one connection; returns its writer.
    fn serve_tcp(&self, stream: TcpStream, addr: SocketAddr) -> mpsc::UnboundedSender<Vec<u8>> {
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        self.connections
            .lock()
            .expect("connections")
            .insert(addr, tx.clone());
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let transport = self.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 8192];
            'read: loop {
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                loop {
                    match next_frame(&buf) {
                        Ok(Frame::Incomplete) => break,
                        Ok(Frame::KeepAlive(n)) => {
                            buf.drain(..n);
                        }
                        Ok(Frame::Message(n)) => {
                            let bytes: Vec<u8> = buf.drain(..n).collect();
                            let received = Received {
                                from: Peer {
                                    transport: Kind::Tcp,
                                    addr,
                                },
                                bytes,
                            };
                            if transport.inbox.send(received).await.is_err() {
                                break 'read;
                            }
                        }
                        Err(error) => {
                            // Framing is lost for good on a stream: drop the connection.
                            tracing::info!(peer = %addr, %error, "closing TCP connection");
                            break 'read;
                        }
                    }
                }
            }
            transport
                .connections
                .lock()
                .expect("connections")
                .remove(&addr);
        });
        tx
    }
}
