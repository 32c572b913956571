//! Packets from the client: PUBLISH (with topic aliases, QoS 1 and the QoS 2 exactly-once
//! handshake), PUBREL, the acks of our own publishes, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
//! DISCONNECT, and every packet a client may not send.

use super::gate::Wait;
use super::{Channel, CloseReason, Effect, SessionWrite, SubscribeRequest};
use crate::message::{Message, MessageProperties};
use crate::publish_rules;
use starling_codec::{
    Disconnect, Packet, PubResp, Publish, QoS, ReasonCode, Subscribe, Unsubscribe,
};
use starling_topic::{SubscriptionTarget, TopicName};
use std::sync::Arc;
use std::time::Instant;

impl Channel {
    /// A packet arrived from the client.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) {
        if self.closed {
            return;
        }
        self.last_received = now;
        match packet {
            Packet::Publish(publish) => {
                let bytes = publish.topic.as_str().len() + publish.payload.len();
                if let Err(reason) = self.charge(bytes, now) {
                    return self.close_with(reason);
                }
                self.handle_publish(publish, now)
            }
            Packet::PubAck(ack) => self.handle_puback(ack, now),
            Packet::PubRec(rec) => self.handle_pubrec(rec, now),
            Packet::PubRel(rel) => self.handle_pubrel(rel),
            Packet::PubComp(comp) => self.handle_pubcomp(comp, now),
            Packet::Subscribe(sub) => self.handle_subscribe(sub),
            Packet::Unsubscribe(unsub) => self.handle_unsubscribe(unsub),
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(disconnect) => self.handle_disconnect(disconnect),
            // [MQTT-3.1.0-2]: a second CONNECT is a protocol error.
            Packet::Connect(_) => self.close_with(ReasonCode::ProtocolError),
            // Re-authentication, or a Protocol Error without enhanced authentication.
            Packet::Auth(auth) => self.handle_auth(auth),
            // Packets only a server sends.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.close_with(ReasonCode::ProtocolError)
            }
        }
    }

    fn handle_publish(&mut self, publish: Publish, now: Instant) {
        if !publish.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]: a PUBLISH from a client must not carry a Subscription Identifier.
            return self.close_with(ReasonCode::ProtocolError);
        }
        let Some(topic) = self.resolve_topic(&publish) else {
            return;
        };
        if publish.qos > self.limits.max_qos {
            return self.close_with(ReasonCode::QoSNotSupported); // [MQTT-3.2.2-11]
        }
        if publish.retain && !self.neg.retain_available {
            // What CONNACK said, not the retainer's switch now (`Negotiated::retain_available`).
            return self.close_with(ReasonCode::RetainNotSupported); // [MQTT-3.2.2-14]
        }
        let refusal = self.publish_refusal(&publish, &topic);
        if refusal == Some(ReasonCode::NotAuthorized) && self.limits.deny_disconnects {
            return self.close_with(ReasonCode::NotAuthorized);
        }
        let id = publish.packet_id;
        match (publish.qos, id) {
            (QoS::AtMostOnce, _) => {
                if refusal.is_none() {
                    self.route(publish, topic, now);
                }
            }
            (QoS::AtLeastOnce, Some(id)) => match refusal {
                Some(reason) => self.send(Packet::PubAck(self.ack(id, reason))),
                None => {
                    let answered = self.route(publish, topic, now);
                    let ack = Packet::PubAck(self.ack(id, ReasonCode::Success));
                    if answered {
                        self.hold(Wait::Router, ack);
                    } else {
                        self.send(ack);
                    }
                }
            },
            (QoS::ExactlyOnce, Some(id)) => {
                if self.session.awaiting_rel().contains(&id) {
                    // A resend before PUBREL: acknowledge again, deliver once (spec 4.3.3).
                    return self.send(Packet::PubRec(self.ack(id, ReasonCode::Success)));
                }
                if let Some(reason) = refusal {
                    return self.send(Packet::PubRec(self.ack(id, reason)));
                }
                // 5.0 announces Receive Maximum [MQTT-3.3.4-9]; 3.x has none, so its own cap.
                let max = if self.neg.version.is_v5() {
                    self.limits.receive_maximum
                } else {
                    self.limits.max_awaiting_rel
                };
                if self.session.awaiting_rel().len() >= usize::from(max) {
                    return self.close_with(ReasonCode::ReceiveMaximumExceeded);
                }
                self.session.awaiting_rel_mut().insert(id);
                if self.session_is_durable() {
                    // Committed before the PUBLISH reaches the router, so the router's ticket
                    // covers it too.
                    self.effects
                        .push(Effect::Store(SessionWrite::AwaitingRel(id)));
                }
                let answered = self.route(publish, topic, now);
                let rec = Packet::PubRec(self.ack(id, ReasonCode::Success));
                if answered {
                    self.hold(Wait::Router, rec);
                } else {
                    self.send(rec);
                }
            }
            // The decoder guarantees a packet id at QoS 1/2 ([MQTT-2.2.1-2]).
            (_, None) => self.close_with(ReasonCode::ProtocolError),
        }
    }

    /// The topic of a PUBLISH, through the client's topic aliases; closes on a bad one.
    fn resolve_topic(&mut self, publish: &Publish) -> Option<TopicName> {
        let alias = publish.properties.topic_alias;
        // 3.x has no properties, so no alias is valid there (the decoder makes none anyway).
        let max = if self.neg.version.is_v5() {
            self.limits.topic_alias_maximum
        } else {
            0
        };
        let aliased: Arc<str>;
        let name: &str = match alias {
            Some(a) if a == 0 || a > max => {
                self.close_with(ReasonCode::TopicAliasInvalid); // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
                return None;
            }
            Some(a) if publish.topic.is_empty() => {
                match self.rare.as_ref().and_then(|m| m.inbound.get(&a)) {
                    Some(name) => {
                        aliased = name.clone();
                        &aliased
                    }
                    None => {
                        self.close_with(ReasonCode::ProtocolError); // unknown alias
                        return None;
                    }
                }
            }
            Some(a) => {
                if !self.set_inbound_alias(a, publish.topic.as_str()) {
                    self.close_with(ReasonCode::QuotaExceeded); // mqtt.max_topic_alias_bytes
                    return None;
                }
                publish.topic.as_str()
            }
            // The common case: no alias, and no copy of the name before the one it keeps.
            None => publish.topic.as_str(),
        };
        match TopicName::parse(name, &self.limits.topic) {
            Ok(topic) => Some(topic),
            Err(_) => {
                self.close_with(ReasonCode::TopicNameInvalid); // [MQTT-3.3.2-1]
                None
            }
        }
    }

    /// Maps `alias` to `topic`; false when the map's topic names would then hold more than
    /// `max_topic_alias_bytes` (65535 aliases of 64 KiB names would be 4 GiB per connection).
    fn set_inbound_alias(&mut self, alias: u16, topic: &str) -> bool {
        let max = self.limits.max_topic_alias_bytes;
        let rare = self.rare();
        let replaced = rare.inbound.get(&alias).map_or(0, |old| old.len());
        let bytes = rare.inbound_bytes - replaced + topic.len();
        if bytes > max {
            return false;
        }
        rare.inbound.insert(alias, topic.into());
        rare.inbound_bytes = bytes;
        true
    }

    /// Why an otherwise valid PUBLISH is not routed (answered in its ack), if it is not; counted.
    fn publish_refusal(&mut self, publish: &Publish, topic: &TopicName) -> Option<ReasonCode> {
        let mut refusal = self.refusal_of(publish, topic);
        if refusal.is_none() && !self.may_publish(topic) {
            self.rare().refused.denied_publish += 1;
            refusal = Some(ReasonCode::NotAuthorized);
        }
        if let Some(reason) = refusal {
            self.count_refusal(reason);
        }
        refusal
    }

    /// What the ACL says of publishing to `topic`; for `$delayed/<s>/<topic>`, of `<topic>`,
    /// where the message will go.
    fn may_publish(&mut self, topic: &TopicName) -> bool {
        if self.access().is_none() {
            return true;
        }
        let target = publish_rules::target_topic(topic, &self.limits);
        self.access()
            .is_none_or(|access| access.may_publish(&target))
    }

    fn refusal_of(&self, publish: &Publish, topic: &TopicName) -> Option<ReasonCode> {
        if let Some(reason) = publish_rules::topic_refusal(topic, &self.limits) {
            return Some(reason);
        }
        let user_properties = &publish.properties.user_properties;
        if let Some(reason) = publish_rules::user_properties_refusal(user_properties, &self.limits)
        {
            return Some(reason);
        }
        let utf8_declared = publish.properties.payload_format_indicator == Some(1);
        if utf8_declared && std::str::from_utf8(&publish.payload).is_err() {
            return Some(ReasonCode::PayloadFormatInvalid);
        }
        None
    }

    /// Builds the message and hands it to the router; true when its ack must wait for the
    /// router's answer (QoS 1/2 with a store, `gate`).
    fn route(&mut self, publish: Publish, topic: TopicName, now: Instant) -> bool {
        let message = Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            expires_at: Message::expiry_from_interval(
                publish.properties.message_expiry_interval,
                self.limits.clock.at(now),
            ),
            properties: MessageProperties::from_publish(&publish.properties),
            payload: crate::message::detach(&publish.payload),
            qos: publish.qos,
            retain: publish.retain,
            publisher: self.neg.client_id.clone(),
        };
        let answered = message.qos != QoS::AtMostOnce && self.acks_wait();
        let message = Arc::new(message);
        self.effects.push(if answered {
            Effect::PublishAnswered(message)
        } else {
            Effect::Publish(message)
        });
        answered
    }

    fn handle_pubrel(&mut self, rel: PubResp) {
        let id = rel.packet_id;
        if !self.release_rel(id) {
            let reason = ReasonCode::PacketIdentifierNotFound;
            return self.send(Packet::PubComp(self.ack(id, reason)));
        }
        let comp = Packet::PubComp(self.ack(id, ReasonCode::Success));
        if self.session_is_durable() {
            // Once the client has PUBCOMP it may reuse the id: the stored one must be gone
            // first, or after a restart the new message would be taken for a duplicate.
            self.hold(Wait::Turn, comp);
        } else {
            self.send(comp);
        }
    }

    /// Forgets an incoming QoS 2 id (and its record); false if it was not awaiting PUBREL.
    pub(super) fn release_rel(&mut self, id: starling_codec::PacketId) -> bool {
        if !self.session.awaiting_rel_mut().remove(&id) {
            return false;
        }
        if self.session_is_durable() {
            self.effects.push(Effect::Store(SessionWrite::Released(id)));
        }
        true
    }

    fn handle_subscribe(&mut self, subscribe: Subscribe) {
        let sub_id = subscribe
            .properties
            .subscription_identifiers
            .first()
            .copied();
        if sub_id.is_some() && !self.limits.subscription_identifier_available {
            return self.close_with(ReasonCode::SubscriptionIdentifiersNotSupported);
        }
        let mut requests = Vec::with_capacity(subscribe.subscriptions.len());
        for (i, sub) in subscribe.subscriptions.into_iter().enumerate() {
            if i >= self.limits.max_subscriptions {
                // More filters than a client may hold at all: refused here, in place, so one
                // large SUBSCRIBE costs the router at most `max_subscriptions` entries.
                requests.push(Err(ReasonCode::QuotaExceeded));
                continue;
            }
            let target = match SubscriptionTarget::parse(&sub.filter, &self.limits.topic) {
                Ok(target) => target,
                Err(_) => {
                    requests.push(Err(ReasonCode::TopicFilterInvalid));
                    continue;
                }
            };
            let shared = matches!(target, SubscriptionTarget::Shared { .. });
            if shared && sub.options.no_local && self.neg.version.is_v5() {
                return self.close_with(ReasonCode::ProtocolError); // [MQTT-3.8.3-4]
            }
            if shared && !self.limits.shared_subscription_available() {
                requests.push(Err(ReasonCode::SharedSubscriptionsNotSupported));
                continue;
            }
            let exclusive = matches!(target, SubscriptionTarget::Exclusive(_));
            if exclusive && !self.limits.exclusive_subscription_available() {
                // Exclusive subscriptions switched off: `$exclusive/...` is refused rather than
                // taken as an ordinary filter on `$exclusive` topics, which nobody publishes.
                requests.push(Err(ReasonCode::TopicFilterInvalid));
                continue;
            }
            if target.filter().has_wildcards() && !self.limits.wildcard_subscription_available {
                requests.push(Err(ReasonCode::WildcardSubscriptionsNotSupported));
                continue;
            }
            // Judged on the real filter: `$share/g/a/#` and `$exclusive/a/#` are `a/#`.
            if let Some(access) = self.access() {
                if !access.may_subscribe(target.filter()) {
                    self.rare().refused.denied_subscribe += 1;
                    requests.push(Err(ReasonCode::NotAuthorized));
                    continue;
                }
            }
            let mut options = sub.options;
            options.qos = options.qos.min(self.limits.max_qos);
            requests.push(Ok(SubscribeRequest {
                target,
                options,
                subscription_id: sub_id,
            }));
        }
        self.answers_pending = self.answers_pending.saturating_add(1);
        self.effects.push(Effect::Subscribe {
            packet_id: subscribe.packet_id,
            requests,
        });
    }

    fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let filters = unsubscribe
            .filters
            .iter()
            .map(|f| {
                SubscriptionTarget::parse(f, &self.limits.topic)
                    .map_err(|_| ReasonCode::TopicFilterInvalid)
            })
            .collect();
        self.answers_pending = self.answers_pending.saturating_add(1);
        self.effects.push(Effect::Unsubscribe {
            packet_id: unsubscribe.packet_id,
            filters,
        });
    }

    fn handle_disconnect(&mut self, disconnect: Disconnect) {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            if self.neg.session_expiry == 0 && expiry != 0 {
                // [MQTT-3.14.2-2]: zero at CONNECT cannot become non-zero at DISCONNECT.
                return self.close_with(ReasonCode::ProtocolError);
            }
            self.neg.session_expiry = expiry.min(self.limits.max_session_expiry_secs());
        }
        let publish_will = disconnect.reason_code == ReasonCode::DisconnectWithWillMessage;
        if !publish_will {
            self.neg.will = None; // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will.
        }
        self.closed = true;
        self.effects
            .push(Effect::Close(CloseReason::ClientDisconnect {
                publish_will,
            }));
    }

    /// An ack for `id`; the reason code is dropped on encode for 3.x.
    pub(super) fn ack(&self, id: starling_codec::PacketId, reason: ReasonCode) -> PubResp {
        PubResp {
            reason_code: reason,
            ..PubResp::new(id)
        }
    }
}
