//! A small HTTP client for the API tests.

use std::net::SocketAddr;
use std::time::Duration;

/// Status and body of a request; `token` goes as a bearer token, `headers` as given.
pub fn request(
    to: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let url = format!("http://{to}{path}");
    let mut req = ureq::request(method, &url).timeout(Duration::from_secs(10));
    if let Some(token) = token {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(body) => req
            .set("Content-Type", "application/json")
            .send_string(body),
        None => req.call(),
    };
    match result {
        Ok(response) => (
            response.status(),
            response.into_string().unwrap_or_default(),
        ),
        Err(ureq::Error::Status(code, response)) => {
            (code, response.into_string().unwrap_or_default())
        }
        Err(error) => panic!("{method} {path}: {error}"),
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Status, content type and raw body of a GET.
pub fn get_bytes(to: SocketAddr, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let url = format!("http://{to}{path}");
    let result = ureq::get(&url)
        .timeout(Duration::from_secs(10))
        .set("Authorization", &format!("Bearer {token}"))
        .call();
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("GET {path}: {error}"),
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let mut bytes = Vec::new();
    let _ = std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes);
    (status, content_type, bytes)
}
