//! Topic aliases (5.0, spec 3.3.2.3.4, 4.13): client-to-server aliases set and reused, invalid
//! ones rejected with 0x94 or 0x82, and server-to-client aliases only within the Topic Alias
//! Maximum the client announced.

use starling_codec::{Connect, ProtocolVersion, Publish, QoS, ReasonCode};
use starling_testkit::{connect_packet, publish_packet, RawClient, TestBroker};
use std::net::SocketAddr;

const V: ProtocolVersion = ProtocolVersion::V5;
const SERVER_MAX: u16 = 4;

async fn start() -> TestBroker {
    TestBroker::start_with(|cfg| cfg.mqtt.topic_alias_maximum = SERVER_MAX).await
}

/// QoS 1 PUBLISH of `payload` to `topic` (may be empty) with `alias`.
fn aliased(client: &mut RawClient, topic: &str, alias: Option<u16>, payload: &[u8]) -> Publish {
    let id = client.next_packet_id().get();
    let mut publish = publish_packet(topic, payload, QoS::AtLeastOnce, false, Some(id));
    publish.properties.topic_alias = alias;
    publish
}

async fn subscriber(addr: SocketAddr, filter: &str, alias_max: Option<u16>) -> RawClient {
    let connect = Connect {
        properties: starling_codec::Properties {
            topic_alias_maximum: alias_max,
            ..Default::default()
        },
        ..connect_packet(V, "sub")
    };
    let (mut client, connack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    client.subscribe(filter, QoS::AtLeastOnce).await;
    client
}

#[tokio::test]
async fn mqtt_3_3_2_12_client_sets_and_reuses_a_topic_alias() {
    let broker = start().await;
    let (mut publisher, connack) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    assert_eq!(connack.properties.topic_alias_maximum, Some(SERVER_MAX));
    let mut sub = subscriber(broker.addr(), "alias/#", None).await;
    let steps = [
        ("alias/one", Some(1), "set 1"),
        ("", Some(1), "reuse 1"),
        ("alias/two", Some(SERVER_MAX), "set max"),
        ("", Some(SERVER_MAX), "reuse max"),
        ("alias/three", Some(1), "remap 1"),
        ("", Some(1), "reuse remapped 1"),
        ("alias/plain", None, "no alias"),
    ];
    for (topic, alias, what) in steps {
        let publish = aliased(&mut publisher, topic, alias, what.as_bytes());
        let rc = publisher.publish_with(publish).await;
        assert_eq!(rc, ReasonCode::Success, "{what}");
    }
    let want = [
        "alias/one",
        "alias/one",
        "alias/two",
        "alias/two",
        "alias/three",
        "alias/three",
        "alias/plain",
    ];
    for (topic, (_, _, what)) in want.iter().zip(steps) {
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), *topic, "{what}");
        assert_eq!(&msg.payload[..], what.as_bytes());
        assert_eq!(
            msg.properties.topic_alias, None,
            "the subscriber allowed none"
        );
    }
}

#[tokio::test]
async fn mqtt_3_3_2_9_alias_over_the_maximum_is_topic_alias_invalid() {
    let broker = start().await;
    for alias in [SERVER_MAX + 1, u16::MAX] {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "bad", true).await;
        let publish = aliased(&mut client, "alias/x", Some(alias), b"x");
        client.send(&starling_codec::Packet::Publish(publish)).await;
        client
            .expect_disconnect(ReasonCode::TopicAliasInvalid)
            .await;
    }
}

#[tokio::test]
async fn mqtt_3_3_2_8_alias_zero_is_topic_alias_invalid() {
    let broker = start().await;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "bad", true).await;
    let publish = aliased(&mut client, "alias/x", Some(0), b"x");
    client.send(&starling_codec::Packet::Publish(publish)).await;
    client
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
}

#[tokio::test]
async fn mqtt_3_3_4_unknown_alias_with_an_empty_topic_is_a_protocol_error() {
    let broker = start().await;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "bad", true).await;
    let publish = aliased(&mut client, "", Some(2), b"x");
    client.send(&starling_codec::Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;

    // An alias set on a previous connection does not carry over.
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "bad", true).await;
    let publish = aliased(&mut client, "alias/set", Some(1), b"x");
    client.publish_with(publish).await;
    client.disconnect().await;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "bad", true).await;
    let publish = aliased(&mut client, "", Some(1), b"x");
    client.send(&starling_codec::Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
}

#[tokio::test]
async fn mqtt_3_3_2_11_server_uses_aliases_the_client_allows() {
    let broker = start().await;
    let mut sub = subscriber(broker.addr(), "down/#", Some(2)).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    for topic in ["down/a", "down/a", "down/a"] {
        publisher
            .publish(topic, b"x", QoS::AtLeastOnce, false)
            .await;
    }
    let first = sub.recv_and_ack().await;
    assert_eq!(
        first.topic.as_str(),
        "down/a",
        "the first carries the topic"
    );
    let alias = first
        .properties
        .topic_alias
        .expect("the server set an alias");
    assert!(
        (1..=2).contains(&alias),
        "within the client's maximum: {alias}"
    );
    for _ in 0..2 {
        let next = sub.recv_and_ack().await;
        assert_eq!(next.topic.as_str(), "", "later ones use the alias alone");
        assert_eq!(next.properties.topic_alias, Some(alias));
    }
}

#[tokio::test]
async fn mqtt_3_3_2_10_no_server_aliases_when_the_client_allows_none() {
    let broker = start().await;
    for announced in [Some(0), None] {
        let mut sub = subscriber(broker.addr(), "down/#", announced).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
        for _ in 0..3 {
            publisher
                .publish("down/a", b"x", QoS::AtLeastOnce, false)
                .await;
        }
        for _ in 0..3 {
            let msg = sub.recv_and_ack().await;
            assert_eq!(msg.topic.as_str(), "down/a", "{announced:?}");
            assert_eq!(msg.properties.topic_alias, None, "{announced:?}");
        }
        sub.disconnect().await;
    }
}

/// Resolves server-to-client aliases as a client must, checking every PUBLISH against `max`.
struct AliasTable {
    max: u16,
    map: std::collections::HashMap<u16, String>,
}

impl AliasTable {
    fn resolve(&mut self, msg: &Publish) -> String {
        match msg.properties.topic_alias {
            None => {
                assert!(!msg.topic.is_empty(), "an empty topic needs an alias");
                msg.topic.as_str().to_owned()
            }
            Some(a) => {
                assert!(
                    a >= 1 && a <= self.max,
                    "[MQTT-3.1.2-26] alias {a} > {}",
                    self.max
                );
                if msg.topic.is_empty() {
                    match self.map.get(&a) {
                        Some(t) => t.clone(),
                        None => panic!("alias {a} used before it was set on this connection"),
                    }
                } else {
                    self.map.insert(a, msg.topic.as_str().to_owned());
                    msg.topic.as_str().to_owned()
                }
            }
        }
    }
}

#[tokio::test]
async fn mqtt_3_1_2_26_server_aliases_stay_within_a_small_maximum() {
    let broker = start().await;
    let mut sub = subscriber(broker.addr(), "down/#", Some(1)).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    let topics = ["down/a", "down/b", "down/a", "down/c", "down/c", "down/a"];
    for topic in topics {
        publisher
            .publish(topic, topic, QoS::AtLeastOnce, false)
            .await;
    }
    let mut table = AliasTable {
        max: 1,
        map: Default::default(),
    };
    for topic in topics {
        let msg = sub.recv_and_ack().await;
        assert_eq!(table.resolve(&msg), topic);
        assert_eq!(&msg.payload[..], topic.as_bytes());
    }
}

#[tokio::test]
async fn mqtt_3_3_2_10_server_aliases_do_not_survive_a_reconnect() {
    let broker = start().await;
    let persistent = || {
        let mut connect = connect_packet(V, "resume");
        connect.clean_start = false;
        connect.properties.session_expiry_interval = Some(60);
        connect.properties.topic_alias_maximum = Some(4);
        connect
    };
    let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent()).await;
    sub.subscribe("down/#", QoS::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), V, "pub", true).await;
    // Two messages on one topic: the second uses the alias alone. Neither is acknowledged.
    for i in 0..2u8 {
        publisher
            .publish("down/a", [i], QoS::AtLeastOnce, false)
            .await;
    }
    let mut table = AliasTable {
        max: 4,
        map: Default::default(),
    };
    for _ in 0..2 {
        let msg = sub.recv_publish().await;
        assert_eq!(table.resolve(&msg), "down/a");
    }
    sub.drop_connection();
    publisher
        .publish("down/a", [2], QoS::AtLeastOnce, false)
        .await;

    // A new connection starts with no aliases [MQTT-3.3.2-7]: redelivered and queued messages
    // must carry the topic (or set the alias again).
    let (mut sub, connack) = RawClient::connect_with(broker.addr(), persistent()).await;
    assert!(connack.session_present);
    let mut table = AliasTable {
        max: 4,
        map: Default::default(),
    };
    for i in 0..3u8 {
        let msg = sub.recv_and_ack().await;
        assert_eq!(table.resolve(&msg), "down/a", "message {i}: {msg:?}");
        assert_eq!(&msg.payload[..], [i]);
    }
}

#[tokio::test]
async fn v5_aliases_over_max_topic_alias_bytes_are_quota_exceeded() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.topic_alias_maximum = SERVER_MAX;
        cfg.mqtt.max_topic_alias_bytes = 16;
    })
    .await;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "big", true).await;
    // 8 + 8 bytes fit exactly (acknowledged); one more byte does not.
    for (topic, alias) in [("alias/aa", 1), ("alias/bb", 2)] {
        let publish = aliased(&mut client, topic, Some(alias), b"x");
        assert_eq!(client.publish_with(publish).await, ReasonCode::Success);
    }
    let publish = aliased(&mut client, "c", Some(3), b"x");
    client.send(&starling_codec::Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::QuotaExceeded).await;
}

#[tokio::test]
async fn v5_any_alias_is_topic_alias_invalid_when_topic_alias_maximum_is_0() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.topic_alias_maximum = 0).await;
    for alias in [1, SERVER_MAX, u16::MAX] {
        let (mut client, connack) = RawClient::mqtt_connect(broker.addr(), V, "none", true).await;
        assert_eq!(connack.properties.topic_alias_maximum, Some(0));
        let publish = aliased(&mut client, "alias/x", Some(alias), b"x");
        client.send(&starling_codec::Packet::Publish(publish)).await;
        // [MQTT-3.3.2-9]: above the Topic Alias Maximum the server sent (0).
        client
            .expect_disconnect(ReasonCode::TopicAliasInvalid)
            .await;
    }
    // An empty topic with an alias is just as invalid.
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), V, "none", true).await;
    let publish = aliased(&mut client, "", Some(1), b"x");
    client.send(&starling_codec::Packet::Publish(publish)).await;
    client
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
}
