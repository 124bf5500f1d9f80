//! The one place that touches the `rsipstack` crate: parsing, header access and
//! serialisation of SIP messages. Everything else in the service goes through these
//! functions, so a change of the stack's API stays in this file.

use std::net::{IpAddr, SocketAddr};

use rsipstack::sip::headers::make_header;
use rsipstack::sip::typed::tokenizers::AuthTokenizer;
use rsipstack::sip::{Header, Headers, Host, Param, Scheme, StatusCode, Version};

pub use rsipstack::sip::{Method, Request, Response, SipMessage};

/// Why a message could not be used; the text goes into the reason of a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("unparsable message: {0}")]
    Unparsable(String),
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("unsupported URI {0}")]
    UnsupportedUri(String),
}

pub fn parse(data: &[u8]) -> Result<SipMessage, MessageError> {
    rsipstack::sip::parser::parse_message(data).map_err(|e| {
        let text = e.to_string();
        MessageError::Unparsable(text.chars().filter(|c| !c.is_control()).take(120).collect())
    })
}

/// The headers that identify a message's transaction and dialog (RFC 3261 §8.1.1, §17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub call_id: String,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
    pub cseq: u32,
    pub cseq_method: Method,
    /// The top Via's branch parameter.
    pub branch: String,
    /// The top Via's sent-by, as written.
    pub sent_by: String,
}

pub fn keys(headers: &Headers) -> Result<Keys, MessageError> {
    let via = header(headers, "Via").ok_or(MessageError::Missing("Via"))?;
    let top_via = via.split(',').next().unwrap_or(via);
    let typed_via =
        rsipstack::sip::typed::Via::parse(top_via).map_err(|_| MessageError::Malformed("Via"))?;
    let branch = typed_via
        .branch()
        .map(|b| b.to_string())
        .ok_or(MessageError::Malformed("Via"))?;

    let call_id = header(headers, "Call-ID").ok_or(MessageError::Missing("Call-ID"))?;
    let from = header(headers, "From").ok_or(MessageError::Missing("From"))?;
    let to = header(headers, "To").ok_or(MessageError::Missing("To"))?;
    let cseq = header(headers, "CSeq").ok_or(MessageError::Missing("CSeq"))?;
    let cseq =
        rsipstack::sip::typed::CSeq::parse(cseq).map_err(|_| MessageError::Malformed("CSeq"))?;

    Ok(Keys {
        call_id: call_id.trim().to_string(),
        from_tag: tag_of(from, "From")?,
        to_tag: tag_of(to, "To")?,
        cseq: cseq.seq,
        cseq_method: cseq.method,
        branch,
        sent_by: typed_via.sent_by().to_string(),
    })
}

fn tag_of(value: &str, name: &'static str) -> Result<Option<String>, MessageError> {
    rsipstack::sip::headers::From::new(value)
        .tag()
        .map(|tag| tag.map(|t| t.to_string()))
        .map_err(|_| MessageError::Malformed(name))
}

/// The first header called `name` (compact forms included), its value trimmed.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().trim())
}

/// Every header called `name`, in order.
pub fn headers_named<'a>(headers: &'a Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().trim())
        .collect()
}

pub fn push_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    headers.push(make_header(name, value.into()));
}

pub fn remove_headers(headers: &mut Headers, name: &str) {
    headers.retain(|h| !h.name().eq_ignore_ascii_case(name));
}

/// The URI inside a name-addr header value such as From, To or Contact.
pub fn uri_of(value: &str) -> Result<String, MessageError> {
    rsipstack::sip::typed::Contact::parse(value)
        .map(|c| c.uri.to_string())
        .map_err(|_| MessageError::Malformed("name-addr"))
}

/// A header value with its `;tag=` set to `tag`.
pub fn with_tag(value: &str, tag: &str) -> String {
    format!("{};tag={tag}", value.trim())
}

/// The user part, host and port of a SIP URI; only IP hosts are resolved (no DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub addr: Option<SocketAddr>,
    pub tcp: bool,
}

pub fn target(uri: &str) -> Result<Target, MessageError> {
    let parsed = rsipstack::sip::parse_uri(uri)
        .map_err(|_| MessageError::UnsupportedUri(uri.chars().take(80).collect()))?;
    if !matches!(parsed.scheme, Some(Scheme::Sip) | None) {
        return Err(MessageError::UnsupportedUri(uri.chars().take(80).collect()));
    }
    let ip: Option<IpAddr> = match &parsed.host_with_port.host {
        Host::IpAddr(ip) => Some(*ip),
        Host::Domain(domain) => domain.to_string().parse().ok(),
    };
    let port: u16 = parsed
        .host_with_port
        .port
        .as_ref()
        .map(|p| p.value().to_owned())
        .unwrap_or(5060);
    let tcp = parsed.params.iter().any(|p| match p {
        Param::Transport(t) => t.to_string().eq_ignore_ascii_case("tcp"),
        _ => false,
    });
    Ok(Target {
        user: parsed.user().map(str::to_string),
        addr: ip.map(|ip| SocketAddr::new(ip, port)),
        tcp,
    })
}

/// The parameters of a digest Authorization header, exactly as the client wrote them.
pub fn auth_params(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let tokens = AuthTokenizer::parse(value).ok()?;
    let params = tokens
        .params
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Some((tokens.scheme.to_string(), params))
}

/// A response to `request` with the headers RFC 3261 §8.2.6.2 says to copy.
pub fn response_to(request: &Request, status: u16) -> Response {
    let mut headers = Headers::default();
    for h in request.headers.iter() {
        if matches!(
            h,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            headers.push(h.clone());
        }
    }
    Response {
        status_code: StatusCode::from(status),
        wire_reason: None,
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Sets the To tag of a response built by [`response_to`] if it has none.
pub fn set_to_tag(response: &mut Response, tag: &str) {
    for h in response.headers.iter_mut() {
        if let Header::To(to) = h {
            let has_tag = to.tag().ok().flatten().is_some();
            if !has_tag {
                let value = with_tag(to.value(), tag);
                to.replace(value);
            }
        }
    }
}

pub fn new_request(method: Method, uri: &str) -> Result<Request, MessageError> {
    let uri = rsipstack::sip::parse_uri(uri)
        .map_err(|_| MessageError::UnsupportedUri(uri.chars().take(80).collect()))?;
    Ok(Request {
        method,
        uri,
        version: Version::V2,
        headers: Headers::default(),
        body: Vec::new(),
    })
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> String {
    StatusCode::from(status).text().to_string()
}

pub fn status(response: &Response) -> u16 {
    response.status_code.code()
}

pub fn request_uri(request: &Request) -> String {
    request.uri.to_string()
}

pub fn request_user(request: &Request) -> Option<String> {
    request.uri.user().map(str::to_string)
}

/// Serialises a request or response with a Content-Length that matches its body.
pub fn encode(message: &SipMessage) -> Vec<u8> {
    match message {
        SipMessage::Request(r) => {
            let mut r = r.clone();
            set_length(&mut r.headers, r.body.len());
            r.to_bytes()
        }
        SipMessage::Response(r) => {
            let mut r = r.clone();
            set_length(&mut r.headers, r.body.len());
            r.to_bytes()
        }
    }
}

fn set_length(headers: &mut Headers, len: usize) {
    remove_headers(headers, "Content-Length");
    push_header(headers, "Content-Length", len.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport\r\n\
        f: <sip:13800000000@127.0.0.1>;tag=abc\r\n\
        t: <sip:12345@127.0.0.1>\r\n\
        i: call-1@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        m: <sip:13800000000@127.0.0.1:5061>\r\n\
        l: 0\r\n\r\n";

    #[test]
    fn compact_headers_give_the_transaction_and_dialog_keys() {
        let SipMessage::Request(request) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("a request");
        };
        let keys = keys(&request.headers).unwrap();
        assert_eq!(keys.call_id, "call-1@127.0.0.1");
        assert_eq!(keys.from_tag.as_deref(), Some("abc"));
        assert_eq!(keys.to_tag, None);
        assert_eq!(keys.cseq, 1);
        assert_eq!(keys.cseq_method, Method::Invite);
        assert_eq!(keys.branch, "z9hG4bK-1");
        assert_eq!(request_user(&request).as_deref(), Some("12345"));
    }

    #[test]
    fn a_missing_call_id_is_named() {
        let text = INVITE.replace("i: call-1@127.0.0.1\r\n", "");
        let SipMessage::Request(request) = parse(text.as_bytes()).unwrap() else {
            panic!("a request");
        };
        assert_eq!(
            keys(&request.headers),
            Err(MessageError::Missing("Call-ID"))
        );
    }

    #[test]
    fn a_response_copies_the_dialog_headers_and_gets_a_to_tag() {
        let SipMessage::Request(request) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("a request");
        };
        let mut response = response_to(&request, 180);
        set_to_tag(&mut response, "xyz");
        let text = String::from_utf8(encode(&SipMessage::Response(response))).unwrap();
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(text.contains(";tag=xyz"));
        assert!(text.contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn a_target_resolves_ip_hosts_and_the_transport() {
        let t = target("sip:1001@127.0.0.1:5070;transport=tcp").unwrap();
        assert_eq!(t.user.as_deref(), Some("1001"));
        assert_eq!(t.addr, Some("127.0.0.1:5070".parse().unwrap()));
        assert!(t.tcp);
        assert!(target("tel:+8612345").is_err());
    }
}
