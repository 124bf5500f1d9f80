//! The auditor's web page: static files compiled into the binary, so serving it needs no
//! build step. The page holds no data; it calls the API with the auditor's token.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("console/audit.html");
const SCRIPT: &str = include_str!("console/audit.js");
const STYLE: &str = include_str!("console/audit.css");

/// The page may load only its own script and style, and fetch only from this server.
const POLICY: &str = "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; \
                      object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
        ],
        PAGE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}
