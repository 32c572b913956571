//! `starling-broker`: the runtime that carries out the protocol.
//!
//! Owns the listeners, one task per connection (transport + [`starling_core::Channel`] +
//! session), the router task (registry, subscriptions, shared groups, retained, delayed), the
//! `$SYS` publisher and the metrics. It depends on `core`, `codec`, `topic` and `config`; the
//! admin API, cluster and gateways will reach it only through a handle.
//!
//! Map:
//! - [`start`] / [`RunningBroker`]: bind listeners, spawn everything, shut down gracefully.
//! - `listener`: binding, accept loops (TCP, TLS, WebSocket, WSS, QUIC), the PROXY header and
//!   the TLS/WebSocket handshakes (from `starling-net`), TLS reload; `admission`: connection
//!   slots, per-address limits, accept rate.
//! - `access`: authentication at CONNECT and each client's ACL (`starling-auth`).
//! - `builtin`: [`BuiltinAccess`], the `builtin` users and ACL rules (stored, managed at run
//!   time through [`RunningBroker::builtin`]).
//! - `bans`: banned client ids, usernames, addresses and networks (stored); `flapping`:
//!   client ids that connect too often are banned for a while.
//! - `overload`: memory and run-queue watermarks; refuse, shed QoS 0, alarm, recover.
//! - `connection`: handshake, online loop, offline session holder, framing.
//! - `router`: the router task and its tables.
//! - `sys`: periodic `$SYS` topics.
//! - `modules`: features switched on and off at run time (switches shared with every channel,
//!   topic rewrite and auto-subscribe rules handed to the router), through [`BrokerHandle`].
//! - `mailbox`: the one queue from the router into each session task.
//! - `keepalive`: one timer task for every connection's keep-alive deadline.
//! - [`metrics`]: atomic counters.
//! - [`BrokerHandle`] (`handle`): what the management API reaches the broker through;
//!   [`clients`]: who each connection is, and the shapes of the API's pages.
//! - `trace`: traces of a client id, address or topic written to files (through
//!   [`BrokerHandle`]).
//! - `live_config`: the running configuration read, changed and reloaded through the handle
//!   ([`ConfigSource`] from the binary; changes saved under `<data_dir>/configs/`).
//! - `context`, `clock`: what connection tasks share; tokio's clock as `Instant`.

mod access;
mod admission;
pub mod alarms;
mod bans;
mod builtin;
pub mod clients;
mod clock;
mod connection;
mod context;
mod flapping;
mod handle;
mod keepalive;
mod limits;
mod listener;
mod live_config;
mod mailbox;
pub mod metrics;
mod modules;
mod overload;
mod router;
mod sys;
mod trace;

pub use bans::{BanError, Bans};
pub use builtin::{BuiltinAccess, BuiltinError, BuiltinUser};
use context::Context;
pub use handle::{AdminRecords, BrokerHandle, ListenerInfo, PublishError, PublishRequest, Stopped};
pub use listener::{ListenerControl, ListenerError};
pub use live_config::{
    config_roots, load_config, overrides_path, ConfigChange, ConfigChangeError, ConfigSource,
    LoadedConfig,
};
use metrics::Metrics;
pub use modules::{ModuleChange, ModuleConfig, ModuleError, ModuleInfo, ModuleName};
use router::{Router, RouterSettings};
pub use starling_auth::builtin::{Permission, Rule, RuleAction, Who};
use starling_config::{Config, ListenerKind};
pub use starling_store::{BanKind, BanRecord};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
pub use trace::{
    check_name as check_trace_name, NewTrace, PayloadEncode, TraceCache, TraceError, TraceInfo,
    TraceStatus, TraceTarget,
};
use tracing::{info, warn};

/// Capacity of the router's inbox shared by all connections (back-pressure on publishers).
const ROUTER_INBOX: usize = 8192;

/// Why the broker could not start. Each message carries its cause (the fields are not
/// `source`s, so a printed error chain does not say it twice).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `[[topic_rewrite]]` or `[[auto_subscribe]]` entry is unusable (the error names it).
    #[error("{error}")]
    Modules {
        /// Why.
        error: ModuleError,
    },
    /// A listener's address could not be bound.
    #[error("listener {listener}: cannot listen on {addr}: {error}")]
    Bind {
        /// The listener's name, or its kind and address.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// A TLS listener's certificate, key, CA or settings are unusable.
    #[error("listener {listener}: {error}")]
    Tls {
        /// The listener's name, or its kind and address.
        listener: String,
        /// Why.
        error: starling_net::NetError,
    },
    /// A file named in `[auth]` could not be loaded (the error names it, and the line).
    #[error("{error}")]
    Auth {
        /// Why.
        error: starling_auth::AuthError,
    },
    /// The store could not be opened (another broker holds its directory, or it cannot be
    /// created). A damaged store is not this: it is set aside and the broker starts.
    #[error("store in {dir}: {error}")]
    Store {
        /// `node.data_dir`.
        dir: std::path::PathBuf,
        /// Why.
        error: starling_store::StoreError,
    },
}

/// A started broker.
pub struct RunningBroker {
    local_addrs: Vec<SocketAddr>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    router: JoinHandle<()>,
    tls: Arc<Vec<listener::Reloadable>>,
    auth: Arc<starling_auth::Auth>,
    bans: Arc<Bans>,
    builtin: Arc<BuiltinAccess>,
    overload: Option<Arc<overload::Monitor>>,
    router_tx: mpsc::Sender<router::command::RouterCmd>,
    handle: BrokerHandle,
}

/// Binds every listener and starts the broker. Fails without serving anything if any listener
/// cannot be bound.
pub async fn start(config: &Config) -> Result<RunningBroker, StartError> {
    // The store first: its lock refuses a second broker on the same directory before anything
    // binds, and what it kept is loaded before any client can connect.
    let (store, mut recovered) = open_store(config).await?;
    let auth = Arc::new(access::load(config)?);
    let bound = listener::bind_all(config).await?;
    let metrics = Arc::new(Metrics::default());
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (router_tx, router_rx) = mpsc::channel(ROUTER_INBOX);
    let kick_tx = router_tx.clone();
    let limits = Arc::new(limits::from_config(config));
    // Module changes made at run time before the restart win over the file's values.
    let stored_modules = modules::stored::Stored::take(&mut recovered.admin);
    stored_modules.apply_switches(&limits.switches);
    let (rewrite, auto_subscribe, module_rules) =
        modules::compile(config, &stored_modules, &limits.topic)
            .map_err(|error| StartError::Modules { error })?;
    let settings = RouterSettings {
        node: config.node.name.clone(),
        strategy: config.shared.strategy,
        switches: Arc::clone(&limits.switches),
        rewrite,
        auto_subscribe,
        delayed_max: config.delayed.max_messages.map_or(0, |n| n as usize),
        delayed_max_bytes: config
            .delayed
            .max_bytes
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        retain: router::RetainLimits {
            max_messages: config.retain.max_messages.map_or(0, |n| n as usize),
            max_bytes: config
                .retain
                .max_bytes
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_payload: config.retain.max_payload_size as usize,
        },
        client_events: config.sys.client_events,
        topic_limits: limits.topic,
        mailbox_capacity: mailbox::capacity(&limits),
        // `usize::MAX` is "no limit" in the core's terms, 0 in the router's.
        max_subscriptions: if limits.max_subscriptions == usize::MAX {
            0
        } else {
            limits.max_subscriptions
        },
        max_offline: config.session.max_offline.map_or(0, |n| n as usize),
        queue: limits.queue,
        stored: router::StoredLimits {
            max_messages: config.session.max_stored_messages,
            max_bytes: config.session.max_stored_bytes,
        },
    };
    let bans = Arc::new(Bans::new(config.max_bans, Some(store.clone())));
    bans.restore(std::mem::take(&mut recovered.banned), clock::wall(&limits));
    let (trace_records, admin_records): (AdminRecords, AdminRecords) =
        std::mem::take(&mut recovered.admin)
            .into_iter()
            .partition(|(key, _)| key.starts_with(trace::RECORD_PREFIX.as_bytes()));
    let builtin = Arc::new(BuiltinAccess::new(&auth.builtin, store.clone()));
    builtin.restore(
        std::mem::take(&mut recovered.auth_users),
        std::mem::take(&mut recovered.auth_acl),
    );
    let overloaded = Arc::new(overload::OverloadFlag::default());
    let mut router = Router::new(settings, metrics.clone())
        .with_store(store.clone())
        .with_overload(Arc::clone(&overloaded));
    let alarms = Arc::new(alarms::Alarms::default());
    restore(&mut router, recovered, &metrics, limits.clock, &alarms);
    let router = tokio::spawn(router::run(
        router,
        router_rx,
        shutdown.clone(),
        limits.clock,
    ));
    let (tracer, trace_rx) = trace::Tracer::new(
        config.trace,
        &config.node.data_dir,
        Some(store.clone()),
        Arc::clone(&limits),
    );
    let tracer = Arc::new(tracer);
    tracer
        .spawn(trace_rx, trace_records, shutdown.clone(), &tasks)
        .await;
    let ctx = Arc::new(
        Context::new(
            limits,
            router_tx.clone(),
            metrics.clone(),
            shutdown.clone(),
            config.mqtt.connect_timeout,
            bound.len(),
            Arc::clone(&auth),
        )
        .with_store(store.clone())
        .with_protection(Arc::clone(&bans), config.flapping, Arc::clone(&overloaded))
        .with_tracer(Arc::clone(&tracer)),
    );
    tasks.spawn({
        let ctx = ctx.clone();
        async move { ctx.keepalive.run(ctx.shutdown.clone()).await }
    });
    let overload = config.overload.map(|overload| {
        let monitor = Arc::new(overload::Monitor::new(
            &overload,
            overloaded,
            metrics.clone(),
            Arc::clone(&alarms),
        ));
        tasks.spawn(monitor_loop(
            Arc::clone(&monitor),
            overload.check_interval,
            shutdown.clone(),
        ));
        monitor
    });
    if let Some(interval) = config.sys.interval {
        let sys = sys::run(
            config.node.name.clone(),
            interval,
            Arc::clone(&ctx.limits.load().switches),
            metrics.clone(),
            router_tx,
            shutdown.clone(),
        );
        tasks.spawn(sys);
    }
    let mut local_addrs = Vec::new();
    let mut listeners = Vec::new();
    let mut reloadable = Vec::new();
    for (index, bound) in bound.into_iter().enumerate() {
        let addr = bound.addr;
        let kind = bound.listener.config.kind;
        let endpoint = match &bound.socket {
            listener::Socket::Quic(endpoint) => Some(endpoint.clone()),
            listener::Socket::Tcp(_) => None,
        };
        reloadable.extend(listener::Reloadable::of(&bound.listener, endpoint));
        let transport = match kind {
            ListenerKind::Quic => "UDP",
            _ => "TCP",
        };
        let path = bound.listener.config.ws.as_ref().map(|w| w.path.clone());
        info!(
            kind = kind.as_str(),
            %addr,
            path,
            transport,
            "listening for MQTT 3.1, 3.1.1 and 5.0"
        );
        local_addrs.push(addr);
        let (control, orders) = listener::ListenerControl::new();
        let control = Arc::new(control);
        listeners.push(ListenerInfo {
            id: listener_id(config, &bound.listener.config),
            name: bound.listener.config.label(),
            kind: kind.as_str(),
            addr,
            max_connections: bound.listener.config.max_connections,
            control: Arc::clone(&control),
        });
        tasks.spawn(listener::run(
            bound,
            index,
            ctx.clone(),
            tasks.clone(),
            control,
            orders,
        ));
    }
    let reloadable = Arc::new(reloadable);
    tasks.spawn(listener::run_reload(
        reloadable.clone(),
        Arc::clone(&auth),
        shutdown.clone(),
    ));
    let handle = BrokerHandle::new(handle::HandleParts {
        metrics: metrics.clone(),
        bans: Arc::clone(&bans),
        builtin: Arc::clone(&builtin),
        alarms: Arc::clone(&alarms),
        router: kick_tx.clone(),
        store: store.clone(),
        listeners,
        config: Arc::new(config.clone()),
        admin_records,
        limits: Arc::clone(&ctx.limits),
        modules: Arc::new(modules::Modules::new(
            config,
            Arc::clone(&ctx.limits.load().switches),
            ctx.limits.load().topic,
            module_rules,
            store.clone(),
        )),
        tracer,
    });
    Ok(RunningBroker {
        handle,
        local_addrs,
        metrics,
        shutdown,
        tasks,
        router,
        tls: reloadable,
        auth,
        bans,
        builtin,
        overload,
        router_tx: kick_tx,
    })
}

impl RunningBroker {
    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The broker's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The handle the management API works through.
    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    /// Reloads every TLS listener's certificate, key, CA and CRLs from their files now, as
    /// SIGHUP does. New connections get the new files; a listener whose files are unusable
    /// keeps the old ones (logged).
    pub fn reload_tls(&self) {
        for listener in self.tls.iter() {
            listener.reload(true);
        }
    }

    /// Loads again the `[auth]` password and ACL files that changed, as the periodic check and
    /// SIGHUP do. A file that fails keeps its previous contents (logged).
    pub fn reload_auth(&self) {
        access::reload(&self.auth);
    }

    /// The banned clients: add, lift and list bans (they are stored, and hold across
    /// restarts).
    pub fn bans(&self) -> &Arc<Bans> {
        &self.bans
    }

    /// The `builtin` users and ACL rules: list, add, change and delete them (stored, they
    /// hold across restarts; asked by the chains when `[auth]` names `kind = "builtin"`).
    pub fn builtin(&self) -> &Arc<BuiltinAccess> {
        &self.builtin
    }

    /// Closes the connection of `client_id` (5.0: DISCONNECT 0x98 Administrative action), if
    /// it is connected; its session stays, as after any lost connection.
    pub async fn kick(&self, client_id: &str) {
        let cmd = router::command::RouterCmd::Kick {
            client_id: client_id.into(),
        };
        let _ = self.router_tx.send(cmd).await;
    }

    /// Bans, durably, and closes the connection of a client id banned now.
    pub async fn ban(&self, ban: BanRecord) -> Result<usize, BanError> {
        self.handle.ban(ban).await
    }

    /// Reads memory and the run queue now and updates the overload state, as the periodic
    /// check does (no-op when `[overload]` is off).
    pub fn check_overload(&self) {
        if let Some(monitor) = &self.overload {
            monitor.check();
        }
    }

    /// A token that, when cancelled, starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, sends 5.0 clients DISCONNECT 0x8B, flushes what is queued, and waits
    /// (at most `grace`) for every connection to finish.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        self.wait(grace).await;
    }

    /// Waits until shutdown was requested (through the token) and everything stopped.
    pub async fn wait(self, grace: Duration) {
        self.shutdown.cancelled().await;
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            warn!("some connections did not finish within the shutdown grace period");
        }
        self.router.abort();
        let _ = self.router.await;
    }
}

/// Checks for overload every `every` until shutdown.
async fn monitor_loop(
    monitor: Arc<overload::Monitor>,
    every: Duration,
    shutdown: CancellationToken,
) {
    // The first check one interval after start: a broker starts below its watermarks.
    let first = tokio::time::Instant::now() + every;
    let mut ticker = tokio::time::interval_at(first, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => monitor.check(),
        }
    }
}

/// Opens (creating it if needed) the store in `node.data_dir`, off the async threads: reading
/// a large store back takes a while.
async fn open_store(
    config: &Config,
) -> Result<(starling_store::Store, starling_store::Recovered), StartError> {
    let dir = config.node.data_dir.clone();
    let options = starling_store::StoreOptions {
        fsync: match config.durability {
            starling_config::DurabilityConfig::Always => starling_store::Fsync::Always,
            starling_config::DurabilityConfig::Interval(d) => starling_store::Fsync::Interval(d),
            starling_config::DurabilityConfig::Never => starling_store::Fsync::Never,
        },
        ..starling_store::StoreOptions::new(dir.clone())
    };
    let opened = tokio::task::spawn_blocking(move || starling_store::Store::open(&options)).await;
    match opened {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(error)) => Err(StartError::Store { dir, error }),
        Err(join) => Err(StartError::Store {
            dir,
            error: starling_store::StoreError::Io {
                what: "opening the store",
                path: config.node.data_dir.clone(),
                source: std::io::Error::other(join.to_string()),
            },
        }),
    }
}

/// Loads what the store kept into the router and says how much, and what was set aside.
fn restore(
    router: &mut Router,
    recovered: starling_store::Recovered,
    metrics: &Metrics,
    clock: starling_core::WallClock,
    alarms: &alarms::Alarms,
) {
    let damage = &recovered.damage;
    let set_aside = damage.records_set_aside();
    Metrics::add(&metrics.store_records_set_aside, set_aside);
    Metrics::add(&metrics.store_bytes_set_aside, damage.moved_aside_bytes);
    if let Some(path) = &damage.moved_aside {
        warn!(path = %path.display(), bytes = damage.moved_aside_bytes,
            "the store could not be read and was moved aside; starting with an empty one");
    }
    if set_aside > 0 || damage.moved_aside.is_some() {
        alarms.record(
            "store_damaged",
            format!(
                "at start the store had {set_aside} damaged or orphaned records (removed) and \
                 {} bytes moved aside",
                damage.moved_aside_bytes
            ),
            std::time::SystemTime::now(),
        );
    }
    if set_aside > 0 {
        warn!(
            records = set_aside,
            "damaged or orphaned store records were removed"
        );
    }
    let now = clock.at(clock::now());
    let (sessions, queued) = router.restore_sessions(recovered.sessions, now);
    let (retained, delayed) = router.restore(recovered.retained, recovered.delayed, now);
    info!(
        sessions,
        queued,
        retained,
        delayed,
        elapsed_ms = recovered.elapsed.as_millis() as u64,
        "restored from the store"
    );
}

/// A listener's API id (see [`ListenerInfo::id`]).
fn listener_id(config: &Config, listener: &starling_config::ListenerConfig) -> String {
    let kind = listener.kind.as_str();
    let name = match &listener.name {
        Some(name) => name.clone(),
        None => {
            let unnamed = config
                .listeners
                .iter()
                .filter(|l| l.kind == listener.kind && l.name.is_none())
                .count();
            if unnamed == 1 {
                "default".to_owned()
            } else {
                listener.bind.to_string()
            }
        }
    };
    format!("{kind}:{name}")
}
