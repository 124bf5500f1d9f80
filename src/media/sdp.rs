//! Audio offer/answer (RFC 3264) for G.711 and telephone-events, over the `sdp` crate's
//! parser. Only the first audio stream is used; video and other streams are refused with
//! port 0 in the answer.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// The audio codecs the service relays, with their static payload types (RFC 3551 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// RFC 3264 §6.1 directions, as the sender of the description sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction to answer with (RFC 3264 §6.1): sendonly is met with recvonly.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// What a remote party's description says about its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP; `None` when the stream is on hold with the address 0.0.0.0.
    pub rtp: Option<SocketAddr>,
    /// Codecs the service supports, in the remote party's order of preference.
    pub codecs: Vec<(Codec, u8)>,
    /// The payload type of `telephone-event/8000`, if offered.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

impl RemoteMedia {
    pub fn preferred(&self) -> Option<(Codec, u8)> {
        self.codecs.first().copied()
    }
}

/// What the service puts in its own description for one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub address: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
    pub codecs: Vec<Codec>,
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("unparsable SDP: {0}")]
    Unparsable(String),
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP offers no codec in common (PCMU, PCMA)")]
    NoCommonCodec,
    #[error("SDP connection address {0:?} is not an IP address")]
    BadAddress(String),
}

/// Payload type the service offers for telephone-events when it makes the offer.
pub const DEFAULT_TELEPHONE_EVENT: u8 = 101;

pub fn parse(body: &[u8]) -> Result<RemoteMedia, SdpError> {
    let description = sdp::SessionDescription::unmarshal(&mut Cursor::new(body))
        .map_err(|e| SdpError::Unparsable(e.to_string()))?;
    let audio = description
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio")
        .ok_or(SdpError::NoAudio)?;

    let connection = audio
        .connection_information
        .as_ref()
        .or(description.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.clone())
        .ok_or(SdpError::BadAddress(String::new()))?;
    let ip: IpAddr = connection
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| SdpError::BadAddress(connection.clone()))?;
    let port = u16::try_from(audio.media_name.port.value).unwrap_or(0);
    let rtp = (!ip.is_unspecified() && port != 0).then(|| SocketAddr::new(ip, port));

    let rtpmap = |pt: &str| {
        audio.attributes.iter().find_map(|a| {
            let value = a.value.as_deref()?;
            let (num, encoding) = value.split_once(' ')?;
            (a.key == "rtpmap" && num == pt).then(|| encoding.to_ascii_lowercase())
        })
    };

    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for format in &audio.media_name.formats {
        let Ok(pt) = format.parse::<u8>() else {
            continue;
        };
        let encoding = rtpmap(format);
        let codec = match (pt, encoding.as_deref()) {
            (_, Some(e)) if e.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(e)) if e.starts_with("pcma/8000") => Some(Codec::Pcma),
            (_, Some(e)) if e.starts_with("telephone-event/8000") => {
                telephone_event.get_or_insert(pt);
                None
            }
            (0, None) => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            _ => None,
        };
        if let Some(codec) = codec {
            codecs.push((codec, pt));
        }
    }

    let direction = [
        ("sendonly", Direction::SendOnly),
        ("recvonly", Direction::RecvOnly),
        ("inactive", Direction::Inactive),
        ("sendrecv", Direction::SendRecv),
    ]
    .into_iter()
    .find(|(key, _)| audio.has_attribute(key) || description.has_attribute(key))
    .map(|(_, d)| d)
    .unwrap_or(if rtp.is_none() {
        Direction::Inactive
    } else {
        Direction::SendRecv
    });

    Ok(RemoteMedia {
        rtp,
        codecs,
        telephone_event,
        direction,
    })
}

pub fn render(local: &LocalMedia) -> String {
    let family = if local.address.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let mut formats: Vec<String> = local
        .codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    if let Some(pt) = local.telephone_event {
        formats.push(pt.to_string());
    }
    let mut text = format!(
        "v=0\r\no=hotline-bridge {id} {version} IN {family} {addr}\r\ns=hotline-bridge\r\n\
         c=IN {family} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n",
        id = local.session_id,
        version = local.version,
        addr = local.address,
        port = local.port,
        formats = formats.join(" "),
    );
    for codec in &local.codecs {
        text += &format!(
            "a=rtpmap:{} {}/8000\r\n",
            codec.payload_type(),
            codec.name()
        );
    }
    if let Some(pt) = local.telephone_event {
        text += &format!("a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n");
    }
    text += "a=ptime:20\r\n";
    text += &format!("a={}\r\n", local.direction.attribute());
    text
}

/// The codecs to offer a seat on behalf of a caller: the caller's supported codecs in its
/// order, so that whatever the seat picks, the caller can take too and no transcoding is
/// needed. Without a caller offer (a late offer), everything the service supports.
pub fn codecs_to_offer(caller: Option<&RemoteMedia>) -> Result<Vec<Codec>, SdpError> {
    match caller {
        None => Ok(Codec::ALL.to_vec()),
        Some(offer) if offer.codecs.is_empty() => Err(SdpError::NoCommonCodec),
        Some(offer) => Ok(offer.codecs.iter().map(|(c, _)| *c).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 18 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 7000 RTP/AVP 0\r\na=sendonly\r\n";

    #[test]
    fn static_payload_types_without_rtpmap_are_known() {
        let media = parse(SIPP_OFFER.as_bytes()).unwrap();
        assert_eq!(media.rtp, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(media.codecs, vec![(Codec::Pcma, 8), (Codec::Pcmu, 0)]);
        assert_eq!(media.telephone_event, Some(101));
        assert_eq!(media.direction, Direction::SendRecv);
    }

    #[test]
    fn hold_is_read_and_answered_with_recvonly() {
        let media = parse(HOLD.as_bytes()).unwrap();
        assert_eq!(media.direction, Direction::SendOnly);
        assert_eq!(media.direction.answer(), Direction::RecvOnly);
    }

    #[test]
    fn an_offer_without_g711_has_nothing_in_common() {
        let g729 = SIPP_OFFER.replace("RTP/AVP 8 0 18 101", "RTP/AVP 18");
        let media = parse(g729.as_bytes()).unwrap();
        assert_eq!(codecs_to_offer(Some(&media)), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"m=audio banana").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn a_rendered_description_parses_back() {
        let local = LocalMedia {
            address: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 7,
            version: 1,
            codecs: vec![Codec::Pcma],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
        };
        let back = parse(render(&local).as_bytes()).unwrap();
        assert_eq!(back.rtp, Some("127.0.0.1:20000".parse().unwrap()));
        assert_eq!(back.codecs, vec![(Codec::Pcma, 8)]);
        assert_eq!(back.telephone_event, Some(101));
    }
}
