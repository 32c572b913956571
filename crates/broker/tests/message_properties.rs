//! 5.0 PUBLISH properties (spec 3.3.2.3, 4.10): forwarded unchanged to subscribers (user
//! properties in order), the payload format check, request/response, message expiry, and a 3.1.1
//! subscriber that gets the message without them.

use bytes::Bytes;
use starling_codec::{Properties, ProtocolVersion, Publish, QoS, ReasonCode};
use starling_testkit::{connect_packet, publish_packet, string, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::Duration;

const V: ProtocolVersion = ProtocolVersion::V5;

/// A topic subscribers also subscribe to for the sentinel that shows nothing more is coming
/// (see [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/message_properties";

fn rich_properties() -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        content_type: Some(string("text/plain; charset=utf-8")),
        response_topic: Some(string("replies/here")),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
        user_properties: vec![
            (string("z"), string("1")),
            (string("a"), string("2")),
            (string("z"), string("3")),
        ],
        ..Properties::default()
    }
}

fn with_properties(topic: &str, payload: &[u8], id: u16, properties: Properties) -> Publish {
    Publish {
        properties,
        ..publish_packet(topic, payload, QoS::AtLeastOnce, false, Some(id))
    }
}

async fn subscriber(addr: SocketAddr, v: ProtocolVersion, id: &str, filter: &str) -> RawClient {
    let (mut client, _) = RawClient::mqtt_connect(addr, v, id, true).await;
    let ack = client.subscribe(filter, QoS::AtLeastOnce).await;
    assert!(ack.reason_codes[0].is_success(), "{ack:?}");
    client
}

#[tokio::test]
async fn mqtt_3_3_2_17_v5_publish_properties_are_forwarded_unchanged() {
    let broker = TestBroker::start().await;
    let mut sub = subscriber(broker.addr(), V, "sub", "props").await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let publish = with_properties("props", "héllo".as_bytes(), 1, rich_properties());
    assert_eq!(publisher.publish_with(publish).await, ReasonCode::Success);
    let msg = sub.recv_and_ack().await;
    let want = rich_properties();
    let p = &msg.properties;
    assert_eq!(p.payload_format_indicator, want.payload_format_indicator);
    assert_eq!(p.content_type, want.content_type);
    assert_eq!(p.response_topic, want.response_topic);
    assert_eq!(p.correlation_data, want.correlation_data);
    assert_eq!(
        p.user_properties, want.user_properties,
        "[MQTT-3.3.2-18] order kept"
    );
    assert_eq!(&msg.payload[..], "héllo".as_bytes());
}

#[tokio::test]
async fn mqtt_3_3_2_4_v5_invalid_utf8_with_payload_format_1_is_refused() {
    let broker = TestBroker::start().await;
    let mut sub = subscriber(broker.addr(), V, "sub", "utf8").await;
    sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let properties = Properties {
        payload_format_indicator: Some(1),
        ..Properties::default()
    };
    let publish = with_properties("utf8", b"\xff\xfe not utf-8", 1, properties);
    assert_eq!(
        publisher.publish_with(publish).await,
        ReasonCode::PayloadFormatInvalid
    );
    // The same bytes as unspecified (format 0) are fine.
    let properties = Properties {
        payload_format_indicator: Some(0),
        ..Properties::default()
    };
    let publish = with_properties("utf8", b"\xff\xfe not utf-8", 2, properties);
    assert_eq!(publisher.publish_with(publish).await, ReasonCode::Success);
    // The first message to arrive (the refused one, had it been routed, would come before).
    let msg = sub.recv_and_ack().await;
    assert_eq!(msg.properties.payload_format_indicator, Some(0));
    // And the only one: the same publisher's sentinel comes next.
    publisher
        .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    sub.expect_next_publish_on(SENTINEL).await;
}

#[tokio::test]
async fn mqtt_4_10_v5_request_response_round_trip() {
    let broker = TestBroker::start().await;
    let mut responder = subscriber(broker.addr(), V, "responder", "service/time").await;
    let mut requester = subscriber(broker.addr(), V, "requester", "replies/requester").await;
    let request = with_properties(
        "service/time",
        b"what time is it?",
        1,
        Properties {
            response_topic: Some(string("replies/requester")),
            correlation_data: Some(Bytes::from_static(b"req-42")),
            ..Properties::default()
        },
    );
    requester.publish_with(request).await;

    let got = responder.recv_and_ack().await;
    let reply_to = got
        .properties
        .response_topic
        .clone()
        .expect("response topic");
    let correlation = got.properties.correlation_data.clone();
    let response = with_properties(
        reply_to.as_str(),
        b"noon",
        1,
        Properties {
            correlation_data: correlation,
            ..Properties::default()
        },
    );
    responder.publish_with(response).await;

    let answer = requester.recv_and_ack().await;
    assert_eq!(answer.topic.as_str(), "replies/requester");
    assert_eq!(&answer.payload[..], b"noon");
    assert_eq!(
        answer.properties.correlation_data,
        Some(Bytes::from_static(b"req-42"))
    );
}

#[tokio::test]
async fn mqtt_3_3_2_5_v5_expired_message_is_not_delivered_to_a_resumed_session() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet(V, "late");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(60);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    sub.subscribe("expiring", QoS::AtLeastOnce).await;
    sub.disconnect().await;

    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let short = Properties {
        message_expiry_interval: Some(1),
        ..Properties::default()
    };
    let long = Properties {
        message_expiry_interval: Some(600),
        ..Properties::default()
    };
    publisher
        .publish_with(with_properties("expiring", b"short", 1, short))
        .await;
    publisher
        .publish_with(with_properties("expiring", b"long", 2, long))
        .await;
    // The scenario, not synchronisation: wall time must pass the 1 s expiry.
    tokio::time::sleep(Duration::from_millis(2200)).await;

    let (mut sub, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert!(connack.session_present);
    let msg = sub.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"long", "the expired one was dropped");
    let left = msg
        .properties
        .message_expiry_interval
        .expect("counted down");
    assert!((590..600).contains(&left), "[MQTT-3.3.2-6] {left}");
    // Not the expired one either (after it, or at all): the client's own sentinel comes next.
    sub.expect_nothing_before_own_sentinel("expiring").await;
}

#[tokio::test]
async fn v311_subscriber_gets_the_message_without_properties() {
    let broker = TestBroker::start().await;
    let mut old = subscriber(broker.addr(), ProtocolVersion::V3_1_1, "old", "props").await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let publish = with_properties("props", b"plain", 1, rich_properties());
    publisher.publish_with(publish).await;
    let msg = old.recv_and_ack().await;
    assert_eq!(msg.topic.as_str(), "props");
    assert_eq!(&msg.payload[..], b"plain");
    assert_eq!(msg.properties, Properties::default());
}

#[tokio::test]
async fn mqtt_3_3_4_6_v5_publish_with_a_subscription_identifier_is_a_protocol_error() {
    let broker = TestBroker::start().await;
    let mut sub = subscriber(broker.addr(), V, "sub", "subid/#").await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let properties = Properties {
        subscription_identifiers: vec![1],
        ..Properties::default()
    };
    let publish = with_properties("subid/bad", b"bad", 1, properties);
    publisher
        .send(&starling_codec::Packet::Publish(publish))
        .await;
    publisher.expect_disconnect(ReasonCode::ProtocolError).await;
    // Sentinel: published after the refused one; it must be the first to arrive.
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    publisher
        .publish("subid/good", b"good", QoS::AtLeastOnce, false)
        .await;
    let msg = sub.recv_and_ack().await;
    assert_eq!(msg.topic.as_str(), "subid/good");
}

#[tokio::test]
async fn v5_publish_or_will_over_the_user_property_caps_gets_quota_exceeded() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.max_user_properties = 3;
        cfg.mqtt.max_user_property_bytes = 16;
    })
    .await;
    let mut sub = subscriber(broker.addr(), V, "sub", "quota/#").await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let pairs = |n: usize, value: &str| Properties {
        user_properties: vec![(string("k"), string(value)); n],
        ..Properties::default()
    };
    for (what, properties) in [
        ("count", pairs(4, "")),
        ("bytes", pairs(1, &"v".repeat(16))),
    ] {
        for (id, qos) in [(1, QoS::AtLeastOnce), (2, QoS::ExactlyOnce)] {
            let publish = Publish {
                qos,
                ..with_properties("quota/bad", b"bad", id, properties.clone())
            };
            let rc = publisher.publish_with(publish).await;
            assert_eq!(rc, ReasonCode::QuotaExceeded, "{what} {qos:?}");
        }
    }
    // At the caps exactly: routed. It must be the first message the subscriber gets.
    let publish = with_properties("quota/good", b"good", 3, pairs(3, "abcd"));
    assert_eq!(publisher.publish_with(publish).await, ReasonCode::Success);
    let msg = sub.recv_and_ack().await;
    assert_eq!(msg.topic.as_str(), "quota/good");
    assert_eq!(msg.properties.user_properties.len(), 3);

    let mut connect = connect_packet(V, "willer");
    connect.will = Some(starling_codec::Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: string("quota/will"),
        payload: Bytes::from_static(b"will"),
        properties: pairs(4, ""),
    });
    let (_, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::QuotaExceeded);
}
