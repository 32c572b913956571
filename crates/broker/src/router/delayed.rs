//! Delayed publish (`$delayed/<seconds>/<topic>`): messages held until their time, then routed
//! to `<topic>`. Ordered by due time, then by arrival, so equal delays keep publish order.
//! Bounded in count and in bytes (the same footprint as retained messages).

use starling_core::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// Messages waiting for their time.
#[derive(Debug, Default)]
pub(crate) struct DelayedQueue {
    due: BTreeMap<(SystemTime, u64), Arc<Message>>,
    seq: u64,
    max_messages: usize,
    max_bytes: usize,
    bytes: usize,
}

impl DelayedQueue {
    /// A queue of at most `max_messages` messages and `max_bytes` bytes (0: no limit).
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            due: BTreeMap::new(),
            seq: 0,
            max_messages,
            max_bytes,
            bytes: 0,
        }
    }

    /// Holds `message` until `at`; its id (unique among delayed messages, in arrival order),
    /// or `None` when the queue is full.
    pub(crate) fn push(&mut self, at: SystemTime, message: Arc<Message>) -> Option<u64> {
        self.seq += 1;
        let id = self.seq;
        self.restore(at, id, message).then_some(id)
    }

    /// Holds a message read back from the store under its stored id; false when full.
    pub(crate) fn restore(&mut self, at: SystemTime, id: u64, message: Arc<Message>) -> bool {
        let size = message.footprint();
        let count_full = self.max_messages != 0 && self.due.len() >= self.max_messages;
        let bytes_full = self.max_bytes != 0 && self.bytes + size > self.max_bytes;
        if count_full || bytes_full {
            return false;
        }
        self.bytes += size;
        self.seq = self.seq.max(id);
        self.due.insert((at, id), message);
        true
    }

    /// When the next message is due.
    pub(crate) fn next_due(&self) -> Option<SystemTime> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// Takes every message due at `now`, in order, with its due time and id.
    pub(crate) fn pop_due(&mut self, now: SystemTime) -> Vec<(SystemTime, u64, Arc<Message>)> {
        let mut out = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (at, id) = *entry.key();
            let message = entry.remove();
            self.bytes -= message.footprint();
            out.push((at, id, message));
        }
        out
    }

    /// Drops up to `limit` messages, soonest first; their due times and ids.
    pub(crate) fn remove_some(&mut self, limit: usize) -> Vec<(SystemTime, u64)> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(((at, id), message)) = self.due.pop_first() else {
                break;
            };
            self.bytes -= message.footprint();
            out.push((at, id));
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.due.len()
    }
}
