//! [`Batch`]: writes gathered and committed atomically.
//!
//! Operations are buffered in key order, the last one on a key winning (the engine gives every
//! write of a batch the same sequence number, so a delete then a put of one key in one batch
//! must reach it as the put alone). Nothing is visible to readers until [`Batch::commit`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use fjall::PersistMode;
use starling_codec::SubscriptionOptions;
use starling_core::{Delivery, Message};
use starling_topic::SubscriptionTarget;

use crate::engine::{Space, COMMIT_MARK};
use crate::error::StoreError;
use crate::key::{cid, delayed_key, packet_key, seq_key, MAX_KEY};
use crate::record::message::{encode_delivery, encode_message};
use crate::record::session::{encode_inflight, encode_session, encode_subscription, write_target};
use crate::record::SessionRecord;
use crate::store::Store;
use crate::sync::Ticket;

/// Buffered writes to the store; nothing is visible until [`Batch::commit`].
pub struct Batch {
    store: Store,
    ops: BTreeMap<(Space, Vec<u8>), Option<Vec<u8>>>,
    error: Option<StoreError>,
}

impl Batch {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            ops: BTreeMap::new(),
            error: None,
        }
    }

    fn put(&mut self, space: Space, key: Vec<u8>, value: Vec<u8>) {
        if key.len() > MAX_KEY {
            self.error.get_or_insert(StoreError::KeyTooLong {
                keyspace: space.name(),
                len: key.len(),
            });
            return;
        }
        self.ops.insert((space, key), Some(value));
    }

    fn delete(&mut self, space: Space, key: Vec<u8>) {
        if key.len() <= MAX_KEY {
            self.ops.insert((space, key), None);
        }
    }

    /// Writes the session record of `client_id`.
    pub fn put_session(&mut self, client_id: &str, record: &SessionRecord) {
        self.put(Space::Sessions, cid(client_id), encode_session(record));
    }

    /// Removes the session record and every subscription, queue, inflight and awaiting-PUBREL
    /// entry of `client_id` (found by a prefix scan now, so puts for the client made earlier
    /// in this batch are dropped too, and puts made after this call are kept).
    pub fn delete_session(&mut self, client_id: &str) -> Result<(), StoreError> {
        let prefix = cid(client_id);
        self.delete(Space::Sessions, prefix.clone());
        for space in [
            Space::Subscriptions,
            Space::Queue,
            Space::Inflight,
            Space::AwaitingRel,
        ] {
            for guard in self.store.engine().ks(space).prefix(&prefix) {
                let key = guard.key()?;
                self.ops.insert((space, key.to_vec()), None);
            }
            let buffered: Vec<Vec<u8>> = self
                .ops
                .range((space, prefix.clone())..)
                .take_while(|((s, k), _)| *s == space && k.starts_with(&prefix))
                .map(|((_, k), _)| k.clone())
                .collect();
            for key in buffered {
                self.ops.insert((space, key), None);
            }
        }
        Ok(())
    }

    /// Writes a subscription of `client_id`.
    pub fn put_subscription(
        &mut self,
        client_id: &str,
        target: &SubscriptionTarget,
        options: &SubscriptionOptions,
        subscription_id: Option<u32>,
    ) {
        let mut key = cid(client_id);
        write_target(&mut key, target);
        self.put(
            Space::Subscriptions,
            key,
            encode_subscription(options, subscription_id),
        );
    }

    /// Removes a subscription of `client_id`.
    pub fn delete_subscription(&mut self, client_id: &str, target: &SubscriptionTarget) {
        let mut key = cid(client_id);
        write_target(&mut key, target);
        self.delete(Space::Subscriptions, key);
    }

    /// Writes a delivery at `seq` in the queue of `client_id` (its `stored` is not written).
    pub fn put_queued(&mut self, client_id: &str, seq: u64, delivery: &Delivery) {
        self.put(
            Space::Queue,
            seq_key(client_id, seq),
            encode_delivery(delivery),
        );
    }

    /// Removes the queued delivery at `seq` of `client_id` and its inflight record.
    pub fn delete_queued(&mut self, client_id: &str, seq: u64) {
        self.delete(Space::Queue, seq_key(client_id, seq));
        self.delete(Space::Inflight, seq_key(client_id, seq));
    }

    /// Removes the queued delivery at `seq` of `client_id`, known to have no inflight record
    /// (one tombstone rather than two).
    pub fn delete_queued_only(&mut self, client_id: &str, seq: u64) {
        self.delete(Space::Queue, seq_key(client_id, seq));
    }

    /// Removes the inflight record at `seq` of `client_id` (its queued delivery stays).
    pub fn delete_inflight(&mut self, client_id: &str, seq: u64) {
        self.delete(Space::Inflight, seq_key(client_id, seq));
    }

    /// Records that the queued delivery at `seq` was sent with `packet_id`; `released` once
    /// PUBREC came and PUBREL was sent (the queue entry may then be deleted).
    pub fn put_inflight(&mut self, client_id: &str, seq: u64, packet_id: u16, released: bool) {
        self.put(
            Space::Inflight,
            seq_key(client_id, seq),
            encode_inflight(packet_id, released),
        );
    }

    /// Records an incoming QoS 2 packet id of `client_id` awaiting PUBREL.
    pub fn put_awaiting_rel(&mut self, client_id: &str, packet_id: u16) {
        self.put(
            Space::AwaitingRel,
            packet_key(client_id, packet_id),
            Vec::new(),
        );
    }

    /// Removes an awaiting-PUBREL packet id of `client_id`.
    pub fn delete_awaiting_rel(&mut self, client_id: &str, packet_id: u16) {
        self.delete(Space::AwaitingRel, packet_key(client_id, packet_id));
    }

    /// Writes the retained message of `message.topic`.
    pub fn put_retained(&mut self, message: &Message) {
        self.put(
            Space::Retained,
            message.topic.as_str().as_bytes().to_vec(),
            encode_message(message),
        );
    }

    /// Removes the retained message of `topic`.
    pub fn delete_retained(&mut self, topic: &str) {
        self.delete(Space::Retained, topic.as_bytes().to_vec());
    }

    /// Writes a delayed message that fires at `at` (kept to the millisecond), with `id`.
    pub fn put_delayed(&mut self, at: SystemTime, id: u64, message: &Message) {
        self.put(
            Space::Delayed,
            delayed_key(at, id).to_vec(),
            encode_message(message),
        );
    }

    /// Removes the delayed message written with `at` and `id`.
    pub fn delete_delayed(&mut self, at: SystemTime, id: u64) {
        self.delete(Space::Delayed, delayed_key(at, id).to_vec());
    }

    /// Writes a ban (replacing one on the same kind and name).
    pub fn put_ban(&mut self, ban: &crate::BanRecord) {
        self.put(
            Space::Banned,
            crate::record::ban::ban_key(ban.kind, &ban.who),
            crate::record::ban::encode_ban(ban),
        );
    }

    /// Removes the ban on `who` of `kind`.
    pub fn delete_ban(&mut self, kind: crate::BanKind, who: &str) {
        self.delete(Space::Banned, crate::record::ban::ban_key(kind, who));
    }

    /// Writes one of the management API's records (its bytes are the admin crate's).
    pub fn put_admin(&mut self, key: &[u8], value: &[u8]) {
        self.put(Space::Admin, key.to_vec(), value.to_vec());
    }

    /// Removes one of the management API's records.
    pub fn delete_admin(&mut self, key: &[u8]) {
        self.delete(Space::Admin, key.to_vec());
    }

    /// Writes a user of the `builtin` authenticator (replacing one of the same name).
    pub fn put_auth_user(&mut self, user: &crate::UserRecord) {
        self.put(
            Space::AuthUsers,
            crate::record::builtin::user_key(&user.username),
            crate::record::builtin::encode_user(user),
        );
    }

    /// Removes the `builtin` user `username`.
    pub fn delete_auth_user(&mut self, username: &str) {
        self.delete(Space::AuthUsers, crate::record::builtin::user_key(username));
    }

    /// Writes a rule of the `builtin` authorization source (replacing the one of its id).
    pub fn put_auth_rule(&mut self, rule: &crate::AclRuleRecord) {
        self.put(
            Space::AuthAcl,
            crate::record::builtin::rule_key(rule.id),
            crate::record::builtin::encode_rule(rule),
        );
    }

    /// Removes the `builtin` rule `id`.
    pub fn delete_auth_rule(&mut self, id: u64) {
        self.delete(Space::AuthAcl, crate::record::builtin::rule_key(id));
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many operations (keys written or removed) the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Writes the batch atomically (journal and memtable; the journal's bytes are handed to
    /// the operating system, not fsynced) and returns the ticket that covers it; wait for it
    /// with [`Store::when_durable`]. An empty batch returns the current ticket without writing.
    /// Fails if an operation had a key longer than the engine allows, or the engine fails.
    pub fn commit(self) -> Result<Ticket, StoreError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let tickets = self.store.tickets();
        if self.ops.is_empty() {
            return Ok(tickets.written());
        }
        let engine = self.store.engine();
        let mut batch = engine.db.batch().durability(Some(PersistMode::Buffer));
        for ((space, key), value) in self.ops {
            match value {
                Some(value) => batch.insert(engine.ks(space), key, value),
                None => batch.remove(engine.ks(space), key),
            }
        }
        let guard = tickets.begin();
        batch.insert(
            engine.meta(),
            COMMIT_MARK,
            tickets.next_mark().to_be_bytes(),
        );
        batch.commit()?;
        Ok(tickets.committed(guard))
    }
}
