//! Retained messages (spec 3.3.1.3, 3.8.3.1, 3.3.2.3.3): set, replace, clear, delivery on
//! subscribe with RETAIN 1, the 5.0 Retain Handling and Retain As Published options, the store's
//! limits and retained-message expiry.

use starling_codec::{Packet, ProtocolVersion, QoS, ReasonCode, RetainHandling};
use starling_testkit::{publish_packet, subscribe_packet, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::Duration;

/// A topic each subscriber here also subscribes to, for the sentinel that ends a wait: the
/// retained messages for a SUBSCRIBE are handed to the session while the router handles it, so
/// a message the subscriber publishes afterwards reaches it after all of them.
const SENTINEL: &str = "sentinel/retain";

async fn client(addr: SocketAddr, v: ProtocolVersion, id: &str) -> RawClient {
    RawClient::mqtt_connect(addr, v, id, true).await.0
}

/// Subscribes a fresh client to `filter` and returns the retained payloads it gets, in order,
/// after checking each carries RETAIN 1: everything that comes before its own sentinel.
async fn retained_for(addr: SocketAddr, v: ProtocolVersion, filter: &str) -> Vec<Vec<u8>> {
    let mut sub = client(addr, v, "retained-reader").await;
    sub.subscribe(filter, QoS::AtLeastOnce).await;
    sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    sub.publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    let mut payloads = Vec::new();
    loop {
        let msg = sub.recv_publish().await;
        if msg.topic.as_str() == SENTINEL && !msg.retain {
            break;
        }
        assert!(
            msg.retain,
            "{v}: a retained message is sent with RETAIN 1 [MQTT-3.3.1-8]"
        );
        sub.ack(&msg).await;
        payloads.push(msg.payload.to_vec());
    }
    payloads
}

#[tokio::test]
async fn mqtt_3_3_1_6_retained_message_is_set_replaced_and_cleared() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("r/{v}/state");
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish(&topic, b"one", QoS::AtLeastOnce, true)
            .await;
        assert_eq!(
            retained_for(broker.addr(), v, &topic).await,
            vec![b"one".to_vec()],
            "{v}"
        );

        // A newer retained message replaces it [MQTT-3.3.1-5].
        publisher
            .publish(&topic, b"two", QoS::AtLeastOnce, true)
            .await;
        assert_eq!(
            retained_for(broker.addr(), v, &topic).await,
            vec![b"two".to_vec()],
            "{v}"
        );

        // A non-retained publish leaves it alone.
        publisher
            .publish(&topic, b"live", QoS::AtLeastOnce, false)
            .await;
        assert_eq!(
            retained_for(broker.addr(), v, &topic).await,
            vec![b"two".to_vec()],
            "{v}"
        );

        // An empty retained payload clears it [MQTT-3.3.1-6], [MQTT-3.3.1-7].
        publisher.publish(&topic, b"", QoS::AtLeastOnce, true).await;
        assert!(
            retained_for(broker.addr(), v, &topic).await.is_empty(),
            "{v}"
        );
    }
}

#[tokio::test]
async fn mqtt_3_3_1_8_retained_messages_are_delivered_on_subscribe_with_retain_set() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut publisher = client(broker.addr(), v, "pub").await;
        for (leaf, qos) in [
            ("a", QoS::AtMostOnce),
            ("b", QoS::AtLeastOnce),
            ("c", QoS::ExactlyOnce),
        ] {
            publisher
                .publish(&format!("rq/{v}/{leaf}"), leaf, qos, true)
                .await;
        }
        let mut sub = client(broker.addr(), v, "sub").await;
        sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        sub.subscribe(&format!("rq/{v}/+"), QoS::AtLeastOnce).await;
        let mut got = Vec::new();
        for _ in 0..3 {
            let msg = sub.recv_and_ack().await;
            assert!(msg.retain, "{v}");
            // Delivered at min(message QoS, granted QoS).
            let expected = if &msg.payload[..] == b"a" {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            assert_eq!(msg.qos, expected, "{v}: {msg:?}");
            got.push(msg.payload.to_vec());
        }
        got.sort();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        // No more than the three.
        sub.expect_nothing_before_own_sentinel(SENTINEL).await;
    }
}

#[tokio::test]
async fn mqtt_4_7_2_1_wildcard_subscription_gets_no_retained_dollar_topics() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish("$app/retained", b"hidden", QoS::AtLeastOnce, true)
            .await;
        publisher
            .publish("app/retained", b"seen", QoS::AtLeastOnce, true)
            .await;
        assert_eq!(
            retained_for(broker.addr(), v, "#").await,
            vec![b"seen".to_vec()],
            "{v}"
        );
        assert_eq!(
            retained_for(broker.addr(), v, "+/retained").await,
            vec![b"seen".to_vec()],
            "{v}"
        );
        assert_eq!(
            retained_for(broker.addr(), v, "$app/#").await,
            vec![b"hidden".to_vec()],
            "{v}"
        );
    }
}

#[tokio::test]
async fn mqtt_3_8_3_1_v5_retain_handling_options() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut publisher = client(broker.addr(), v, "pub").await;
    publisher
        .publish("rh/t", b"kept", QoS::AtLeastOnce, true)
        .await;
    let mut sub = client(broker.addr(), v, "sub").await;
    sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    let subscribe = |id: u16, handling: RetainHandling| {
        let mut s = subscribe_packet(id, &[("rh/t", QoS::AtLeastOnce)]);
        s.subscriptions[0].options.retain_handling = handling;
        s
    };
    // 2: never sent [MQTT-3.3.1-11].
    sub.subscribe_with(subscribe(1, RetainHandling::DoNotSend))
        .await;
    sub.expect_nothing_before_own_sentinel(SENTINEL).await;
    // 1: sent only if the subscription did not exist [MQTT-3.3.1-10]; it exists now.
    sub.subscribe_with(subscribe(2, RetainHandling::SendIfNew))
        .await;
    sub.expect_nothing_before_own_sentinel(SENTINEL).await;
    // 0: sent on every subscribe, also when it replaces one [MQTT-3.3.1-9].
    sub.subscribe_with(subscribe(3, RetainHandling::SendAtSubscribe))
        .await;
    assert_eq!(&sub.recv_and_ack().await.payload[..], b"kept");
    sub.subscribe_with(subscribe(4, RetainHandling::SendAtSubscribe))
        .await;
    assert_eq!(&sub.recv_and_ack().await.payload[..], b"kept");
    // 1 on a new subscription: sent.
    sub.unsubscribe(&["rh/t"]).await;
    sub.subscribe_with(subscribe(5, RetainHandling::SendIfNew))
        .await;
    assert_eq!(&sub.recv_and_ack().await.payload[..], b"kept");
    sub.expect_nothing_before_own_sentinel(SENTINEL).await;
}

#[tokio::test]
async fn mqtt_3_3_1_12_v5_retain_as_published_keeps_the_flag_on_live_messages() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut sub = client(broker.addr(), v, "sub").await;
    let mut subscribe = subscribe_packet(1, &[("rap/t", QoS::AtLeastOnce)]);
    subscribe.subscriptions[0].options.retain_as_published = true;
    sub.subscribe_with(subscribe).await;
    let mut publisher = client(broker.addr(), v, "pub").await;
    publisher
        .publish("rap/t", b"flag", QoS::AtLeastOnce, true)
        .await;
    assert!(sub.recv_and_ack().await.retain, "[MQTT-3.3.1-13]");
    publisher
        .publish("rap/t", b"noflag", QoS::AtLeastOnce, false)
        .await;
    assert!(!sub.recv_and_ack().await.retain);
}

#[tokio::test]
async fn mqtt_3_3_1_retained_payload_over_the_limit_is_not_stored() {
    let broker = TestBroker::start_with(|cfg| cfg.retain.max_payload_size = 8).await;
    for v in versions() {
        let topic = format!("big/{v}");
        let mut live = client(broker.addr(), v, "live").await;
        live.subscribe(&topic, QoS::AtLeastOnce).await;
        let mut publisher = client(broker.addr(), v, "pub").await;
        publisher
            .publish(&topic, [7u8; 16], QoS::AtLeastOnce, true)
            .await;
        // Still delivered to current subscribers...
        assert_eq!(live.recv_and_ack().await.payload.len(), 16, "{v}");
        // ...but not kept.
        assert!(
            retained_for(broker.addr(), v, &topic).await.is_empty(),
            "{v}"
        );
        publisher
            .publish(&topic, [7u8; 8], QoS::AtLeastOnce, true)
            .await;
        live.recv_and_ack().await;
        assert_eq!(
            retained_for(broker.addr(), v, &topic).await,
            vec![vec![7u8; 8]],
            "{v}"
        );
    }
}

#[tokio::test]
async fn mqtt_3_3_1_retained_store_count_limit() {
    let broker = TestBroker::start_with(|cfg| cfg.retain.max_messages = Some(2)).await;
    let v = ProtocolVersion::V3_1_1;
    let mut publisher = client(broker.addr(), v, "pub").await;
    for leaf in ["a", "b", "c"] {
        publisher
            .publish(&format!("count/{leaf}"), leaf, QoS::AtLeastOnce, true)
            .await;
    }
    let mut got = retained_for(broker.addr(), v, "count/#").await;
    got.sort();
    assert_eq!(
        got,
        vec![b"a".to_vec(), b"b".to_vec()],
        "the third is refused"
    );
    // Replacing a stored topic is still allowed when full.
    publisher
        .publish("count/a", "A", QoS::AtLeastOnce, true)
        .await;
    assert_eq!(
        retained_for(broker.addr(), v, "count/a").await,
        vec![b"A".to_vec()]
    );
}

#[tokio::test]
async fn mqtt_3_3_2_3_3_v5_retained_message_expires() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut publisher = client(broker.addr(), v, "pub").await;
    let mut short = publish_packet("exp/short", b"short", QoS::AtLeastOnce, true, Some(1));
    short.properties.message_expiry_interval = Some(1);
    publisher.publish_with(short).await;
    let mut long = publish_packet("exp/long", b"long", QoS::AtLeastOnce, true, Some(2));
    long.properties.message_expiry_interval = Some(3600);
    publisher.publish_with(long).await;

    // Before expiry: delivered with the remaining lifetime [MQTT-3.3.2-6].
    let mut sub = client(broker.addr(), v, "sub").await;
    sub.subscribe("exp/long", QoS::AtLeastOnce).await;
    let msg = sub.recv_and_ack().await;
    let left = msg
        .properties
        .message_expiry_interval
        .expect("expiry is forwarded");
    assert!((1..=3600).contains(&left), "remaining expiry {left}");

    // After expiry: gone [MQTT-3.3.2-5]. Generous margin over the 1 s lifetime. This sleep is
    // the scenario (wall time must pass for the message to expire), not synchronisation: what
    // comes after waits for a sentinel.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(retained_for(broker.addr(), v, "exp/short").await.is_empty());
    assert_eq!(
        retained_for(broker.addr(), v, "exp/long").await,
        vec![b"long".to_vec()]
    );
}

#[tokio::test]
async fn mqtt_3_3_1_v5_retain_not_available_refuses_retained_publish() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.retain_available = false).await;
    let (mut client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "noretain", true).await;
    assert_eq!(connack.properties.retain_available, Some(0));
    client
        .send(&Packet::Publish(publish_packet(
            "nr",
            b"x",
            QoS::AtLeastOnce,
            true,
            Some(1),
        )))
        .await;
    // [MQTT-3.3.1-14]: RETAIN 1 when Retain Available is 0 is a protocol error 0x9A.
    client
        .expect_disconnect(ReasonCode::RetainNotSupported)
        .await;
}
