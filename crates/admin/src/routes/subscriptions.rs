//! Subscriptions: every client's, filtered and cursor-paged.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use starling_broker::clients::{SubscriptionFilter, SubscriptionRow};
use starling_codec::QoS;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::Query;
use crate::state::Shared;

/// `GET /api/v5/subscriptions` filters (EMQX's names).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
    /// One client's only.
    pub(crate) clientid: Option<String>,
    /// Filters equal to this one, as written (`$share/g/t` included).
    pub(crate) topic: Option<String>,
    /// Filters that match this topic name.
    pub(crate) match_topic: Option<String>,
    /// 0, 1 or 2.
    pub(crate) qos: Option<u8>,
    /// One share group's only.
    pub(crate) share_group: Option<String>,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionView {
    /// Who holds it.
    pub(crate) clientid: String,
    /// The filter as written (`$share/g/t`, `$queue/t`, `$exclusive/t`, `t`).
    pub(crate) topic: String,
    /// The filter inside a share or `$exclusive/`.
    pub(crate) filter: String,
    /// The share group, for a shared subscription.
    pub(crate) share_group: Option<String>,
    /// Granted QoS.
    pub(crate) qos: u8,
    /// No Local (0 or 1).
    pub(crate) nl: u8,
    /// Retain As Published (0 or 1).
    pub(crate) rap: u8,
    /// Retain Handling (0, 1 or 2).
    pub(crate) rh: u8,
    /// Subscription identifier.
    pub(crate) subid: Option<u32>,
    /// The node.
    pub(crate) node: String,
}

impl SubscriptionView {
    /// The view of a router row.
    pub(crate) fn of(s: &SubscriptionRow, node: &str) -> Self {
        Self {
            clientid: s.client_id.to_string(),
            topic: s.topic.clone(),
            filter: s.filter.clone(),
            share_group: s.group.clone(),
            qos: s.qos as u8,
            nl: u8::from(s.no_local),
            rap: u8::from(s.retain_as_published),
            rh: s.retain_handling,
            subid: s.subscription_id,
            node: node.to_owned(),
        }
    }
}

/// A page of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionList {
    /// In (client id, filter) order.
    pub(crate) data: Vec<SubscriptionView>,
    /// Paging.
    pub(crate) meta: Meta,
}

fn qos(n: Option<u8>) -> Result<Option<QoS>, ApiError> {
    match n {
        None => Ok(None),
        Some(0) => Ok(Some(QoS::AtMostOnce)),
        Some(1) => Ok(Some(QoS::AtLeastOnce)),
        Some(2) => Ok(Some(QoS::ExactlyOnce)),
        Some(n) => Err(ApiError::field(
            "qos",
            format!("must be 0, 1 or 2, got {n}"),
        )),
    }
}

/// Lists subscriptions. A filtered page may hold fewer than `limit` and still have a next
/// one: each call looks at a bounded number of subscriptions.
#[utoipa::path(get, path = "/api/v5/subscriptions", tag = "subscriptions", params(SubscriptionQuery),
    responses((status = 200, body = SubscriptionList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<SubscriptionQuery>,
) -> Result<axum::Json<SubscriptionList>, ApiError> {
    let limit = page::limit(q.limit)?;
    if let Some(t) = &q.match_topic {
        starling_topic::TopicName::new(t).map_err(|e| ApiError::field("match_topic", e))?;
    }
    let filter = SubscriptionFilter {
        client_id: q.clientid,
        topic: q.topic,
        match_topic: q.match_topic,
        qos: qos(q.qos)?,
        share_group: q.share_group,
    };
    let after = match q.cursor.as_deref() {
        Some(c) => {
            let mut parts = page::decode(c, 2)?;
            let topic = parts.pop().unwrap_or_default();
            let id = parts.pop().unwrap_or_default();
            Some((Arc::from(id), topic))
        }
        None => None,
    };
    let result = state.handle.subscriptions(after, limit, filter).await?;
    let node = state.handle.node();
    Ok(axum::Json(SubscriptionList {
        data: result
            .items
            .iter()
            .map(|s| SubscriptionView::of(s, node))
            .collect(),
        meta: Meta {
            limit,
            hasnext: result.next.is_some(),
            cursor: result.next.map(|(id, topic)| page::encode(&[&id, &topic])),
            count: Some(starling_broker::metrics::Metrics::get(
                &state.handle.metrics().subscriptions,
            )),
        },
    }))
}
