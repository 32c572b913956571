//! The packet id table: which identifiers are in use and what each awaits.
//!
//! Identifiers are handed out round-robin from 1 to the table's size, skipping those still in
//! use, so an identifier is reused as late as possible. The table is a vector indexed by
//! identifier, sized to the inflight window plus room for subscriptions and allocated on first
//! use: no hashing, no allocation per message, and a few bytes per idle connection.

use crate::ClientError;
use starling_codec::{PacketId, ReasonCode, SubAck, UnsubAck};
use tokio::sync::oneshot;

/// Identifiers beyond the publish window, for SUBSCRIBE and UNSUBSCRIBE.
const SPARE_IDS: u16 = 64;

/// Who waits for a QoS 1/2 publish to complete, if anyone.
pub(crate) type PublishReply = Option<oneshot::Sender<Result<ReasonCode, ClientError>>>;

/// What an identifier in use awaits.
pub(crate) enum Pending {
    /// QoS 1 PUBLISH sent; awaiting PUBACK.
    PubAck(PublishReply),
    /// QoS 2 PUBLISH sent; awaiting PUBREC.
    PubRec(PublishReply),
    /// PUBREL sent; awaiting PUBCOMP.
    PubComp(PublishReply),
    /// SUBSCRIBE sent; awaiting SUBACK.
    SubAck(oneshot::Sender<Result<SubAck, ClientError>>),
    /// UNSUBSCRIBE sent; awaiting UNSUBACK.
    UnsubAck(oneshot::Sender<Result<UnsubAck, ClientError>>),
}

/// The table of identifiers in use.
pub(crate) struct Inflight {
    slots: Vec<Option<Pending>>,
    size: u16,
    next: u16,
    in_use: usize,
    publishes: usize,
    max_publishes: usize,
}

impl Inflight {
    /// A table allowing `max_publishes` outgoing QoS 1/2 messages at once.
    pub(crate) fn new(max_publishes: u16) -> Self {
        Self {
            slots: Vec::new(),
            size: max_publishes.max(1).saturating_add(SPARE_IDS),
            next: 0,
            in_use: 0,
            publishes: 0,
            max_publishes: usize::from(max_publishes.max(1)),
        }
    }

    /// True when another QoS 1/2 publish may be sent.
    pub(crate) fn has_room(&self) -> bool {
        self.publishes < self.max_publishes && self.in_use < usize::from(self.size)
    }

    /// True while some identifier awaits an acknowledgment.
    pub(crate) fn has_pending(&self) -> bool {
        self.in_use > 0
    }

    /// Takes a free identifier for `pending`; `None` when all are in use.
    pub(crate) fn insert(&mut self, pending: Pending) -> Option<PacketId> {
        if self.slots.is_empty() {
            self.slots.resize_with(usize::from(self.size) + 1, || None);
        }
        if self.in_use >= usize::from(self.size) {
            return None;
        }
        loop {
            self.next = if self.next >= self.size {
                1
            } else {
                self.next + 1
            };
            let slot = &mut self.slots[usize::from(self.next)];
            if slot.is_none() {
                if is_publish(&pending) {
                    self.publishes += 1;
                }
                *slot = Some(pending);
                self.in_use += 1;
                return PacketId::new(self.next);
            }
        }
    }

    /// Removes and returns what `id` awaited.
    pub(crate) fn remove(&mut self, id: PacketId) -> Option<Pending> {
        let pending = self.slots.get_mut(usize::from(id.get()))?.take()?;
        self.in_use -= 1;
        if is_publish(&pending) {
            self.publishes -= 1;
        }
        Some(pending)
    }

    /// Puts `pending` back under `id` (the PUBREC -> PUBCOMP step keeps the identifier).
    pub(crate) fn restore(&mut self, id: PacketId, pending: Pending) {
        if let Some(slot) = self.slots.get_mut(usize::from(id.get())) {
            if is_publish(&pending) {
                self.publishes += 1;
            }
            *slot = Some(pending);
            self.in_use += 1;
        }
    }
}

fn is_publish(p: &Pending) -> bool {
    matches!(
        p,
        Pending::PubAck(_) | Pending::PubRec(_) | Pending::PubComp(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_round_robin_and_skip_those_in_use() {
        let mut t = Inflight::new(10);
        let a = t.insert(Pending::PubAck(None));
        let b = t.insert(Pending::PubAck(None));
        assert_eq!(a.map(PacketId::get), Some(1));
        assert_eq!(b.map(PacketId::get), Some(2));
        assert!(a.and_then(|a| t.remove(a)).is_some());
        assert_eq!(t.insert(Pending::PubAck(None)).map(PacketId::get), Some(3));
        assert_eq!(t.in_use, 2);
    }

    #[test]
    fn window_counts_only_publishes() {
        let mut t = Inflight::new(1);
        assert!(t.has_room());
        let id = t.insert(Pending::PubRec(None));
        assert!(!t.has_room());
        let (tx, _rx) = oneshot::channel();
        assert!(t.insert(Pending::SubAck(tx)).is_some());
        let Some(id) = id else { panic!("no id") };
        assert!(matches!(t.remove(id), Some(Pending::PubRec(None))));
        assert!(t.has_room());
    }

    #[test]
    fn ids_wrap_within_the_table() {
        let mut t = Inflight::new(1);
        for expected in (1..=65).chain(1..=3) {
            let id = t.insert(Pending::PubAck(None));
            assert_eq!(id.map(PacketId::get), Some(expected));
            let Some(id) = id else { panic!("no id") };
            t.remove(id);
        }
    }
}
