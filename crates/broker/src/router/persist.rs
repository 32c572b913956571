//! The router's writes to the store: retained and delayed messages are written through as they
//! change, into one batch per router turn, committed by [`Router::flush`] (many changes, one
//! journal write). Read back at start by [`Router::restore`], before any listener opens.
//!
//! Persistent sessions are written here too: their record (expiry, will, deadlines), their
//! subscriptions and every QoS 1/2 delivery to them (`queued`), in the same batch. Deliveries
//! to a stored session wait in `pending` until the batch that holds them is committed: the
//! session deletes a record once the client acknowledges it, and that delete must come after
//! the put.

use super::command::SessionControl;
use super::Router;
use crate::metrics::Metrics;
use starling_codec::SubscriptionOptions;
use starling_core::{Delivery, Message};
use starling_store::{Batch, SessionRecord, Store, Ticket};
use starling_topic::SubscriptionTarget;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::error;

/// Records one batch holds before it is committed within the turn.
const MAX_BATCH: usize = 4096;

/// The store, when the broker has one, and the batch of the current turn.
#[derive(Default)]
pub(crate) struct Persist {
    store: Option<Store>,
    batch: Option<Batch>,
    /// The ticket of this turn's last commit (a turn may commit early, before a read).
    ticket: Ticket,
}

impl Persist {
    /// Writes go to `store`.
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store: Some(store),
            batch: None,
            ticket: 0,
        }
    }

    /// True when there is a store: persistent sessions are kept in it.
    pub(crate) fn enabled(&self) -> bool {
        self.store.is_some()
    }

    /// The store, for reads (commit first: reads see committed writes only).
    pub(crate) fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    pub(crate) fn session(&mut self, client_id: &str, record: &SessionRecord) {
        if let Some(batch) = self.batch() {
            batch.put_session(client_id, record);
        }
    }

    /// Removes the session and everything it has in the store.
    pub(crate) fn session_deleted(&mut self, client_id: &str, metrics: &Metrics) {
        if let Some(batch) = self.batch() {
            if let Err(e) = batch.delete_session(client_id) {
                error!(error = %e, client_id, "the store could not list a session's records");
                Metrics::add(&metrics.store_errors, 1);
            }
        }
    }

    pub(crate) fn subscribed(
        &mut self,
        client_id: &str,
        target: &SubscriptionTarget,
        options: &SubscriptionOptions,
        subscription_id: Option<u32>,
    ) {
        if let Some(batch) = self.batch() {
            batch.put_subscription(client_id, target, options, subscription_id);
        }
    }

    pub(crate) fn unsubscribed(&mut self, client_id: &str, target: &SubscriptionTarget) {
        if let Some(batch) = self.batch() {
            batch.delete_subscription(client_id, target);
        }
    }

    /// A delivery to a stored session. A message that fans out to many stored sessions
    /// writes one record each: past [`MAX_BATCH`] records the batch is committed at once, so
    /// a turn's batch (and what the allocator keeps of it) stays small.
    pub(crate) fn queued(
        &mut self,
        client_id: &str,
        seq: u64,
        delivery: &Delivery,
        metrics: &Metrics,
    ) {
        let Some(batch) = self.batch() else {
            return;
        };
        batch.put_queued(client_id, seq, delivery);
        if batch.len() >= MAX_BATCH {
            self.commit(metrics);
        }
    }

    fn batch(&mut self) -> Option<&mut Batch> {
        let store = self.store.as_ref()?;
        Some(self.batch.get_or_insert_with(|| store.batch()))
    }

    pub(crate) fn retained_stored(&mut self, message: &Message) {
        if let Some(batch) = self.batch() {
            batch.put_retained(message);
        }
    }

    pub(crate) fn retained_cleared(&mut self, topic: &str) {
        if let Some(batch) = self.batch() {
            batch.delete_retained(topic);
        }
    }

    pub(crate) fn delayed_held(&mut self, at: SystemTime, id: u64, message: &Message) {
        if let Some(batch) = self.batch() {
            batch.put_delayed(at, id, message);
        }
    }

    pub(crate) fn delayed_fired(&mut self, at: SystemTime, id: u64) {
        if let Some(batch) = self.batch() {
            batch.delete_delayed(at, id);
        }
    }

    /// Commits what is buffered now (the turn goes on; its answers carry the last ticket).
    pub(crate) fn commit(&mut self, metrics: &Metrics) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        match batch.commit() {
            Ok(ticket) => self.ticket = ticket,
            Err(e) => {
                // The broker goes on serving from memory; what this batch held is not on disk.
                error!(error = %e, "the store refused a write");
                Metrics::add(&metrics.store_errors, 1);
            }
        }
    }

    /// Commits the turn's writes; the ticket that covers everything the turn wrote (0: none).
    fn finish_turn(&mut self, metrics: &Metrics) -> Ticket {
        self.commit(metrics);
        std::mem::take(&mut self.ticket)
    }
}

impl Router {
    /// Commits what this turn changed in the store, then answers the publishers of the turn
    /// with the ticket that covers it: their acks go out once it is durable.
    pub(crate) fn flush(&mut self) {
        let ticket = self.persist.finish_turn(&self.metrics);
        self.send_pending();
        for (client_id, answer) in self.answers.drain() {
            if let Some(reg) = self.registry.get(&client_id) {
                if reg.conn_id() == answer.conn_id {
                    reg.mailbox.control(SessionControl::Routed {
                        count: answer.count,
                        ticket,
                        refused: answer.refused,
                    });
                }
            }
        }
    }

    /// Loads what the store kept: retained messages not expired by `now`, and delayed
    /// messages (those overdue fire at the first timer). Returns (retained, delayed) loaded.
    pub(crate) fn restore(
        &mut self,
        retained: Vec<Message>,
        delayed: Vec<(SystemTime, u64, Message)>,
        now: SystemTime,
    ) -> (usize, usize) {
        let mut kept = (0, 0);
        for message in retained {
            if message.is_expired(now) {
                self.persist.retained_cleared(message.topic.as_str());
                continue;
            }
            let message = Arc::new(message);
            if self.retained.apply(&message) == super::retain::RetainOutcome::Stored {
                kept.0 += 1;
            } else {
                // Over a limit lowered since it was stored: not kept, on disk either.
                self.persist.retained_cleared(message.topic.as_str());
                Metrics::add(&self.metrics.messages_dropped, 1);
            }
        }
        for (at, id, message) in delayed {
            if self.delayed.restore(at, id, Arc::new(message)) {
                kept.1 += 1;
            } else {
                self.persist.delayed_fired(at, id);
                Metrics::add(&self.metrics.messages_dropped, 1);
            }
        }
        self.flush();
        kept
    }
}
