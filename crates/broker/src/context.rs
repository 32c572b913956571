//! What every connection task shares: limits, the router's inbox, metrics, the shutdown token.

use crate::admission::Admission;
use crate::keepalive::KeepAliveTimer;
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use arc_swap::ArcSwap;
use starling_core::ServerLimits;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Shared by all connection tasks (cloned as an `Arc`).
#[derive(Debug)]
pub(crate) struct Context {
    /// The limits new connections negotiate with; swapped by a live configuration change
    /// (`crate::live_config`), read once per CONNECT. Shared with the handle.
    pub(crate) limits: Arc<ArcSwap<ServerLimits>>,
    pub(crate) router: mpsc::Sender<RouterCmd>,
    pub(crate) metrics: Arc<Metrics>,
    /// Cancelled when the broker shuts down.
    pub(crate) shutdown: CancellationToken,
    /// A connection that sends no CONNECT in this time is closed.
    pub(crate) connect_timeout: Duration,
    /// Every connection's keep-alive deadline.
    pub(crate) keepalive: KeepAliveTimer,
    /// Connection slots per listener and per address (`crate::admission`).
    pub(crate) admission: Admission,
    next_conn_id: AtomicU64,
    /// The store, whose durable ticket releases acks held at a channel's gate.
    pub(crate) store: Option<starling_store::Store>,
    /// Authentication and authorization (`[auth]`).
    pub(crate) auth: Arc<starling_auth::Auth>,
    /// Banned clients, checked at CONNECT.
    pub(crate) bans: Arc<crate::bans::Bans>,
    /// Flapping detection; `None`: off.
    pub(crate) flapping: Option<crate::flapping::Flapping>,
    /// Set while the broker is overloaded: new connections are refused.
    pub(crate) overloaded: Arc<crate::overload::OverloadFlag>,
    /// Traces (`crate::trace`): one atomic load per packet when none runs.
    pub(crate) tracer: Arc<crate::trace::Tracer>,
}

impl Context {
    pub(crate) fn new(
        limits: Arc<ServerLimits>,
        router: mpsc::Sender<RouterCmd>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        connect_timeout: Duration,
        listeners: usize,
        auth: Arc<starling_auth::Auth>,
    ) -> Self {
        Self {
            tracer: Arc::new(crate::trace::Tracer::idle(Arc::clone(&limits))),
            admission: Admission::new(listeners),
            limits: Arc::new(ArcSwap::new(limits)),
            router,
            metrics,
            shutdown,
            connect_timeout,
            keepalive: KeepAliveTimer::new(),
            next_conn_id: AtomicU64::new(1),
            store: None,
            auth,
            bans: Arc::new(crate::bans::Bans::new(1, None)),
            flapping: None,
            overloaded: Arc::default(),
        }
    }

    /// Connections wait on `store` for the acks they hold.
    pub(crate) fn with_store(mut self, store: starling_store::Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Bans are checked in `bans`, and flapping client ids banned there.
    pub(crate) fn with_protection(
        mut self,
        bans: Arc<crate::bans::Bans>,
        flapping: Option<starling_config::FlappingConfig>,
        overloaded: Arc<crate::overload::OverloadFlag>,
    ) -> Self {
        self.overloaded = overloaded;
        self.bans = bans;
        self.flapping = flapping.map(crate::flapping::Flapping::new);
        self
    }

    /// Connections report to `tracer`.
    pub(crate) fn with_tracer(mut self, tracer: Arc<crate::trace::Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// How long closing a connection may wait for its last writes.
    pub(crate) fn close_timeout(&self) -> Duration {
        self.limits.load().send_timeout
    }

    /// Largest packet accepted before CONNECT succeeds: the limit in force now, at most
    /// 64 KiB (a CONNECT needs no more; a client not yet known cannot make us buffer more).
    pub(crate) fn connect_max_packet_size(&self) -> u32 {
        self.limits.load().max_packet_size.min(64 * 1024)
    }

    /// A fresh connection id.
    pub(crate) fn conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }
}
