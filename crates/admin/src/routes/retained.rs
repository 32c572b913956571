//! Retained messages: list (topic order, cursor-paged, under a filter), read, delete. The
//! payload travels as base64, since it is bytes.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use starling_broker::clients::RetainedRow;
use starling_topic::TopicFilter;
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::{Path, Query};
use crate::state::Shared;

/// `GET /api/v5/mqtt/retainer/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetainedQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
    /// Only topics matching this filter (`#` when absent).
    pub(crate) topic: Option<String>,
}

/// A retained message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetainedView {
    /// Its topic.
    pub(crate) topic: String,
    /// Its QoS.
    pub(crate) qos: u8,
    /// Its payload, base64.
    pub(crate) payload: String,
    /// The payload's size in bytes.
    pub(crate) payload_size: usize,
    /// Who published it (empty: the broker or the API).
    pub(crate) from_clientid: String,
    /// 5.0 Content Type.
    pub(crate) content_type: Option<String>,
    /// When it expires (RFC 3339), if it does.
    pub(crate) expires_at: Option<String>,
}

impl RetainedView {
    fn of(row: &RetainedRow) -> Self {
        let m = &row.message;
        Self {
            topic: m.topic.as_str().to_owned(),
            qos: m.qos as u8,
            payload: base64::engine::general_purpose::STANDARD.encode(&m.payload),
            payload_size: m.payload.len(),
            from_clientid: m.publisher.to_string(),
            content_type: m
                .properties
                .content_type
                .as_ref()
                .map(|c| c.as_str().to_owned()),
            expires_at: m.expires_at.map(page::rfc3339),
        }
    }
}

/// A page of retained messages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetainedList {
    /// In topic order.
    pub(crate) data: Vec<RetainedView>,
    /// Paging.
    pub(crate) meta: Meta,
}

/// Lists retained messages.
#[utoipa::path(get, path = "/api/v5/mqtt/retainer/messages", tag = "retained", params(RetainedQuery),
    responses((status = 200, body = RetainedList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<RetainedQuery>,
) -> Result<axum::Json<RetainedList>, ApiError> {
    let limit = page::limit(q.limit)?;
    let filter = TopicFilter::new(q.topic.as_deref().unwrap_or("#"))
        .map_err(|e| ApiError::field("topic", e))?;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(page::decode(c, 1)?.remove(0)),
        None => None,
    };
    let result = state.handle.retained(after, limit, filter).await?;
    Ok(axum::Json(RetainedList {
        data: result.items.iter().map(RetainedView::of).collect(),
        meta: Meta {
            limit,
            hasnext: result.next.is_some(),
            cursor: result.next.map(|t| page::encode(&[&t])),
            // Not `retained.count`: that includes `$SYS` messages, which `#` does not match.
            count: None,
        },
    }))
}

/// The message retained on a topic (the topic URL-encoded: `a%2Fb`).
#[utoipa::path(get, path = "/api/v5/mqtt/retainer/message/{topic}", tag = "retained",
    params(("topic" = String, Path, description = "the topic, URL-encoded")),
    responses((status = 200, body = RetainedView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path(topic): Path<String>,
) -> Result<axum::Json<RetainedView>, ApiError> {
    let row = state
        .handle
        .retained_message(&topic)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("retained message on {topic:?}")))?;
    Ok(axum::Json(RetainedView::of(&row)))
}

/// Removes the message retained on a topic (nothing is delivered).
#[utoipa::path(delete, path = "/api/v5/mqtt/retainer/message/{topic}", tag = "retained",
    params(("topic" = String, Path, description = "the topic, URL-encoded")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    Path(topic): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.handle.delete_retained(&topic).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "retained message on {topic:?}"
        )))
    }
}
