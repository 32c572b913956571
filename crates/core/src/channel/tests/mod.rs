//! Channel tests: driven with explicit time, no runtime.

use super::*;
use crate::connect::negotiate;
use crate::message::{Delivery, Message, MessageProperties};
use crate::session::{Outgoing, QueueLimits};
use bytes::Bytes;
use starling_codec::{
    Connect, PubResp, Publish, QoS, Subscribe, Subscription, SubscriptionOptions, Utf8String,
};
use starling_topic::TopicName;

mod access;
mod connection;
mod gate;
mod incoming;
mod outgoing;
mod rate;
mod reauth;
mod switches;

fn connect(version: ProtocolVersion, receive_max: Option<u16>) -> Connect {
    let mut properties = Properties::default();
    if version.is_v5() {
        properties.receive_maximum = receive_max;
        properties.session_expiry_interval = Some(60);
        properties.topic_alias_maximum = Some(4);
    }
    Connect {
        protocol: version,
        clean_start: false,
        keep_alive: 10,
        client_id: Utf8String::from_static("c1"),
        will: None,
        username: None,
        password: None,
        properties,
    }
}

fn channel_with(connect: &Connect, limits: ServerLimits, now: Instant) -> Channel {
    let limits = Arc::new(limits);
    let neg = negotiate(connect, &limits, || "assigned".into()).expect("accepted");
    let session = SessionState::new(neg.client_id.clone(), neg.session_expiry);
    Channel::new(neg, limits, session, now)
}

fn channel(version: ProtocolVersion, now: Instant) -> Channel {
    channel_with(&connect(version, Some(2)), ServerLimits::default(), now)
}

fn message(topic: &str, qos: QoS, expires_at: Option<Instant>) -> Arc<Message> {
    let topic = TopicName::new(topic).expect("topic");
    Arc::new(Message {
        wire_topic: Message::wire_topic_of(&topic),
        topic,
        payload: Bytes::from_static(b"payload"),
        qos,
        retain: false,
        properties: MessageProperties::default(),
        expires_at: expires_at.map(|at| ServerLimits::default().clock.at(at)),
        publisher: Arc::from("other"),
    })
}

fn delivery(topic: &str, qos: QoS) -> Delivery {
    Delivery {
        message: message(topic, qos, None),
        qos,
        retain: false,
        subscription_ids: Box::default(),
        shared: None,
        stored: 0,
    }
}

fn publish_in(topic: &str, qos: QoS, id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: Utf8String::try_from(topic).expect("topic"),
        packet_id: PacketId::new(id),
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    })
}

fn sent_publishes(effects: &[Effect]) -> Vec<&Publish> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(Packet::Publish(p)) => Some(p),
            _ => None,
        })
        .collect()
}

fn id(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

/// What a PUBLISH of `packet` produced: whether it was routed, and the reason code of its
/// PUBACK/PUBREC if one was sent.
fn publish_outcome(ch: &mut Channel, packet: Packet, now: Instant) -> (bool, Option<ReasonCode>) {
    ch.handle_packet(packet, now);
    let effects = ch.take_effects();
    let routed = effects.iter().any(|e| matches!(e, Effect::Publish(_)));
    let ack = effects.iter().find_map(|e| match e {
        Effect::Send(Packet::PubAck(a) | Packet::PubRec(a)) => Some(a.reason_code),
        _ => None,
    });
    (routed, ack)
}

fn aliased_in(topic: &str, alias: u16) -> Packet {
    let Packet::Publish(mut p) = publish_in(topic, QoS::AtMostOnce, 0) else {
        unreachable!()
    };
    p.properties.topic_alias = Some(alias);
    Packet::Publish(p)
}

fn subscribe_to(n: usize, packet_id: u16) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: id(packet_id),
        subscriptions: (0..n)
            .map(|i| Subscription {
                filter: Utf8String::try_from(format!("f/{i}").as_str()).expect("filter"),
                options: SubscriptionOptions::default(),
            })
            .collect(),
        properties: Properties::default(),
    })
}
