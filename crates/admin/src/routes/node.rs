//! The node: health, information, statistics, metrics, listeners.
//!
//! Statistics (gauges) and metrics (counters) come from the broker's one table
//! ([`starling_broker::metrics::entries`], EMQX's names: `connections.count`,
//! `messages.qos1.received`, ...), the same one `$SYS` publishes, so the JSON routes, the
//! Prometheus route (`starling_` + the name with `_` for `.`) and `$SYS` never disagree.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use starling_broker::metrics::{entries, MetricKind, Metrics};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::json::{Path, Query};
use crate::state::Shared;

fn pick(state: &Shared, kind: MetricKind) -> BTreeMap<String, u64> {
    entries(state.handle.metrics())
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.name.into_owned(), e.value))
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
pub(crate) async fn stats(State(state): State<Shared>) -> axum::Json<BTreeMap<String, u64>> {
    axum::Json(pick(&state, MetricKind::Gauge))
}

/// Metrics: totals since start (messages and bytes in, out and dropped, by reason and QoS).
#[utoipa::path(get, path = "/api/v5/metrics", tag = "node",
    responses((status = 200, body = BTreeMap<String, u64>)))]
pub(crate) async fn metrics(State(state): State<Shared>) -> axum::Json<BTreeMap<String, u64>> {
    axum::Json(pick(&state, MetricKind::Counter))
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

fn listener_view(l: &starling_broker::ListenerInfo) -> ListenerView {
    ListenerView {
        id: l.id.clone(),
        kind: l.kind,
        name: l.name.clone(),
        bind: l.addr.to_string(),
        running: l.control.running(),
        max_connections: l.max_connections,
    }
}

/// The listeners.
#[utoipa::path(get, path = "/api/v5/listeners", tag = "node",
    responses((status = 200, body = Vec<ListenerView>)))]
pub(crate) async fn listeners(State(state): State<Shared>) -> axum::Json<Vec<ListenerView>> {
    axum::Json(state.handle.listeners().iter().map(listener_view).collect())
}

/// One listener.
#[utoipa::path(get, path = "/api/v5/listeners/{id}", tag = "node",
    params(("id" = String, Path, description = "`<type>:<name>`, e.g. `tcp:default`")),
    responses((status = 200, body = ListenerView), (status = 404, body = ErrorBody)))]
pub(crate) async fn listener(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<ListenerView>, ApiError> {
    let l = state
        .handle
        .listener(&id)
        .ok_or_else(|| ApiError::not_found(format!("listener {id:?}")))?;
    Ok(axum::Json(listener_view(l)))
}

/// What to do with a listener.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ListenerAction {
    /// Accept connections again (a TCP listener binds its address anew).
    Start,
    /// Stop accepting; open connections stay.
    Stop,
    /// Stop, then start.
    Restart,
}

/// Starts, stops or restarts a listener (EMQX's `PUT /listeners/{id}/{action}`). Connections
/// already open are not closed by a stop; new ones are refused until a start.
#[utoipa::path(put, path = "/api/v5/listeners/{id}/{action}", tag = "node",
    params(("id" = String, Path, description = "`<type>:<name>`, e.g. `tcp:default`"),
           ("action" = ListenerAction, Path, description = "start, stop or restart")),
    responses((status = 200, body = ListenerView), (status = 404, body = ErrorBody),
               (status = 503, description = "the address could not be bound again, or the broker is stopping", body = ErrorBody)))]
pub(crate) async fn listener_action(
    State(state): State<Shared>,
    Path((id, action)): Path<(String, ListenerAction)>,
) -> Result<axum::Json<ListenerView>, ApiError> {
    let l = state
        .handle
        .listener(&id)
        .ok_or_else(|| ApiError::not_found(format!("listener {id:?}")))?;
    let control = &l.control;
    let result = match action {
        ListenerAction::Start => control.start().await.map(drop),
        ListenerAction::Stop => control.stop().await.map(drop),
        ListenerAction::Restart => match control.stop().await {
            Ok(_) => control.start().await.map(drop),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Ok(axum::Json(listener_view(l))),
        Err(e @ starling_broker::ListenerError::Start(_)) => {
            Err(ApiError::Unavailable(e.to_string()))
        }
        Err(starling_broker::ListenerError::Stopped) => {
            Err(ApiError::from(starling_broker::Stopped))
        }
    }
}

/// The metrics in Prometheus' text format (no login when `prometheus.public`).
#[utoipa::path(get, path = "/api/v5/prometheus/stats", tag = "node",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub(crate) async fn prometheus(State(state): State<Shared>) -> impl IntoResponse {
    let mut out = String::with_capacity(8 * 1024);
    let node = state.handle.node();
    for e in entries(state.handle.metrics()) {
        let (help, value) = (e.help, e.value);
        let metric = format!("starling_{}", e.name.replace('.', "_"));
        let kind = match e.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
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
