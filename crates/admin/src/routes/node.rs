//! The node: health, information, statistics, metrics, listeners.
//!
//! Statistics (gauges) and metrics (counters) are one list ([`entries`]) under EMQX's names
//! (`connections.count`, `messages.qos1.received`, ...), so the JSON routes and the Prometheus
//! route (`starling_` + the name with `_` for `.`) never disagree.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use starling_broker::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::json::{Path, Query};
use crate::state::Shared;

/// A gauge (a level now) or a counter (a total since start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Goes up and down.
    Gauge,
    /// Only goes up.
    Counter,
}

/// Every statistic and metric: (name, kind, help, value).
pub(crate) fn entries(m: &Metrics) -> Vec<(&'static str, Kind, &'static str, u64)> {
    use Kind::{Counter as C, Gauge as G};
    let g = |c: &AtomicU64| Metrics::get(c);
    vec![
        (
            "connections.count",
            G,
            "connections open now",
            g(&m.connections),
        ),
        (
            "live_connections.count",
            G,
            "connections open now",
            g(&m.connections),
        ),
        (
            "sessions.count",
            G,
            "sessions, connected or not",
            g(&m.sessions),
        ),
        (
            "sessions.offline.count",
            G,
            "sessions without a connection",
            g(&m.sessions_offline),
        ),
        (
            "subscriptions.count",
            G,
            "subscriptions held",
            g(&m.subscriptions),
        ),
        ("retained.count", G, "retained messages", g(&m.retained)),
        (
            "retained.bytes",
            G,
            "bytes of retained messages",
            g(&m.retained_bytes),
        ),
        (
            "delayed.count",
            G,
            "delayed messages waiting",
            g(&m.delayed),
        ),
        (
            "queued.count",
            G,
            "deliveries queued in the store for persistent sessions",
            g(&m.stored_messages),
        ),
        (
            "overload.active",
            G,
            "1 while the broker is overloaded",
            g(&m.overload_active),
        ),
        (
            "client.connected",
            C,
            "connections accepted since start",
            g(&m.connections_total),
        ),
        (
            "client.connack.refused",
            C,
            "connections refused at CONNECT",
            g(&m.connections_refused),
        ),
        (
            "client.auth.failure",
            C,
            "failed logins",
            g(&m.auth_failures),
        ),
        (
            "client.banned",
            C,
            "connections refused as banned",
            g(&m.banned_refused),
        ),
        (
            "client.flapping.banned",
            C,
            "client ids banned for flapping",
            g(&m.flapping_bans),
        ),
        (
            "messages.received",
            C,
            "PUBLISH packets from clients",
            g(&m.messages_received),
        ),
        (
            "messages.sent",
            C,
            "PUBLISH packets to clients",
            g(&m.messages_sent),
        ),
        (
            "messages.qos0.received",
            C,
            "QoS 0 PUBLISH packets from clients",
            g(&m.messages_received_qos[0]),
        ),
        (
            "messages.qos1.received",
            C,
            "QoS 1 PUBLISH packets from clients",
            g(&m.messages_received_qos[1]),
        ),
        (
            "messages.qos2.received",
            C,
            "QoS 2 PUBLISH packets from clients",
            g(&m.messages_received_qos[2]),
        ),
        (
            "messages.qos0.sent",
            C,
            "QoS 0 PUBLISH packets to clients",
            g(&m.messages_sent_qos[0]),
        ),
        (
            "messages.qos1.sent",
            C,
            "QoS 1 PUBLISH packets to clients",
            g(&m.messages_sent_qos[1]),
        ),
        (
            "messages.qos2.sent",
            C,
            "QoS 2 PUBLISH packets to clients",
            g(&m.messages_sent_qos[2]),
        ),
        (
            "messages.dropped",
            C,
            "messages dropped, every reason",
            g(&m.messages_dropped),
        ),
        (
            "messages.dropped.store_full",
            C,
            "deliveries dropped at a stored session's cap",
            g(&m.stored_dropped),
        ),
        (
            "messages.dropped.overload",
            C,
            "QoS 0 deliveries shed while overloaded",
            g(&m.overload_shed),
        ),
        (
            "messages.dropped.acl_denied",
            C,
            "deliveries an ACL refused",
            g(&m.acl_denied_delivery),
        ),
        (
            "messages.spilled",
            C,
            "deliveries spilled to the store from a full queue",
            g(&m.stored_spills),
        ),
        (
            "authorization.deny.publish",
            C,
            "PUBLISHes an ACL refused",
            g(&m.acl_denied_publish),
        ),
        (
            "authorization.deny.subscribe",
            C,
            "subscriptions an ACL refused",
            g(&m.acl_denied_subscribe),
        ),
        (
            "bytes.received",
            C,
            "bytes read from clients",
            g(&m.bytes_received),
        ),
        (
            "bytes.sent",
            C,
            "bytes written to clients",
            g(&m.bytes_sent),
        ),
        (
            "delivery.send_timeout",
            C,
            "connections closed because writes made no progress",
            g(&m.send_timeouts),
        ),
        (
            "store.errors",
            C,
            "store writes that failed",
            g(&m.store_errors),
        ),
        (
            "store.set_aside.records",
            C,
            "damaged store records set aside at start",
            g(&m.store_records_set_aside),
        ),
        (
            "overload.alarms",
            C,
            "times the broker became overloaded",
            g(&m.overload_alarms),
        ),
        (
            "overload.refused",
            C,
            "connections refused while overloaded",
            g(&m.overload_refused),
        ),
    ]
}

fn pick(state: &Shared, kind: Kind) -> BTreeMap<&'static str, u64> {
    entries(state.handle.metrics())
        .into_iter()
        .filter(|e| e.1 == kind)
        .map(|(name, _, _, value)| (name, value))
        .collect()
}

/// `GET /api/v5/status?format=json`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    /// `text` (default, as EMQX) or `json`.
    pub(crate) format: Option<String>,
}

/// The health check's JSON answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusBody {
    /// The node.
    pub(crate) node: String,
    /// `running`.
    pub(crate) status: &'static str,
    /// The broker's version.
    pub(crate) version: &'static str,
}

/// Health check (no login): 200 while the broker runs.
#[utoipa::path(get, path = "/api/v5/status", tag = "node", params(StatusQuery),
    responses((status = 200, description = "running (text, or JSON with format=json)",
               content((String = "text/plain"), (StatusBody = "application/json"))),
              (status = 400, body = ErrorBody)),
    security(()))]
pub(crate) async fn status(
    State(state): State<Shared>,
    Query(q): Query<StatusQuery>,
) -> Result<axum::response::Response, ApiError> {
    let node = state.handle.node().to_owned();
    match q.format.as_deref() {
        None | Some("text") => {
            Ok(format!("Node {node} is started\nstarling is running\n").into_response())
        }
        Some("json") => Ok(axum::Json(StatusBody {
            node,
            status: "running",
            version: env!("CARGO_PKG_VERSION"),
        })
        .into_response()),
        Some(other) => Err(ApiError::field(
            "format",
            format!("must be text or json, got {other:?}"),
        )),
    }
}

/// A node.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeInfo {
    /// Its name.
    pub(crate) node: String,
    /// `running`.
    pub(crate) node_status: &'static str,
    /// The broker's version.
    pub(crate) version: &'static str,
    /// Seconds since it started.
    pub(crate) uptime: u64,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
    /// Connections now.
    pub(crate) connections: u64,
    /// Sessions now.
    pub(crate) sessions: u64,
    /// The machine and the process.
    #[serde(flatten)]
    pub(crate) system: crate::system::System,
}

fn node_info(state: &Shared) -> NodeInfo {
    let h = &state.handle;
    NodeInfo {
        node: h.node().to_owned(),
        node_status: "running",
        version: env!("CARGO_PKG_VERSION"),
        uptime: h.uptime().as_secs(),
        started_at: super::page::rfc3339(h.started_at()),
        connections: Metrics::get(&h.metrics().connections),
        sessions: Metrics::get(&h.metrics().sessions),
        system: crate::system::read(),
    }
}

/// Every node (one until clustering comes).
#[utoipa::path(get, path = "/api/v5/nodes", tag = "node",
    responses((status = 200, body = Vec<NodeInfo>)))]
pub(crate) async fn nodes(State(state): State<Shared>) -> axum::Json<Vec<NodeInfo>> {
    axum::Json(vec![node_info(&state)])
}

/// One node.
#[utoipa::path(get, path = "/api/v5/nodes/{node}", tag = "node",
    params(("node" = String, Path, description = "the node's name")),
    responses((status = 200, body = NodeInfo), (status = 404, body = ErrorBody)))]
pub(crate) async fn node(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<axum::Json<NodeInfo>, ApiError> {
    if name != state.handle.node() {
        return Err(ApiError::not_found(format!("node {name:?}")));
    }
    Ok(axum::Json(node_info(&state)))
}

/// Statistics: what the broker holds now (`connections.count`, `sessions.count`, ...).
#[utoipa::path(get, path = "/api/v5/stats", tag = "node",
    responses((status = 200, body = BTreeMap<String, u64>)))]
pub(crate) async fn stats(State(state): State<Shared>) -> axum::Json<BTreeMap<&'static str, u64>> {
    axum::Json(pick(&state, Kind::Gauge))
}

/// Metrics: totals since start (messages and bytes in, out and dropped, by reason and QoS).
#[utoipa::path(get, path = "/api/v5/metrics", tag = "node",
    responses((status = 200, body = BTreeMap<String, u64>)))]
pub(crate) async fn metrics(
    State(state): State<Shared>,
) -> axum::Json<BTreeMap<&'static str, u64>> {
    axum::Json(pick(&state, Kind::Counter))
}

/// A listener.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListenerView {
    /// `<kind>:<name>`, as EMQX names them.
    pub(crate) id: String,
    /// `tcp`, `tls`, `ws`, `wss` or `quic`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// Its name, or its kind and address.
    pub(crate) name: String,
    /// The address bound.
    pub(crate) bind: String,
    /// Whether it accepts connections.
    pub(crate) running: bool,
    /// Connections it accepts at once at most.
    pub(crate) max_connections: u32,
}

/// The listeners.
#[utoipa::path(get, path = "/api/v5/listeners", tag = "node",
    responses((status = 200, body = Vec<ListenerView>)))]
pub(crate) async fn listeners(State(state): State<Shared>) -> axum::Json<Vec<ListenerView>> {
    let out = state
        .handle
        .listeners()
        .iter()
        .map(|l| ListenerView {
            id: format!("{}:{}", l.kind, l.name),
            kind: l.kind,
            name: l.name.clone(),
            bind: l.addr.to_string(),
            running: true,
            max_connections: l.max_connections,
        })
        .collect();
    axum::Json(out)
}

/// The metrics in Prometheus' text format (no login when `prometheus.public`).
#[utoipa::path(get, path = "/api/v5/prometheus/stats", tag = "node",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub(crate) async fn prometheus(State(state): State<Shared>) -> impl IntoResponse {
    let mut out = String::with_capacity(8 * 1024);
    let node = state.handle.node();
    for (name, kind, help, value) in entries(state.handle.metrics()) {
        let metric = format!("starling_{}", name.replace('.', "_"));
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        out.push_str(&format!(
            "# HELP {metric} {help}\n# TYPE {metric} {kind}\n{metric}{{node=\"{node}\"}} {value}\n"
        ));
    }
    let system = crate::system::read();
    if let Some(rss) = system.memory_used {
        out.push_str(&format!(
            "# HELP starling_vm_used_memory resident memory of the broker\n# TYPE starling_vm_used_memory gauge\nstarling_vm_used_memory{{node=\"{node}\"}} {rss}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP starling_uptime_seconds seconds since start\n# TYPE starling_uptime_seconds gauge\nstarling_uptime_seconds{{node=\"{node}\"}} {}\n",
        state.handle.uptime().as_secs()
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
