//! Retained messages (spec 3.3.1.3): at most one per topic, replaced by a newer one, removed by
//! an empty payload, bounded in count and payload size. Exact filters are a map lookup; a
//! wildcard filter scans the store (a retained-message trie is the next step if this shows up
//! in a profile).

use starling_core::Message;
use starling_topic::TopicFilter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What happened to a retained publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetainOutcome {
    /// Stored (new or replaced).
    Stored,
    /// An empty payload removed the topic's retained message.
    Cleared,
    /// Refused by a limit; counted.
    Refused,
}

/// The retained message store.
#[derive(Debug, Default)]
pub(crate) struct RetainStore {
    messages: HashMap<Arc<str>, Arc<Message>>,
    max_messages: usize,
    max_payload_size: usize,
}

impl RetainStore {
    pub(crate) fn new(max_messages: usize, max_payload_size: usize) -> Self {
        Self {
            messages: HashMap::new(),
            max_messages,
            max_payload_size,
        }
    }

    /// Applies a PUBLISH with the RETAIN flag.
    pub(crate) fn apply(&mut self, message: &Arc<Message>) -> RetainOutcome {
        let topic: Arc<str> = message.topic.as_str().into();
        if message.payload.is_empty() {
            self.messages.remove(&topic);
            return RetainOutcome::Cleared;
        }
        let full = self.max_messages != 0
            && self.messages.len() >= self.max_messages
            && !self.messages.contains_key(&topic);
        if full || message.payload.len() > self.max_payload_size {
            return RetainOutcome::Refused;
        }
        self.messages.insert(topic, message.clone());
        RetainOutcome::Stored
    }

    /// The retained messages whose topic matches `filter`, dropping expired ones on the way.
    pub(crate) fn matching(&mut self, filter: &TopicFilter, now: Instant) -> Vec<Arc<Message>> {
        self.messages.retain(|_, m| !m.is_expired(now));
        if !filter.has_wildcards() {
            return self
                .messages
                .get(filter.as_str())
                .cloned()
                .into_iter()
                .collect();
        }
        self.messages
            .values()
            .filter(|m| filter.matches(&m.topic))
            .cloned()
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }
}
