//! The auditors' endpoints: incidents with filters, one incident with its ticket number,
//! its recordings and their files, and the check of the handoff log's hash chain.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::auth::{authorize, Role};
use super::error::ApiError;
use super::ApiState;
use crate::handoff_log::recordings::{is_plain_file_name, recordings};
use crate::handoff_log::search::{IncidentFilter, MODES, RESULTS};
use crate::handoff_log::Verdict;
use crate::tickets::calendar::Date;

const READERS: &[Role] = &[Role::Operator, Role::Auditor];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    date: Option<String>,
    hotline: Option<String>,
    category: Option<String>,
    mode: Option<String>,
    result: Option<String>,
    limit: Option<usize>,
}

impl IncidentQuery {
    fn into_filter(self) -> Result<IncidentFilter, ApiError> {
        let blank = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let date = match blank(self.date) {
            Some(text) => Some(Date::parse(&text).ok_or_else(|| {
                ApiError::Unprocessable(format!("date must be YYYY-MM-DD, not {text:?}"))
            })?),
            None => None,
        };
        let one_of = |name: &str, value: Option<String>, allowed: &[&str]| match value {
            Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::Unprocessable(format!(
                "{name} must be one of {}, not {v:?}",
                allowed.join(", ")
            ))),
            other => Ok(other),
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::Unprocessable(
                "limit must be between 1 and 1000".into(),
            ));
        }
        Ok(IncidentFilter {
            date,
            hotline: blank(self.hotline),
            category: blank(self.category),
            mode: one_of("mode", blank(self.mode), MODES)?,
            result: one_of("result", blank(self.result), RESULTS)?,
            limit,
        })
    }
}

pub async fn incidents(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<IncidentQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, READERS)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = query.into_filter()?;
    Ok(Json(state.log.find_incidents(&filter).await?))
}

fn incident_number(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("incident {text:?} is not a number")))
}

pub async fn incident(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(incident): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, READERS)?;
    let incident = incident_number(&incident)?;
    let timeline = state.log.timeline(incident).await?;
    if timeline.is_empty() {
        return Err(ApiError::NotFound(format!("no incident {incident}")));
    }
    let ticket = crate::tickets::store::number_of(state.log.pool(), incident).await?;
    Ok(Json(serde_json::json!({
        "incident": incident,
        "ticket": ticket,
        "timeline": timeline,
    })))
}

pub async fn incident_recordings(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(incident): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Auditor])?;
    let incident = incident_number(&incident)?;
    let timeline = state.log.timeline(incident).await?;
    if timeline.is_empty() {
        return Err(ApiError::NotFound(format!("no incident {incident}")));
    }
    let listed: Vec<serde_json::Value> = recordings(&timeline)
        .into_iter()
        .map(|r| {
            let url = format!("/recordings/{}", r.file);
            let mut value = serde_json::to_value(r).unwrap_or_default();
            value["url"] = url.into();
            value
        })
        .collect();
    Ok(Json(
        serde_json::json!({ "incident": incident, "recordings": listed }),
    ))
}

/// A recording file as `audio/wav`. Only plain names inside the recordings directory are
/// served.
pub async fn recording_file(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Auditor])?;
    if !is_plain_file_name(&file) {
        return Err(ApiError::BadRequest(format!(
            "{file:?} is not a recording file name"
        )));
    }
    let path = state.recordings_dir.join(&file);
    let unreadable = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => ApiError::NotFound(format!("no recording {file}")),
        _ => ApiError::Internal(format!("cannot read {file}: {error}")),
    };
    let handle = tokio::fs::File::open(&path).await.map_err(unreadable)?;
    let length = handle.metadata().await.map_err(unreadable)?.len();
    // Streamed: an hour of three channels is about 170 MB, which is not held in memory.
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(ReaderStream::new(handle)),
    ))
}

pub async fn verify_log(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &state.tokens, &[Role::Auditor])?;
    let body = match state.log.verify().await? {
        Verdict::Intact { events } => {
            serde_json::json!({ "ok": true, "events": events, "problem": null })
        }
        Verdict::Broken {
            id,
            incident,
            reason,
        } => serde_json::json!({
            "ok": false,
            "events": null,
            "problem": { "id": id, "incident": incident, "reason": reason },
        }),
    };
    Ok(Json(body))
}
