//! Configuration: reading `hotline-bridge.toml` and the SIP profiles, and checking them
//! as a whole. Every problem is reported as `file: key: what is wrong`, all at once.

mod file;

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::api::{ApiToken, Role};
use crate::b2bua::{EngineConfig, SeatReach, Source, TrunkAcl};
use crate::control::{ControlConfig, HandoffMode, HotlineInfo, KeyMap, SeatInfo};
use crate::rules::{load_categories, CategoryFile};
use crate::sip::digest::Algorithm;
use crate::sip::message;
use crate::sip::registrar::RegistrarConfig;
use crate::tickets::calendar::{Calendar, CalendarFile};
use crate::tickets::outbox::PeerConfig;
use file::{KeysSection, SeatsFile, ServiceFile, TrunksFile};

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
    }
}

/// Everything found wrong, one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<Problem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// The checked configuration the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sip_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// Bearer tokens of the HTTP API, each with its role.
    pub api_tokens: Vec<ApiToken>,
    pub rtp_timeout: Duration,
    pub database_url: String,
    pub recordings_dir: PathBuf,
    pub shutdown_grace: Duration,
    /// Working days for ticket deadlines.
    pub calendar: Calendar,
    /// The other platform, when one is configured.
    pub peer: Option<PeerConfig>,
    /// How long the other platform has to accept a handoff.
    pub accept_within: Duration,
    /// The engine's configuration; its secret is filled in at start-up.
    pub engine: EngineConfig,
}

pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    let service: Option<ServiceFile> = read_toml(path, &mut problems);
    let Some(service) = service else {
        return Err(ConfigError(problems));
    };
    let profiles = PathBuf::from(&service.sip.profiles);
    let trunks_path = profiles.join("trunks.toml");
    let seats_path = profiles.join("seats.toml");
    let trunks: TrunksFile = read_toml(&trunks_path, &mut problems).unwrap_or_default();
    let categories_path = PathBuf::from(&service.rules.categories);
    let category_file: Option<CategoryFile> = read_toml(&categories_path, &mut problems);
    let calendar_path = PathBuf::from(&service.tickets.calendar);
    let calendar_file: Option<CalendarFile> = read_toml(&calendar_path, &mut problems);
    let calendar = calendar_file.and_then(|file| match Calendar::from_file(&file) {
        Ok(calendar) => Some(calendar),
        Err(calendar_problems) => {
            for (key, message) in calendar_problems {
                problems.push(Problem {
                    file: calendar_path.clone(),
                    key,
                    message,
                });
            }
            None
        }
    });
    let seats: SeatsFile = read_toml(&seats_path, &mut problems).unwrap_or_default();

    let mut check = Checker {
        problems,
        file: path.to_path_buf(),
    };
    let sip_listen = check.addr("sip.listen", &service.sip.listen);
    let advertised = service
        .sip
        .advertised
        .as_deref()
        .map(|a| check.addr("sip.advertised", a))
        .unwrap_or(sip_listen);
    let http_listen = check.addr("http.listen", &service.http.listen);
    let mut api_tokens = Vec::new();
    for (i, token) in service.http.tokens.iter().enumerate() {
        let key = format!("http.token[{i}]");
        let Some(role) = Role::parse(&token.role) else {
            check.problem(
                &format!("{key}.role"),
                format!(
                    "{:?} is not a role (operator, auditor, peer, admin)",
                    token.role
                ),
            );
            continue;
        };
        if token.token.len() < 16 {
            check.problem(
                &format!("{key}.token"),
                format!("token {} is shorter than 16 characters", token.name),
            );
        }
        if token.token.starts_with("demo-") && !http_listen.ip().is_loopback() {
            check.problem(
                &format!("{key}.token"),
                format!(
                    "token {} is a demo token, which is only allowed when HTTP listens on loopback",
                    token.name
                ),
            );
        }
        if api_tokens
            .iter()
            .any(|t: &ApiToken| t.secret == token.token)
        {
            check.problem(
                &format!("{key}.token"),
                format!("token {} repeats another token", token.name),
            );
        }
        api_tokens.push(ApiToken {
            name: token.name.clone(),
            role,
            secret: token.token.clone(),
        });
    }
    let media_addr = match service.media.address.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            check.problem(
                "media.address",
                format!("{:?} is not an IP address", service.media.address),
            );
            None
        }
    };
    let (min, max) = (service.media.rtp_port_min, service.media.rtp_port_max);
    if min < 1024 || max <= min || max - min < 3 {
        check.problem(
            "media.rtp_port_min",
            format!(
                "RTP port range {min}-{max} must be above 1023 and hold at least two even ports"
            ),
        );
    }
    let mut algorithms = Vec::new();
    for name in &service.registration.digest_algorithms {
        match Algorithm::parse(Some(name)) {
            Some(a) => algorithms.push(a),
            None => check.problem(
                "registration.digest_algorithms",
                format!("{name:?} is not a digest algorithm (MD5, SHA-256)"),
            ),
        }
    }
    if algorithms.is_empty() {
        check.problem(
            "registration.digest_algorithms",
            "no digest algorithm is allowed".into(),
        );
    }
    if service.hotlines.is_empty() {
        check.problem("hotline", "no hotline is configured".into());
    }
    let keys = check.keys(&service.keys);
    let peer = service.peer.as_ref().map(|p| {
        if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
            check.problem(
                "peer.url",
                format!("{:?} is not an http:// or https:// URL", p.url),
            );
        }
        if p.token.is_empty() {
            check.problem(
                "peer.token",
                "the token for the other platform is empty".into(),
            );
        }
        PeerConfig {
            url: p.url.clone(),
            token: p.token.clone(),
            accept_within: Duration::from_secs(p.accept_minutes * 60),
        }
    });
    let emergency_mode = match service.rules.emergency_mode.as_str() {
        "three-way" => HandoffMode::ThreeWay,
        "phone-transfer" => HandoffMode::PhoneTransfer,
        other => {
            check.problem(
                "rules.emergency_mode",
                format!("{other:?} is not a handoff mode (three-way, phone-transfer)"),
            );
            HandoffMode::ThreeWay
        }
    };

    let hotline_names: Vec<&str> = service.hotlines.iter().map(|h| h.name.as_str()).collect();
    let mut numbers_seen = HashSet::new();
    for (i, hotline) in service.hotlines.iter().enumerate() {
        if hotline.numbers.is_empty() {
            check.problem(
                &format!("hotline[{i}].numbers"),
                format!("hotline {} has no number", hotline.name),
            );
        }
        for number in &hotline.numbers {
            if !numbers_seen.insert(number.clone()) {
                check.problem(
                    &format!("hotline[{i}].numbers"),
                    format!("number {number} is routed twice"),
                );
            }
        }
        if let Some(linked) = &hotline.linked {
            if !hotline_names.contains(&linked.as_str()) || *linked == hotline.name {
                check.problem(
                    &format!("hotline[{i}].linked"),
                    format!("{linked:?} is not another configured hotline"),
                );
            }
        }
    }

    let mut categories = Vec::new();
    if let Some(file) = &category_file {
        let (loaded, category_problems) = load_categories(file, &hotline_names);
        categories = loaded;
        for (key, message) in category_problems {
            check.problems.push(Problem {
                file: categories_path.clone(),
                key,
                message,
            });
        }
    }

    let mut trunk_acls = Vec::new();
    check.file = trunks_path.clone();
    for (i, trunk) in trunks.trunks.iter().enumerate() {
        let mut sources = Vec::new();
        for source in &trunk.sources {
            match parse_source(source) {
                Some(s) => sources.push(s),
                None => check.problem(
                    &format!("trunk[{i}].sources"),
                    format!("{source:?} is not an address, address:port or network"),
                ),
            }
        }
        if let Some(uri) = &trunk.uri {
            if !message::target(uri).is_ok_and(|t| t.addr.is_some()) {
                check.problem(
                    &format!("trunk[{i}].uri"),
                    format!("{uri:?} is not a sip: URI with an IP address"),
                );
            }
        }
        if trunk.sources.is_empty() && trunk.uri.is_none() {
            check.problem(
                &format!("trunk[{i}]"),
                format!("trunk {} has neither sources nor uri", trunk.name),
            );
        }
        if !sources.is_empty() {
            trunk_acls.push(TrunkAcl {
                name: trunk.name.clone(),
                sources,
            });
        }
    }

    let loopback_only = sip_listen.ip().is_loopback() && advertised.ip().is_loopback();
    let mut seat_infos = Vec::new();
    let mut seat_reach = Vec::new();
    let mut seat_numbers = HashSet::new();
    check.file = seats_path.clone();
    for (i, seat) in seats.seats.iter().enumerate() {
        let key = format!("seat[{i}]");
        let Some(hotline) = hotline_names.iter().position(|h| *h == seat.hotline) else {
            check.problem(
                &format!("{key}.hotline"),
                format!(
                    "seat {} names unknown hotline {:?}",
                    seat.number, seat.hotline
                ),
            );
            continue;
        };
        if !seat_numbers.insert(seat.number.clone()) {
            check.problem(
                &format!("{key}.number"),
                format!("seat {} is listed twice", seat.number),
            );
        }
        if seat.number.is_empty()
            || !seat
                .number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            check.problem(
                &format!("{key}.number"),
                format!("{:?} is not a usable account name", seat.number),
            );
        }
        let reach = match (&seat.password, &seat.uri) {
            (Some(password), None) => {
                if password.is_empty() {
                    check.problem(
                        &format!("{key}.password"),
                        format!("seat {} has an empty password", seat.number),
                    );
                }
                if *password == format!("secret-{}", seat.number) && !loopback_only {
                    check.problem(
                        &format!("{key}.password"),
                        format!(
                            "seat {} uses the demo password, which is only allowed when SIP listens on loopback",
                            seat.number
                        ),
                    );
                }
                SeatReach::Registered {
                    password: password.clone(),
                }
            }
            (None, Some(uri)) => {
                if !message::target(uri).is_ok_and(|t| t.addr.is_some()) {
                    check.problem(
                        &format!("{key}.uri"),
                        format!("{uri:?} is not a sip: URI with an IP address"),
                    );
                }
                SeatReach::Fixed { uri: uri.clone() }
            }
            (Some(_), Some(_)) => {
                check.problem(
                    &key,
                    format!(
                        "seat {} has both a password and a uri; give one",
                        seat.number
                    ),
                );
                continue;
            }
            (None, None) => {
                check.problem(
                    &key,
                    format!(
                        "seat {} has no password (or uri for a fixed seat)",
                        seat.number
                    ),
                );
                continue;
            }
        };
        seat_infos.push(SeatInfo {
            number: seat.number.clone(),
            hotline,
            always_online: matches!(reach, SeatReach::Fixed { .. }),
            capacity: 1,
        });
        seat_reach.push(reach);
    }

    check.file = path.to_path_buf();
    for (i, hotline) in service.hotlines.iter().enumerate() {
        if let Some(trunk_name) = &hotline.trunk {
            let trunk = trunks.trunks.iter().find(|t| t.name == *trunk_name);
            match trunk.and_then(|t| t.uri.clone().map(|uri| (uri, t.channels))) {
                Some((uri, channels)) => {
                    seat_infos.push(SeatInfo {
                        number: trunk_name.clone(),
                        hotline: i,
                        always_online: true,
                        capacity: channels,
                    });
                    seat_reach.push(SeatReach::Fixed { uri });
                }
                None => check.problem(
                    &format!("hotline[{i}].trunk"),
                    format!(
                        "{trunk_name:?} is not a trunk with a uri in {}",
                        trunks_path.display()
                    ),
                ),
            }
        }
        if !seat_infos.iter().any(|s| s.hotline == i) {
            check.problem(
                &format!("hotline[{i}].numbers"),
                format!(
                    "number {} is routed nowhere: hotline {} has no seat and no trunk",
                    hotline.numbers.join(", "),
                    hotline.name
                ),
            );
        }
    }

    if !check.problems.is_empty() {
        return Err(ConfigError(check.problems));
    }
    let timeouts = &service.timeouts;
    let registration = &service.registration;
    Ok(Settings {
        sip_listen,
        http_listen,
        api_tokens,
        rtp_timeout: Duration::from_secs(service.media.rtp_timeout_secs.max(1)),
        database_url: service.database.url.clone(),
        recordings_dir: PathBuf::from(&service.recordings.dir),
        shutdown_grace: Duration::from_secs(timeouts.shutdown_grace_secs),
        calendar: calendar.expect("checked above"),
        peer: peer.clone(),
        accept_within: Duration::from_secs(
            service.peer.as_ref().map_or(30, |p| p.accept_minutes) * 60,
        ),
        engine: EngineConfig {
            sip_addr: advertised,
            media_addr: media_addr.expect("checked above"),
            rtp_ports: (min, max),
            trunks: trunk_acls,
            registrar: RegistrarConfig {
                realm: service.sip.realm.clone(),
                nonce_lifetime: Duration::from_secs(registration.nonce_lifetime_secs),
                min_expires: registration.min_expires_secs,
                max_expires: registration.max_expires_secs,
                default_expires: registration
                    .max_expires_secs
                    .min(600)
                    .max(registration.min_expires_secs),
                algorithms,
                ..RegistrarConfig::default()
            },
            seat_reach,
            control: ControlConfig {
                hotlines: service
                    .hotlines
                    .iter()
                    .map(|h| HotlineInfo {
                        name: h.name.clone(),
                        numbers: h.numbers.clone(),
                        linked: h
                            .linked
                            .as_ref()
                            .and_then(|l| hotline_names.iter().position(|n| n == l)),
                    })
                    .collect(),
                seats: seat_infos,
                ring_timeout: Duration::from_secs(timeouts.ring_secs.max(1)),
                queue_timeout: Duration::from_secs(timeouts.queue_secs),
                keys,
                categories,
                emergency_mode,
                record_calls: service.recordings.enabled,
            },
            secret: [0; 32],
        },
    })
}

struct Checker {
    problems: Vec<Problem>,
    file: PathBuf,
}

impl Checker {
    fn problem(&mut self, key: &str, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            key: key.to_string(),
            message,
        });
    }

    /// Key sequences start with `*`, use only dial-pad keys, and none may begin another.
    fn keys(&mut self, section: &KeysSection) -> KeyMap {
        let named = [
            ("keys.three_way", &section.three_way),
            ("keys.transfer", &section.transfer),
            ("keys.leave", &section.leave),
            ("keys.cancel", &section.cancel),
            ("keys.category", &section.category),
        ];
        for (key, keys) in named {
            let valid = keys.len() >= 2
                && keys.starts_with('*')
                && keys
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#');
            if !valid {
                self.problem(
                    key,
                    format!("{keys:?} must be `*` followed by dial-pad keys"),
                );
            }
        }
        for (i, (key_a, a)) in named.iter().enumerate() {
            for (key_b, b) in &named[i + 1..] {
                if a.starts_with(b.as_str()) || b.starts_with(a.as_str()) {
                    self.problem(key_b, format!("{b:?} clashes with {key_a} {a:?}"));
                }
            }
        }
        KeyMap {
            three_way: section.three_way.clone(),
            transfer: section.transfer.clone(),
            leave: section.leave.clone(),
            cancel: section.cancel.clone(),
            category: section.category.clone(),
            inter_digit: Duration::from_secs(section.inter_digit_secs.max(1)),
        }
    }

    fn addr(&mut self, key: &str, text: &str) -> SocketAddr {
        match text.parse() {
            Ok(addr) => addr,
            Err(_) => {
                self.problem(
                    key,
                    format!("{text:?} is not an address:port such as 127.0.0.1:5060"),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        }
    }
}

fn read_toml<T: DeserializeOwned>(path: &Path, problems: &mut Vec<Problem>) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            problems.push(Problem {
                file: path.to_path_buf(),
                key: "(file)".into(),
                message: format!("cannot read: {error}"),
            });
            return None;
        }
    };
    let deserializer = toml::Deserializer::new(&text);
    match serde_path_to_error::deserialize(deserializer) {
        Ok(value) => Some(value),
        Err(error) => {
            let key = error.path().to_string();
            let inner = error.into_inner();
            let position = inner
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            problems.push(Problem {
                file: path.to_path_buf(),
                key: if key == "." { "(top)".into() } else { key },
                message: format!("{}{position}", inner.message().trim()),
            });
            None
        }
    }
}

fn parse_source(text: &str) -> Option<Source> {
    if let Some((net, bits)) = text.split_once('/') {
        let net: IpAddr = net.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then_some(Source::Net(net, bits));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(Source::Addr(addr.ip(), Some(addr.port())));
    }
    text.parse::<IpAddr>().ok().map(|ip| Source::Addr(ip, None))
}
