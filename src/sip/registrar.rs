//! The registrar for seat phones (RFC 3261 §10.3) and the digest check shared with
//! authenticated INVITEs.
//!
//! A seat has one phone: a REGISTER naming several contacts is refused with 400, and a new
//! contact replaces the one registered before. An unknown account and a wrong password get
//! the same 403, so nobody can learn which accounts exist, and a source address that keeps
//! failing is refused for a while without its credentials being checked.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::digest::{self, Algorithm, Credentials, NonceCheck, NonceIssuer};
use super::message::{self, Request, Response};
use super::{Peer, Transport};
use crate::timer::TimerTable;

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub realm: String,
    pub nonce_lifetime: Duration,
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Failed attempts from one address within `failure_window` before it is refused.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// How long an address that failed too often is refused.
    pub block_time: Duration,
    /// Digest algorithms offered, one challenge each, in this order. Many desk phones (and
    /// SIPp) answer only the first challenge and know only MD5, so MD5 comes first by default.
    pub algorithms: Vec<Algorithm>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            realm: "hotline-bridge".into(),
            nonce_lifetime: Duration::from_secs(300),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 600,
            max_failures: 10,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        }
    }
}

/// Where a registered seat can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: String,
    pub peer: Peer,
    pub expires_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    Online { user: String },
    Offline { user: String },
}

/// The result of checking a request's credentials.
#[derive(Debug)]
pub enum AuthCheck {
    /// The request carries valid credentials for this account.
    Authenticated(String),
    /// Send this response (401/407 challenge or 403) and stop.
    Refused(Response),
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    window_start: Option<Instant>,
    blocked_until: Option<Instant>,
}

pub struct Registrar {
    config: RegistrarConfig,
    nonces: NonceIssuer,
    passwords: HashMap<String, String>,
    bindings: HashMap<String, Binding>,
    expiry: TimerTable<String>,
    failures: HashMap<IpAddr, Failures>,
    events: VecDeque<RegistrarEvent>,
}

impl Registrar {
    pub fn new(
        config: RegistrarConfig,
        passwords: HashMap<String, String>,
        secret: [u8; 32],
        now: Instant,
    ) -> Self {
        Self {
            nonces: NonceIssuer::new(secret, now, config.nonce_lifetime),
            config,
            passwords,
            bindings: HashMap::new(),
            expiry: TimerTable::default(),
            failures: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    pub fn binding(&self, user: &str) -> Option<&Binding> {
        self.bindings.get(user)
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.next_deadline()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(user) = self.expiry.pop_expired(now) {
            if self.bindings.remove(&user).is_some() {
                self.events.push_back(RegistrarEvent::Offline { user });
            }
        }
    }

    /// Checks digest credentials on any request. `proxy` selects 407 and
    /// Proxy-Authorization (for INVITE) over 401 and Authorization (for REGISTER).
    pub fn authenticate(
        &mut self,
        request: &Request,
        peer: Peer,
        proxy: bool,
        now: Instant,
    ) -> AuthCheck {
        if self.is_blocked(peer.addr.ip(), now) {
            return AuthCheck::Refused(message::response_to(request, 403));
        }
        let header_name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let Some(value) = message::header(&request.headers, header_name) else {
            return AuthCheck::Refused(self.challenge(request, proxy, false, now));
        };
        let credentials = message::auth_params(value)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("digest"))
            .and_then(|(_, params)| Credentials::from_params(&params));
        let Some(credentials) = credentials else {
            self.note_failure(peer.addr.ip(), now);
            return AuthCheck::Refused(message::response_to(request, 400));
        };
        if credentials.realm != self.config.realm {
            return AuthCheck::Refused(self.challenge(request, proxy, false, now));
        }
        match self.nonces.check(&credentials.nonce, now) {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => {
                return AuthCheck::Refused(self.challenge(request, proxy, true, now));
            }
            NonceCheck::Forged => {
                return AuthCheck::Refused(self.challenge(request, proxy, false, now));
            }
        }
        let method = request.method.to_string();
        let offered = Algorithm::parse(credentials.algorithm.as_deref())
            .is_some_and(|a| self.config.algorithms.contains(&a));
        if !offered {
            self.note_failure(peer.addr.ip(), now);
            return AuthCheck::Refused(message::response_to(request, 403));
        }
        let valid = match self.passwords.get(&credentials.username) {
            Some(password) => digest::verify(&credentials, password, &method),
            // Do the same work for an unknown account so timing tells nothing either.
            None => {
                digest::verify(&credentials, "\u{0}unknown", &method);
                false
            }
        };
        if valid {
            AuthCheck::Authenticated(credentials.username)
        } else {
            self.note_failure(peer.addr.ip(), now);
            AuthCheck::Refused(message::response_to(request, 403))
        }
    }

    fn challenge(&self, request: &Request, proxy: bool, stale: bool, now: Instant) -> Response {
        let mut response = message::response_to(request, if proxy { 407 } else { 401 });
        let header_name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let nonce = self.nonces.issue(now);
        let stale = if stale { ", stale=true" } else { "" };
        // RFC 8760 §2.4: one challenge per algorithm, the preferred one first.
        for algorithm in &self.config.algorithms {
            message::push_header(
                &mut response.headers,
                header_name,
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    self.config.realm,
                    algorithm.name()
                ),
            );
        }
        response
    }

    fn is_blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(entry) = self.failures.get_mut(&ip) else {
            return false;
        };
        match entry.blocked_until {
            Some(until) if until > now => true,
            Some(_) => {
                self.failures.remove(&ip);
                false
            }
            None => false,
        }
    }

    fn note_failure(&mut self, ip: IpAddr, now: Instant) {
        let entry = self.failures.entry(ip).or_default();
        let window_over = entry
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) > self.config.failure_window);
        if window_over {
            entry.window_start = Some(now);
            entry.count = 0;
        }
        entry.count += 1;
        if entry.count >= self.config.max_failures {
            tracing::warn!(source = %ip, "too many failed authentications; refusing for a while");
            entry.blocked_until = Some(now + self.config.block_time);
        }
    }

    /// Handles a REGISTER and returns the response to send.
    pub fn on_register(&mut self, request: &Request, peer: Peer, now: Instant) -> Response {
        let user = match self.authenticate(request, peer, false, now) {
            AuthCheck::Authenticated(user) => user,
            AuthCheck::Refused(response) => return response,
        };
        let to_user = message::header(&request.headers, "To")
            .and_then(|to| message::uri_of(to).ok())
            .and_then(|uri| message::target(&uri).ok())
            .and_then(|t| t.user);
        if to_user.as_deref() != Some(user.as_str()) {
            // Credentials of one seat may not register another.
            return message::response_to(request, 403);
        }

        let contacts = message::headers_named(&request.headers, "Contact")
            .into_iter()
            .flat_map(split_contacts)
            .collect::<Vec<_>>();
        if contacts.len() > 1 {
            let mut response = message::response_to(request, 400);
            response.wire_reason = Some("One contact per seat".into());
            return response;
        }
        let header_expires =
            message::header(&request.headers, "Expires").and_then(|v| v.parse::<u32>().ok());

        if let Some(contact) = contacts.first() {
            if contact.trim() == "*" {
                self.unbind(&user);
                return message::response_to(request, 200);
            }
            let expires = contact_expires(contact)
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if expires == 0 {
                self.unbind(&user);
                return message::response_to(request, 200);
            }
            if expires < self.config.min_expires {
                let mut response = message::response_to(request, 423);
                message::push_header(
                    &mut response.headers,
                    "Min-Expires",
                    self.config.min_expires.to_string(),
                );
                return response;
            }
            let expires = expires.min(self.config.max_expires);
            let Ok(uri) = message::uri_of(contact) else {
                return message::response_to(request, 400);
            };
            let Some(reach) = reach_of(&uri, peer) else {
                return message::response_to(request, 400);
            };
            let was_bound = self.bindings.contains_key(&user);
            self.bindings.insert(
                user.clone(),
                Binding {
                    contact: uri,
                    peer: reach,
                    expires_at: now + Duration::from_secs(expires.into()),
                },
            );
            self.expiry
                .set(user.clone(), now + Duration::from_secs(expires.into()));
            if !was_bound {
                tracing::info!(seat = %user, contact = %reach, "seat registered");
                self.events
                    .push_back(RegistrarEvent::Online { user: user.clone() });
            }
        }

        let mut response = message::response_to(request, 200);
        if let Some(binding) = self.bindings.get(&user) {
            let left = binding.expires_at.saturating_duration_since(now).as_secs();
            message::push_header(
                &mut response.headers,
                "Contact",
                format!("<{}>;expires={left}", binding.contact),
            );
        }
        response
    }

    fn unbind(&mut self, user: &str) {
        if self.bindings.remove(user).is_some() {
            self.expiry.cancel(&user.to_string());
            tracing::info!(seat = %user, "seat unregistered");
            self.events.push_back(RegistrarEvent::Offline {
                user: user.to_string(),
            });
        }
    }
}

/// Where to send requests for a contact: over TCP, back through the connection the seat
/// registered on; over UDP, to the contact's own address.
fn reach_of(contact_uri: &str, peer: Peer) -> Option<Peer> {
    if peer.transport == Transport::Tcp {
        return Some(peer);
    }
    let target = message::target(contact_uri).ok()?;
    let addr = target.addr.unwrap_or(peer.addr);
    Some(Peer {
        transport: if target.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        addr,
    })
}

/// Splits a Contact header value on the commas between contacts, not those inside quotes
/// or angle brackets.
fn split_contacts(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut in_quotes, mut in_angle) = (false, false);
    for c in value.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

fn contact_expires(contact: &str) -> Option<u32> {
    let params = contact.rsplit_once('>').map(|(_, p)| p).unwrap_or(contact);
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("expires")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::SipMessage;

    const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1\r\n\
        From: <sip:1001@127.0.0.1>;tag=r1\r\n\
        To: <sip:1001@127.0.0.1>\r\n\
        Call-ID: reg-1\r\n\
        CSeq: 1 REGISTER\r\n\
        Contact: <sip:1001@127.0.0.1:5070>;expires=120\r\n\
        Content-Length: 0\r\n\r\n";

    fn request(text: &str) -> Request {
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            _ => panic!("a request"),
        }
    }

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: "127.0.0.1:5070".parse().unwrap(),
        }
    }

    fn registrar(now: Instant) -> Registrar {
        let passwords = HashMap::from([("1001".to_string(), "secret-1001".to_string())]);
        Registrar::new(RegistrarConfig::default(), passwords, [1; 32], now)
    }

    /// Answers a challenge the way a phone would, with `password`.
    fn with_credentials(
        challenge: &Response,
        user: &str,
        password: &str,
        algorithm: &str,
    ) -> Request {
        let header = message::headers_named(&challenge.headers, "WWW-Authenticate")
            .into_iter()
            .find(|h| h.contains(algorithm))
            .expect("a challenge for the algorithm")
            .to_string();
        let (_, params) = message::auth_params(&header).unwrap();
        let nonce = params
            .iter()
            .find(|(k, _)| k == "nonce")
            .unwrap()
            .1
            .trim_matches('"')
            .to_string();
        let mut credentials = Credentials {
            username: user.into(),
            realm: "hotline-bridge".into(),
            nonce,
            uri: "sip:127.0.0.1".into(),
            response: String::new(),
            algorithm: Some(algorithm.into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("c0ffee".into()),
        };
        let alg = Algorithm::parse(Some(algorithm)).unwrap();
        credentials.response =
            digest::expected_response(alg, &credentials, password, "REGISTER").unwrap();
        let text = REGISTER.replace(
            "Content-Length: 0",
            &format!(
                "Authorization: Digest username=\"{user}\", realm=\"hotline-bridge\", nonce=\"{}\", uri=\"sip:127.0.0.1\", response=\"{}\", algorithm={algorithm}, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\nContent-Length: 0",
                credentials.nonce, credentials.response
            ),
        );
        request(&text.replace("sip:1001@", &format!("sip:{user}@")))
    }

    #[test]
    fn a_seat_registers_with_md5_or_sha256_and_goes_online() {
        for algorithm in ["MD5", "SHA-256"] {
            let now = Instant::now();
            let mut registrar = registrar(now);
            let challenge = registrar.on_register(&request(REGISTER), peer(), now);
            assert_eq!(message::status(&challenge), 401);

            let response = registrar.on_register(
                &with_credentials(&challenge, "1001", "secret-1001", algorithm),
                peer(),
                now,
            );
            assert_eq!(message::status(&response), 200, "{algorithm}");
            assert_eq!(
                registrar.binding("1001").unwrap().contact,
                "sip:1001@127.0.0.1:5070"
            );
            assert_eq!(
                registrar.poll_event(),
                Some(RegistrarEvent::Online {
                    user: "1001".into()
                })
            );

            registrar.handle_timeout(now + Duration::from_secs(121));
            assert_eq!(
                registrar.poll_event(),
                Some(RegistrarEvent::Offline {
                    user: "1001".into()
                })
            );
        }
    }

    #[test]
    fn a_wrong_password_and_an_unknown_account_look_the_same() {
        let now = Instant::now();
        let mut registrar = registrar(now);
        let challenge = registrar.on_register(&request(REGISTER), peer(), now);
        let wrong = registrar.on_register(
            &with_credentials(&challenge, "1001", "guess", "MD5"),
            peer(),
            now,
        );
        let unknown = registrar.on_register(
            &with_credentials(&challenge, "9999", "guess", "MD5"),
            peer(),
            now,
        );
        assert_eq!(message::status(&wrong), 403);
        assert_eq!(message::status(&unknown), 403);
        assert_eq!(wrong.headers.len(), unknown.headers.len());
    }

    #[test]
    fn repeated_failures_block_the_source_even_with_the_right_password() {
        let now = Instant::now();
        let mut registrar = registrar(now);
        let challenge = registrar.on_register(&request(REGISTER), peer(), now);
        for _ in 0..10 {
            registrar.on_register(
                &with_credentials(&challenge, "1001", "guess", "MD5"),
                peer(),
                now,
            );
        }
        let right = with_credentials(&challenge, "1001", "secret-1001", "MD5");
        assert_eq!(
            message::status(&registrar.on_register(&right, peer(), now)),
            403
        );
        let later = now + Duration::from_secs(301);
        let challenge = registrar.on_register(&request(REGISTER), peer(), later);
        let right = with_credentials(&challenge, "1001", "secret-1001", "MD5");
        assert_eq!(
            message::status(&registrar.on_register(&right, peer(), later)),
            200
        );
    }

    #[test]
    fn an_expired_nonce_gets_a_stale_challenge() {
        let now = Instant::now();
        let mut registrar = registrar(now);
        let challenge = registrar.on_register(&request(REGISTER), peer(), now);
        let answer = with_credentials(&challenge, "1001", "secret-1001", "MD5");
        let response = registrar.on_register(&answer, peer(), now + Duration::from_secs(301));
        assert_eq!(message::status(&response), 401);
        assert!(message::header(&response.headers, "WWW-Authenticate")
            .unwrap()
            .contains("stale=true"));
    }

    #[test]
    fn several_contacts_in_one_register_are_refused() {
        assert_eq!(
            split_contacts("<sip:a@1.2.3.4>;expires=60, \"B, x\" <sip:b@1.2.3.4>").len(),
            2
        );
        assert_eq!(contact_expires("<sip:a@1.2.3.4;x=1>;expires=60"), Some(60));
    }
}
