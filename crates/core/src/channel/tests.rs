//! Channel tests: driven with explicit time, no runtime.

use super::*;
use crate::connect::negotiate;
use crate::message::{Delivery, Message, MessageProperties};
use bytes::Bytes;
use starling_codec::{
    Connect, PubResp, Publish, QoS, Subscribe, Subscription, SubscriptionOptions, Utf8String,
};
use starling_topic::TopicName;

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

#[test]
fn mqtt_3_1_2_24_keepalive_closes_after_one_and_a_half_times_keep_alive() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, t0);
    assert_eq!(ch.keepalive_deadline(), Some(t0 + Duration::from_secs(15)));
    ch.handle_tick(t0 + Duration::from_secs(14));
    assert!(!ch.is_closed());
    ch.handle_packet(Packet::PingReq, t0 + Duration::from_secs(14));
    assert!(matches!(
        ch.take_effects()[..],
        [Effect::Send(Packet::PingResp)]
    ));
    ch.handle_tick(t0 + Duration::from_secs(28));
    assert!(!ch.is_closed(), "the PINGREQ moved the deadline");
    ch.handle_tick(t0 + Duration::from_secs(29));
    assert!(ch.is_closed());
    let effects = ch.take_effects();
    assert!(matches!(
        &effects[..],
        [
            Effect::Send(Packet::Disconnect(d)),
            Effect::Close(CloseReason::Server(ReasonCode::KeepAliveTimeout))
        ] if d.reason_code == ReasonCode::KeepAliveTimeout
    ));
}

#[test]
fn keepalive_timeout_on_3_1_1_closes_without_disconnect_packet() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V3_1_1, t0);
    ch.handle_tick(t0 + Duration::from_secs(16));
    let effects = ch.take_effects();
    assert!(matches!(
        &effects[..],
        [Effect::Close(CloseReason::Server(
            ReasonCode::KeepAliveTimeout
        ))]
    ));
}

#[test]
fn qos2_repeated_publish_before_pubrel_is_routed_once() {
    let now = Instant::now();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut ch = channel(version, now);
        ch.handle_packet(publish_in("a/b", QoS::ExactlyOnce, 7), now);
        ch.handle_packet(publish_in("a/b", QoS::ExactlyOnce, 7), now);
        let effects = ch.take_effects();
        let routed = effects
            .iter()
            .filter(|e| matches!(e, Effect::Publish(_)))
            .count();
        let pubrecs = effects
            .iter()
            .filter(|e| matches!(e, Effect::Send(Packet::PubRec(_))))
            .count();
        assert_eq!((routed, pubrecs), (1, 2), "{version}");
        ch.handle_packet(Packet::PubRel(PubResp::new(id(7))), now);
        assert!(matches!(
            &ch.take_effects()[..],
            [Effect::Send(Packet::PubComp(c))] if c.reason_code == ReasonCode::Success
        ));
        // After the release the id is free again: a new message with it is routed.
        ch.handle_packet(publish_in("a/b", QoS::ExactlyOnce, 7), now);
        assert_eq!(
            ch.take_effects()
                .iter()
                .filter(|e| matches!(e, Effect::Publish(_)))
                .count(),
            1
        );
    }
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_packet_identifier_not_found() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_packet(Packet::PubRel(PubResp::new(id(9))), now);
    assert!(matches!(
        &ch.take_effects()[..],
        [Effect::Send(Packet::PubComp(c))] if c.reason_code == ReasonCode::PacketIdentifierNotFound
    ));
}

#[test]
fn mqtt_3_3_4_9_receive_maximum_exceeded_disconnects() {
    let now = Instant::now();
    let limits = ServerLimits {
        receive_maximum: 2,
        ..ServerLimits::default()
    };
    let mut ch = channel_with(&connect(ProtocolVersion::V5, None), limits, now);
    for n in 1..=3 {
        ch.handle_packet(publish_in("t", QoS::ExactlyOnce, n), now);
    }
    let effects = ch.take_effects();
    assert!(matches!(
        effects.last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::ReceiveMaximumExceeded
        )))
    ));
}

#[test]
fn client_receive_maximum_bounds_inflight_and_acks_release_the_queue() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now); // client receive maximum 2
    for _ in 0..5 {
        ch.handle_delivery(delivery("t", QoS::AtLeastOnce), now);
    }
    let effects = ch.take_effects();
    let first: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| p.packet_id)
        .collect();
    assert_eq!(first, vec![Some(id(1)), Some(id(2))]);
    assert_eq!(ch.session().queue().len(), 3);
    ch.handle_packet(Packet::PubAck(PubResp::new(id(2))), now);
    let effects = ch.take_effects();
    assert_eq!(sent_publishes(&effects)[0].packet_id, Some(id(3)));
    assert_eq!(ch.session().inflight().len(), 2);
}

#[test]
fn packet_ids_skip_ids_still_in_flight() {
    let mut session = SessionState::new(Arc::from("c"), 0);
    session.last_packet_id = u16::MAX - 1;
    let a = session.next_packet_id().expect("id");
    session.inflight_mut().push_back((a, Outgoing::Released));
    let b = session.next_packet_id().expect("id"); // wraps to 1
    session.inflight_mut().push_back((b, Outgoing::Released));
    session.last_packet_id = u16::MAX - 1;
    let c = session.next_packet_id().expect("id");
    assert_eq!(
        (a.get(), b.get(), c.get()),
        (u16::MAX, 1, 2),
        "65535 and 1 are taken"
    );
}

#[test]
fn qos2_outgoing_handshake_and_resume_resends_pubrel_and_dup_publish() {
    let now = Instant::now();
    let conn = connect(ProtocolVersion::V5, Some(10));
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    ch.handle_delivery(delivery("a", QoS::ExactlyOnce), now);
    ch.handle_delivery(delivery("b", QoS::AtLeastOnce), now);
    ch.take_effects();
    ch.handle_packet(Packet::PubRec(PubResp::new(id(1))), now);
    assert!(
        matches!(&ch.take_effects()[..], [Effect::Send(Packet::PubRel(r))] if r.packet_id == id(1))
    );
    let (session, _, _) = ch.into_parts();
    // The client comes back: PUBREL for id 1 again, PUBLISH id 2 again with DUP ([MQTT-4.4.0-1]).
    let limits = Arc::new(ServerLimits::default());
    let neg = negotiate(&conn, &limits, || "x".into()).expect("accepted");
    let mut resumed = Channel::new(neg, limits, session, now);
    let effects = resumed.take_effects();
    assert!(matches!(&effects[0], Effect::Send(Packet::PubRel(r)) if r.packet_id == id(1)));
    assert!(
        matches!(&effects[1], Effect::Send(Packet::Publish(p)) if p.dup && p.packet_id == Some(id(2)))
    );
    resumed.handle_packet(Packet::PubComp(PubResp::new(id(1))), now);
    resumed.handle_packet(Packet::PubAck(PubResp::new(id(2))), now);
    assert!(resumed.session().inflight().is_empty());
}

#[test]
fn message_expiry_counts_down_while_queued_and_expired_messages_are_not_sent() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, t0);
    for _ in 0..2 {
        ch.handle_delivery(delivery("fill", QoS::AtLeastOnce), t0);
    }
    let soon = Delivery {
        message: message("t", QoS::AtLeastOnce, Some(t0 + Duration::from_secs(5))),
        ..delivery("t", QoS::AtLeastOnce)
    };
    let later = Delivery {
        message: message("t", QoS::AtLeastOnce, Some(t0 + Duration::from_secs(60))),
        ..delivery("t", QoS::AtLeastOnce)
    };
    ch.handle_delivery(soon, t0);
    ch.handle_delivery(later, t0);
    ch.take_effects();
    let t1 = t0 + Duration::from_secs(10);
    ch.handle_packet(Packet::PubAck(PubResp::new(id(1))), t1);
    let effects = ch.take_effects();
    let sent = sent_publishes(&effects);
    assert_eq!(sent.len(), 1, "the expired message is skipped");
    assert_eq!(sent[0].properties.message_expiry_interval, Some(50));
    assert_eq!(ch.take_stats().dropped_expired, 1);
}

#[test]
fn topic_alias_out_sends_the_name_once_then_the_alias_alone() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_delivery(delivery("long/topic", QoS::AtMostOnce), now);
    ch.handle_delivery(delivery("long/topic", QoS::AtMostOnce), now);
    let effects = ch.take_effects();
    let sent = sent_publishes(&effects);
    assert_eq!(
        (sent[0].topic.as_str(), sent[0].properties.topic_alias),
        ("long/topic", Some(1))
    );
    assert_eq!(
        (sent[1].topic.as_str(), sent[1].properties.topic_alias),
        ("", Some(1))
    );
}

#[test]
fn topic_alias_in_resolves_and_rejects_unknown_or_out_of_range_aliases() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    let with_alias = |topic: &str, alias: u16| {
        let mut p = match publish_in(topic, QoS::AtMostOnce, 0) {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        };
        p.properties.topic_alias = Some(alias);
        Packet::Publish(p)
    };
    let set = with_alias("a/b", 3);
    let reuse = with_alias("", 3);
    let unknown = with_alias("", 4);
    ch.handle_packet(set, now);
    ch.handle_packet(reuse, now);
    let routed: Vec<_> = ch
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Publish(m) => Some(m.topic.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(routed, ["a/b", "a/b"]);
    ch.handle_packet(unknown, now);
    assert!(matches!(
        ch.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::ProtocolError
        )))
    ));
    let mut ch = channel(ProtocolVersion::V5, now);
    let limits_max = ServerLimits::default().topic_alias_maximum;
    let mut p = match publish_in("a", QoS::AtMostOnce, 0) {
        Packet::Publish(p) => p,
        _ => unreachable!(),
    };
    p.properties.topic_alias = Some(0);
    ch.handle_packet(Packet::Publish(p), now);
    assert!(matches!(
        ch.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::TopicAliasInvalid
        )))
    ));
    assert!(limits_max > 0);
}

#[test]
fn mqtt_3_14_2_2_disconnect_cannot_set_expiry_when_connect_had_zero() {
    let now = Instant::now();
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.properties.session_expiry_interval = None;
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    let mut disconnect = Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(30);
    ch.handle_packet(Packet::Disconnect(disconnect), now);
    assert!(matches!(
        ch.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::ProtocolError
        )))
    ));
}

#[test]
fn normal_disconnect_discards_the_will_and_0x04_keeps_it() {
    let now = Instant::now();
    for (reason, keeps) in [
        (ReasonCode::Success, false),
        (ReasonCode::DisconnectWithWillMessage, true),
    ] {
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.will = Some(starling_codec::Will {
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: Utf8String::from_static("will/t"),
            payload: Bytes::from_static(b"bye"),
            properties: Properties::default(),
        });
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        let disconnect = Disconnect {
            reason_code: reason,
            ..Disconnect::default()
        };
        ch.handle_packet(Packet::Disconnect(disconnect), now);
        let (_, will, _) = ch.into_parts();
        assert_eq!(will.is_some(), keeps, "{reason}");
    }
}

#[test]
fn oversize_delivery_for_the_clients_maximum_packet_size_is_dropped() {
    let now = Instant::now();
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.properties.maximum_packet_size = Some(20);
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    ch.handle_delivery(
        delivery("a/very/long/topic/name/indeed", QoS::AtMostOnce),
        now,
    );
    assert!(sent_publishes(&ch.take_effects()).is_empty());
    assert_eq!(ch.take_stats().dropped_too_large, 1);
}

#[test]
fn subscribe_checks_filters_and_shared_no_local() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    let sub = |filter: &'static str, no_local: bool| Subscription {
        filter: Utf8String::from_static(filter),
        options: SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local,
            ..Default::default()
        },
    };
    ch.handle_packet(
        Packet::Subscribe(Subscribe {
            packet_id: id(1),
            subscriptions: vec![
                sub("a/#", false),
                sub("a/#/b", false),
                sub("$share/g/x", false),
            ],
            properties: Properties::default(),
        }),
        now,
    );
    let effects = ch.take_effects();
    let Effect::Subscribe { requests, .. } = &effects[0] else {
        panic!("{effects:?}")
    };
    assert!(requests[0].is_ok());
    assert_eq!(
        requests[1].as_ref().err(),
        Some(&ReasonCode::TopicFilterInvalid)
    );
    assert!(requests[2].is_ok());
    ch.handle_packet(
        Packet::Subscribe(Subscribe {
            packet_id: id(2),
            subscriptions: vec![sub("$share/g/x", true)],
            properties: Properties::default(),
        }),
        now,
    );
    assert!(matches!(
        ch.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::ProtocolError
        )))
    ));
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

#[test]
fn publish_to_sys_topics_direct_or_delayed_is_refused_not_routed_and_counted() {
    let now = Instant::now();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut ch = channel(version, now);
        for (n, topic) in ["$SYS", "$SYS/x", "$delayed/5/$SYS/x"]
            .into_iter()
            .enumerate()
        {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let pid = 10 * u16::try_from(n).expect("small") + u16::from(qos.as_u8()) + 1;
                let (routed, ack) = publish_outcome(&mut ch, publish_in(topic, qos, pid), now);
                assert!(!routed, "{version} {topic} {qos:?}");
                // 3.x acks too (its ack has no reason code on the wire); QoS 0 has no ack.
                let want = (qos != QoS::AtMostOnce).then_some(ReasonCode::NotAuthorized);
                assert_eq!(ack, want, "{version} {topic} {qos:?}");
            }
        }
        let stats = ch.take_stats();
        assert_eq!(stats.refused_not_authorized, 9, "{version}");
        assert_eq!(stats.dropped(), 9, "{version}");
        assert!(!ch.is_closed());
        for topic in ["$SYSTEM/x", "$delayed/5/$SYSTEM/x", "a/$SYS"] {
            let (routed, ack) =
                publish_outcome(&mut ch, publish_in(topic, QoS::AtLeastOnce, 99), now);
            assert_eq!(
                (routed, ack),
                (true, Some(ReasonCode::Success)),
                "{version} {topic}"
            );
        }
    }
}

#[test]
fn an_invalid_delayed_topic_is_refused_while_delayed_publish_is_on_and_ordinary_when_off() {
    let now = Instant::now();
    let bad = [
        "$delayed/x/a",
        "$delayed/4294968/a",
        "$delayed/10",
        "$delayed/10/",
    ];
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut ch = channel(version, now);
        for topic in bad {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let (routed, ack) = publish_outcome(&mut ch, publish_in(topic, qos, 1), now);
                assert!(!routed, "{version} {topic} {qos:?}");
                let want = (qos != QoS::AtMostOnce).then_some(ReasonCode::TopicNameInvalid);
                assert_eq!(ack, want, "{version} {topic} {qos:?}");
            }
        }
        assert_eq!(ch.take_stats().refused_invalid, 12, "{version}");
        let limits = ServerLimits {
            delayed_enabled: false,
            ..ServerLimits::default()
        };
        let mut ch = channel_with(&connect(version, Some(2)), limits, now);
        for topic in bad.into_iter().chain(["$delayed/5/$SYS/x"]) {
            let (routed, ack) =
                publish_outcome(&mut ch, publish_in(topic, QoS::AtLeastOnce, 1), now);
            assert_eq!(
                (routed, ack),
                (true, Some(ReasonCode::Success)),
                "{version} {topic}"
            );
        }
    }
}

#[test]
fn a_publish_over_the_user_property_caps_gets_quota_exceeded_and_is_not_routed() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_user_properties: 2,
        max_user_property_bytes: 8,
        ..ServerLimits::default()
    };
    let mut ch = channel_with(&connect(ProtocolVersion::V5, Some(2)), limits, now);
    let with_props = |n: usize, len: usize, qos: QoS| {
        let Packet::Publish(mut p) = publish_in("t", qos, 1) else {
            unreachable!()
        };
        let key = Utf8String::try_from("k".repeat(len).as_str()).expect("key");
        p.properties.user_properties = vec![(key, Utf8String::default()); n];
        Packet::Publish(p)
    };
    let quota = Some(ReasonCode::QuotaExceeded);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(
            publish_outcome(&mut ch, with_props(3, 0, qos), now),
            (false, quota)
        );
        assert_eq!(
            publish_outcome(&mut ch, with_props(1, 9, qos), now),
            (false, quota)
        );
    }
    assert_eq!(
        publish_outcome(&mut ch, with_props(3, 0, QoS::AtMostOnce), now),
        (false, None)
    );
    let stats = ch.take_stats();
    assert_eq!((stats.refused_quota, stats.dropped()), (5, 5));
    let ok = publish_outcome(&mut ch, with_props(2, 4, QoS::AtLeastOnce), now);
    assert_eq!(ok, (true, Some(ReasonCode::Success)));
}

#[test]
fn a_will_to_sys_or_over_the_user_property_caps_refuses_the_connect() {
    let limits = ServerLimits {
        max_user_properties: 1,
        ..ServerLimits::default()
    };
    let with_will = |topic: &'static str, user_properties: usize| {
        let mut conn = connect(ProtocolVersion::V5, None);
        let properties = Properties {
            user_properties: vec![
                (Utf8String::from_static("k"), Utf8String::default());
                user_properties
            ],
            ..Properties::default()
        };
        conn.will = Some(starling_codec::Will {
            qos: QoS::AtMostOnce,
            retain: false,
            topic: Utf8String::from_static(topic),
            payload: Bytes::from_static(b"bye"),
            properties,
        });
        negotiate(&conn, &limits, || "x".into()).map(|_| ())
    };
    assert_eq!(with_will("$SYS/x", 0), Err(ReasonCode::NotAuthorized));
    assert_eq!(
        with_will("$delayed/1/$SYS/x", 0),
        Err(ReasonCode::NotAuthorized)
    );
    assert_eq!(
        with_will("$delayed/x/a", 0),
        Err(ReasonCode::TopicNameInvalid)
    );
    assert_eq!(with_will("will/t", 2), Err(ReasonCode::QuotaExceeded));
    assert_eq!(with_will("$SYSTEM/x", 1), Ok(()));
    assert_eq!(with_will("$delayed/1/a", 0), Ok(()));
}

#[test]
fn queue_overflow_policies() {
    let limits = |overflow| QueueLimits {
        max_len: 2,
        overflow,
        queue_qos0_offline: false,
    };
    let mut s = SessionState::new(Arc::from("c"), 0);
    let l = limits(crate::session::QueueOverflow::DropOldest);
    assert_eq!(
        s.enqueue(delivery("1", QoS::AtLeastOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("2", QoS::AtLeastOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("3", QoS::AtLeastOnce), &l),
        crate::Enqueued::DroppedOldest
    );
    let topics: Vec<_> = s
        .queue()
        .iter()
        .map(|d| d.message.topic.as_str().to_owned())
        .collect();
    assert_eq!(topics, ["2", "3"]);
    let l = limits(crate::session::QueueOverflow::DropNewest);
    assert_eq!(
        s.enqueue(delivery("4", QoS::AtLeastOnce), &l),
        crate::Enqueued::Dropped
    );
    let l = limits(crate::session::QueueOverflow::Disconnect);
    assert_eq!(
        s.enqueue(delivery("4", QoS::AtLeastOnce), &l),
        crate::Enqueued::Overflow
    );
    assert_eq!(
        s.enqueue_offline(delivery("5", QoS::AtMostOnce), &l),
        crate::Enqueued::Dropped
    );
}

use crate::session::{Outgoing, QueueLimits};

#[test]
fn a_full_queue_gives_up_qos0_first() {
    let limits = QueueLimits {
        max_len: 2,
        overflow: crate::session::QueueOverflow::Disconnect,
        queue_qos0_offline: true,
    };
    let mut s = SessionState::new(Arc::from("c"), 0);
    assert_eq!(
        s.enqueue(delivery("q0", QoS::AtMostOnce), &limits),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("q1", QoS::AtLeastOnce), &limits),
        crate::Enqueued::Queued
    );
    // Full: a new QoS 0 message is dropped, whatever the policy.
    assert_eq!(
        s.enqueue(delivery("q0b", QoS::AtMostOnce), &limits),
        crate::Enqueued::Dropped
    );
    // A new QoS 1 message replaces the queued QoS 0 one before the policy (disconnect) applies.
    assert_eq!(
        s.enqueue(delivery("q1b", QoS::AtLeastOnce), &limits),
        crate::Enqueued::DroppedOldest
    );
    let topics: Vec<_> = s
        .queue()
        .iter()
        .map(|d| d.message.topic.as_str().to_owned())
        .collect();
    assert_eq!(topics, ["q1", "q1b"]);
    assert_eq!(
        s.enqueue(delivery("q1c", QoS::AtLeastOnce), &limits),
        crate::Enqueued::Overflow
    );
}

#[test]
fn keepalive_deadline_never_panics_whatever_the_multiplier() {
    let t0 = Instant::now();
    for multiplier in [1e300, f64::INFINITY, f64::NAN, -1.0, 100.0] {
        let limits = ServerLimits {
            keepalive_multiplier: multiplier,
            ..ServerLimits::default()
        };
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.keep_alive = u16::MAX;
        let mut ch = channel_with(&conn, limits, t0);
        let deadline = ch.keepalive_deadline().expect("keep alive is on");
        assert!(deadline >= t0, "{multiplier}");
        ch.handle_tick(t0 + Duration::from_secs(1));
    }
}

#[test]
fn an_ack_for_the_wrong_qos_is_a_protocol_error() {
    let now = Instant::now();
    type WrongAck = fn(PacketId) -> Packet;
    let cases: [(QoS, WrongAck); 2] = [
        (QoS::AtLeastOnce, |id| Packet::PubRec(PubResp::new(id))),
        (QoS::ExactlyOnce, |id| Packet::PubAck(PubResp::new(id))),
    ];
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for (qos, wrong_ack) in cases {
            let mut ch = channel(version, now);
            ch.handle_delivery(delivery("t", qos), now);
            ch.take_effects();
            ch.handle_packet(wrong_ack(id(1)), now);
            let effects = ch.take_effects();
            assert!(
                matches!(
                    effects.last(),
                    Some(Effect::Close(CloseReason::Server(
                        ReasonCode::ProtocolError
                    )))
                ),
                "{version} {qos:?}: {effects:?}"
            );
            let disconnects = effects
                .iter()
                .filter(|e| matches!(e, Effect::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ProtocolError))
                .count();
            assert_eq!(
                disconnects,
                usize::from(version.is_v5()),
                "{version} {qos:?}"
            );
        }
    }
    // A PUBACK for a QoS 2 message already released is just as wrong.
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_delivery(delivery("t", QoS::ExactlyOnce), now);
    ch.handle_packet(Packet::PubRec(PubResp::new(id(1))), now);
    ch.take_effects();
    ch.handle_packet(Packet::PubAck(PubResp::new(id(1))), now);
    assert!(ch.is_closed());
}

#[test]
fn mqtt_3_3_4_6_a_client_publish_with_a_subscription_identifier_is_a_protocol_error() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    let Packet::Publish(mut p) = publish_in("a/b", QoS::AtLeastOnce, 1) else {
        unreachable!()
    };
    p.properties.subscription_identifiers = vec![7];
    ch.handle_packet(Packet::Publish(p), now);
    let effects = ch.take_effects();
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Publish(_))),
        "not routed: {effects:?}"
    );
    assert!(matches!(
        &effects[..],
        [
            Effect::Send(Packet::Disconnect(d)),
            Effect::Close(CloseReason::Server(ReasonCode::ProtocolError))
        ] if d.reason_code == ReasonCode::ProtocolError
    ));
}

#[test]
fn the_will_of_a_client_with_an_assigned_id_is_published_under_that_id() {
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.client_id = Utf8String::default();
    conn.will = Some(starling_codec::Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Utf8String::from_static("will/t"),
        payload: Bytes::from_static(b"bye"),
        properties: Properties::default(),
    });
    let neg = negotiate(&conn, &ServerLimits::default(), || "assigned".into()).expect("ok");
    assert_eq!(&*neg.client_id, "assigned");
    let will = neg.will.expect("a will");
    assert_eq!(&*will.message.publisher, "assigned");
}

fn aliased_in(topic: &str, alias: u16) -> Packet {
    let Packet::Publish(mut p) = publish_in(topic, QoS::AtMostOnce, 0) else {
        unreachable!()
    };
    p.properties.topic_alias = Some(alias);
    Packet::Publish(p)
}

#[test]
fn inbound_topic_aliases_are_capped_in_bytes_with_quota_exceeded() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_topic_alias_bytes: 10,
        ..ServerLimits::default()
    };
    let mut ch = channel_with(&connect(ProtocolVersion::V5, None), limits, now);
    // 5 + 5 bytes; then alias 1 is remapped to 2 bytes (7 in all), so 3 more still fit.
    for (topic, alias) in [("aaaaa", 1), ("bbbbb", 2), ("cc", 1), ("ddd", 3)] {
        ch.handle_packet(aliased_in(topic, alias), now);
        assert!(!ch.is_closed(), "{topic}");
    }
    ch.take_effects();
    ch.handle_packet(aliased_in("e", 4), now);
    let effects = ch.take_effects();
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Publish(_))),
        "{effects:?}"
    );
    assert!(matches!(
        &effects[..],
        [
            Effect::Send(Packet::Disconnect(d)),
            Effect::Close(CloseReason::Server(ReasonCode::QuotaExceeded))
        ] if d.reason_code == ReasonCode::QuotaExceeded
    ));
}

#[test]
fn outbound_topic_aliases_stop_at_the_byte_cap() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_topic_alias_bytes: 10,
        ..ServerLimits::default()
    };
    // The client allows 4 aliases; 6 bytes fit, 6 more do not, 4 more do.
    let mut ch = channel_with(&connect(ProtocolVersion::V5, None), limits, now);
    for topic in ["aaaaaa", "bbbbbb", "cccc", "bbbbbb"] {
        ch.handle_delivery(delivery(topic, QoS::AtMostOnce), now);
    }
    let effects = ch.take_effects();
    let sent: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| (p.topic.as_str().to_owned(), p.properties.topic_alias))
        .collect();
    let want = [
        ("aaaaaa", Some(1)),
        ("bbbbbb", None),
        ("cccc", Some(2)),
        ("bbbbbb", None),
    ];
    let want: Vec<_> = want.iter().map(|(t, a)| ((*t).to_owned(), *a)).collect();
    assert_eq!(sent, want);
}

#[test]
fn mqtt_3_3_2_9_an_alias_above_the_maximum_is_topic_alias_invalid_on_every_version() {
    let now = Instant::now();
    let zero = ServerLimits {
        topic_alias_maximum: 0,
        ..ServerLimits::default()
    };
    // (version, limits, an alias accepted first if any, the refused alias)
    let cases = [
        (ProtocolVersion::V5, zero, None, 1),
        (
            ProtocolVersion::V5,
            ServerLimits::default(),
            Some(u16::MAX),
            0,
        ),
        // 3.x announces nothing: every alias is above its maximum of 0.
        (ProtocolVersion::V3_1_1, ServerLimits::default(), None, 1),
    ];
    for (version, limits, accepted, alias) in cases {
        let mut ch = channel_with(&connect(version, None), limits, now);
        if let Some(ok) = accepted {
            ch.handle_packet(aliased_in("a", ok), now);
            assert!(!ch.is_closed(), "{version} {ok}");
        }
        let publish = aliased_in("a", alias);
        ch.handle_packet(publish, now);
        let effects = ch.take_effects();
        assert!(
            matches!(
                effects.last(),
                Some(Effect::Close(CloseReason::Server(
                    ReasonCode::TopicAliasInvalid
                )))
            ),
            "{version} {alias}: {effects:?}"
        );
    }
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

#[test]
fn filters_past_max_subscriptions_are_refused_in_place_with_quota_exceeded() {
    let now = Instant::now();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let limits = ServerLimits {
            max_subscriptions: 2,
            ..ServerLimits::default()
        };
        let mut ch = channel_with(&connect(version, Some(2)), limits, now);
        ch.handle_packet(subscribe_to(4, 1), now);
        let effects = ch.take_effects();
        let [Effect::Subscribe { requests, .. }] = &effects[..] else {
            panic!("{effects:?}")
        };
        let refused: Vec<_> = requests.iter().map(|r| r.as_ref().err().copied()).collect();
        let quota = Some(ReasonCode::QuotaExceeded);
        assert_eq!(refused, [None, None, quota, quota], "{version}");
    }
}

#[test]
fn answers_pending_counts_router_requests_and_stops_input_at_the_cap() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_pending_answers: 3,
        ..ServerLimits::default()
    };
    let mut ch = channel_with(&connect(ProtocolVersion::V5, Some(2)), limits, now);
    assert!(ch.wants_input());
    ch.handle_packet(subscribe_to(1, 1), now);
    ch.handle_packet(subscribe_to(1, 2), now);
    assert_eq!((ch.answers_pending(), ch.wants_input()), (2, true));
    ch.handle_packet(
        Packet::Unsubscribe(starling_codec::Unsubscribe {
            packet_id: id(3),
            filters: vec![Utf8String::from_static("f/0")],
            properties: Properties::default(),
        }),
        now,
    );
    assert_eq!((ch.answers_pending(), ch.wants_input()), (3, false));
    ch.handle_suback(id(1), vec![ReasonCode::Success]);
    assert_eq!((ch.answers_pending(), ch.wants_input()), (2, true));
    ch.handle_unsuback(id(3), vec![ReasonCode::Success]);
    ch.handle_suback(id(2), vec![ReasonCode::Success]);
    assert_eq!(ch.answers_pending(), 0);
    // A SUBSCRIBE that closes the connection asks the router nothing.
    ch.handle_packet(
        Packet::Subscribe(Subscribe {
            packet_id: id(4),
            subscriptions: vec![Subscription {
                filter: Utf8String::from_static("$share/g/x"),
                options: SubscriptionOptions {
                    no_local: true,
                    ..Default::default()
                },
            }],
            properties: Properties::default(),
        }),
        now,
    );
    assert_eq!(ch.answers_pending(), 0);
}

#[test]
fn max_keepalive_is_imposed_on_5_0_and_refuses_3_x_beyond_it() {
    let negotiated = |version, keep_alive: u16, server_keep_alive: u16, max_keepalive: u16| {
        let limits = ServerLimits {
            server_keep_alive,
            max_keepalive,
            ..ServerLimits::default()
        };
        let conn = Connect {
            keep_alive,
            ..connect(version, None)
        };
        negotiate(&conn, &limits, || "x".into()).map(|n| (n.keep_alive, n.keep_alive_imposed))
    };
    let v5 = ProtocolVersion::V5;
    // (client, server_keep_alive, max_keepalive) -> (in force, announced)
    for (client, server, cap, want) in [
        (30, 0, 60, (30, false)),
        (60, 0, 60, (60, false)),
        (61, 0, 60, (60, true)),
        (0, 0, 60, (60, true)),
        (0, 0, 0, (0, false)),
        (u16::MAX, 0, 0, (u16::MAX, false)),
        (30, 120, 60, (60, true)),
        (30, 45, 60, (45, true)),
        (45, 45, 60, (45, false)),
        (0, 45, 60, (45, true)),
    ] {
        assert_eq!(
            negotiated(v5, client, server, cap),
            Ok(want),
            "{client} {server} {cap}"
        );
    }
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        assert_eq!(negotiated(v, 60, 0, 60), Ok((60, false)));
        assert_eq!(negotiated(v, 0, 0, 0), Ok((0, false)), "no cap");
        // server_keep_alive is 5.0 only.
        assert_eq!(negotiated(v, 30, 45, 60), Ok((30, false)));
        for refused in [0, 61] {
            assert_eq!(
                negotiated(v, refused, 0, 60),
                Err(ReasonCode::ClientIdentifierNotValid),
                "{v} {refused}"
            );
        }
    }
}

#[test]
fn resumed_inflight_too_large_for_the_new_maximum_packet_size_leaves_the_window() {
    let now = Instant::now();
    let conn = connect(ProtocolVersion::V5, Some(2));
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    let big = |topic: &str| Delivery {
        message: Arc::new(Message {
            payload: Bytes::from(vec![0u8; 200]),
            ..(*message(topic, QoS::AtLeastOnce, None)).clone()
        }),
        ..delivery(topic, QoS::AtLeastOnce)
    };
    ch.handle_delivery(big("big/1"), now);
    ch.handle_delivery(big("big/2"), now);
    ch.handle_delivery(delivery("small/3", QoS::AtLeastOnce), now);
    ch.handle_delivery(delivery("small/4", QoS::AtLeastOnce), now);
    ch.take_effects();
    assert_eq!(ch.session().inflight().len(), 2);
    let (session, _, _) = ch.into_parts();
    // The client comes back announcing a Maximum Packet Size the big ones no longer fit.
    let mut conn = conn;
    conn.properties.maximum_packet_size = Some(100);
    let limits = Arc::new(ServerLimits::default());
    let neg = negotiate(&conn, &limits, || "x".into()).expect("accepted");
    let mut resumed = Channel::new(neg, limits, session, now);
    let effects = resumed.take_effects();
    let sent: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| p.topic.as_str().to_owned())
        .collect();
    assert_eq!(
        sent,
        ["small/3", "small/4"],
        "the window filled from the queue"
    );
    let inflight: Vec<_> = resumed
        .session()
        .inflight()
        .iter()
        .map(|(id, _)| id.get())
        .collect();
    assert_eq!(inflight, [3, 4]);
    assert_eq!(resumed.take_stats().dropped_too_large, 2);
}

#[test]
fn mqtt_3_1_2_24_a_suback_too_large_for_the_client_closes_with_packet_too_large() {
    let now = Instant::now();
    for (max, disconnect) in [(20, true), (2, false)] {
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.properties.maximum_packet_size = Some(max);
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        ch.handle_packet(subscribe_to(30, 1), now);
        ch.take_effects();
        ch.handle_suback(id(1), vec![ReasonCode::GrantedQoS1; 30]);
        let effects = ch.take_effects();
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Send(Packet::SubAck(_)))),
            "{effects:?}"
        );
        let sent_disconnect = effects.iter().any(|e| {
            matches!(e, Effect::Send(Packet::Disconnect(d))
                if d.reason_code == ReasonCode::PacketTooLarge && d.properties.reason_string.is_none())
        });
        assert_eq!(sent_disconnect, disconnect, "max {max}: {effects:?}");
        assert!(matches!(
            effects.last(),
            Some(Effect::Close(CloseReason::Server(
                ReasonCode::PacketTooLarge
            )))
        ));
        // An UNSUBACK is bounded the same way.
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        ch.handle_unsuback(id(2), vec![ReasonCode::Success; 30]);
        assert!(ch.is_closed());
    }
    // Small enough: sent as is.
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_suback(id(1), vec![ReasonCode::GrantedQoS1; 30]);
    assert!(matches!(
        &ch.take_effects()[..],
        [Effect::Send(Packet::SubAck(_))]
    ));
}

#[test]
fn mqtt_3_1_2_24_connack_drops_what_it_may_to_fit_the_client_and_else_is_not_sent() {
    use crate::connect::{connack, connack_fitting};
    let limits = ServerLimits {
        response_information: Some("reply/to/me".into()),
        ..ServerLimits::default()
    };
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.client_id = Utf8String::default();
    conn.properties.request_response_information = Some(1);
    let len = |ack: &starling_codec::ConnAck| {
        starling_codec::encoded_len(&Packet::ConnAck(ack.clone()), ProtocolVersion::V5)
            .expect("encodable")
    };
    let neg_with = |max: usize| {
        let mut conn = conn.clone();
        conn.properties.maximum_packet_size = Some(u32::try_from(max).expect("small"));
        negotiate(&conn, &limits, || "assigned-id".into()).expect("accepted")
    };
    let full = connack(&neg_with(1000), &limits, false);
    let full_len = len(&full);
    // It fits: unchanged.
    let ack = connack_fitting(&neg_with(full_len), &limits, false).expect("fits");
    assert_eq!(ack, full);
    // One byte less: the properties that say what their absence says go.
    let ack = connack_fitting(&neg_with(full_len - 1), &limits, false).expect("fits");
    let p = &ack.properties;
    assert_eq!(
        (
            p.retain_available,
            p.wildcard_subscription_available,
            p.subscription_identifier_available,
            p.shared_subscription_available
        ),
        (None, None, None, None)
    );
    assert_eq!(p.response_information, full.properties.response_information);
    assert_eq!(p.receive_maximum, Some(32), "not the default: kept");
    assert_eq!(
        p.assigned_client_identifier
            .as_ref()
            .map(Utf8String::as_str),
        Some("assigned-id")
    );
    // Then the Response Information.
    let without_defaults = len(&ack);
    let ack = connack_fitting(&neg_with(without_defaults - 1), &limits, false).expect("fits");
    assert_eq!(ack.properties.response_information, None);
    assert!(ack.properties.assigned_client_identifier.is_some());
    // Smaller than what must be said: no CONNACK.
    assert!(connack_fitting(&neg_with(len(&ack) - 1), &limits, false).is_none());
    // 3.x: the 4-byte CONNACK always fits.
    let v3 = connect(ProtocolVersion::V3_1_1, None);
    let neg = negotiate(&v3, &limits, || "x".into()).expect("accepted");
    assert_eq!(
        connack_fitting(&neg, &limits, true),
        Some(connack(&neg, &limits, true))
    );
}
