//! Messages to the client: the inflight window bounded by the client's Receive Maximum (and the
//! server's `max_inflight`), the session queue beyond it, topic aliases towards the client,
//! message expiry counted down while queued, the client's Maximum Packet Size, and the acks that
//! move the window (PUBACK, PUBREC -> PUBREL, PUBCOMP).

use super::gate::Wait;
use super::{Channel, Effect, SessionWrite};
use crate::message::Delivery;
use crate::session::{Enqueued, Outgoing};
use starling_codec::{
    Packet, PacketId, Properties, PubResp, Publish, QoS, ReasonCode, SubAck, UnsubAck, Utf8String,
};
use std::time::Instant;

impl Channel {
    /// A message from the router for this client.
    pub fn handle_delivery(&mut self, delivery: Delivery, now: Instant) {
        if self.closed {
            // The connection is going away: keep QoS 1/2 for the session.
            self.offer_to_queue(delivery, false);
            return;
        }
        if self.skip_spilled(&delivery) || self.skip_resumed(&delivery) {
            return;
        }
        if let Some(access) = self.access() {
            // Every path ends here: live and retained deliveries, stored ones streamed after a
            // restart or a rule change, shared groups, delayed messages firing, `$SYS`.
            if !access.may_read(&delivery.message.topic) {
                self.rare().refused.denied_delivery += 1;
                self.done(delivery.stored, delivery.qos == QoS::ExactlyOnce);
                return;
            }
        }
        if delivery.message.is_expired(self.limits.clock.at(now)) {
            self.stats.expired += 1;
            self.done(delivery.stored, delivery.qos == QoS::ExactlyOnce);
            return;
        }
        if delivery.qos == QoS::AtMostOnce {
            self.send_publish(delivery, None, now);
        } else if self.session.queue().is_empty() && self.window_has_room() {
            self.start_inflight(delivery, now);
        } else {
            self.offer_to_queue(delivery, true);
        }
    }

    /// The router's answer to a SUBSCRIBE: one reason code per filter, in order.
    pub fn handle_suback(&mut self, packet_id: PacketId, reason_codes: Vec<ReasonCode>) {
        self.answers_pending = self.answers_pending.saturating_sub(1);
        let properties = Properties::default();
        self.send_answer(Packet::SubAck(SubAck {
            packet_id,
            reason_codes,
            properties,
        }));
    }

    /// The router's answer to an UNSUBSCRIBE: one reason code per filter (dropped for 3.x).
    pub fn handle_unsuback(&mut self, packet_id: PacketId, reason_codes: Vec<ReasonCode>) {
        self.answers_pending = self.answers_pending.saturating_sub(1);
        let reason_codes = if self.neg.version.is_v5() {
            reason_codes
        } else {
            Vec::new()
        };
        let properties = Properties::default();
        self.send_answer(Packet::UnsubAck(UnsubAck {
            packet_id,
            reason_codes,
            properties,
        }));
    }

    /// Sends a SUBACK or UNSUBACK (which carry no optional properties to drop) if it fits the
    /// client's Maximum Packet Size; else closes with Packet too large (0x95): the client cannot
    /// be told the outcome of its request, and must not be sent a larger packet [MQTT-3.1.2-24].
    fn send_answer(&mut self, packet: Packet) {
        if self.closed {
            return;
        }
        if self.fits(&packet) {
            self.send(packet);
        } else {
            self.close_with(ReasonCode::PacketTooLarge);
        }
    }

    pub(super) fn handle_puback(&mut self, ack: PubResp, now: Instant) {
        // An unknown id is ignored: it may be a late duplicate.
        let Some(pos) = self.session.inflight_position(ack.packet_id) else {
            return;
        };
        if let Outgoing::Published(d) = &self.session.inflight()[pos].1 {
            if d.qos == QoS::AtLeastOnce {
                let seq = d.stored;
                self.session.inflight_mut().remove(pos);
                self.done(seq, false);
                return self.fill_window(now);
            }
        }
        // PUBACK answers QoS 1 only (spec 4.3.2); for a QoS 2 exchange it is a Protocol Error.
        self.close_with(ReasonCode::ProtocolError);
    }

    pub(super) fn handle_pubrec(&mut self, rec: PubResp, now: Instant) {
        let Some(pos) = self.session.inflight_position(rec.packet_id) else {
            let reason = ReasonCode::PacketIdentifierNotFound;
            return self.send(Packet::PubRel(self.ack(rec.packet_id, reason)));
        };
        if matches!(&self.session.inflight()[pos].1, Outgoing::Published(d) if d.qos != QoS::ExactlyOnce)
        {
            // PUBREC answers QoS 2 only (spec 4.3.3); for a QoS 1 exchange it is a Protocol Error.
            return self.close_with(ReasonCode::ProtocolError);
        }
        let seq = match &self.session.inflight()[pos].1 {
            Outgoing::Published(d) => d.stored,
            Outgoing::Released(seq) => *seq,
        };
        if !rec.reason_code.is_success() {
            // The receiver refused the message: the exchange ends here (spec 4.3.3).
            self.session.inflight_mut().remove(pos);
            self.done(seq, true);
            return self.fill_window(now);
        }
        self.session.inflight_mut()[pos].1 = Outgoing::Released(seq);
        let rel = Packet::PubRel(self.ack(rec.packet_id, ReasonCode::Success));
        if seq == 0 {
            return self.send(rel);
        }
        // Stored as released before PUBREL goes: after a restart, a PUBLISH sent again for a
        // message the client already released would be a new message to it.
        let write = SessionWrite::Inflight {
            seq,
            packet_id: rec.packet_id,
            released: true,
        };
        self.effects.push(Effect::Store(write));
        self.hold(Wait::Turn, rel);
    }

    pub(super) fn handle_pubcomp(&mut self, comp: PubResp, now: Instant) {
        if let Some(pos) = self.session.inflight_position(comp.packet_id) {
            if let Outgoing::Released(seq) = self.session.inflight()[pos].1 {
                self.session.inflight_mut().remove(pos);
                self.done(seq, true);
                self.fill_window(now);
            }
        }
    }

    /// Sends every inflight message again after a session resumes. A message now larger than
    /// the client's Maximum Packet Size (the new connection may announce a smaller one) is
    /// dropped and counted, and leaves the window: kept, it would wait for an ack that cannot
    /// come and hold a slot for good.
    pub(super) fn resend_inflight(&mut self, now: Instant) {
        let inflight: Vec<_> = self.session.inflight().iter().cloned().collect();
        let mut dropped = Vec::new();
        for (id, state) in inflight {
            match state {
                Outgoing::Published(delivery) => {
                    let seq = delivery.stored;
                    let qos2 = delivery.qos == QoS::ExactlyOnce;
                    if !self.send_publish(delivery, Some((id, true)), now) {
                        dropped.push(id);
                        self.done(seq, qos2);
                    }
                }
                Outgoing::Released(_) => {
                    self.send(Packet::PubRel(self.ack(id, ReasonCode::Success)));
                }
            }
        }
        if !dropped.is_empty() {
            self.session
                .inflight_mut()
                .retain(|(id, _)| !dropped.contains(id));
        }
    }

    /// Moves queued messages into the inflight window while it has room.
    pub(super) fn fill_window(&mut self, now: Instant) {
        while self.window_has_room() {
            let Some(delivery) = self.session.pop_queued() else {
                break;
            };
            if delivery.message.is_expired(self.limits.clock.at(now)) {
                self.stats.expired += 1;
                self.done(delivery.stored, delivery.qos == QoS::ExactlyOnce);
            } else if delivery.qos == QoS::AtMostOnce {
                self.send_publish(delivery, None, now);
            } else {
                self.start_inflight(delivery, now);
            }
        }
    }

    fn window(&self) -> usize {
        usize::from(
            self.neg
                .client_receive_maximum
                .min(self.limits.max_inflight)
                .max(1),
        )
    }

    fn window_has_room(&self) -> bool {
        self.session.inflight().len() < self.window()
    }

    fn offer_to_queue(&mut self, delivery: Delivery, online: bool) {
        if delivery.stored != 0 {
            return self.queue_stored(delivery, online);
        }
        if !online && delivery.qos == QoS::AtMostOnce && !self.limits.queue.queue_qos0_offline {
            return;
        }
        match self.session.enqueue(delivery, &self.limits.queue) {
            Enqueued::Queued => {}
            Enqueued::DroppedOldest | Enqueued::Dropped => self.stats.queue_full += 1,
            Enqueued::Overflow => {
                self.stats.queue_full += 1;
                if !self.closed {
                    self.close_with(ReasonCode::QuotaExceeded);
                }
            }
        }
    }

    /// Queues a delivery that is in the store. A full queue does not drop it (the store keeps
    /// it): from it on, stored deliveries are left to the store and the router is told to
    /// stream them again from there (`Effect::Spilled`). A connection going away keeps nothing:
    /// the next one reads the session back from the store.
    fn queue_stored(&mut self, delivery: Delivery, online: bool) {
        if !online {
            return;
        }
        if self
            .session
            .queue_fits(delivery.message.footprint(), &self.limits.queue)
        {
            self.session.push_queued(delivery);
            return;
        }
        let seq = delivery.stored;
        self.rare().spilled = Some(seq);
        self.effects.push(Effect::Spilled { seq });
    }

    /// True for a stored delivery that arrives while the session waits for the router to
    /// stream them again from an earlier place: the store has it, and it comes again in turn.
    fn skip_spilled(&self, delivery: &Delivery) -> bool {
        delivery.stored != 0 && self.rare.as_ref().is_some_and(|r| r.spilled.is_some())
    }

    /// A resumed session took these stored deliveries into its inflight window from the store
    /// (`seqs`, their places in the stored queue): when the stream of the stored queue brings
    /// them, they are skipped.
    pub fn skip_stored(&mut self, mut seqs: Vec<u64>) {
        if seqs.is_empty() {
            return;
        }
        seqs.sort_unstable();
        self.rare().resumed = seqs;
    }

    fn skip_resumed(&mut self, delivery: &Delivery) -> bool {
        let Some(rare) = self.rare.as_mut().filter(|r| !r.resumed.is_empty()) else {
            return false;
        };
        // The stream is in order: places before this one will not come any more (finished
        // meanwhile), so they go too.
        let (upto, skip) = match rare.resumed.binary_search(&delivery.stored) {
            Ok(pos) => (pos + 1, true),
            Err(pos) => (pos, false),
        };
        rare.resumed.drain(..upto);
        if rare.resumed.is_empty() {
            rare.resumed = Vec::new();
        }
        skip
    }

    /// The router starts streaming stored deliveries from the store ([`Effect::Spilled`] asked
    /// for it, or the session resumed): the stored deliveries that follow are the stream, in
    /// order, and are taken again; those seen before this were sent live before the router
    /// heard of the spill, and the stream brings them again.
    pub fn handle_stream(&mut self) {
        if let Some(rare) = self.rare.as_mut() {
            rare.spilled = None;
        }
    }

    /// A stored delivery is finished with: its record goes.
    /// `record`: the delivery may have an inflight record (a QoS 2 message), which goes too.
    fn done(&mut self, seq: u64, record: bool) {
        if seq != 0 {
            let write = SessionWrite::Done { seq, record };
            self.effects.push(Effect::Store(write));
        }
    }

    fn start_inflight(&mut self, delivery: Delivery, now: Instant) {
        let Some(id) = self.session.next_packet_id() else {
            return self.offer_to_queue(delivery, true);
        };
        let seq = delivery.stored;
        // A stored QoS 2 message goes out only once its packet id is stored (`gate`): sent
        // again after a restart with another id, the client would take it for a new message.
        // A QoS 1 message's id is not written here (a write per message, for nothing a client
        // could tell apart: a resend is a duplicate either way); the broker writes the ids
        // of the window when the connection ends ([`SessionState::inflight`]), so a resumed
        // session gets them, and only a crash loses them.
        let hold = seq != 0 && delivery.qos == QoS::ExactlyOnce;
        if hold {
            let write = SessionWrite::Inflight {
                seq,
                packet_id: id,
                released: false,
            };
            self.effects.push(Effect::Store(write));
        }
        if self.send_publish_held(delivery.clone(), Some((id, false)), now, hold) {
            self.session
                .inflight_mut()
                .push_back((id, Outgoing::Published(delivery)));
        } else {
            self.done(seq, hold);
        }
    }

    fn send_publish(
        &mut self,
        delivery: Delivery,
        id: Option<(PacketId, bool)>,
        now: Instant,
    ) -> bool {
        let seq = delivery.stored;
        let sent = self.send_publish_held(delivery, id, now, false);
        if id.is_none() {
            // QoS 0 from the store: sent (or dropped) is finished with.
            self.done(seq, false);
        }
        sent
    }

    /// Builds and sends the PUBLISH for a delivery (held for this turn's writes when `hold`);
    /// false when it was dropped instead.
    fn send_publish_held(
        &mut self,
        delivery: Delivery,
        id: Option<(PacketId, bool)>,
        now: Instant,
        hold: bool,
    ) -> bool {
        let msg = &delivery.message;
        let v5 = self.neg.version.is_v5();
        let mut properties = Properties::default();
        if v5 {
            let p = &mut properties;
            let mp = &msg.properties;
            p.payload_format_indicator = mp.payload_format_indicator;
            p.message_expiry_interval = msg.remaining_expiry(self.limits.clock.at(now));
            p.content_type = mp.content_type.clone();
            p.response_topic = mp.response_topic.clone();
            p.correlation_data = mp.correlation_data.clone();
            p.user_properties = mp.user_properties.clone();
            p.subscription_identifiers = delivery.subscription_ids.to_vec();
        }
        let topic = msg.wire_topic.clone();
        let mut publish = Publish {
            dup: id.is_some_and(|(_, dup)| dup),
            qos: delivery.qos,
            retain: delivery.retain,
            topic,
            packet_id: id.map(|(id, _)| id),
            properties,
            payload: msg.payload.clone(),
        };
        if v5 {
            self.apply_alias_out(&mut publish);
        }
        let mut packet = Packet::Publish(publish);
        if !self.fits(&packet) {
            // [MQTT-3.3.4-7]: drop a message that is too large for the client; first try
            // without the user properties and reason strings the spec allows us to drop.
            if let Packet::Publish(p) = &mut packet {
                p.properties.user_properties.clear();
            }
            if !self.fits(&packet) {
                self.stats.too_large += 1;
                return false;
            }
        }
        if hold {
            self.hold(Wait::Turn, packet);
        } else {
            self.send(packet);
        }
        true
    }

    /// Uses or sets up a topic alias towards the client (5.0): a topic seen before goes out as
    /// an empty name with its alias; a new one takes the next free alias while any are left and
    /// the map's names stay within `max_topic_alias_bytes`.
    fn apply_alias_out(&mut self, publish: &mut Publish) {
        let max = self.neg.client_topic_alias_maximum;
        if max == 0 {
            return;
        }
        let max_bytes = self.limits.max_topic_alias_bytes;
        let rare = self.rare();
        if let Some(alias) = rare.outbound.get(publish.topic.as_str()) {
            publish.properties.topic_alias = Some(*alias);
            publish.topic = Utf8String::default();
            return;
        }
        let used = rare.outbound.len();
        // Our map's names are bounded in bytes too: past the cap, new topics go without alias.
        let bytes = rare.outbound_bytes + publish.topic.len();
        if used < usize::from(max) && bytes <= max_bytes {
            let alias = u16::try_from(used + 1).unwrap_or(max);
            rare.outbound.insert(publish.topic.as_str().into(), alias);
            rare.outbound_bytes = bytes;
            publish.properties.topic_alias = Some(alias);
        }
    }
}
