//! Traces (EMQX's `/api/v5/trace`): start one on a client id, a topic filter or a peer
//! address, list them, stop, delete, download the file or read a window of it (for the
//! dashboard). The broker writes the files (`starling_broker` `trace`); downloads and
//! windows are read after everything queued for the file is written.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use starling_broker::{NewTrace, PayloadEncode, TraceError, TraceInfo, TraceTarget};
use utoipa::{IntoParams, ToSchema};

use super::page;
use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path, Query};
use crate::state::Shared;

impl From<TraceError> for ApiError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Field(field, problem) => ApiError::field(field, problem),
            TraceError::Exists(_) => ApiError::Conflict(e.to_string()),
            TraceError::NotFound(name) => ApiError::not_found(format!("trace {name:?}")),
            TraceError::TooMany(_) => ApiError::BadRequest(e.to_string()),
            TraceError::Io(_) => ApiError::Unavailable(e.to_string()),
            TraceError::Store(e) => e.into(),
        }
    }
}

/// A trace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TraceView {
    /// Its name.
    pub(crate) name: String,
    /// `clientid`, `topic` or `ip_address`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The client id traced (type `clientid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) clientid: Option<String>,
    /// The topic filter traced (type `topic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) topic: Option<String>,
    /// The peer address traced (type `ip_address`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ip_address: Option<String>,
    /// `waiting`, `running` or `stopped`.
    pub(crate) status: &'static str,
    /// When it starts (RFC 3339).
    pub(crate) start_at: String,
    /// When it ends, or ended (RFC 3339).
    pub(crate) end_at: String,
    /// `text`, `hex` or `hidden`.
    pub(crate) payload_encode: &'static str,
    /// Its file's size in bytes, by node (EMQX's shape).
    pub(crate) log_size: std::collections::BTreeMap<String, u64>,
    /// Events dropped because the writer could not keep up.
    pub(crate) dropped: u64,
    /// The file reached `trace.max_file_size`: nothing more is written.
    pub(crate) full: bool,
}

fn view(node: &str, t: TraceInfo) -> TraceView {
    let value = t.target.value();
    let (mut clientid, mut topic, mut ip_address) = (None, None, None);
    match &t.target {
        TraceTarget::ClientId(_) => clientid = Some(value),
        TraceTarget::Topic(_) => topic = Some(value),
        TraceTarget::Address(_) => ip_address = Some(value),
    }
    TraceView {
        name: t.name,
        kind: t.target.kind(),
        clientid,
        topic,
        ip_address,
        status: t.status.name(),
        start_at: page::rfc3339(t.start_at),
        end_at: page::rfc3339(t.end_at),
        payload_encode: t.payload_encode.name(),
        log_size: [(node.to_owned(), t.log_size)].into_iter().collect(),
        dropped: t.dropped,
        full: t.full,
    }
}

/// A time: RFC 3339 text, or Unix seconds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum TimeValue {
    /// Unix seconds.
    Secs(u64),
    /// RFC 3339 (`2030-01-01T00:00:00Z`).
    Text(String),
}

impl TimeValue {
    fn at(&self, field: &str) -> Result<SystemTime, ApiError> {
        match self {
            Self::Secs(s) => UNIX_EPOCH
                .checked_add(Duration::from_secs(*s))
                .ok_or_else(|| ApiError::field(field, "out of range")),
            Self::Text(t) => humantime::parse_rfc3339_weak(t).map_err(|_| {
                ApiError::field(
                    field,
                    format!("must be RFC 3339 or Unix seconds, got {t:?}"),
                )
            }),
        }
    }
}

/// `POST /api/v5/trace`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTraceBody {
    /// 1 to 64 letters, digits, `_` or `-`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub(crate) name: String,
    /// `clientid`, `topic` or `ip_address`; the field of that name says what is traced.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The client id (type `clientid`).
    #[serde(default)]
    pub(crate) clientid: Option<String>,
    /// The topic filter (type `topic`).
    #[serde(default)]
    pub(crate) topic: Option<String>,
    /// The peer address (type `ip_address`).
    #[serde(default)]
    pub(crate) ip_address: Option<String>,
    /// When it starts (now when absent or past).
    #[serde(default)]
    pub(crate) start_at: Option<TimeValue>,
    /// When it ends (10 minutes after its start when absent).
    #[serde(default)]
    pub(crate) end_at: Option<TimeValue>,
    /// `text` (default), `hex` or `hidden`.
    #[serde(default)]
    pub(crate) payload_encode: Option<String>,
}

/// Lists every trace.
#[utoipa::path(get, path = "/api/v5/trace", tag = "trace",
    responses((status = 200, body = Vec<TraceView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(State(state): State<Shared>) -> axum::Json<Vec<TraceView>> {
    let node = state.handle.node().to_owned();
    let traces = state.handle.traces().await;
    axum::Json(traces.into_iter().map(|t| view(&node, t)).collect())
}

/// Starts a trace (or schedules it, with a start to come). 409 when the name is taken.
#[utoipa::path(post, path = "/api/v5/trace", tag = "trace", request_body = NewTraceBody,
    responses((status = 200, body = TraceView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<Shared>,
    Json(body): Json<NewTraceBody>,
) -> Result<axum::Json<TraceView>, ApiError> {
    starling_broker::check_trace_name(&body.name)?;
    let value = match body.kind.as_str() {
        "clientid" => body.clientid.as_deref(),
        "topic" => body.topic.as_deref(),
        "ip_address" => body.ip_address.as_deref(),
        _ => Some(""),
    };
    let value = value.ok_or_else(|| {
        ApiError::field(
            match body.kind.as_str() {
                "clientid" => "clientid",
                "topic" => "topic",
                _ => "ip_address",
            },
            format!("is required with type {}", body.kind),
        )
    })?;
    let target = TraceTarget::parse(&body.kind, value)?;
    let payload_encode = body
        .payload_encode
        .as_deref()
        .map(PayloadEncode::parse)
        .transpose()?
        .unwrap_or_default();
    let new = NewTrace {
        name: body.name,
        target,
        start_at: body.start_at.map(|t| t.at("start_at")).transpose()?,
        end_at: body.end_at.map(|t| t.at("end_at")).transpose()?,
        payload_encode,
    };
    let info = state.handle.start_trace(new).await?;
    Ok(axum::Json(view(state.handle.node(), info)))
}

/// Stops a trace now (everything it was sent is written first); its file stays.
#[utoipa::path(put, path = "/api/v5/trace/{name}/stop", tag = "trace",
    params(("name" = String, Path, description = "the trace")),
    responses((status = 200, body = TraceView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn stop(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<axum::Json<TraceView>, ApiError> {
    starling_broker::check_trace_name(&name)?;
    let info = state.handle.stop_trace(&name).await?;
    Ok(axum::Json(view(state.handle.node(), info)))
}

/// Deletes a trace and its file.
#[utoipa::path(delete, path = "/api/v5/trace/{name}", tag = "trace",
    params(("name" = String, Path, description = "the trace")),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    starling_broker::check_trace_name(&name)?;
    state.handle.delete_trace(Some(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every trace and its file.
#[utoipa::path(delete, path = "/api/v5/trace", tag = "trace",
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody)))]
pub(crate) async fn clear(State(state): State<Shared>) -> Result<StatusCode, ApiError> {
    state.handle.delete_trace(None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The trace's file, whole, as an attachment (one event per line).
#[utoipa::path(get, path = "/api/v5/trace/{name}/download", tag = "trace",
    params(("name" = String, Path, description = "the trace")),
    responses((status = 200, description = "the file", content_type = "text/plain", body = String),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn download(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    starling_broker::check_trace_name(&name)?;
    let max = usize::try_from(state.handle.trace_max_file_size()).unwrap_or(usize::MAX);
    let (bytes, _) = state.handle.read_trace(&name, 0, max).await?;
    let disposition = format!("attachment; filename=\"{name}.log\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/v5/trace/{name}/log`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    /// Bytes to read, 1 to 1,048,576 (1,000).
    pub(crate) bytes: Option<usize>,
    /// Where to start, in bytes from the file's start (0).
    pub(crate) position: Option<u64>,
}

/// A window of a trace's file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogWindow {
    /// The text read (invalid UTF-8 replaced).
    pub(crate) items: String,
    /// Where it stopped.
    pub(crate) meta: LogMeta,
}

/// Where a window stopped.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogMeta {
    /// Bytes read.
    pub(crate) bytes: usize,
    /// The position after them: where the next window starts.
    pub(crate) position: u64,
}

/// Up to `bytes` of a trace's file from `position` (the dashboard's log view).
#[utoipa::path(get, path = "/api/v5/trace/{name}/log", tag = "trace",
    params(("name" = String, Path, description = "the trace"), LogQuery),
    responses((status = 200, body = LogWindow), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn log(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<axum::Json<LogWindow>, ApiError> {
    starling_broker::check_trace_name(&name)?;
    let bytes = q.bytes.unwrap_or(1000);
    if !(1..=1_048_576).contains(&bytes) {
        return Err(ApiError::field("bytes", "must be 1 to 1048576"));
    }
    let position = q.position.unwrap_or(0);
    let (read, size) = state.handle.read_trace(&name, position, bytes).await?;
    let read_len = read.len();
    Ok(axum::Json(LogWindow {
        items: String::from_utf8_lossy(&read).into_owned(),
        meta: LogMeta {
            bytes: read_len,
            position: position.min(size) + read_len as u64,
        },
    }))
}
