//! The router's writes to the store: retained and delayed messages are written through as they
//! change, into one batch per router turn, committed by [`Router::flush`] (many changes, one
//! journal write). Read back at start by [`Router::restore`], before any listener opens.
//!
//! Not yet here (the rest of the durability issue): sessions, their subscriptions and queues.

use super::command::SessionControl;
use super::Router;
use crate::metrics::Metrics;
use starling_core::Message;
use starling_store::{Batch, Store, Ticket};
use std::sync::Arc;
use std::time::SystemTime;
use tracing::error;

/// The store, when the broker has one, and the batch of the current turn.
#[derive(Default)]
pub(crate) struct Persist {
    store: Option<Store>,
    batch: Option<Batch>,
}

impl Persist {
    /// Writes go to `store`.
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store: Some(store),
            batch: None,
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

    /// Commits the turn's writes; the ticket that covers them.
    fn commit(&mut self, metrics: &Metrics) -> Option<Ticket> {
        let batch = self.batch.take()?;
        match batch.commit() {
            Ok(ticket) => Some(ticket),
            Err(e) => {
                // The broker goes on serving from memory; what this batch held is not on disk.
                error!(error = %e, "the store refused a write");
                Metrics::add(&metrics.store_errors, 1);
                None
            }
        }
    }
}

impl Router {
    /// Commits what this turn changed in the store, then answers the publishers of the turn
    /// with the ticket that covers it: their acks go out once it is durable.
    pub(crate) fn flush(&mut self) {
        let ticket = self.persist.commit(&self.metrics).unwrap_or(0);
        for (client_id, (conn_id, count)) in self.answers.drain() {
            if let Some(reg) = self.registry.get(&client_id) {
                if reg.conn_id() == conn_id {
                    reg.mailbox
                        .control(SessionControl::Routed { count, ticket });
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
