//! Session state that outlives a network connection (spec 4.1): the outgoing inflight window, the
//! queue of messages waiting for room in it, incoming QoS 2 ids awaiting PUBREL, and the packet id
//! counter. Subscriptions are not here: the router owns them, keyed by client id.
//!
//! The struct is plain data so that the durability issue can store and restore it as it is.

use crate::message::Delivery;
use starling_codec::{PacketId, QoS};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// What to do when a session's queue is full (spec leaves it to the server; the policy is named
/// and every drop is counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueOverflow {
    /// Drop the oldest queued message to make room.
    #[default]
    DropOldest,
    /// Drop the message that does not fit.
    DropNewest,
    /// Disconnect the client with Quota exceeded (0x97).
    Disconnect,
}

/// Limits on a session's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Maximum queued messages beyond the inflight window.
    pub max_len: usize,
    /// Maximum bytes those may count for ([`Message::footprint`](crate::Message::footprint)
    /// each), so a few large messages cannot make one session hold gigabytes.
    pub max_bytes: usize,
    /// What happens when it is full.
    pub overflow: QueueOverflow,
    /// Whether QoS 0 messages are queued while the client is offline.
    pub queue_qos0_offline: bool,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_len: 1000,
            max_bytes: 64 * 1024 * 1024,
            overflow: QueueOverflow::DropOldest,
            queue_qos0_offline: true,
        }
    }
}

/// The state of one outgoing QoS 1/2 message in the inflight window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published(Delivery),
    /// PUBREL sent; waiting for PUBCOMP. The message itself is no longer needed; what is kept
    /// is its place in the stored queue (`Delivery::stored`, 0 when not stored).
    Released(u64),
}

/// The session of one client id.
///
/// What a session holds between messages — the inflight window, the queue and the QoS 2 ids
/// awaiting PUBREL — is boxed together and only while any of it holds something
/// ([`SessionState::compact`] gives the box back): an idle connection carries its session
/// inline, and three empty collections would be 88 of its bytes.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The client id it belongs to.
    pub client_id: Arc<str>,
    /// Session expiry interval in seconds (`u32::MAX`: never expires).
    pub expiry_interval: u32,
    /// Last packet id handed out.
    pub last_packet_id: u16,
    held: Option<Box<Held>>,
}

/// The collections of a session that is holding messages.
#[derive(Debug, Clone, Default)]
struct Held {
    inflight: VecDeque<(PacketId, Outgoing)>,
    queue: VecDeque<Delivery>,
    /// What `queue` counts for, in footprint bytes.
    queue_bytes: usize,
    awaiting_rel: BTreeSet<PacketId>,
}

impl Held {
    fn push(&mut self, delivery: Delivery) {
        self.queue_bytes += delivery.message.footprint();
        self.queue.push_back(delivery);
    }

    fn pop(&mut self) -> Option<Delivery> {
        let delivery = self.queue.pop_front()?;
        self.queue_bytes = self
            .queue_bytes
            .saturating_sub(delivery.message.footprint());
        Some(delivery)
    }

    fn remove(&mut self, pos: usize) {
        if let Some(d) = self.queue.remove(pos) {
            self.queue_bytes = self.queue_bytes.saturating_sub(d.message.footprint());
        }
    }

    /// After the queue was filtered in place.
    fn recount(&mut self) {
        self.queue_bytes = self.queue.iter().map(|d| d.message.footprint()).sum();
    }

    fn fits(&self, size: usize, limits: &QueueLimits) -> bool {
        self.queue.len() < limits.max_len && self.queue_bytes + size <= limits.max_bytes
    }
}

/// What an idle session reads through.
static EMPTY: Held = Held {
    inflight: VecDeque::new(),
    queue: VecDeque::new(),
    queue_bytes: 0,
    awaiting_rel: BTreeSet::new(),
};

/// Outcome of offering a delivery to a full queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued with room to spare.
    Queued,
    /// Queued after dropping the oldest message.
    DroppedOldest,
    /// Not queued: it was dropped.
    Dropped,
    /// Not queued, and the policy says disconnect.
    Overflow,
}

impl SessionState {
    /// A new, empty session.
    pub fn new(client_id: Arc<str>, expiry_interval: u32) -> Self {
        Self {
            client_id,
            expiry_interval,
            last_packet_id: 0,
            held: None,
        }
    }

    fn held(&self) -> &Held {
        self.held.as_deref().unwrap_or(&EMPTY)
    }

    fn held_mut(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Box::default)
    }

    /// Outgoing QoS 1/2 messages in send order.
    pub fn inflight(&self) -> &VecDeque<(PacketId, Outgoing)> {
        &self.held().inflight
    }

    /// The inflight window, to change.
    pub fn inflight_mut(&mut self) -> &mut VecDeque<(PacketId, Outgoing)> {
        &mut self.held_mut().inflight
    }

    /// Messages waiting for room in the inflight window (or for the client to come back).
    pub fn queue(&self) -> &VecDeque<Delivery> {
        &self.held().queue
    }

    /// What the queue counts for, in bytes (each delivery's message footprint).
    pub fn queue_bytes(&self) -> usize {
        self.held().queue_bytes
    }

    /// Appends to the queue, whatever the limits (the caller checked [`Self::queue_fits`]).
    pub fn push_queued(&mut self, delivery: Delivery) {
        self.held_mut().push(delivery);
    }

    /// Takes the oldest queued delivery.
    pub fn pop_queued(&mut self) -> Option<Delivery> {
        self.held.as_deref_mut()?.pop()
    }

    /// Whether a delivery of `size` footprint bytes fits in the queue under `limits`.
    pub fn queue_fits(&self, size: usize, limits: &QueueLimits) -> bool {
        self.held().fits(size, limits)
    }

    /// Incoming QoS 2 packet ids received but not yet released (exactly-once, spec 4.3.3).
    pub fn awaiting_rel(&self) -> &BTreeSet<PacketId> {
        &self.held().awaiting_rel
    }

    /// The QoS 2 ids awaiting PUBREL, to change.
    pub fn awaiting_rel_mut(&mut self) -> &mut BTreeSet<PacketId> {
        &mut self.held_mut().awaiting_rel
    }

    /// Drops every delivery that is in the store (`Delivery::stored != 0`) from the inflight
    /// window and the queue: the store has them, and whoever serves the session next reads
    /// them back from there (an offline session keeps none in memory, and a resumed one takes
    /// its inflight window from the store, where its packet ids are). Returns how many went.
    pub fn forget_stored(&mut self) -> usize {
        let Some(held) = self.held.as_deref_mut() else {
            return 0;
        };
        let before = held.inflight.len() + held.queue.len();
        held.inflight.retain(|(_, out)| match out {
            Outgoing::Published(d) => d.stored == 0,
            Outgoing::Released(seq) => *seq == 0,
        });
        held.queue.retain(|d| d.stored == 0);
        held.recount();
        let gone = before - held.inflight.len() - held.queue.len();
        self.compact();
        gone
    }

    /// Gives the collections' memory back when they are all empty (call after a turn).
    pub fn compact(&mut self) {
        let idle = self.held.as_deref().is_some_and(|h| {
            h.inflight.is_empty() && h.queue.is_empty() && h.awaiting_rel.is_empty()
        });
        if idle {
            self.held = None;
        }
    }

    /// The next free packet id for an outgoing message: counts up from the last one, wraps past
    /// 65535 to 1, and skips ids still in the inflight window so two messages never share one.
    /// `None` only if all 65535 ids are in flight.
    pub fn next_packet_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            self.last_packet_id = self.last_packet_id.wrapping_add(1);
            let Some(id) = PacketId::new(self.last_packet_id) else {
                continue;
            };
            if !self.held().inflight.iter().any(|(used, _)| *used == id) {
                return Some(id);
            }
        }
        None
    }

    /// Position of `id` in the inflight window (acks usually come in order, so this is short).
    pub fn inflight_position(&self, id: PacketId) -> Option<usize> {
        self.inflight().iter().position(|(used, _)| *used == id)
    }

    /// Queues a delivery under `limits` (a count and a byte cap).
    ///
    /// A full queue gives up QoS 0 first (DESIGN §2): a new QoS 0 message is dropped, and a
    /// new QoS 1/2 message evicts queued QoS 0 ones, oldest first, when that makes room for
    /// it; otherwise the policy for QoS 1/2 applies. A message larger than the whole byte cap
    /// is dropped.
    pub fn enqueue(&mut self, delivery: Delivery, limits: &QueueLimits) -> Enqueued {
        let size = delivery.message.footprint();
        let held = self.held_mut();
        if held.fits(size, limits) {
            held.push(delivery);
            return Enqueued::Queued;
        }
        if delivery.qos == QoS::AtMostOnce || size > limits.max_bytes {
            return Enqueued::Dropped;
        }
        let (qos0, qos0_bytes) = held
            .queue
            .iter()
            .filter(|d| d.qos == QoS::AtMostOnce)
            .fold((0, 0), |(n, b), d| (n + 1, b + d.message.footprint()));
        let room_without_qos0 = held.queue.len() - qos0 < limits.max_len
            && held.queue_bytes - qos0_bytes + size <= limits.max_bytes;
        if qos0 > 0 && room_without_qos0 {
            while !held.fits(size, limits) {
                match held.queue.iter().position(|d| d.qos == QoS::AtMostOnce) {
                    Some(pos) => held.remove(pos),
                    None => break,
                }
            }
            held.push(delivery);
            return Enqueued::DroppedOldest;
        }
        match limits.overflow {
            QueueOverflow::DropNewest => Enqueued::Dropped,
            QueueOverflow::Disconnect => Enqueued::Overflow,
            QueueOverflow::DropOldest => {
                while !held.fits(size, limits) {
                    if held.pop().is_none() {
                        break;
                    }
                }
                if !held.fits(size, limits) {
                    return Enqueued::Dropped; // a cap of 0 messages
                }
                held.push(delivery);
                Enqueued::DroppedOldest
            }
        }
    }

    /// Removes and returns every not-yet-acknowledged delivery that came through a shared
    /// subscription, so the router can give it to another member of the group.
    pub fn take_shared_unacked(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        let Some(held) = self.held.as_deref_mut() else {
            return out;
        };
        held.inflight.retain(|(_, state)| match state {
            Outgoing::Published(d) if d.shared.is_some() => {
                out.push(d.clone());
                false
            }
            _ => true,
        });
        let mut kept = VecDeque::with_capacity(held.queue.len());
        for d in held.queue.drain(..) {
            if d.shared.is_some() {
                out.push(d);
            } else {
                kept.push_back(d);
            }
        }
        held.queue = kept;
        held.recount();
        self.compact();
        out
    }

    /// Messages held (inflight plus queued), for statistics.
    pub fn pending(&self) -> usize {
        self.inflight().len() + self.queue().len()
    }
}

impl SessionState {
    /// Queues a delivery for a client that is offline: QoS 0 only if `queue_qos0_offline`;
    /// a full queue drops by the policy (an offline client cannot be disconnected).
    pub fn enqueue_offline(&mut self, delivery: Delivery, limits: &QueueLimits) -> Enqueued {
        if delivery.qos == QoS::AtMostOnce && !limits.queue_qos0_offline {
            return Enqueued::Dropped;
        }
        match self.enqueue(delivery, limits) {
            Enqueued::Overflow => Enqueued::Dropped,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_session_holds_no_collections() {
        let mut s = SessionState::new(Arc::from("c"), 0);
        assert!(s.inflight().is_empty() && s.queue().is_empty() && s.awaiting_rel().is_empty());
        assert!(s.held.is_none());
        let id = PacketId::new(7).expect("id");
        s.awaiting_rel_mut().insert(id);
        s.compact();
        assert!(s.held.is_some(), "kept while something is held");
        assert!(s.awaiting_rel().contains(&id));
        s.awaiting_rel_mut().remove(&id);
        s.compact();
        assert!(s.held.is_none(), "given back once empty");
        assert!(std::mem::size_of::<SessionState>() <= 40);
    }
}
