//! Access by role with bearer tokens from the configuration: every endpoint names the roles
//! it serves; a missing or unknown token gets 401, a known token of another role 403.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Seats and the web console: see calls and tickets, record feedback.
    Operator,
    /// Read incidents, timelines, tickets and the overdue report.
    Auditor,
    /// The other platform's systems: the peer endpoints.
    Peer,
    /// Everything.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "operator" => Some(Role::Operator),
            "auditor" => Some(Role::Auditor),
            "peer" => Some(Role::Peer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A configured token.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    pub secret: String,
}

/// Who is calling, once the token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
}

/// Checks the request's bearer token against the configured ones and the endpoint's roles.
/// Admin tokens pass everywhere.
pub fn authorize(
    headers: &HeaderMap,
    tokens: &[ApiToken],
    allowed: &[Role],
) -> Result<Caller, ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let token = tokens
        .iter()
        .find(|t| bool::from(t.secret.as_bytes().ct_eq(presented.as_bytes())))
        .ok_or(ApiError::Unauthorized)?;
    if token.role != Role::Admin && !allowed.contains(&token.role) {
        return Err(ApiError::Forbidden);
    }
    Ok(Caller {
        name: token.name.clone(),
    })
}
