//! Sessions beyond their connection: offline sessions (kept by the router, no task of their
//! own), persistent sessions in the store, and the stream of a session's stored queue.
//!
//! - An **offline session** is an entry here: what it keeps in memory (QoS 0 and shared
//!   deliveries queued while it is away; everything, for a broker without a store), its will
//!   and its wall-clock deadlines (will delay, session expiry) in `timers`. A takeover hands
//!   its state over at once; its deadlines fire from [`Router::handle_timers`].
//! - A **stored session** (a persistent one: session expiry > 0, or resumed from the store)
//!   has a [`Stored`] entry: its QoS 1/2 deliveries are written to the store with a sequence
//!   number (`Delivery::stored`) and counted against `session.max_stored_messages` /
//!   `max_stored_bytes`. While the session takes them as they come (`live`), they go to its
//!   mailbox once committed. When it is offline, its mailbox is full, or its queue spilled
//!   (`RouterCmd::Spilled`), they stay on disk and are streamed from `next` against the
//!   session's credit (`RouterCmd::Resume`), behind a [`SessionControl::Stream`] marker, until
//!   the stream catches up and the session is live again. A million queued messages cost the
//!   session a few counters here, not memory.
//! - At start, [`Router::restore_sessions`] makes every stored session an offline one.

use super::command::{Connected, Handoff, SessionControl};
use super::{Registration, Router};
use crate::mailbox::SessionMsg;
use crate::metrics::Metrics;
use starling_codec::QoS;
use starling_core::{Delivery, Enqueued, Message, SessionState, WillSpec};
use starling_store::{RecoveredSession, SessionRecord};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// `Stored::next` before a resumed session said where its stream starts.
const UNKNOWN: u64 = u64::MAX;

/// What the router keeps of a session whose state is in the store.
#[derive(Debug)]
pub(super) struct Stored {
    /// The sequence number the next stored delivery gets.
    next_seq: u64,
    /// Stored deliveries not yet finished with, and their bytes (the bytes go down by the
    /// average as deliveries finish: the session reports counts, not sizes).
    count: u64,
    bytes: u64,
    /// The session takes stored deliveries as they come; otherwise they stay in the store and
    /// are streamed from `next` when it asks.
    live: bool,
    /// The next stored delivery the session should get ([`UNKNOWN`] until a resumed
    /// session says).
    next: u64,
}

impl Stored {
    /// Stored deliveries not yet finished with.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// Their bytes (approximate: see the field).
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Stored {
    fn new(next_seq: u64) -> Self {
        Self {
            next_seq,
            count: 0,
            bytes: 0,
            live: true,
            next: next_seq,
        }
    }
}

/// A session without a connection.
#[derive(Debug)]
pub(super) struct Offline {
    /// What it keeps in memory (nothing that is in the store).
    pub(super) session: SessionState,
    will: Option<WillSpec>,
    will_at: Option<SystemTime>,
    expires_at: Option<SystemTime>,
}

impl Offline {
    fn next_deadline(&self) -> Option<SystemTime> {
        match (self.will_at, self.expires_at) {
            (Some(w), Some(e)) => Some(w.min(e)),
            (w, e) => w.or(e),
        }
    }

    fn record(&self) -> SessionRecord {
        SessionRecord {
            expiry_interval: self.session.expiry_interval,
            expires_at: self.expires_at,
            will: self.will.clone(),
            will_at: self.will_at,
        }
    }
}

/// How many bytes a delivery counts for in the store's caps (as a retained message does).
fn stored_size(delivery: &Delivery) -> u64 {
    delivery.message.footprint() as u64
}

fn after(now: SystemTime, secs: u32) -> SystemTime {
    now + Duration::from_secs(secs.into())
}

impl Router {
    /// Registers a connection's session in the store when it is persistent (or resumes a stored
    /// one), and takes the previous session over: an offline one is handed over at once, an
    /// online one is told to hand over ([`SessionControl::Takeover`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn connect(
        &mut self,
        client_id: Arc<str>,
        conn_id: u64,
        clean_start: bool,
        expiry_interval: u32,
        will: Option<WillSpec>,
        mailbox: super::SessionMailbox,
        now: SystemTime,
    ) -> Connected {
        let offline = self.offline.remove(&client_id);
        if clean_start {
            self.forget_subscriptions(&client_id);
            if self.stored.remove(&client_id).is_some() {
                self.persist.session_deleted(&client_id, &self.metrics);
                // Committed now: the new session's own writes must land after the delete.
                self.persist.commit(&self.metrics);
            }
        }
        let resumed = self.stored.contains_key(&client_id);
        let stored = self.persist.enabled() && (expiry_interval > 0 || resumed);
        let mut registration = Registration::new(conn_id, mailbox);
        if stored {
            registration.set_stored();
        }
        if self.stopping {
            registration.mailbox.control(SessionControl::Shutdown);
        }
        if self.cursors.contains_key(&client_id) || resumed {
            // Owed retained messages, or its stored queue: it asks once it has room.
            registration.mailbox.control(SessionControl::Owed);
        }
        if stored {
            let entry = self
                .stored
                .entry(client_id.clone())
                .or_insert_with(|| Stored::new(1));
            if resumed {
                entry.live = false;
                entry.next = UNKNOWN;
            }
            let record = SessionRecord {
                expiry_interval,
                expires_at: None,
                will,
                will_at: None,
            };
            self.persist.session(&client_id, &record);
        }
        let previous = self.registry.insert(client_id.clone(), registration);
        let previous = match (previous, offline) {
            (None, _) => {
                Metrics::add(&self.metrics.sessions, 1);
                None
            }
            (Some(_), Some(offline)) => {
                Metrics::sub(&self.metrics.sessions_offline, 1);
                let Offline {
                    mut session, will, ..
                } = *offline;
                if clean_start {
                    // A clean start ends the old session: its will, delayed or not, goes now.
                    if let Some(will) = will {
                        self.publish_will(will, now);
                    }
                    for delivery in session.take_shared_unacked() {
                        self.redispatch(delivery, &client_id);
                    }
                    None
                } else {
                    // Its delayed will is cancelled: the session lives on ([MQTT-3.1.3-9]).
                    let (reply, taken) = oneshot::channel();
                    let _ = reply.send(session);
                    Some(taken)
                }
            }
            (Some(previous), None) => {
                let (reply, taken) = oneshot::channel();
                previous
                    .mailbox
                    .control(SessionControl::Takeover { reply, clean_start })
                    .then_some(taken)
            }
        };
        Connected {
            previous,
            from_store: resumed,
        }
    }

    /// A connection closed and its session lives on: take what is left in its inbox, and keep
    /// the session here until it expires or a new connection takes it. If a takeover came
    /// while the connection was ending, the session goes to the new connection instead.
    pub(super) fn go_offline(&mut self, handoff: Handoff, now: SystemTime) {
        let Handoff {
            client_id,
            conn_id,
            mut session,
            will,
            mut inbox,
        } = handoff;
        let mut takeover = None;
        while let Some(msg) = inbox.try_recv() {
            match msg {
                // Stored deliveries are in the store; the others are kept.
                SessionMsg::Deliver(delivery) if delivery.stored == 0 => {
                    self.enqueue_offline(&mut session, delivery);
                }
                SessionMsg::Control(SessionControl::Takeover { reply, clean_start }) => {
                    takeover = Some((reply, clean_start));
                }
                _ => {}
            }
        }
        drop(inbox);
        session.forget_stored();
        if let Some((reply, clean_start)) = takeover {
            // As for a takeover of an online session: the will goes if it was not delayed, or
            // if the new connection starts clean (the session ends).
            let _ = reply.send(session);
            if let Some(will) = will.filter(|w| w.delay_secs == 0 || clean_start) {
                self.publish_will(will, now);
            }
            return;
        }
        let Some(reg) = self.current(&client_id, conn_id) else {
            return;
        };
        reg.set_offline();
        self.client_event(&client_id, None);
        let max = self.settings.max_offline;
        if max != 0 && self.offline.len() >= max {
            Metrics::add(&self.metrics.sessions_refused, 1);
            let offline = Offline {
                session,
                will,
                will_at: None,
                expires_at: None,
            };
            return self.end_offline(&client_id, offline, now);
        }
        let mut offline = Offline {
            expires_at: (session.expiry_interval != u32::MAX)
                .then(|| after(now, session.expiry_interval)),
            will_at: will.as_ref().map(|w| after(now, w.delay_secs)),
            session,
            will,
        };
        if offline.will_at.is_some_and(|at| at <= now) {
            if let Some(will) = offline.will.take() {
                self.publish_will(will, now);
            }
            offline.will_at = None;
        }
        if let Some(stored) = self.stored.get_mut(&client_id) {
            stored.live = false;
            stored.next = UNKNOWN;
            self.persist.session(&client_id, &offline.record());
        }
        self.hold_offline(client_id, offline);
    }

    fn hold_offline(&mut self, client_id: Arc<str>, offline: Offline) {
        if let Some(at) = offline.next_deadline() {
            self.timers.insert((at, client_id.clone()));
        }
        Metrics::add(&self.metrics.sessions_offline, 1);
        self.offline.insert(client_id, Box::new(offline));
    }

    /// Wills and expiries of offline sessions due at `now`.
    pub(super) fn offline_timers(&mut self, now: SystemTime) {
        while let Some((at, client_id)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(offline) = self.offline.get_mut(&client_id) else {
                continue; // taken over or ended since
            };
            if offline.next_deadline() != Some(at) {
                continue; // a deadline that changed since
            }
            if offline.expires_at.is_some_and(|e| e <= now) {
                if let Some(offline) = self.offline.remove(&client_id) {
                    Metrics::sub(&self.metrics.sessions_offline, 1);
                    self.end_offline(&client_id, *offline, now);
                }
                continue;
            }
            let will = offline.will.take();
            offline.will_at = None;
            let next = offline.next_deadline();
            let record = offline.record();
            if let Some(at) = next {
                self.timers.insert((at, client_id.clone()));
            }
            if self.stored.contains_key(&client_id) {
                self.persist.session(&client_id, &record); // the will is gone from it
            }
            if let Some(will) = will {
                self.publish_will(will, now);
            }
        }
    }

    /// Ends an offline session: its will goes (if still pending), its shared deliveries go to
    /// other members, and it is forgotten here and in the store.
    fn end_offline(&mut self, client_id: &Arc<str>, mut offline: Offline, now: SystemTime) {
        if let Some(will) = offline.will.take() {
            self.publish_will(will, now);
        }
        let redispatch = offline.session.take_shared_unacked();
        self.registry.remove(client_id);
        self.forget_session(client_id);
        Metrics::sub(&self.metrics.sessions, 1);
        for delivery in redispatch {
            self.redispatch(delivery, client_id);
        }
    }

    /// Ends the offline session of `client_id` now (an operator discards it), will included.
    pub(super) fn end_offline_now(&mut self, client_id: &Arc<str>, now: SystemTime) {
        match self.offline.remove(client_id) {
            Some(offline) => {
                Metrics::sub(&self.metrics.sessions_offline, 1);
                self.end_offline(client_id, *offline, now);
            }
            None => {
                self.registry.remove(client_id);
                self.forget_session(client_id);
                Metrics::sub(&self.metrics.sessions, 1);
            }
        }
    }

    /// Forgets a session that ended: its subscriptions, retained cursors and stored state.
    pub(super) fn forget_session(&mut self, client_id: &Arc<str>) {
        self.index.remove(client_id);
        self.forget_subscriptions(client_id);
        if let Some(stored) = self.stored.remove(client_id) {
            Metrics::sub(&self.metrics.stored_messages, stored.count);
            self.persist.session_deleted(client_id, &self.metrics);
        }
    }

    /// Publishes a will message, its expiry counted from now.
    pub(super) fn publish_will(&mut self, will: WillSpec, now: SystemTime) {
        let message = Message {
            expires_at: Message::expiry_from_interval(will.expiry_interval, now),
            ..will.message
        };
        self.publish(Arc::new(message), now);
    }

    fn enqueue_offline(&self, session: &mut SessionState, delivery: Delivery) {
        if session.enqueue_offline(delivery, &self.settings.queue) != Enqueued::Queued {
            Metrics::add(&self.metrics.messages_dropped, 1);
        }
    }

    /// Hands a delivery to a session: into the store first when the session is stored and
    /// the delivery is QoS 1/2 (sent once committed, if the session takes them live), into
    /// its mailbox, or into its offline queue. False when a limit dropped it.
    pub(super) fn deliver(&mut self, client_id: &Arc<str>, mut delivery: Delivery) -> bool {
        let Some(reg) = self.registry.get(client_id.as_ref()) else {
            Metrics::add(&self.metrics.messages_dropped, 1);
            return false;
        };
        if reg.online() && !reg.stored() {
            // The common case, in one lookup: a connected session that is not in the store.
            let mut capacity = self.settings.mailbox_capacity;
            // Overloaded: a subscriber whose mailbox is an eighth full is behind, and its
            // QoS 0 goes first (counted as shed, and dropped).
            let shedding = delivery.qos == QoS::AtMostOnce && self.overloaded.is_active();
            if shedding {
                capacity = (capacity / 8).max(1);
            }
            let sent = reg.mailbox.deliver(delivery, capacity);
            if !sent {
                if shedding {
                    Metrics::add(&self.metrics.overload_shed, 1);
                }
                Metrics::add(&self.metrics.messages_dropped, 1);
            }
            return sent;
        }
        if let Some(stored) = self.stored.get_mut(client_id) {
            if delivery.qos != QoS::AtMostOnce && delivery.shared.is_none() {
                let size = stored_size(&delivery);
                let limits = &self.settings.stored;
                if stored.count >= limits.max_messages || stored.bytes + size > limits.max_bytes {
                    Metrics::add(&self.metrics.messages_dropped, 1);
                    Metrics::add(&self.metrics.stored_dropped, 1);
                    return false;
                }
                let seq = stored.next_seq;
                stored.next_seq += 1;
                stored.count += 1;
                stored.bytes += size;
                Metrics::add(&self.metrics.stored_messages, 1);
                delivery.stored = seq;
                self.persist
                    .queued(client_id, seq, &delivery, &self.metrics);
                if stored.live && self.registry.get(client_id).is_some_and(|r| r.online()) {
                    self.pending.push((client_id.clone(), delivery));
                }
                return true;
            }
            if self.registry.get(client_id).is_some_and(|r| r.online()) {
                // Behind the stored ones of this turn, in order.
                self.pending.push((client_id.clone(), delivery));
                return true;
            }
        }
        if let Some(offline) = self.offline.get_mut(client_id) {
            let queued = offline
                .session
                .enqueue_offline(delivery, &self.settings.queue);
            if queued != Enqueued::Queued {
                Metrics::add(&self.metrics.messages_dropped, 1);
            }
            return queued == Enqueued::Queued;
        }
        let sent = self.registry.get(client_id.as_ref()).is_some_and(|reg| {
            reg.mailbox
                .deliver(delivery, self.settings.mailbox_capacity)
        });
        if !sent {
            Metrics::add(&self.metrics.messages_dropped, 1);
        }
        sent
    }

    /// Sends the deliveries of this turn to stored sessions, now that the batch holding them
    /// is committed. A session whose mailbox is full stops taking them live: the rest stay in
    /// the store and are streamed when it asks.
    pub(super) fn send_pending(&mut self) {
        for (client_id, delivery) in std::mem::take(&mut self.pending) {
            let Some(reg) = self.registry.get(&client_id).filter(|r| r.online()) else {
                continue; // gone offline this turn: what was stored stays in the store
            };
            if delivery.stored == 0 {
                if !reg
                    .mailbox
                    .deliver(delivery, self.settings.mailbox_capacity)
                {
                    Metrics::add(&self.metrics.messages_dropped, 1);
                }
                continue;
            }
            let Some(stored) = self.stored.get_mut(&client_id) else {
                continue;
            };
            if !stored.live || delivery.stored < stored.next {
                continue; // streamed already, or to be
            }
            let seq = delivery.stored;
            if reg
                .mailbox
                .deliver(delivery, self.settings.mailbox_capacity)
            {
                stored.next = seq + 1;
            } else {
                stored.live = false;
                stored.next = seq;
                Metrics::add(&self.metrics.stored_spills, 1);
                reg.mailbox.control(SessionControl::Owed);
            }
        }
    }

    /// The session's queue spilled from `seq`: stream the rest from the store.
    pub(super) fn spilled(&mut self, client_id: &Arc<str>, conn_id: u64, seq: u64) {
        if self.current(client_id, conn_id).is_none() {
            return;
        }
        let Some(stored) = self.stored.get_mut(client_id) else {
            return;
        };
        stored.next = if stored.live || stored.next == UNKNOWN {
            seq
        } else {
            stored.next.min(seq)
        };
        stored.live = false;
        Metrics::add(&self.metrics.stored_spills, 1);
        self.control(client_id, SessionControl::Owed);
    }

    /// The session finished with `count` stored deliveries.
    pub(super) fn stored_done(&mut self, client_id: &str, count: u32) {
        let Some(stored) = self.stored.get_mut(client_id) else {
            return;
        };
        let count = u64::from(count).min(stored.count);
        if count == 0 {
            return;
        }
        stored.bytes -= stored.bytes / stored.count * count;
        stored.count -= count;
        if stored.count == 0 {
            stored.bytes = 0;
        }
        Metrics::sub(&self.metrics.stored_messages, count);
    }

    /// Streams up to `credit` stored deliveries to the session; what is left of the credit
    /// (for retained messages).
    pub(super) fn stream_stored(
        &mut self,
        client_id: &Arc<str>,
        credit: usize,
        from: Option<u64>,
    ) -> usize {
        let Some(stored) = self.stored.get_mut(client_id) else {
            return credit;
        };
        if let Some(from) = from {
            stored.next = from;
        }
        if stored.live || stored.next == UNKNOWN || credit == 0 {
            return credit;
        }
        let from = stored.next;
        // Reads see committed writes only.
        self.persist.commit(&self.metrics);
        let read = match self.persist.store() {
            Some(store) => store.read_queue(client_id, from, credit),
            None => Ok(Vec::new()),
        };
        let deliveries = match read {
            Ok(deliveries) => deliveries,
            Err(e) => {
                tracing::error!(error = %e, client_id = &**client_id, "reading a stored queue");
                Metrics::add(&self.metrics.store_errors, 1);
                Vec::new()
            }
        };
        let Some(stored) = self.stored.get_mut(client_id) else {
            return credit;
        };
        let Some(reg) = self.registry.get(client_id) else {
            return credit;
        };
        let got = deliveries.len();
        reg.mailbox.control(SessionControl::Stream);
        for delivery in deliveries {
            stored.next = delivery.stored + 1;
            reg.mailbox.deliver_granted(delivery);
        }
        if got < credit {
            // Caught up: everything stored is committed and was read.
            stored.live = true;
            stored.next = stored.next_seq;
            credit - got
        } else {
            reg.mailbox.control(SessionControl::Owed);
            0
        }
    }

    /// Makes every session the store kept an offline session (a session whose client was
    /// connected when the broker stopped went offline then). One that expired while the
    /// broker was down ends at the first timer, with its will. Returns (sessions, messages).
    pub(crate) fn restore_sessions(
        &mut self,
        sessions: Vec<RecoveredSession>,
        now: SystemTime,
    ) -> (usize, u64) {
        let mut kept = (0, 0);
        for recovered in sessions {
            let RecoveredSession {
                client_id,
                record,
                subscriptions,
                queued,
                queued_bytes,
                next_seq,
                ..
            } = recovered;
            if record.expiry_interval == 0 {
                self.persist.session_deleted(&client_id, &self.metrics);
                continue;
            }
            let interval = record.expiry_interval;
            let offline = Offline {
                expires_at: record
                    .expires_at
                    .or_else(|| (interval != u32::MAX).then(|| after(now, interval))),
                will_at: record
                    .will
                    .as_ref()
                    .map(|w| record.will_at.unwrap_or_else(|| after(now, w.delay_secs))),
                will: record.will,
                session: SessionState::new(client_id.clone(), interval),
            };
            for (target, options, subscription_id) in subscriptions {
                let restored = self
                    .subs
                    .subscribe(&client_id, &target, options, subscription_id);
                if restored.is_err() {
                    // An exclusive filter another session holds, or a cap lowered since.
                    tracing::warn!(
                        client_id = &*client_id,
                        ?target,
                        "a stored subscription was not restored"
                    );
                    self.persist.unsubscribed(&client_id, &target);
                }
            }
            let (mailbox, inbox) = crate::mailbox::mailbox();
            drop(inbox); // nobody reads it until a connection takes the session
            let mut registration = Registration::new(0, mailbox);
            registration.set_offline();
            registration.set_stored();
            self.registry.insert(client_id.clone(), registration);
            self.index.insert(client_id.clone(), None);
            let mut stored = Stored::new(next_seq.max(1));
            stored.count = queued;
            stored.bytes = queued_bytes;
            stored.live = false;
            stored.next = UNKNOWN;
            self.stored.insert(client_id.clone(), stored);
            Metrics::add(&self.metrics.sessions, 1);
            Metrics::add(&self.metrics.stored_messages, queued);
            self.persist.session(&client_id, &offline.record());
            self.hold_offline(client_id, offline);
            kept.0 += 1;
            kept.1 += queued;
        }
        kept
    }
}
