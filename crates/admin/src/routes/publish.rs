//! Publishing through the API (EMQX's `POST /api/v5/publish` and `/publish/bulk`). The
//! broker publishes as itself: no ACL applies, `$SYS` topics are refused.

use axum::extract::State;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use starling_broker::PublishRequest;
use starling_codec::{QoS, Utf8String};
use starling_core::MessageProperties;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::state::Shared;

/// The most messages one bulk request may carry.
pub(crate) const MAX_BULK: usize = 1_000;

/// 5.0 properties of a published message.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishProperties {
    /// 0 (bytes) or 1 (UTF-8).
    pub(crate) payload_format_indicator: Option<u8>,
    /// Seconds until it expires.
    pub(crate) message_expiry_interval: Option<u32>,
    /// Content Type.
    pub(crate) content_type: Option<String>,
    /// Response Topic.
    pub(crate) response_topic: Option<String>,
    /// Correlation Data (as text).
    pub(crate) correlation_data: Option<String>,
    /// User Properties.
    #[serde(default)]
    pub(crate) user_properties: BTreeMap<String, String>,
}

/// One message to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    /// The topic (no wildcards; `$delayed/<s>/<t>` delays it).
    pub(crate) topic: String,
    /// The payload, as text or base64 (`payload_encoding`).
    #[serde(default)]
    pub(crate) payload: String,
    /// `plain` (default) or `base64`.
    #[serde(default)]
    pub(crate) payload_encoding: Option<String>,
    /// 0 (default), 1 or 2.
    #[serde(default)]
    pub(crate) qos: u8,
    /// Retain it.
    #[serde(default)]
    pub(crate) retain: bool,
    /// 5.0 properties.
    #[serde(default)]
    pub(crate) properties: Option<PublishProperties>,
}

/// A published message's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Published {
    /// An id for the message (for logs).
    pub(crate) id: String,
}

fn utf8(field: &str, text: String) -> Result<Utf8String, ApiError> {
    Utf8String::try_from(text).map_err(|e| ApiError::field(field, format!("{e:?}")))
}

fn request(body: PublishBody, at: &str) -> Result<PublishRequest, ApiError> {
    let field = |f: &str| format!("{at}{f}");
    let qos = match body.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        n => {
            return Err(ApiError::field(
                &field("qos"),
                format!("must be 0, 1 or 2, got {n}"),
            ))
        }
    };
    let payload = match body.payload_encoding.as_deref() {
        None | Some("plain") => Bytes::from(body.payload),
        Some("base64") => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(body.payload.as_bytes())
                .map_err(|e| ApiError::field(&field("payload"), format!("is not base64: {e}")))?,
        ),
        Some(other) => {
            return Err(ApiError::field(
                &field("payload_encoding"),
                format!("must be plain or base64, got {other:?}"),
            ))
        }
    };
    let p = body.properties.unwrap_or_default();
    if p.payload_format_indicator.is_some_and(|f| f > 1) {
        return Err(ApiError::field(
            &field("properties.payload_format_indicator"),
            "must be 0 or 1",
        ));
    }
    let mut user_properties = Vec::with_capacity(p.user_properties.len());
    for (k, v) in p.user_properties {
        user_properties.push((
            utf8(&field("properties.user_properties"), k)?,
            utf8(&field("properties.user_properties"), v)?,
        ));
    }
    let properties = MessageProperties {
        payload_format_indicator: p.payload_format_indicator,
        content_type: p
            .content_type
            .map(|c| utf8(&field("properties.content_type"), c))
            .transpose()?,
        response_topic: p
            .response_topic
            .map(|t| utf8(&field("properties.response_topic"), t))
            .transpose()?,
        correlation_data: p.correlation_data.map(Bytes::from),
        user_properties,
    };
    Ok(PublishRequest {
        topic: body.topic,
        payload,
        qos,
        retain: body.retain,
        expiry: p.message_expiry_interval,
        properties,
    })
}

async fn send(state: &Shared, request: PublishRequest, at: &str) -> Result<Published, ApiError> {
    state.handle.publish(request).await.map_err(|e| match e {
        starling_broker::PublishError::Stopped(s) => s.into(),
        other => ApiError::BadRequest(format!("{at}{other}")),
    })?;
    Ok(Published {
        id: crate::session::random_hex(16),
    })
}

/// Publishes one message.
#[utoipa::path(post, path = "/api/v5/publish", tag = "publish", request_body = PublishBody,
    responses((status = 200, body = Published), (status = 400, body = ErrorBody)))]
pub(crate) async fn publish(
    State(state): State<Shared>,
    Json(body): Json<PublishBody>,
) -> Result<axum::Json<Published>, ApiError> {
    let request = request(body, "")?;
    Ok(axum::Json(send(&state, request, "").await?))
}

/// Publishes up to 1,000 messages, in order. Every message is checked before any is sent:
/// one bad message refuses the whole request.
#[utoipa::path(post, path = "/api/v5/publish/bulk", tag = "publish", request_body = Vec<PublishBody>,
    responses((status = 200, body = Vec<Published>), (status = 400, body = ErrorBody)))]
pub(crate) async fn bulk(
    State(state): State<Shared>,
    Json(bodies): Json<Vec<PublishBody>>,
) -> Result<axum::Json<Vec<Published>>, ApiError> {
    if bodies.is_empty() || bodies.len() > MAX_BULK {
        return Err(ApiError::field(
            "body",
            format!("must hold 1 to {MAX_BULK} messages, got {}", bodies.len()),
        ));
    }
    let mut requests = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        let request = request(body, &format!("[{i}]."))?;
        starling_topic::TopicName::new(&request.topic)
            .map_err(|e| ApiError::field(&format!("[{i}].topic"), e))?;
        requests.push(request);
    }
    let mut out = Vec::with_capacity(requests.len());
    for (i, request) in requests.into_iter().enumerate() {
        out.push(send(&state, request, &format!("[{i}].")).await?);
    }
    Ok(axum::Json(out))
}
