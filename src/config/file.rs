//! The configuration files as written: `hotline-bridge.toml` and the profiles in
//! `sip-profiles/`. Unknown keys are errors, so a typo never passes silently.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    pub sip: SipSection,
    pub http: HttpSection,
    pub media: MediaSection,
    pub database: DatabaseSection,
    pub recordings: RecordingsSection,
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    #[serde(default)]
    pub registration: RegistrationSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub tickets: TicketsSection,
    pub peer: Option<PeerSection>,
    #[serde(rename = "hotline")]
    pub hotlines: Vec<HotlineSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysSection {
    pub three_way: String,
    pub transfer: String,
    pub leave: String,
    pub cancel: String,
    pub category: String,
    pub inter_digit_secs: u64,
}

impl Default for KeysSection {
    fn default() -> Self {
        Self {
            three_way: "*1".into(),
            transfer: "*2".into(),
            leave: "*3".into(),
            cancel: "*0".into(),
            category: "*9".into(),
            inter_digit_secs: 3,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    pub url: String,
    pub token: String,
    #[serde(default = "default_accept_minutes")]
    pub accept_minutes: u64,
}

fn default_accept_minutes() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsSection {
    pub calendar: String,
}

impl Default for TicketsSection {
    fn default() -> Self {
        Self {
            calendar: "config/calendar.toml".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSection {
    pub categories: String,
    pub emergency_mode: String,
}

impl Default for RulesSection {
    fn default() -> Self {
        Self {
            categories: "config/categories.toml".into(),
            emergency_mode: "three-way".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    pub listen: String,
    pub advertised: Option<String>,
    #[serde(default = "default_realm")]
    pub realm: String,
    #[serde(default = "default_profiles")]
    pub profiles: String,
}

fn default_realm() -> String {
    "hotline-bridge".into()
}

fn default_profiles() -> String {
    "sip-profiles".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub listen: String,
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    pub name: String,
    pub role: String,
    pub token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSection {
    pub address: String,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_secs: u64,
}

fn default_rtp_timeout() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsSection {
    pub dir: String,
    /// Whether incidents are recorded at all.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsSection {
    pub ring_secs: u64,
    pub queue_secs: u64,
    pub shutdown_grace_secs: u64,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        Self {
            ring_secs: 20,
            queue_secs: 60,
            shutdown_grace_secs: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSection {
    pub min_expires_secs: u32,
    pub max_expires_secs: u32,
    pub nonce_lifetime_secs: u64,
    pub digest_algorithms: Vec<String>,
}

impl Default for RegistrationSection {
    fn default() -> Self {
        Self {
            min_expires_secs: 60,
            max_expires_secs: 3600,
            nonce_lifetime_secs: 300,
            digest_algorithms: vec!["MD5".into(), "SHA-256".into()],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlineSection {
    pub name: String,
    pub numbers: Vec<String>,
    pub linked: Option<String>,
    pub trunk: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrunksFile {
    #[serde(rename = "trunk", default)]
    pub trunks: Vec<TrunkSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    pub name: String,
    #[serde(default)]
    pub sources: Vec<String>,
    pub uri: Option<String>,
    #[serde(default = "default_channels")]
    pub channels: u32,
}

fn default_channels() -> u32 {
    30
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SeatsFile {
    #[serde(rename = "seat", default)]
    pub seats: Vec<SeatSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatSection {
    pub number: String,
    pub hotline: String,
    pub password: Option<String>,
    pub uri: Option<String>,
}
