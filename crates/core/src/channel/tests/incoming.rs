//! Packets from the client: PUBLISH and its checks, the QoS 2 handshake in, topic aliases in,
//! SUBSCRIBE and its caps.

use super::*;

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
        let limits = ServerLimits::default();
        limits.switches.set(crate::Switch::Delayed, false);
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
