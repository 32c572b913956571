//! Retained messages (spec 3.3.1.3): at most one per topic, replaced by a newer one, removed by
//! an empty payload, bounded in count, in the size of one message and in bytes in total.
//!
//! Messages live in a [`RetainedTree`], so a new subscription is served by a resumable walk
//! (`router::cursor`) that visits only the branches its filter can match; an exact filter is one
//! lookup per level. Expiry is kept apart from matching: an index by expiry time is swept when
//! its first entry comes due, and matching only skips a message whose time has passed but was
//! not swept yet.

use starling_core::Message;
use starling_topic::{RetainedTree, TopicFilter, TopicName};
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::SystemTime;

/// What happened to a retained publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetainOutcome {
    /// Stored (new or replaced).
    Stored,
    /// An empty payload removed the topic's retained message.
    Cleared,
    /// Refused by a limit (count, bytes or payload size); counted.
    Refused,
}

/// Bounds on the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetainLimits {
    /// Messages held at most; 0 is no limit.
    pub(crate) max_messages: usize,
    /// Bytes held at most (`Message::footprint` summed); 0 is no limit.
    pub(crate) max_bytes: usize,
    /// Largest payload stored.
    pub(crate) max_payload: usize,
}

/// The retained message store.
#[derive(Debug)]
pub(crate) struct RetainStore {
    messages: RetainedTree<Arc<Message>>,
    /// (expiry, topic) of every stored message that expires; kept exact (an entry leaves when
    /// its message is replaced or removed), so it holds at most one entry per message.
    expiring: BTreeSet<(SystemTime, Arc<str>)>,
    bytes: usize,
    limits: RetainLimits,
}

impl RetainStore {
    pub(crate) fn new(limits: RetainLimits) -> Self {
        Self {
            messages: RetainedTree::new(),
            expiring: BTreeSet::new(),
            bytes: 0,
            limits,
        }
    }

    /// Applies a PUBLISH with the RETAIN flag.
    pub(crate) fn apply(&mut self, message: &Arc<Message>) -> RetainOutcome {
        let topic = message.topic.as_str();
        if message.payload.is_empty() {
            if let Some(old) = self.messages.remove(topic) {
                self.forget(&old);
            }
            return RetainOutcome::Cleared;
        }
        let size = message.footprint();
        let old_size = self.messages.get(topic).map_or(0, |m| m.footprint());
        let l = self.limits;
        let count_full =
            l.max_messages != 0 && old_size == 0 && self.messages.len() >= l.max_messages;
        let bytes_full = l.max_bytes != 0 && self.bytes - old_size + size > l.max_bytes;
        if count_full || bytes_full || message.payload.len() > l.max_payload {
            return RetainOutcome::Refused;
        }
        if let Some(old) = self.messages.insert(&message.topic, message.clone()) {
            self.forget(&old);
        }
        self.bytes += size;
        if let Some(at) = message.expires_at {
            self.expiring.insert((at, topic.into()));
        }
        RetainOutcome::Stored
    }

    /// The message retained on `topic` (expired or not).
    pub(crate) fn get(&self, topic: &str) -> Option<&Arc<Message>> {
        self.messages.get(topic)
    }

    /// Removes the message retained on `topic`; true when there was one.
    pub(crate) fn remove(&mut self, topic: &str) -> bool {
        match self.messages.remove(topic) {
            Some(old) => {
                self.forget(&old);
                true
            }
            None => false,
        }
    }

    /// Accounts for a message that left the store.
    fn forget(&mut self, old: &Message) {
        self.bytes -= old.footprint();
        if let Some(at) = old.expires_at {
            self.expiring.remove(&(at, Arc::from(old.topic.as_str())));
        }
    }

    /// When the next stored message expires.
    pub(crate) fn next_expiry(&self) -> Option<SystemTime> {
        self.expiring.first().map(|(at, _)| *at)
    }

    /// Removes every message expired at `now`; returns their topics.
    pub(crate) fn sweep(&mut self, now: SystemTime) -> Vec<Arc<str>> {
        let mut gone = Vec::new();
        while let Some((at, topic)) = self.expiring.first().cloned() {
            if at > now {
                break;
            }
            self.expiring.pop_first();
            if let Some(old) = self.messages.remove(&topic) {
                self.bytes -= old.footprint();
            }
            gone.push(topic);
        }
        gone
    }

    /// Visits the unexpired messages matching `filter` after the topic `after`, in topic order,
    /// until `visit` breaks (see [`RetainedTree::for_each_match_after`]).
    pub(crate) fn for_each_match_after(
        &self,
        filter: &TopicFilter,
        after: Option<&str>,
        now: SystemTime,
        mut visit: impl FnMut(&Arc<Message>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.messages.for_each_match_after(filter, after, |m| {
            if m.is_expired(now) {
                ControlFlow::Continue(())
            } else {
                visit(m)
            }
        })
    }

    /// Up to `limit` topics holding a message, outside `$` topics, in topic order.
    pub(crate) fn topics(&self, limit: usize, now: SystemTime) -> Vec<TopicName> {
        let mut out = Vec::new();
        let all = TopicFilter::new("#").ok();
        if let Some(all) = all {
            let _ = self.for_each_match_after(&all, None, now, |m| {
                out.push(m.topic.clone());
                if out.len() >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Bytes held, as `Message::footprint` counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}
