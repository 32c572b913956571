//! The router: owns the client registry (and takeover), the subscription table, share groups,
//! retained messages and their cursors, and delayed messages.
//!
//! It is a state machine without I/O: [`Router::handle`] takes one [`RouterCmd`] and the time,
//! [`Router::handle_timers`] the passing of time, and what comes out goes into the sessions'
//! mailboxes (`crate::mailbox`, plain in-memory queues), so tests drive it with injected time
//! and read the mailboxes back, no socket and no runtime needed (`tests`). `task` is the thin
//! async loop that feeds it from the connections' bounded channel and sleeps until its next
//! deadline ([`Router::next_deadline`]). It never awaits anything else, so one slow client
//! cannot stall it (a full session mailbox drops and counts instead).
//!
//! - `command`: the messages in and out.
//! - `subscriptions`: trie plus per-client index (typed keys); exclusive holders; the cap.
//! - `shared`: share groups and dispatch strategies.
//! - `retain`: the retained store (a topic tree, bytes and count caps, expiry index).
//! - `cursor`: retained messages streamed to new subscriptions against session credit.
//! - `delayed`: the `$delayed/` queue.
//! - `persist`: what the router writes to the store (retained, delayed, sessions and their
//!   queues), one batch per turn; read back at start.
//! - `sessions`: offline sessions (no task: an entry here with its deadlines), stored
//!   sessions and the stream of their queue from the store, delivery to a session.
//! - `route`: routing one message to subscriptions and share groups.
//! - `events`: `$SYS` client connected/disconnected messages.
//! - `query`: the management API's questions, each answered with bounded work.
//! - `modules`: module changes (rewrite rules, auto-subscribe topics, clearing what delayed
//!   publish and the retainer hold) and where the two rule modules act.
//! - `task`: the async loop around the state machine.

pub(crate) mod command;
mod cursor;
mod delayed;
mod events;
mod modules;
mod persist;
mod query;
mod retain;
mod route;
mod sessions;
mod shared;
mod subscriptions;
mod task;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_modules;
#[cfg(test)]
mod tests_query;
#[cfg(test)]
mod tests_sessions;

pub(crate) use cursor::RETAINED_BATCH;
pub(crate) use query::{BanTarget, Query};
pub(crate) use task::run;

use crate::metrics::Metrics;
pub(crate) use command::Handoff;
use command::{ConnId, RouterCmd, SessionControl, SessionMailbox};
use cursor::{ClientCursors, RetainCursor};
use delayed::DelayedQueue;
pub(crate) use retain::RetainLimits;
use retain::RetainStore;
use sessions::{Offline, Stored};
use starling_codec::{PacketId, QoS, ReasonCode};
use starling_config::SharedStrategy;
use starling_core::{Delivery, QueueLimits, SubscribeRequest};
use starling_topic::{SubscriptionTarget, TopicLimits};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;
use subscriptions::{SubKey, SubscribeRefusal, Subscriptions};

/// What the router needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct RouterSettings {
    pub(crate) node: String,
    pub(crate) strategy: SharedStrategy,
    /// The module switches, shared with every channel (`starling_core::Switches`).
    pub(crate) switches: Arc<starling_core::Switches>,
    /// Topic rewrite rules (empty: none; replaced by `RouterCmd::Modules`).
    pub(crate) rewrite: Arc<crate::modules::rewrite::Rewriter>,
    /// Auto-subscribe topics (empty: none; replaced by `RouterCmd::Modules`).
    pub(crate) auto_subscribe: Arc<crate::modules::auto_subscribe::AutoSubscribe>,
    pub(crate) delayed_max: usize,
    pub(crate) delayed_max_bytes: usize,
    pub(crate) retain: RetainLimits,
    pub(crate) client_events: bool,
    pub(crate) topic_limits: TopicLimits,
    /// Deliveries that may wait in one session's mailbox (`crate::mailbox::capacity`).
    pub(crate) mailbox_capacity: usize,
    /// Subscriptions one client may hold; 0 is no limit.
    pub(crate) max_subscriptions: usize,
    /// Sessions held offline at most (`session.max_offline`); 0 is no limit.
    pub(crate) max_offline: usize,
    /// The queue of an offline session (what it keeps in memory).
    pub(crate) queue: QueueLimits,
    /// What one stored session may hold in the store.
    pub(crate) stored: StoredLimits,
}

/// The caps on one stored session's queue in the store (`session.max_stored_messages`,
/// `session.max_stored_bytes`); past them, deliveries are dropped and counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredLimits {
    pub(crate) max_messages: u64,
    pub(crate) max_bytes: u64,
}

/// The publishers of this turn waiting for an answer ([`SessionControl::Routed`]).
#[derive(Debug)]
struct Answer {
    conn_id: ConnId,
    count: u32,
    refused: Vec<u32>,
}

/// A session in the registry: how to reach it, and which connection holds it.
#[derive(Debug)]
struct Registration {
    mailbox: SessionMailbox,
    /// The connection id shifted left by two, with "online" in the low bit and "stored" in
    /// the next: 16 bytes per entry rather than 24 (the registry has an entry per session).
    conn: u64,
}

impl Registration {
    fn new(conn_id: ConnId, mailbox: SessionMailbox) -> Self {
        Self {
            mailbox,
            conn: (conn_id << 2) | 1,
        }
    }

    fn conn_id(&self) -> ConnId {
        self.conn >> 2
    }

    /// The session is in the store (it has an entry in `Router::stored`): kept here so that
    /// delivering to a session that is not takes one lookup.
    fn stored(&self) -> bool {
        self.conn & 2 == 2
    }

    fn set_stored(&mut self) {
        self.conn |= 2;
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
    /// Every registered session by client id, in order, with what its last connection said
    /// (`None`: restored from the store, not connected since): management pages walk it
    /// from a cursor (`query`). The hash registry stays the one routing looks up.
    index: BTreeMap<Arc<str>, Option<Arc<crate::clients::ClientInfo>>>,
    /// The broker is shutting down (every session was told).
    stopping: bool,
    subs: Subscriptions,
    retained: RetainStore,
    /// Retained messages still to hand out to new subscriptions, by client.
    cursors: HashMap<Arc<str>, ClientCursors>,
    delayed: DelayedQueue,
    targets: HashMap<Arc<str>, Target>,
    groups_hit: Vec<Arc<starling_core::SharedTag>>,
    persist: persist::Persist,
    /// Set while the broker is overloaded: QoS 0 to slow subscribers is shed.
    overloaded: Arc<crate::overload::OverloadFlag>,
    /// PUBLISHes routed this turn whose publishers wait for an answer, by client.
    answers: HashMap<Arc<str>, Answer>,
    /// Sessions whose state is in the store.
    stored: HashMap<Arc<str>, Stored>,
    /// Sessions without a connection.
    offline: HashMap<Arc<str>, Box<Offline>>,
    /// Offline sessions' next deadlines (will or expiry), soonest first; stale entries are
    /// skipped when they come.
    timers: BTreeSet<(SystemTime, Arc<str>)>,
    /// Deliveries to stored sessions this turn, sent once the batch holding them is committed.
    pending: Vec<(Arc<str>, Delivery)>,
}

impl Router {
    pub(crate) fn new(settings: RouterSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            retained: RetainStore::new(settings.retain),
            delayed: DelayedQueue::new(settings.delayed_max, settings.delayed_max_bytes),
            subs: Subscriptions::new(settings.max_subscriptions),
            settings,
            metrics,
            registry: HashMap::new(),
            index: BTreeMap::new(),
            stopping: false,
            cursors: HashMap::new(),
            targets: HashMap::new(),
            groups_hit: Vec::new(),
            persist: persist::Persist::default(),
            overloaded: Arc::default(),
            answers: HashMap::new(),
            stored: HashMap::new(),
            offline: HashMap::new(),
            timers: BTreeSet::new(),
            pending: Vec::new(),
        }
    }

    /// While `flag` is set, QoS 0 deliveries to subscribers that are behind are shed.
    pub(crate) fn with_overload(mut self, flag: Arc<crate::overload::OverloadFlag>) -> Self {
        self.overloaded = flag;
        self
    }

    /// This router writes what must outlive the process to `store`.
    pub(crate) fn with_store(mut self, store: starling_store::Store) -> Self {
        self.persist = persist::Persist::new(store);
        self
    }

    /// The next time [`Router::handle_timers`] has something to do (wall time: every deadline
    /// the router keeps must mean the same after a restart).
    pub(crate) fn next_deadline(&self) -> Option<SystemTime> {
        [
            self.delayed.next_due(),
            self.retained.next_expiry(),
            self.timers.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles one command at `now` (wall time, from the broker's `WallClock`).
    pub(crate) fn handle(&mut self, cmd: RouterCmd, now: SystemTime) {
        match cmd {
            RouterCmd::Connect {
                client_id,
                conn_id,
                peer,
                clean_start,
                expiry_interval,
                will,
                mailbox,
                info,
                reply,
            } => {
                self.index.insert(client_id.clone(), Some(info));
                let connected = self.connect(
                    client_id.clone(),
                    conn_id,
                    clean_start,
                    expiry_interval,
                    will.map(|w| *w),
                    mailbox,
                    now,
                );
                let _ = reply.send(connected);
                self.auto_subscribe(&client_id, now);
                self.client_event(&client_id, Some(peer));
            }
            RouterCmd::Query(query) => self.query(*query, now),
            RouterCmd::Modules(order) => self.module_order(order, now),
            RouterCmd::Publish(message) => {
                self.publish(message, now);
            }
            RouterCmd::Kick { client_id } => {
                if let Some(reg) = self.registry.get(&client_id) {
                    if reg.online() {
                        reg.mailbox.control(SessionControl::Kicked);
                    }
                }
            }
            RouterCmd::PublishAnswered { message, conn_id } => {
                let publisher = message.publisher.clone();
                let reach = self.publish(message, now);
                let answer = self.answers.entry(publisher).or_insert(Answer {
                    conn_id,
                    count: 0,
                    refused: Vec::new(),
                });
                if answer.conn_id != conn_id {
                    // A new connection of the client: the old one is gone.
                    *answer = Answer {
                        conn_id,
                        count: 0,
                        refused: Vec::new(),
                    };
                }
                if reach.refused_only() {
                    answer.refused.push(answer.count);
                }
                answer.count += 1;
            }
            RouterCmd::Subscribe {
                client_id,
                packet_id,
                requests,
                credit,
            } => self.subscribe(&client_id, packet_id, requests, credit, now),
            RouterCmd::Unsubscribe {
                client_id,
                packet_id,
                filters,
            } => self.unsubscribe(&client_id, packet_id, filters),
            RouterCmd::Resume {
                client_id,
                conn_id,
                credit,
                from,
            } => {
                if self.current(&client_id, conn_id).is_some() {
                    let credit = self.stream_stored(&client_id, credit, from);
                    self.pump_retained(&client_id, credit, now);
                }
            }
            RouterCmd::Spilled {
                client_id,
                conn_id,
                seq,
            } => self.spilled(&client_id, conn_id, seq),
            RouterCmd::StoredDone { client_id, count } => self.stored_done(&client_id, count),
            RouterCmd::Offline(handoff) => self.go_offline(*handoff, now),
            RouterCmd::SessionEnded {
                client_id,
                conn_id,
                redispatch,
            } => {
                if let Some(reg) = self.current(&client_id, conn_id) {
                    let was_online = reg.online();
                    self.registry.remove(&client_id);
                    self.forget_session(&client_id);
                    Metrics::sub(&self.metrics.sessions, 1);
                    if was_online {
                        self.client_event(&client_id, None);
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
                    self.forget_subscriptions(&client_id);
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

    /// Drops a client's subscriptions and the retained messages still owed to them.
    fn forget_subscriptions(&mut self, client_id: &Arc<str>) {
        self.subs.remove_client(client_id);
        self.cursors.remove(client_id);
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
        credit: usize,
        now: SystemTime,
    ) {
        let mut reason_codes = Vec::with_capacity(requests.len());
        for request in requests {
            let code = match request {
                Ok(request) => {
                    let request = self.rewrite_request(request);
                    self.add_subscription(client_id, request)
                }
                Err(code) => code,
            };
            reason_codes.push(code);
        }
        self.control(
            client_id,
            SessionControl::SubAck {
                packet_id,
                reason_codes,
            },
        );
        self.pump_retained(client_id, credit, now);
    }

    /// Adds one subscription (and its retained cursor); the reason code for its SUBACK.
    fn add_subscription(&mut self, client_id: &Arc<str>, request: SubscribeRequest) -> ReasonCode {
        let SubscribeRequest {
            target,
            options,
            subscription_id,
        } = request;
        match self
            .subs
            .subscribe(client_id, &target, options, subscription_id)
        {
            Err(SubscribeRefusal::ExclusiveHeld | SubscribeRefusal::TooMany) => {
                ReasonCode::QuotaExceeded
            }
            Ok(is_new) => {
                if self.stored.contains_key(client_id) {
                    self.persist
                        .subscribed(client_id, &target, &options, subscription_id);
                }
                let wanted = retained_wanted(options.retain_handling, is_new);
                match target {
                    // Shared subscriptions get no retained messages (spec 4.8.2).
                    SubscriptionTarget::Shared { .. } => {}
                    SubscriptionTarget::Plain(filter) | SubscriptionTarget::Exclusive(filter)
                        if wanted =>
                    {
                        let cursor = RetainCursor::new(filter, options.qos, subscription_id);
                        self.add_cursor(client_id, cursor);
                    }
                    _ => {}
                }
                granted(options.qos)
            }
        }
    }

    fn unsubscribe(
        &mut self,
        client_id: &Arc<str>,
        packet_id: PacketId,
        filters: Vec<Result<SubscriptionTarget, ReasonCode>>,
    ) {
        let mut reason_codes = Vec::with_capacity(filters.len());
        for filter in filters {
            let code = match filter.map(|t| self.rewrite_target(t)) {
                Err(code) => code,
                Ok(target) if self.subs.unsubscribe(client_id, &target) => {
                    if self.stored.contains_key(client_id) {
                        self.persist.unsubscribed(client_id, &target);
                    }
                    if let SubscriptionTarget::Plain(f) | SubscriptionTarget::Exclusive(f) = &target
                    {
                        self.drop_cursor(client_id, f);
                    }
                    ReasonCode::Success
                }
                Ok(_) => ReasonCode::NoSubscriptionExisted,
            };
            reason_codes.push(code);
        }
        self.control(
            client_id,
            SessionControl::UnsubAck {
                packet_id,
                reason_codes,
            },
        );
    }

    /// Tells every session, and from now on every new one, that the broker is stopping.
    pub(crate) fn stop_sessions(&mut self) {
        self.stopping = true;
        for reg in self.registry.values() {
            reg.mailbox.control(SessionControl::Shutdown);
        }
    }

    /// True once [`Router::stop_sessions`] ran.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping
    }

    pub(crate) fn update_gauges(&self) {
        Metrics::set(&self.metrics.subscriptions, self.subs.len() as u64);
        Metrics::set(&self.metrics.topics, self.subs.topics() as u64);
        Metrics::set(&self.metrics.retained, self.retained.len() as u64);
        Metrics::set(&self.metrics.retained_bytes, self.retained.bytes() as u64);
        Metrics::set(&self.metrics.delayed, self.delayed.len() as u64);
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
