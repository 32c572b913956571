//! The router task: owns the client registry (and takeover), the subscription table, share
//! groups, retained messages and delayed messages. Connection tasks reach it through one bounded
//! channel of [`RouterCmd`]; it never awaits anything but its own inbox and its next timer, so
//! one slow client cannot stall it (a full session inbox drops and counts instead).
//!
//! - `command`: the messages in and out.
//! - `subscriptions`: trie plus per-client index; exclusive holders.
//! - `shared`: share groups and dispatch strategies.
//! - `retain`: the retained store.
//! - `delayed`: the `$delayed/` queue.
//! - `route`: routing one message to subscriptions and share groups.
//! - `events`: `$SYS` client connected/disconnected messages.

pub(crate) mod command;
mod delayed;
mod events;
mod retain;
mod route;
mod shared;
mod subscriptions;

use crate::metrics::Metrics;
use command::{ConnId, RouterCmd, SessionControl, SessionMailbox, SubAckReply};
use delayed::DelayedQueue;
use retain::RetainStore;
use starling_codec::{PacketId, QoS, ReasonCode};
use starling_config::SharedStrategy;
use starling_core::{Delivery, SessionState, SubscribeRequest};
use starling_topic::{SubscriptionTarget, TopicLimits};
use std::collections::HashMap;
use std::sync::Arc;
use subscriptions::{group_id, SubKey, SubscribeRefusal, Subscriptions};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// What the router needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct RouterSettings {
    pub(crate) node: String,
    pub(crate) strategy: SharedStrategy,
    pub(crate) delayed_enabled: bool,
    pub(crate) delayed_max: usize,
    pub(crate) retain_max_messages: usize,
    pub(crate) retain_max_payload: usize,
    pub(crate) client_events: bool,
    pub(crate) topic_limits: TopicLimits,
    /// Deliveries that may wait in one session's mailbox (`crate::mailbox::capacity`).
    pub(crate) mailbox_capacity: usize,
}

/// Commands handled per wake-up of the router before it looks at its timer and shutdown.
const INBOX_BATCH: usize = 32;

/// A session in the registry: how to reach it, and which connection holds it.
#[derive(Debug)]
struct Registration {
    mailbox: SessionMailbox,
    /// The connection id shifted left by one, with "online" in the low bit: 16 bytes per
    /// entry rather than 24 (the registry has an entry per session).
    conn: u64,
}

impl Registration {
    fn new(conn_id: ConnId, mailbox: SessionMailbox) -> Self {
        Self {
            mailbox,
            conn: (conn_id << 1) | 1,
        }
    }

    fn conn_id(&self) -> ConnId {
        self.conn >> 1
    }

    fn online(&self) -> bool {
        self.conn & 1 == 1
    }

    fn set_offline(&mut self) {
        self.conn &= !1;
    }
}

/// Per-client accumulation while matching one message: one delivery per client, at the highest
/// granted QoS, with every matching subscription identifier ([MQTT-3.3.4-3], [MQTT-3.3.4-5]).
#[derive(Debug, Default)]
struct Target {
    qos: QoS,
    retain_as_published: bool,
    subscription_ids: Vec<u32>,
}

/// The router's state.
pub(crate) struct Router {
    settings: RouterSettings,
    metrics: Arc<Metrics>,
    registry: HashMap<Arc<str>, Registration>,
    /// The broker is shutting down (every session was told).
    stopping: bool,
    subs: Subscriptions,
    retained: RetainStore,
    delayed: DelayedQueue,
    targets: HashMap<Arc<str>, Target>,
    groups_hit: Vec<Arc<str>>,
}

impl Router {
    pub(crate) fn new(settings: RouterSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            retained: RetainStore::new(settings.retain_max_messages, settings.retain_max_payload),
            delayed: DelayedQueue::new(settings.delayed_max),
            settings,
            metrics,
            registry: HashMap::new(),
            stopping: false,
            subs: Subscriptions::default(),
            targets: HashMap::new(),
            groups_hit: Vec::new(),
        }
    }

    /// Runs until every sender of `inbox` is gone (all connections and listeners closed). When
    /// `shutdown` is cancelled, every session is told to stop, and so is any that registers
    /// afterwards.
    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<RouterCmd>,
        shutdown: CancellationToken,
    ) {
        let stop = shutdown.cancelled();
        tokio::pin!(stop);
        loop {
            let due = self.delayed.next_due();
            let sleep = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            // Biased toward the inbox, and the inbox drained in batches: one pass through
            // `select!` (which polls the timer and shutdown futures too) per batch rather than
            // per command. The timer and shutdown are then also checked after each batch, so a
            // busy inbox cannot hold them back.
            tokio::select! {
                biased;
                cmd = inbox.recv() => match cmd {
                    Some(cmd) => {
                        self.handle(cmd);
                        for _ in 1..INBOX_BATCH {
                            match inbox.try_recv() {
                                Ok(cmd) => self.handle(cmd),
                                Err(_) => break,
                            }
                        }
                        if due.is_some_and(|at| at <= crate::clock::now()) {
                            self.fire_delayed();
                        }
                        if !self.stopping && shutdown.is_cancelled() {
                            self.stop_sessions();
                        }
                    }
                    None => break,
                },
                () = sleep => self.fire_delayed(),
                () = &mut stop, if !self.stopping => self.stop_sessions(),
            }
            self.update_gauges();
        }
        debug!("router stopped");
    }

    fn handle(&mut self, cmd: RouterCmd) {
        match cmd {
            RouterCmd::Connect {
                client_id,
                conn_id,
                clean_start,
                mailbox,
                reply,
            } => {
                let previous = self.connect(client_id, conn_id, clean_start, mailbox);
                let _ = reply.send(previous);
            }
            RouterCmd::Publish(message) => self.publish(message),
            RouterCmd::Subscribe {
                client_id,
                packet_id,
                requests,
            } => {
                self.subscribe(&client_id, packet_id, requests);
            }
            RouterCmd::Unsubscribe {
                client_id,
                packet_id,
                filters,
            } => {
                let codes = filters
                    .into_iter()
                    .map(|f| match f {
                        Err(code) => code,
                        Ok(target) if self.subs.unsubscribe(&client_id, &raw_filter(&target)) => {
                            ReasonCode::Success
                        }
                        Ok(_) => ReasonCode::NoSubscriptionExisted,
                    })
                    .collect();
                self.control(
                    &client_id,
                    SessionControl::UnsubAck {
                        packet_id,
                        reason_codes: codes,
                    },
                );
            }
            RouterCmd::Offline { client_id, conn_id } => {
                if let Some(reg) = self.current(&client_id, conn_id) {
                    reg.set_offline();
                    self.client_event(&client_id, false);
                }
            }
            RouterCmd::SessionEnded {
                client_id,
                conn_id,
                redispatch,
            } => {
                if let Some(reg) = self.current(&client_id, conn_id) {
                    let was_online = reg.online();
                    self.registry.remove(&client_id);
                    self.subs.remove_client(&client_id);
                    Metrics::sub(&self.metrics.sessions, 1);
                    if was_online {
                        self.client_event(&client_id, false);
                    }
                }
                for delivery in redispatch {
                    self.redispatch(delivery, &client_id);
                }
            }
            RouterCmd::Redispatch { from, deliveries } => {
                for delivery in deliveries {
                    self.redispatch(delivery, &from);
                }
            }
            RouterCmd::ResetSubscriptions { client_id, conn_id } => {
                if self.current(&client_id, conn_id).is_some() {
                    self.subs.remove_client(&client_id);
                }
            }
        }
    }

    /// The registration of `client_id` if it is still connection `conn_id`.
    fn current(&mut self, client_id: &str, conn_id: ConnId) -> Option<&mut Registration> {
        self.registry
            .get_mut(client_id)
            .filter(|reg| reg.conn_id() == conn_id)
    }

    fn connect(
        &mut self,
        client_id: Arc<str>,
        conn_id: ConnId,
        clean_start: bool,
        mailbox: SessionMailbox,
    ) -> Option<oneshot::Receiver<SessionState>> {
        if clean_start {
            self.subs.remove_client(&client_id);
        }
        let registration = Registration::new(conn_id, mailbox);
        if self.stopping {
            registration.mailbox.control(SessionControl::Shutdown);
        }
        let previous = self.registry.insert(client_id.clone(), registration);
        self.client_event(&client_id, true);
        let Some(previous) = previous else {
            Metrics::add(&self.metrics.sessions, 1);
            return None;
        };
        let (reply, taken) = oneshot::channel();
        previous
            .mailbox
            .control(SessionControl::Takeover { reply })
            .then_some(taken)
    }

    fn control(&self, client_id: &str, message: SessionControl) {
        if let Some(reg) = self.registry.get(client_id) {
            reg.mailbox.control(message);
        }
    }

    fn subscribe(
        &mut self,
        client_id: &Arc<str>,
        packet_id: PacketId,
        requests: Vec<Result<SubscribeRequest, ReasonCode>>,
    ) {
        let mut reason_codes = Vec::with_capacity(requests.len());
        let mut retained = Vec::new();
        let now = crate::clock::now();
        for request in requests {
            let request = match request {
                Ok(request) => request,
                Err(code) => {
                    reason_codes.push(code);
                    continue;
                }
            };
            let SubscribeRequest {
                target,
                options,
                subscription_id,
            } = request;
            let raw = raw_filter(&target);
            match self
                .subs
                .subscribe(client_id, &raw, &target, options, subscription_id)
            {
                Err(SubscribeRefusal::ExclusiveHeld) => {
                    reason_codes.push(ReasonCode::QuotaExceeded);
                    continue;
                }
                Ok(is_new) => {
                    reason_codes.push(granted(options.qos));
                    let shared = matches!(target, SubscriptionTarget::Shared { .. });
                    if !shared && retained_wanted(options.retain_handling, is_new) {
                        for message in self.retained.matching(target.filter(), now) {
                            retained.push(Delivery {
                                qos: message.qos.min(options.qos),
                                message,
                                retain: true, // [MQTT-3.3.1-8]
                                subscription_ids: subscription_id.into_iter().collect(),
                                shared: None,
                            });
                        }
                    }
                }
            }
        }
        self.control(
            client_id,
            SessionControl::SubAck(Box::new(SubAckReply {
                packet_id,
                reason_codes,
                retained,
            })),
        );
    }

    /// Tells every session, and from now on every new one, that the broker is stopping.
    fn stop_sessions(&mut self) {
        self.stopping = true;
        for reg in self.registry.values() {
            reg.mailbox.control(SessionControl::Shutdown);
        }
    }

    fn update_gauges(&self) {
        Metrics::set(&self.metrics.subscriptions, self.subs.len() as u64);
        Metrics::set(&self.metrics.retained, self.retained.len() as u64);
        Metrics::set(&self.metrics.delayed, self.delayed.len() as u64);
    }
}

/// The filter string a target was subscribed with, prefixes included (`$queue/x` is
/// `$share/$queue/x`), which is how UNSUBSCRIBE names it.
fn raw_filter(target: &SubscriptionTarget) -> String {
    match target {
        SubscriptionTarget::Plain(filter) => filter.as_str().to_owned(),
        SubscriptionTarget::Shared { group, filter } => {
            format!("$share/{group}/{}", filter.as_str())
        }
        SubscriptionTarget::Exclusive(filter) => format!("$exclusive/{}", filter.as_str()),
    }
}

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

fn retained_wanted(handling: starling_codec::RetainHandling, is_new: bool) -> bool {
    use starling_codec::RetainHandling::*;
    match handling {
        SendAtSubscribe => true,
        SendIfNew => is_new,
        DoNotSend => false,
    }
}
