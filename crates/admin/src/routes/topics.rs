//! Topics: the routing table, one row per distinct filter someone subscribes to (EMQX's
//! `GET /api/v5/topics`), in filter order and cursor-paged. A shared subscription's route is
//! its filter (`$share/g/t` routes `t`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use starling_broker::clients::TopicFilterQuery;
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::{Path, Query};
use crate::state::Shared;

/// `GET /api/v5/topics` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopicQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
    /// This filter only.
    pub(crate) topic: Option<String>,
    /// Filters that match this topic name.
    pub(crate) match_topic: Option<String>,
}

/// A route.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopicView {
    /// The filter.
    pub(crate) topic: String,
    /// The node holding the route.
    pub(crate) node: String,
    /// Subscribers on it: clients, `$exclusive/` holders and share groups, each once.
    pub(crate) subscribers: u32,
}

/// A page of routes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopicList {
    /// In filter order.
    pub(crate) data: Vec<TopicView>,
    /// Paging; `count` is the number of routes.
    pub(crate) meta: Meta,
}

/// Lists the routes. A filtered page may hold fewer than `limit` and still have a next one:
/// each call looks at a bounded number of routes.
#[utoipa::path(get, path = "/api/v5/topics", tag = "subscriptions", params(TopicQuery),
    responses((status = 200, body = TopicList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<TopicQuery>,
) -> Result<axum::Json<TopicList>, ApiError> {
    let limit = page::limit(q.limit)?;
    if let Some(t) = &q.topic {
        starling_topic::TopicFilter::new(t).map_err(|e| ApiError::field("topic", e))?;
    }
    if let Some(t) = &q.match_topic {
        starling_topic::TopicName::new(t).map_err(|e| ApiError::field("match_topic", e))?;
    }
    let after = match q.cursor.as_deref() {
        Some(c) => page::decode(c, 1)?.pop(),
        None => None,
    };
    let filter = TopicFilterQuery {
        topic: q.topic,
        match_topic: q.match_topic,
    };
    let result = state.handle.topics(after, limit, filter).await?;
    let node = state.handle.node();
    Ok(axum::Json(TopicList {
        data: result
            .items
            .into_iter()
            .map(|t| TopicView {
                topic: t.topic,
                node: node.to_owned(),
                subscribers: t.subscribers,
            })
            .collect(),
        meta: Meta {
            limit,
            hasnext: result.next.is_some(),
            cursor: result.next.map(|t| page::encode(&[&t])),
            count: Some(starling_broker::metrics::Metrics::get(
                &state.handle.metrics().topics,
            )),
        },
    }))
}

/// One route (the filter URL-encoded: `a%2F%2B` is `a/+`).
#[utoipa::path(get, path = "/api/v5/topics/{topic}", tag = "subscriptions",
    params(("topic" = String, Path, description = "The filter")),
    responses((status = 200, body = TopicView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path(topic): Path<String>,
) -> Result<axum::Json<TopicView>, ApiError> {
    starling_topic::TopicFilter::new(&topic).map_err(|e| ApiError::field("topic", e))?;
    let filter = TopicFilterQuery {
        topic: Some(topic.clone()),
        match_topic: None,
    };
    let result = state.handle.topics(None, 1, filter).await?;
    let t = result
        .items
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("topic {topic:?}")))?;
    Ok(axum::Json(TopicView {
        topic: t.topic,
        node: state.handle.node().to_owned(),
        subscribers: t.subscribers,
    }))
}
