//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (spec 3.8 to 3.11) and topic matching (4.7):
//! wildcards, `$` topics, overlapping subscriptions, the 5.0 subscription options, reason codes.

use starling_codec::{Packet, Properties, ProtocolVersion, QoS, ReasonCode, Unsubscribe};
use starling_testkit::{pid, string, subscribe_packet, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::Duration;

/// A topic subscribers also subscribe to for the sentinel that shows nothing more is coming
/// (see [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/subscribe";

async fn client(addr: SocketAddr, v: ProtocolVersion, id: &str) -> RawClient {
    RawClient::mqtt_connect(addr, v, id, true).await.0
}

/// Publishes each topic (payload = topic) at QoS 1 and returns once the broker has them.
async fn publish_all(publisher: &mut RawClient, topics: &[&str]) {
    for topic in topics {
        publisher
            .publish(topic, topic.as_bytes(), QoS::AtLeastOnce, false)
            .await;
    }
}

/// Publishes the sentinel (QoS 1) to [`SENTINEL`] from `publisher`.
async fn publish_sentinel(publisher: &mut RawClient) {
    publish_all(publisher, &[SENTINEL]).await;
}

/// Receives exactly the messages on `expected` topics, in order, then nothing more: the next
/// is the sentinel, which the same publisher must have sent after them (see
/// [`publish_sentinel`]).
async fn expect_topics(sub: &mut RawClient, expected: &[&str]) {
    for topic in expected {
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), *topic, "{}", sub.version());
    }
    sub.expect_next_publish_on(SENTINEL).await;
}

#[tokio::test]
async fn mqtt_4_7_1_single_and_multi_level_wildcards_match() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut plus = client(broker.addr(), v, "plus").await;
        plus.subscribe("a/+/c", QoS::AtLeastOnce).await;
        plus.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let mut hash = client(broker.addr(), v, "hash").await;
        hash.subscribe("sport/#", QoS::AtLeastOnce).await;
        hash.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let mut publisher = client(broker.addr(), v, "pub").await;
        publish_all(
            &mut publisher,
            &[
                "a/b/c",
                "a//c",
                "a/b/c/d",
                "a/c",
                "sport",
                "sport/tennis/player1",
                "sports",
            ],
        )
        .await;
        publish_sentinel(&mut publisher).await;
        expect_topics(&mut plus, &["a/b/c", "a//c"]).await;
        // "sport/#" matches the parent level too [MQTT-4.7.1.2].
        expect_topics(&mut hash, &["sport", "sport/tennis/player1"]).await;
    }
}

#[tokio::test]
async fn mqtt_4_7_2_1_wildcards_do_not_match_topics_starting_with_dollar() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    let uptime = format!("$SYS/brokers/{}/uptime", broker.config().node.name);
    // Matched by both "#" and "+/brokers/#".
    let sentinel = "sentinel/brokers/subscribe";
    for v in versions() {
        let mut all = client(broker.addr(), v, "all").await;
        all.subscribe("#", QoS::AtMostOnce).await;
        let mut plus = client(broker.addr(), v, "plus").await;
        plus.subscribe("+/brokers/#", QoS::AtMostOnce).await;
        let mut sys = client(broker.addr(), v, "sys").await;
        sys.subscribe("$SYS/#", QoS::AtMostOnce).await;
        // The $SYS tree is published every second: the explicit subscriber sees it live (not
        // the retained copy), so a round was routed after the wildcard subscriptions...
        let msg = sys
            .recv_matching(|p| match p {
                Packet::Publish(p) if !p.retain && p.topic.as_str() == uptime => Some(p.clone()),
                _ => None,
            })
            .await;
        assert!(msg.topic.starts_with("$SYS/"), "{v}: {msg:?}");
        // ...and a client's own `$` topic behaves the same.
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("$app/x", b"dollar", QoS::AtLeastOnce, false)
            .await;
        publisher
            .publish("app/x", b"plain", QoS::AtLeastOnce, false)
            .await;
        // Then the sentinel: a wrong match of that $SYS round (routed before it was seen) or
        // of "$app/x" would come first.
        publisher
            .publish(sentinel, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        let msg = all.recv_publish().await;
        assert_eq!(
            msg.topic.as_str(),
            "app/x",
            "{v}: '#' must not match '$' topics"
        );
        all.expect_next_publish_on(sentinel).await;
        plus.expect_next_publish_on(sentinel).await;
    }
}

#[tokio::test]
async fn mqtt_3_3_4_overlapping_subscriptions_deliver_once_with_the_highest_qos() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "overlap").await;
        sub.subscribe("o/#", QoS::AtMostOnce).await;
        sub.subscribe("o/+", QoS::ExactlyOnce).await;
        sub.subscribe("o/x", QoS::AtLeastOnce).await;
        sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("o/x", b"1", QoS::ExactlyOnce, false)
            .await;
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.qos, QoS::ExactlyOnce, "{v}: the highest granted QoS");
        // Once: the same publisher's sentinel comes next.
        publish_sentinel(&mut publisher).await;
        sub.expect_next_publish_on(SENTINEL).await;
    }
}

#[tokio::test]
async fn mqtt_3_3_4_v5_overlapping_subscriptions_carry_every_subscription_identifier() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut sub = client(broker.addr(), v, "ids").await;
    for (n, filter) in [(1u32, "s/#"), (2, "s/+"), (3, "other/#")] {
        let mut subscribe =
            subscribe_packet(u16::try_from(n).unwrap_or(1), &[(filter, QoS::AtLeastOnce)]);
        subscribe.properties.subscription_identifiers = vec![n];
        let ack = sub.subscribe_with(subscribe).await;
        assert_eq!(ack.reason_codes, vec![ReasonCode::GrantedQoS1]);
    }
    // A subscription without an identifier adds none.
    sub.subscribe("s/x", QoS::AtMostOnce).await;
    sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    let mut publisher = client(broker.addr(), v, "pub").await;
    publisher
        .publish("s/x", b"x", QoS::AtLeastOnce, false)
        .await;
    let msg = sub.recv_and_ack().await;
    let mut ids = msg.properties.subscription_identifiers.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2], "[MQTT-3.3.4-3]");
    // Once: the same publisher's sentinel comes next.
    publish_sentinel(&mut publisher).await;
    sub.expect_next_publish_on(SENTINEL).await;
}

#[tokio::test]
async fn mqtt_3_8_3_3_v5_no_local_suppresses_own_messages() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut me = client(broker.addr(), v, "me").await;
    let mut subscribe = subscribe_packet(1, &[("nl/t", QoS::AtLeastOnce)]);
    subscribe.subscriptions[0].options.no_local = true;
    me.subscribe_with(subscribe).await;
    // Without No Local: for the client's own sentinel.
    me.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    let mut other = client(broker.addr(), v, "other").await;
    other.subscribe("nl/t", QoS::AtLeastOnce).await;
    me.publish("nl/t", b"mine", QoS::AtLeastOnce, false).await;
    assert_eq!(&other.recv_and_ack().await.payload[..], b"mine");
    // Not back to "me": its own sentinel, published after "mine", comes first.
    me.expect_nothing_before_own_sentinel(SENTINEL).await;
    // Messages from others still arrive.
    other
        .publish("nl/t", b"theirs", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(&me.recv_and_ack().await.payload[..], b"theirs");
    // 3.1.1 has no such option: a client gets its own messages.
    let mut old = client(broker.addr(), ProtocolVersion::V3_1_1, "old").await;
    old.subscribe("nl/old", QoS::AtLeastOnce).await;
    old.publish("nl/old", b"echo", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(&old.recv_and_ack().await.payload[..], b"echo");
}

#[tokio::test]
async fn mqtt_3_3_1_12_live_messages_carry_retain_only_with_retain_as_published() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut plain = client(broker.addr(), v, "plain").await;
        plain.subscribe("rap/t", QoS::AtLeastOnce).await;
        let mut rap = client(broker.addr(), v, "rap").await;
        let mut subscribe = subscribe_packet(1, &[("rap/t", QoS::AtLeastOnce)]);
        subscribe.subscriptions[0].options.retain_as_published = v.is_v5();
        rap.subscribe_with(subscribe).await;
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("rap/t", b"r", QoS::AtLeastOnce, true)
            .await;
        // 3.1.1 [MQTT-3.3.1-9] and 5.0 without the option: RETAIN 0 on a live delivery.
        assert!(!plain.recv_and_ack().await.retain, "{v}");
        assert_eq!(
            rap.recv_and_ack().await.retain,
            v.is_v5(),
            "{v}: [MQTT-3.3.1-13]"
        );
        publisher
            .publish("rap/t", b"", QoS::AtLeastOnce, true)
            .await; // clear
        plain.recv_and_ack().await;
        rap.recv_and_ack().await;
    }
}

#[tokio::test]
async fn mqtt_3_9_3_invalid_filter_is_refused_in_suback() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "bad-filter").await;
        let ack = sub
            .subscribe_with(subscribe_packet(
                9,
                &[
                    ("ok/+", QoS::AtLeastOnce),
                    ("bad/#/x", QoS::AtLeastOnce),
                    ("a+", QoS::AtMostOnce),
                ],
            ))
            .await;
        let refused = if v.is_v5() {
            ReasonCode::TopicFilterInvalid
        } else {
            ReasonCode::UnspecifiedError // 0x80, the only 3.1.1 failure code
        };
        assert_eq!(
            ack.reason_codes,
            vec![ReasonCode::GrantedQoS1, refused, refused],
            "{v}"
        );
        // The connection stays usable and the valid filter works.
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("ok/1", b"1", QoS::AtLeastOnce, false)
            .await;
        assert_eq!(sub.recv_and_ack().await.topic.as_str(), "ok/1");
    }
}

#[tokio::test]
async fn mqtt_3_8_3_3_empty_subscribe_closes_the_connection() {
    // 3.1.1 [MQTT-3.8.3-3]: a protocol violation, the connection is closed. 5.0 section 3.8.3
    // ([MQTT-3.8.3-2]): "A SUBSCRIBE packet with no Payload is a Protocol Error", so 0x82.
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "empty").await;
        // SUBSCRIBE, packet id 1, (5.0: empty properties), no payload.
        let bytes: &[u8] = if v.is_v5() {
            &[0x82, 0x03, 0x00, 0x01, 0x00]
        } else {
            &[0x82, 0x02, 0x00, 0x01]
        };
        sub.send_bytes(bytes).await;
        sub.expect_disconnect(ReasonCode::ProtocolError).await;
        // The broker is fine.
        let mut other = client(broker.addr(), v, "after").await;
        other.subscribe("after", QoS::AtMostOnce).await;
        other.publish("after", b"ok", QoS::AtMostOnce, false).await;
        assert_eq!(&other.recv_publish().await.payload[..], b"ok");
    }
}

#[tokio::test]
async fn mqtt_3_11_3_unsubscribe_reason_codes() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "unsub").await;
        sub.subscribe("u/a", QoS::AtLeastOnce).await;
        sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let ack = sub.unsubscribe(&["u/a", "u/never"]).await;
        if v.is_v5() {
            assert_eq!(
                ack.reason_codes,
                vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            );
        } else {
            assert!(ack.reason_codes.is_empty(), "3.1.1 UNSUBACK has no payload");
        }
        // Unsubscribed means no more messages [MQTT-3.10.4-2].
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("u/a", b"gone", QoS::AtLeastOnce, false)
            .await;
        // Not "gone": the same publisher's sentinel comes first.
        publish_sentinel(&mut publisher).await;
        sub.expect_next_publish_on(SENTINEL).await;
        // An invalid filter in 5.0: 0x8F.
        if v.is_v5() {
            let unsubscribe = Unsubscribe {
                packet_id: pid(77),
                filters: vec![string("u/#/bad")],
                properties: Properties::default(),
            };
            sub.send(&Packet::Unsubscribe(unsubscribe)).await;
            match sub.recv().await {
                Packet::UnsubAck(ack) => {
                    assert_eq!(ack.packet_id, pid(77));
                    assert_eq!(ack.reason_codes, vec![ReasonCode::TopicFilterInvalid]);
                }
                other => panic!("expected UNSUBACK, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn mqtt_3_8_4_granted_qos_is_capped_by_the_server_maximum() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_qos = 1).await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "capped").await;
        let ack = sub.subscribe("cap/t", QoS::ExactlyOnce).await;
        assert_eq!(ack.reason_codes, vec![ReasonCode::GrantedQoS1], "{v}");
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("cap/t", b"c", QoS::AtLeastOnce, false)
            .await;
        assert_eq!(sub.recv_and_ack().await.qos, QoS::AtLeastOnce, "{v}");
    }
}

#[tokio::test]
async fn mqtt_3_8_4_resubscribing_replaces_the_subscription() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "replace").await;
        sub.subscribe("rep/t", QoS::ExactlyOnce).await;
        let ack = sub
            .subscribe_with(subscribe_packet(5, &[("rep/t", QoS::AtMostOnce)]))
            .await;
        assert_eq!(ack.reason_codes, vec![ReasonCode::Success]);
        sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("rep/t", b"r", QoS::ExactlyOnce, false)
            .await;
        let msg = sub.recv_and_ack().await;
        assert_eq!(
            msg.qos,
            QoS::AtMostOnce,
            "{v}: the new QoS applies [MQTT-3.8.4-3]"
        );
        // Once (the old subscription is gone): the same publisher's sentinel comes next.
        publish_sentinel(&mut publisher).await;
        sub.expect_next_publish_on(SENTINEL).await;
    }
}

#[tokio::test]
async fn filters_past_max_subscriptions_are_refused_with_quota_exceeded() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_subscriptions = Some(2)).await;
    for v in versions() {
        let mut sub = client(broker.addr(), v, "many").await;
        let filters = [
            ("cap/a", QoS::AtLeastOnce),
            ("cap/b", QoS::AtLeastOnce),
            ("cap/c", QoS::AtLeastOnce),
        ];
        let ack = sub.subscribe_with(subscribe_packet(1, &filters)).await;
        assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
        assert!(ack.reason_codes[1].is_success(), "{v}: {ack:?}");
        // 5.0: Quota exceeded; 3.x: Failure (0x80).
        let want = if v.is_v5() {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::UnspecifiedError
        };
        assert_eq!(ack.reason_codes[2], want, "{v}");
        // The refused filter gets nothing: the message published after it arrives first.
        let mut publisher = client(broker.addr(), v, "pub").await;
        publish_all(&mut publisher, &["cap/c", "cap/a"]).await;
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), "cap/a", "{v}");
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_24_v5_suback_larger_than_the_client_maximum_packet_size_closes_with_0x95() {
    let broker = TestBroker::start().await;
    let mut connect = starling_testkit::connect_packet(ProtocolVersion::V5, "small");
    // Room for CONNACK and DISCONNECT, not for a SUBACK of 60 reason codes (65 bytes).
    connect.properties.maximum_packet_size = Some(40);
    let (mut sub, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    let filters: Vec<String> = (0..60).map(|i| format!("big/{i}")).collect();
    let filters: Vec<_> = filters
        .iter()
        .map(|f| (f.as_str(), QoS::AtMostOnce))
        .collect();
    sub.send(&Packet::Subscribe(subscribe_packet(1, &filters)))
        .await;
    sub.expect_disconnect(ReasonCode::PacketTooLarge).await;
}
