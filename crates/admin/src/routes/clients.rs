//! Clients: a filtered, cursor-paged list; one client's detail and subscriptions; kick
//! (close the connection, keep the session) and discard (end the session too).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use starling_broker::clients::{ClientCounters, ClientFilter, ClientRow, SubscriptionFilter};
use starling_codec::ProtocolVersion;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use super::subscriptions::SubscriptionView;
use crate::error::{ApiError, ErrorBody};
use crate::json::{Path, Query};
use crate::state::Shared;

/// `GET /api/v5/clients` filters (EMQX's names).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
    /// A substring of the client id.
    pub(crate) like_clientid: Option<String>,
    /// A substring of the username.
    pub(crate) like_username: Option<String>,
    /// The peer's IP address.
    pub(crate) ip_address: Option<String>,
    /// `3` (3.1), `4` (3.1.1) or `5`.
    pub(crate) proto_ver: Option<u8>,
    /// `connected` or `disconnected`.
    pub(crate) conn_state: Option<String>,
}

/// A client as listed and shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientView {
    /// The client id.
    pub(crate) clientid: String,
    /// The username, if it gave one.
    pub(crate) username: Option<String>,
    /// Connected now.
    pub(crate) connected: bool,
    /// The node that holds it.
    pub(crate) node: String,
    /// The peer's address.
    pub(crate) ip_address: Option<String>,
    /// The peer's port.
    pub(crate) port: Option<u16>,
    /// `MQTT` or `MQIsdp`.
    pub(crate) proto_name: Option<&'static str>,
    /// The protocol level (3, 4 or 5).
    pub(crate) proto_ver: Option<u8>,
    /// Keep alive, in seconds.
    pub(crate) keepalive: Option<u16>,
    /// Clean Start.
    pub(crate) clean_start: Option<bool>,
    /// Session expiry interval, in seconds.
    pub(crate) expiry_interval: Option<u32>,
    /// When it connected (RFC 3339), in this run.
    pub(crate) connected_at: Option<String>,
    /// Its session is in the store.
    pub(crate) durable: bool,
    /// Subscriptions held.
    pub(crate) subscriptions_cnt: usize,
    /// PUBLISH packets received from it.
    pub(crate) recv_msg: u64,
    /// PUBLISH packets sent to it.
    pub(crate) send_msg: u64,
    /// Bytes received from it.
    pub(crate) recv_oct: u64,
    /// Bytes sent to it.
    pub(crate) send_oct: u64,
    /// Messages waiting for it, not yet sent: an offline session's queue; for a connected
    /// client (detail only) its memory queue and what waits in the store past it.
    pub(crate) mqueue_len: u64,
    /// QoS 1/2 messages for it held in the store until acknowledged (a persistent session's;
    /// in flight ones included).
    pub(crate) stored_msgs: u64,
    /// Its memory queue's cap (`session.max_queue_len`).
    pub(crate) mqueue_max: u32,
    /// Outgoing QoS 1/2 messages sent and not yet acknowledged (one connected client's detail
    /// only; null in lists and offline).
    pub(crate) inflight_cnt: Option<usize>,
    /// The cap on its outgoing inflight window (`mqtt.max_inflight`; a client's Receive
    /// Maximum may make it smaller).
    pub(crate) inflight_max: u16,
    /// Incoming QoS 2 messages waiting for PUBREL (detail only, as `inflight_cnt`).
    pub(crate) awaiting_rel_cnt: Option<usize>,
    /// Their cap (`mqtt.max_awaiting_rel`).
    pub(crate) awaiting_rel_max: u16,
}

fn view(row: &ClientRow, node: &str, config: &starling_config::Config) -> ClientView {
    let info = row.info.as_deref();
    let counter = |pick: fn(&ClientCounters) -> &std::sync::atomic::AtomicU64| {
        info.map_or(0, |i| ClientCounters::get(pick(&i.counters)))
    };
    ClientView {
        clientid: row.client_id.to_string(),
        username: info.and_then(|i| i.username.as_deref().map(str::to_owned)),
        connected: row.connected,
        node: node.to_owned(),
        ip_address: info.map(|i| i.ip.to_string()),
        port: info.map(|i| i.port),
        proto_name: info.map(|i| match i.protocol {
            ProtocolVersion::V3_1 => "MQIsdp",
            _ => "MQTT",
        }),
        proto_ver: info.map(|i| i.protocol.level()),
        keepalive: info.map(|i| i.keep_alive),
        clean_start: info.map(|i| i.clean_start),
        expiry_interval: info.map(|i| i.expiry_interval),
        connected_at: info.map(|i| page::rfc3339(i.connected_at())),
        durable: row.persistent,
        subscriptions_cnt: row.subscriptions,
        recv_msg: counter(|c| &c.messages_in),
        send_msg: counter(|c| &c.messages_out),
        recv_oct: counter(|c| &c.bytes_in),
        send_oct: counter(|c| &c.bytes_out),
        mqueue_len: match row.session {
            // The store holds what is in flight too; what waits is the rest, at least what
            // the memory queue holds (a clean session's queue is not in the store).
            Some(s) => (s.queued as u64).max(row.stored_messages.saturating_sub(s.inflight as u64)),
            None => row.stored_messages,
        },
        stored_msgs: row.stored_messages,
        mqueue_max: config.session.max_queue_len,
        inflight_cnt: row.session.map(|s| s.inflight),
        inflight_max: config.mqtt.max_inflight,
        awaiting_rel_cnt: row.session.map(|s| s.awaiting_rel),
        awaiting_rel_max: config.mqtt.max_awaiting_rel,
    }
}

/// A page of clients.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientList {
    /// The clients, in client-id order.
    pub(crate) data: Vec<ClientView>,
    /// Paging.
    pub(crate) meta: Meta,
}

fn filter_of(q: &ClientQuery) -> Result<ClientFilter, ApiError> {
    let ip = q
        .ip_address
        .as_deref()
        .map(|ip| {
            ip.parse()
                .map_err(|_| ApiError::field("ip_address", format!("{ip:?} is not an IP address")))
        })
        .transpose()?;
    let protocol = match q.proto_ver {
        None => None,
        Some(3) => Some(ProtocolVersion::V3_1),
        Some(4) => Some(ProtocolVersion::V3_1_1),
        Some(5) => Some(ProtocolVersion::V5),
        Some(n) => {
            return Err(ApiError::field(
                "proto_ver",
                format!("must be 3, 4 or 5, got {n}"),
            ))
        }
    };
    let connected = match q.conn_state.as_deref() {
        None => None,
        Some("connected") => Some(true),
        Some("disconnected") => Some(false),
        Some(s) => {
            return Err(ApiError::field(
                "conn_state",
                format!("must be connected or disconnected, got {s:?}"),
            ))
        }
    };
    Ok(ClientFilter {
        client_id: q.like_clientid.clone(),
        username: q.like_username.clone(),
        ip,
        protocol,
        connected,
    })
}

/// Lists clients (connected and offline sessions), in client-id order. A filtered page may
/// hold fewer than `limit` entries and still have a next one: each call looks at a bounded
/// number of sessions.
#[utoipa::path(get, path = "/api/v5/clients", tag = "clients", params(ClientQuery),
    responses((status = 200, body = ClientList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<ClientQuery>,
) -> Result<axum::Json<ClientList>, ApiError> {
    let limit = page::limit(q.limit)?;
    let filter = filter_of(&q)?;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(Arc::from(page::decode(c, 1)?.remove(0))),
        None => None,
    };
    let result = state.handle.clients(after, limit, filter).await?;
    let node = state.handle.node();
    Ok(axum::Json(ClientList {
        data: result
            .items
            .iter()
            .map(|r| view(r, node, state.handle.config()))
            .collect(),
        meta: Meta {
            limit,
            hasnext: result.next.is_some(),
            cursor: result.next.map(|c| page::encode(&[&c])),
            count: Some(starling_broker::metrics::Metrics::get(
                &state.handle.metrics().sessions,
            )),
        },
    }))
}

/// One client.
#[utoipa::path(get, path = "/api/v5/clients/{clientid}", tag = "clients",
    params(("clientid" = String, Path, description = "the client id")),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path(client_id): Path<String>,
) -> Result<axum::Json<ClientView>, ApiError> {
    let row = state
        .handle
        .client(&client_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("client {client_id:?}")))?;
    Ok(axum::Json(view(
        &row,
        state.handle.node(),
        state.handle.config(),
    )))
}

/// Kicks a client out and ends its session (EMQX's `DELETE /clients/{clientid}`): a
/// connected client is closed with 0x98, and nothing of its session is kept.
#[utoipa::path(delete, path = "/api/v5/clients/{clientid}", tag = "clients",
    params(("clientid" = String, Path, description = "the client id")),
    responses((status = 204, description = "kicked out, session ended"), (status = 404, body = ErrorBody)))]
pub(crate) async fn discard(
    State(state): State<Shared>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.handle.discard_session(&client_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("client {client_id:?}")))
    }
}

/// Closes a connected client's connection (0x98) and keeps its session, as after any lost
/// connection.
#[utoipa::path(post, path = "/api/v5/clients/{clientid}/kickout", tag = "clients",
    params(("clientid" = String, Path, description = "the client id")),
    responses((status = 204, description = "disconnected"), (status = 404, body = ErrorBody)))]
pub(crate) async fn kick(
    State(state): State<Shared>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let known = state
        .handle
        .client(&client_id)
        .await?
        .is_some_and(|row| row.connected);
    if !known {
        return Err(ApiError::not_found(format!(
            "connected client {client_id:?}"
        )));
    }
    state.handle.kick(&client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One client's subscriptions.
#[utoipa::path(get, path = "/api/v5/clients/{clientid}/subscriptions", tag = "clients",
    params(("clientid" = String, Path, description = "the client id")),
    responses((status = 200, body = Vec<SubscriptionView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn subscriptions(
    State(state): State<Shared>,
    Path(client_id): Path<String>,
) -> Result<axum::Json<Vec<SubscriptionView>>, ApiError> {
    if state.handle.client(&client_id).await?.is_none() {
        return Err(ApiError::not_found(format!("client {client_id:?}")));
    }
    let filter = SubscriptionFilter {
        client_id: Some(client_id),
        ..SubscriptionFilter::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    // One client holds at most `mqtt.max_subscriptions`: a few pages at most (and never
    // more than 100,000 rows in one answer).
    for _ in 0..100 {
        let page = state
            .handle
            .subscriptions(after, starling_broker::clients::MAX_PAGE, filter.clone())
            .await?;
        out.extend(
            page.items
                .iter()
                .map(|s| SubscriptionView::of(s, state.handle.node())),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(axum::Json(out))
}
