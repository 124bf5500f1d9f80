//! HTTP digest authentication for SIP (RFC 3261 §22.4 over RFC 7616 and RFC 2617), with
//! MD5 and SHA-256 and `qop=auth`, and nonces that carry their own issue time.

use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn parse(name: Option<&str>) -> Option<Self> {
        match name.map(|n| n.trim_matches('"').to_ascii_uppercase()) {
            None => Some(Algorithm::Md5),
            Some(n) if n == "MD5" => Some(Algorithm::Md5),
            Some(n) if n == "SHA-256" => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

/// What the client sent in its Authorization header, unchanged.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Credentials {
    pub fn from_params(params: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim_matches('"').to_string())
        };
        Some(Credentials {
            username: get("username")?,
            realm: get("realm")?,
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?,
            algorithm: get("algorithm"),
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        })
    }
}

/// The response a client with `password` would compute (RFC 7616 §3.4.1).
pub fn expected_response(
    algorithm: Algorithm,
    credentials: &Credentials,
    password: &str,
    method: &str,
) -> Option<String> {
    let ha1 = algorithm.hash(&format!(
        "{}:{}:{}",
        credentials.username, credentials.realm, password
    ));
    let ha2 = algorithm.hash(&format!("{}:{}", method, credentials.uri));
    let data = match credentials.qop.as_deref() {
        None => format!("{ha1}:{}:{ha2}", credentials.nonce),
        Some("auth") => format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            credentials.nonce,
            credentials.nc.as_deref()?,
            credentials.cnonce.as_deref()?
        ),
        Some(_) => return None,
    };
    Some(algorithm.hash(&data))
}

/// Compares a client's response with the expected one in constant time.
pub fn verify(credentials: &Credentials, password: &str, method: &str) -> bool {
    let Some(algorithm) = Algorithm::parse(credentials.algorithm.as_deref()) else {
        return false;
    };
    let Some(expected) = expected_response(algorithm, credentials, password, method) else {
        return false;
    };
    let given = credentials.response.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Issues nonces that prove their own age: `<seconds>.<keyed hash of the seconds>`, so no
/// table of outstanding nonces is kept.
pub struct NonceIssuer {
    secret: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    /// Ours, but too old: the client should retry with a new nonce (`stale=true`).
    Stale,
    Forged,
}

impl NonceIssuer {
    pub fn new(secret: [u8; 32], epoch: Instant, lifetime: Duration) -> Self {
        Self {
            secret,
            epoch,
            lifetime,
        }
    }

    pub fn issue(&self, now: Instant) -> String {
        let secs = now.saturating_duration_since(self.epoch).as_secs();
        format!("{secs:x}.{}", self.mac(secs))
    }

    pub fn check(&self, nonce: &str, now: Instant) -> NonceCheck {
        let Some((secs, mac)) = nonce.split_once('.') else {
            return NonceCheck::Forged;
        };
        let Ok(secs) = u64::from_str_radix(secs, 16) else {
            return NonceCheck::Forged;
        };
        if !bool::from(self.mac(secs).as_bytes().ct_eq(mac.as_bytes())) {
            return NonceCheck::Forged;
        }
        let age = now
            .saturating_duration_since(self.epoch)
            .saturating_sub(Duration::from_secs(secs));
        if age > self.lifetime {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }

    fn mac(&self, secs: u64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(secs.to_be_bytes());
        hex(&hasher.finalize()[..12])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc7616_example(algorithm: &str) -> Credentials {
        Credentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: Some(algorithm.into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
        }
    }

    /// RFC 7616 §3.9.1.
    #[test]
    fn rfc7616_md5_and_sha256_vectors() {
        let md5 = expected_response(
            Algorithm::Md5,
            &rfc7616_example("MD5"),
            "Circle of Life",
            "GET",
        );
        assert_eq!(md5.as_deref(), Some("8ca523f5e9506fed4657c9700eebdbec"));
        let sha = expected_response(
            Algorithm::Sha256,
            &rfc7616_example("SHA-256"),
            "Circle of Life",
            "GET",
        );
        assert_eq!(
            sha.as_deref(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
    }

    /// RFC 2617 §3.5.
    #[test]
    fn rfc2617_vector_verifies_and_a_wrong_password_does_not() {
        let credentials = Credentials {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: "6629fae49393a05397450978507c4ef1".into(),
            algorithm: None,
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
        };
        assert!(verify(&credentials, "Circle Of Life", "GET"));
        assert!(!verify(&credentials, "circle of life", "GET"));
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let epoch = Instant::now();
        let issuer = NonceIssuer::new([7; 32], epoch, Duration::from_secs(300));
        let nonce = issuer.issue(epoch + Duration::from_secs(10));
        assert_eq!(
            issuer.check(&nonce, epoch + Duration::from_secs(20)),
            NonceCheck::Fresh
        );
        assert_eq!(
            issuer.check(&nonce, epoch + Duration::from_secs(400)),
            NonceCheck::Stale
        );
        let forged = nonce.replace('.', ".0");
        assert_eq!(issuer.check(&forged, epoch), NonceCheck::Forged);
        let other = NonceIssuer::new([8; 32], epoch, Duration::from_secs(300));
        assert_eq!(other.check(&nonce, epoch), NonceCheck::Forged);
    }
}
