//! [`BrokerHandle`]: how the management API (and later the cluster and gateways) reach a
//! running broker. A cheap clone of channels and shared tables; nothing here blocks the
//! router: questions go to it as commands answered with bounded work (`router::query`),
//! counters are read from atomics.

use crate::bans::Bans;
use crate::clients::{
    ClientFilter, ClientRow, Page, RetainedRow, SubscriptionFilter, SubscriptionRow,
};
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use crate::router::Query;
use bytes::Bytes;
use starling_codec::QoS;
use starling_config::Config;
use starling_core::{Message, MessageProperties};
use starling_topic::{TopicFilter, TopicName};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// The broker stopped: it can no longer answer.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the broker is shutting down")]
pub struct Stopped;

/// A listener as the API shows it.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// `<kind>:<name>` as EMQX names listeners (`tcp:default`): the configured name, else
    /// `default` for the one unnamed listener of its kind, else its address.
    pub id: String,
    /// Its name, or its kind and address.
    pub name: String,
    /// `tcp`, `tls`, `ws`, `wss` or `quic`.
    pub kind: &'static str,
    /// The address it is bound to.
    pub addr: SocketAddr,
    /// The most connections it accepts at once.
    pub max_connections: u32,
    /// Its state, and start and stop.
    pub control: Arc<crate::ListenerControl>,
}

/// A message to publish through the API.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The topic (no wildcards).
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// Its RETAIN flag.
    pub retain: bool,
    /// The message expiry interval, in seconds.
    pub expiry: Option<u32>,
    /// 5.0 properties forwarded to subscribers.
    pub properties: MessageProperties,
}

/// Why an API publish was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The topic is not a valid topic name.
    #[error("topic: {0}")]
    Topic(String),
    /// `$SYS` topics are the broker's own.
    #[error("topic: $SYS topics cannot be published to")]
    System,
    /// The broker stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// The management API's stored records: (key, value) pairs.
pub type AdminRecords = Vec<(Vec<u8>, Vec<u8>)>;

struct Inner {
    node: String,
    started: SystemTime,
    metrics: Arc<Metrics>,
    bans: Arc<Bans>,
    builtin: Arc<crate::BuiltinAccess>,
    alarms: Arc<crate::alarms::Alarms>,
    router: mpsc::Sender<RouterCmd>,
    store: starling_store::Store,
    listeners: Vec<ListenerInfo>,
    config: Arc<Config>,
    admin_records: Mutex<Option<AdminRecords>>,
    /// The limits connections negotiate with, shared with every connection's context.
    limits: Arc<arc_swap::ArcSwap<starling_core::ServerLimits>>,
    modules: Arc<crate::modules::Modules>,
    tracer: Arc<crate::trace::Tracer>,
    /// Set once the binary attaches the configuration's sources (`crate::live_config`).
    live_config: std::sync::OnceLock<crate::live_config::LiveConfig>,
}

/// How long one client's detail waits for its connection's report.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// A running broker, as its management sees it. Clones share everything.
#[derive(Clone)]
pub struct BrokerHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

/// What [`BrokerHandle::new`] is made of (kept in one struct: they all come from `start`).
pub(crate) struct HandleParts {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) bans: Arc<Bans>,
    pub(crate) builtin: Arc<crate::BuiltinAccess>,
    pub(crate) alarms: Arc<crate::alarms::Alarms>,
    pub(crate) router: mpsc::Sender<RouterCmd>,
    pub(crate) store: starling_store::Store,
    pub(crate) listeners: Vec<ListenerInfo>,
    pub(crate) config: Arc<Config>,
    pub(crate) admin_records: AdminRecords,
    pub(crate) limits: Arc<arc_swap::ArcSwap<starling_core::ServerLimits>>,
    pub(crate) modules: Arc<crate::modules::Modules>,
    pub(crate) tracer: Arc<crate::trace::Tracer>,
}

impl BrokerHandle {
    pub(crate) fn new(parts: HandleParts) -> Self {
        let started = crate::clock::wall(&parts.limits.load());
        Self {
            inner: Arc::new(Inner {
                node: parts.config.node.name.clone(),
                started,
                metrics: parts.metrics,
                bans: parts.bans,
                builtin: parts.builtin,
                alarms: parts.alarms,
                router: parts.router,
                store: parts.store,
                listeners: parts.listeners,
                config: parts.config,
                admin_records: Mutex::new(Some(parts.admin_records)),
                limits: parts.limits,
                modules: parts.modules,
                tracer: parts.tracer,
                live_config: std::sync::OnceLock::new(),
            }),
        }
    }

    pub(crate) fn live_config_cell(&self) -> &std::sync::OnceLock<crate::live_config::LiveConfig> {
        &self.inner.live_config
    }

    /// Puts the limits of `config` that connections read at CONNECT in force for new
    /// connections; what the router and the running connections hold stays.
    pub(crate) fn swap_limits(&self, config: &Config) {
        let current = self.inner.limits.load_full();
        self.inner
            .limits
            .store(Arc::new(crate::limits::live_from_config(&current, config)));
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// When the broker started (wall time).
    pub fn started_at(&self) -> SystemTime {
        self.inner.started
    }

    /// How long it has run.
    pub fn uptime(&self) -> Duration {
        self.now()
            .duration_since(self.inner.started)
            .unwrap_or_default()
    }

    /// The broker's wall time (tokio's clock, so paused-time tests move it).
    pub fn now(&self) -> SystemTime {
        crate::clock::wall(&self.inner.limits.load())
    }

    /// The broker's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The banned clients.
    pub fn bans(&self) -> &Arc<Bans> {
        &self.inner.bans
    }

    /// The `builtin` users and ACL rules.
    pub fn builtin(&self) -> &Arc<crate::BuiltinAccess> {
        &self.inner.builtin
    }

    /// The broker's alarms, active and past.
    pub fn alarms(&self) -> &Arc<crate::alarms::Alarms> {
        &self.inner.alarms
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The listeners bound.
    pub fn listeners(&self) -> &[ListenerInfo] {
        &self.inner.listeners
    }

    /// The listener with this id ([`ListenerInfo::id`]).
    pub fn listener(&self, id: &str) -> Option<&ListenerInfo> {
        self.listeners().iter().find(|l| l.id == id)
    }

    /// The store's sizes.
    pub fn store_stats(&self) -> starling_store::StoreStats {
        self.inner.store.stats()
    }

    /// The management API's records read back at start (given once: the API keeps them).
    pub fn take_admin_records(&self) -> AdminRecords {
        self.inner
            .admin_records
            .lock()
            .map(|mut r| r.take().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Writes (`Some`) or removes (`None`) one of the management API's records, and returns
    /// once it is durable.
    pub async fn save_admin_record(
        &self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), starling_store::StoreError> {
        save_admin(&self.inner.store, key, value).await
    }

    async fn ask<T>(&self, query: impl FnOnce(oneshot::Sender<T>) -> Query) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .router
            .send(RouterCmd::Query(Box::new(query(tx))))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// A page of clients after `after`, in client-id order.
    pub async fn clients(
        &self,
        after: Option<Arc<str>>,
        limit: usize,
        filter: ClientFilter,
    ) -> Result<Page<ClientRow, Arc<str>>, Stopped> {
        self.ask(|reply| Query::Clients {
            after,
            limit,
            filter,
            reply,
        })
        .await
    }

    /// One client, connected or not.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRow>, Stopped> {
        let client_id = client_id.to_owned();
        let Some((mut row, report)) = self.ask(|reply| Query::Client { client_id, reply }).await?
        else {
            return Ok(None);
        };
        if let Some(report) = report {
            // A connection busy past this is shown without its session's figures rather
            // than holding the API's answer.
            if let Ok(Ok(report)) = tokio::time::timeout(REPORT_TIMEOUT, report).await {
                row.session = Some(report);
            }
        }
        Ok(Some(row))
    }

    /// A page of subscriptions after (client id, filter).
    pub async fn subscriptions(
        &self,
        after: Option<(Arc<str>, String)>,
        limit: usize,
        filter: SubscriptionFilter,
    ) -> Result<Page<SubscriptionRow, (Arc<str>, String)>, Stopped> {
        self.ask(|reply| Query::Subscriptions {
            after,
            limit,
            filter,
            reply,
        })
        .await
    }

    /// A page of routes (distinct subscribed filters) after the filter `after`.
    pub async fn topics(
        &self,
        after: Option<String>,
        limit: usize,
        filter: crate::clients::TopicFilterQuery,
    ) -> Result<Page<crate::clients::TopicRow, String>, Stopped> {
        self.ask(|reply| Query::Topics {
            after,
            limit,
            filter,
            reply,
        })
        .await
    }

    /// A page of retained messages matching `filter` after the topic `after`.
    pub async fn retained(
        &self,
        after: Option<String>,
        limit: usize,
        filter: TopicFilter,
    ) -> Result<Page<RetainedRow, String>, Stopped> {
        self.ask(|reply| Query::Retained {
            after,
            limit,
            filter,
            reply,
        })
        .await
    }

    /// The message retained on `topic`.
    pub async fn retained_message(&self, topic: &str) -> Result<Option<RetainedRow>, Stopped> {
        let topic = topic.to_owned();
        self.ask(|reply| Query::RetainedGet { topic, reply }).await
    }

    /// Removes the message retained on `topic`; true when there was one.
    pub async fn delete_retained(&self, topic: &str) -> Result<bool, Stopped> {
        let topic = topic.to_owned();
        self.ask(|reply| Query::RetainedDelete { topic, reply })
            .await
    }

    /// Closes `client_id`'s connection (0x98); its session stays.
    pub async fn kick(&self, client_id: &str) -> Result<(), Stopped> {
        let cmd = RouterCmd::Kick {
            client_id: client_id.into(),
        };
        self.inner.router.send(cmd).await.map_err(|_| Stopped)
    }

    /// Ends `client_id`'s session (closing its connection, 0x98); false when it is unknown.
    pub async fn discard_session(&self, client_id: &str) -> Result<bool, Stopped> {
        let client_id = client_id.to_owned();
        self.ask(|reply| Query::Discard { client_id, reply }).await
    }

    /// Bans, durably, and closes (5.0: 0x98) the connections the ban covers: the client id,
    /// every client that gave the username, or every client from the address or network.
    /// Answers how many were closed.
    pub async fn ban(&self, ban: starling_store::BanRecord) -> Result<usize, crate::BanError> {
        use crate::router::BanTarget;
        let target = match ban.kind {
            starling_store::BanKind::ClientId => BanTarget::ClientId(ban.who.clone()),
            starling_store::BanKind::Username => BanTarget::Username(ban.who.clone()),
            starling_store::BanKind::Address => match starling_config::IpNet::parse(&ban.who) {
                Some(net) => BanTarget::Network(net),
                None => return Err(crate::BanError::BadAddress(ban.who)),
            },
        };
        self.inner.bans.add(ban, self.now())?;
        // A broker that is stopping closes everyone anyway.
        Ok(self
            .ask(|reply| Query::KickBanned { target, reply })
            .await
            .unwrap_or(0))
    }

    /// Publishes a message as the broker (no ACL applies; `$SYS` is refused).
    pub async fn publish(&self, request: PublishRequest) -> Result<(), PublishError> {
        let topic =
            TopicName::new(&request.topic).map_err(|e| PublishError::Topic(e.to_string()))?;
        if topic.is_system() {
            return Err(PublishError::System);
        }
        let now = self.now();
        let message = Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            payload: request.payload,
            qos: request.qos,
            retain: request.retain,
            properties: request.properties,
            expires_at: Message::expiry_from_interval(request.expiry, now),
            publisher: Arc::from(""),
        };
        self.inner
            .router
            .send(RouterCmd::Publish(Arc::new(message)))
            .await
            .map_err(|_| Stopped)?;
        Ok(())
    }

    /// Every module (`crate::modules`): name, on or off, configuration.
    pub async fn modules(&self) -> Vec<crate::ModuleInfo> {
        self.inner.modules.list().await
    }

    /// Changes the module called `name`; the module as it is after. The change is stored
    /// (durable) before this returns, and outlives a restart.
    pub async fn set_module(
        &self,
        name: &str,
        change: crate::ModuleChange,
    ) -> Result<crate::ModuleInfo, crate::ModuleError> {
        let module = crate::ModuleName::parse(name)
            .ok_or_else(|| crate::ModuleError::Unknown(name.to_owned()))?;
        let router = &self.inner.router;
        self.inner.modules.set(module, change, router).await
    }
    /// Starts a trace (waiting, when its start is to come); stored, so it survives a
    /// restart.
    pub async fn start_trace(
        &self,
        new: crate::NewTrace,
    ) -> Result<crate::TraceInfo, crate::TraceError> {
        self.inner.tracer.start(new).await
    }

    /// Every trace, by name.
    pub async fn traces(&self) -> Vec<crate::TraceInfo> {
        self.inner.tracer.list().await
    }

    /// Stops a trace now, once every event sent to it is written.
    pub async fn stop_trace(&self, name: &str) -> Result<crate::TraceInfo, crate::TraceError> {
        self.inner.tracer.stop(name).await
    }

    /// Deletes a trace and its file (`None`: every trace).
    pub async fn delete_trace(&self, name: Option<&str>) -> Result<(), crate::TraceError> {
        match name {
            Some(name) => self.inner.tracer.delete(name).await,
            None => self.inner.tracer.delete_all().await,
        }
    }

    /// Up to `bytes` of a trace's file from `position`, with everything queued before
    /// written first; and the file's size.
    pub async fn read_trace(
        &self,
        name: &str,
        position: u64,
        bytes: usize,
    ) -> Result<(Vec<u8>, u64), crate::TraceError> {
        self.inner.tracer.read(name, position, bytes).await
    }

    /// The longest a trace's file grows (`trace.max_file_size`).
    pub fn trace_max_file_size(&self) -> u64 {
        self.inner.config.trace.max_file_size
    }
}

/// Writes (`Some`) or removes (`None`) one record of the store's `admin` keyspace, and
/// returns once it is durable.
pub(crate) async fn save_admin(
    store: &starling_store::Store,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
) -> Result<(), starling_store::StoreError> {
    let writer = store.clone();
    let ticket = tokio::task::spawn_blocking(move || {
        let mut batch = writer.batch();
        match value {
            Some(value) => batch.put_admin(&key, &value),
            None => batch.delete_admin(&key),
        }
        batch.commit()
    })
    .await
    .map_err(|e| starling_store::StoreError::Io {
        what: "writing an admin record",
        path: std::path::PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    })??;
    let (tx, rx) = oneshot::channel();
    store.when_durable(
        ticket,
        Box::new(move || {
            let _ = tx.send(());
        }),
    );
    let _ = rx.await;
    Ok(())
}
