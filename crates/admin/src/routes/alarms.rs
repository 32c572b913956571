//! Alarms (EMQX's `/api/v5/alarms`): the active ones and the past ones.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use starling_broker::alarms::Alarm;
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::Query;
use crate::state::Shared;

/// `GET /api/v5/alarms`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlarmQuery {
    /// `true`: the active alarms; `false`: the past ones; absent: both.
    pub(crate) activated: Option<bool>,
}

/// One alarm.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlarmView {
    /// The node.
    pub(crate) node: String,
    /// What it is about (`overloaded`, `store_damaged`, ...).
    pub(crate) name: String,
    /// What happened.
    pub(crate) message: String,
    /// Still in force.
    pub(crate) activated: bool,
    /// When it was raised (RFC 3339).
    pub(crate) activate_at: String,
    /// When it was cleared (RFC 3339), if it was.
    pub(crate) deactivate_at: Option<String>,
    /// How long it lasted, or has lasted so far, in milliseconds.
    pub(crate) duration: u64,
}

/// The alarms.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlarmList {
    /// Active ones first, then past ones, oldest first in each.
    pub(crate) data: Vec<AlarmView>,
    /// Paging (one page: at most the active ones and 1,000 past ones).
    pub(crate) meta: Meta,
}

fn view(a: Alarm, node: &str, now: std::time::SystemTime) -> AlarmView {
    let end = a.deactivated_at.unwrap_or(now);
    AlarmView {
        node: node.to_owned(),
        name: a.name,
        message: a.message,
        activated: a.deactivated_at.is_none(),
        activate_at: page::rfc3339(a.activated_at),
        deactivate_at: a.deactivated_at.map(page::rfc3339),
        duration: end
            .duration_since(a.activated_at)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

/// Lists alarms.
#[utoipa::path(get, path = "/api/v5/alarms", tag = "node", params(AlarmQuery),
    responses((status = 200, body = AlarmList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<AlarmQuery>,
) -> Result<axum::Json<AlarmList>, ApiError> {
    let alarms = state.handle.alarms();
    let mut all = Vec::new();
    if q.activated != Some(false) {
        all.extend(alarms.active());
    }
    if q.activated != Some(true) {
        all.extend(alarms.history());
    }
    let now = std::time::SystemTime::now();
    let node = state.handle.node();
    let data: Vec<_> = all.into_iter().map(|a| view(a, node, now)).collect();
    Ok(axum::Json(AlarmList {
        meta: Meta {
            limit: data.len(),
            hasnext: false,
            cursor: None,
            count: Some(data.len() as u64),
        },
        data,
    }))
}

/// Forgets the past alarms (the active ones stay).
#[utoipa::path(delete, path = "/api/v5/alarms", tag = "node",
    responses((status = 204, description = "the past alarms are gone")))]
pub(crate) async fn clear(State(state): State<Shared>) -> StatusCode {
    state.handle.alarms().clear_history();
    StatusCode::NO_CONTENT
}
