//! The durability gate: packets that may go out only once what they promise is safe.
//!
//! With a store (`ServerLimits::acks_wait_for_router`), a PUBACK or PUBREC tells the publisher
//! its message is safe, so it waits for two things: the router's answer (which sessions and
//! retained slot took the message, and the store ticket of those writes) and then the store
//! saying that ticket is on disk. The session's own writes gate packets too: a PUBCOMP waits
//! for the deletion of the QoS 2 id (or a reused packet id would be taken for a duplicate and
//! dropped), a PUBREL for the "released" state of an outgoing QoS 2 message, and an outgoing QoS
//! 2 PUBLISH of a stored message for its packet id (after a restart it must be sent again with
//! the same id, or the client would take it for a new message).
//!
//! Held packets form one FIFO with everything sent after them, so acks keep the order of the
//! PUBLISHes they answer ([MQTT-4.6.0-2]) and deliveries keep theirs: a packet that needs no
//! wait still queues behind one that does. What waits is gone if the connection ends first,
//! which is right: the client was told nothing.
//!
//! The broker drives it: it commits the turn's [`Effect::Store`] writes and calls
//! [`Channel::handle_written`] with their ticket, gives the router's answers to
//! [`Channel::handle_routed`], and calls [`Channel::handle_durable`] when the store's durable
//! ticket moves, which is when held packets come out as [`Effect::Send`].

use super::{Channel, Effect};
use starling_codec::{Packet, ReasonCode};
use std::collections::VecDeque;

/// A position in the store's write order; a packet held on ticket `t` goes out once the store
/// reports everything up to `t` durable.
pub type Ticket = u64;

/// What a held packet waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// The router's answer to the PUBLISH this packet acknowledges.
    Router,
    /// The writes of the current turn (their ticket is not known yet).
    Turn,
    /// The store reporting this ticket durable (0: nothing, it only keeps its place).
    Ticket(Ticket),
}

/// The held packets, in send order.
#[derive(Debug, Default)]
pub(super) struct Gate {
    held: VecDeque<(Wait, Packet)>,
    /// The ticket of this session's last committed writes: an ack the router answers waits
    /// for them too (a QoS 2 id awaiting PUBREL is committed before its PUBLISH is routed).
    written: Ticket,
}

impl Gate {
    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

impl Channel {
    fn gate(&mut self) -> &mut Gate {
        &mut self.rare().gate
    }

    fn gate_is_empty(&self) -> bool {
        self.rare.as_ref().is_none_or(|r| r.gate.is_empty())
    }

    /// Sends `packet` now, or behind the packets already held.
    pub(super) fn send(&mut self, packet: Packet) {
        if self.gate_is_empty() {
            self.effects.push(Effect::Send(packet));
        } else {
            self.gate().held.push_back((Wait::Ticket(0), packet));
        }
    }

    /// Holds `packet` until `wait` is met (and everything before it went out).
    pub(super) fn hold(&mut self, wait: Wait, packet: Packet) {
        self.gate().held.push_back((wait, packet));
    }

    /// Whether acks of QoS 1/2 PUBLISHes wait for the router's answer and the store.
    pub(super) fn acks_wait(&self) -> bool {
        self.limits.acks_wait_for_router
    }

    /// Whether this session's own state (QoS 2 ids awaiting PUBREL) is kept in the store.
    pub(super) fn session_is_durable(&self) -> bool {
        self.limits.acks_wait_for_router && self.neg.session_expiry > 0
    }

    /// The router answered the next `count` PUBLISHes this channel gave it with an answer
    /// wanted ([`Effect::PublishAnswered`]): their writes are covered by `ticket`, and those at
    /// the positions in `refused` (0-based, within these `count`) reached no session because of
    /// a limit, so a 5.0 client is told Quota exceeded (0x97) instead of success.
    pub fn handle_routed(&mut self, count: u32, ticket: Ticket, refused: &[u32]) {
        let v5 = self.neg.version.is_v5();
        let ticket = ticket.max(self.rare.as_ref().map_or(0, |r| r.gate.written));
        let mut seen = 0u32;
        let mut ended_exchanges = Vec::new();
        if let Some(rare) = self.rare.as_mut() {
            for (wait, packet) in rare.gate.held.iter_mut() {
                if seen == count {
                    break;
                }
                if *wait != Wait::Router {
                    continue;
                }
                *wait = Wait::Ticket(ticket);
                if v5 && refused.contains(&seen) {
                    if let Packet::PubAck(ack) | Packet::PubRec(ack) = packet {
                        ack.reason_code = ReasonCode::QuotaExceeded;
                    }
                    if let Packet::PubRec(rec) = packet {
                        // A failed PUBREC ends the exchange: no PUBREL will come (spec 4.3.3).
                        ended_exchanges.push(rec.packet_id);
                    }
                }
                seen += 1;
            }
        }
        for id in ended_exchanges {
            self.release_rel(id);
        }
    }

    /// The writes of this turn ([`Effect::Store`]) were committed under `ticket`.
    pub fn handle_written(&mut self, ticket: Ticket) {
        if let Some(rare) = self.rare.as_mut() {
            rare.gate.written = rare.gate.written.max(ticket);
            for (wait, _) in rare.gate.held.iter_mut() {
                if *wait == Wait::Turn {
                    *wait = Wait::Ticket(ticket);
                }
            }
        }
    }

    /// The store has everything up to `durable` on disk: held packets whose turn came go out.
    pub fn handle_durable(&mut self, durable: Ticket) {
        let Some(rare) = self.rare.as_mut() else {
            return;
        };
        while let Some((Wait::Ticket(t), _)) = rare.gate.held.front() {
            if *t > durable {
                break;
            }
            if let Some((_, packet)) = rare.gate.held.pop_front() {
                self.effects.push(Effect::Send(packet));
            }
        }
        if rare.gate.held.is_empty() && rare.gate.held.capacity() > 16 {
            rare.gate.held = VecDeque::new(); // a burst's memory is not kept
        }
    }

    /// The ticket the first held packet waits for, if it waits for the store: the broker asks
    /// to be told when it is durable. `None` when nothing is held or it waits for the router.
    pub fn waiting_for(&self) -> Option<Ticket> {
        match self.rare.as_ref()?.gate.held.front()? {
            (Wait::Ticket(t), _) => Some(*t),
            _ => None,
        }
    }

    /// Packets held at the gate (for tests and statistics).
    pub fn held(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.gate.held.len())
    }
}
