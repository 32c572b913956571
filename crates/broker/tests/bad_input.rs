//! Bad input after CONNECT (spec 1.5, 2.1, 2.2, 3.3.2, 4.13): malformed packets, protocol errors
//! and oversize packets. 5.0 gets a DISCONNECT with the reason code and the connection is closed
//! ([MQTT-4.13.1-1]); 3.1.1 is just closed ([MQTT-4.8.0-1] of 3.1.1). After each, a healthy
//! client must still get a publish/subscribe round trip through the broker.

use starling_codec::{
    ConnAck, Packet, Properties, ProtocolVersion, QoS, ReasonCode, SubAck, UnsubAck, Will,
};
use starling_testkit::{connect_packet, pid, string, versions, RawClient, TestBroker};
use std::net::SocketAddr;

/// Connects, sends `bytes` (built for the version), expects the close with `reason` (5.0), then
/// checks the broker still serves another client.
async fn rejects(
    broker: &TestBroker,
    bytes: impl Fn(ProtocolVersion) -> Vec<u8>,
    reason: ReasonCode,
) {
    for v in versions() {
        let (mut bad, _) = RawClient::mqtt_connect(broker.addr(), v, "bad", true).await;
        bad.send_bytes(&bytes(v)).await;
        bad.expect_disconnect(reason).await;
        healthy_round_trip(broker.addr(), v).await;
    }
}

/// Like [`rejects`] with a packet the codec can encode.
async fn rejects_packet(broker: &TestBroker, packet: Packet, reason: ReasonCode) {
    for v in versions() {
        let (mut bad, _) = RawClient::mqtt_connect(broker.addr(), v, "bad", true).await;
        bad.send(&packet).await;
        bad.expect_disconnect(reason).await;
        healthy_round_trip(broker.addr(), v).await;
    }
}

async fn healthy_round_trip(addr: SocketAddr, v: ProtocolVersion) {
    let (mut good, _) = RawClient::mqtt_connect(addr, v, "good", true).await;
    good.subscribe("healthy", QoS::AtLeastOnce).await;
    good.publish("healthy", b"still here", QoS::AtLeastOnce, false)
        .await;
    let msg = good.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"still here", "{v}");
    good.disconnect().await;
}

/// A QoS 0 PUBLISH to `topic` (raw bytes, not validated), with an empty 5.0 property list.
fn raw_publish(v: ProtocolVersion, first: u8, topic: &[u8], packet_id: Option<u16>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(topic.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(topic);
    if let Some(id) = packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    if v.is_v5() {
        body.push(0);
    }
    body.extend_from_slice(b"payload");
    let mut packet = vec![first, u8::try_from(body.len()).unwrap_or(0)];
    packet.extend(body);
    packet
}

#[tokio::test]
async fn mqtt_2_1_3_1_reserved_flag_bits_are_malformed() {
    let broker = TestBroker::start().await;
    // PINGREQ with flags 0001.
    rejects(&broker, |_| vec![0xC1, 0x00], ReasonCode::MalformedPacket).await;
    // SUBSCRIBE with flags 0000 instead of 0010 [MQTT-3.8.1-1].
    rejects(
        &broker,
        |v| {
            let mut p = vec![0x80, 0, 0x00, 0x01];
            if v.is_v5() {
                p.push(0);
            }
            p.extend_from_slice(&[0x00, 0x01, b'a', 0x00]);
            p[1] = u8::try_from(p.len() - 2).unwrap_or(0);
            p
        },
        ReasonCode::MalformedPacket,
    )
    .await;
}

#[tokio::test]
async fn mqtt_1_5_5_remaining_length_over_four_bytes_is_malformed() {
    let broker = TestBroker::start().await;
    rejects(
        &broker,
        |_| vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        ReasonCode::MalformedPacket,
    )
    .await;
}

#[tokio::test]
async fn mqtt_3_3_1_4_publish_with_qos_3_is_malformed() {
    let broker = TestBroker::start().await;
    rejects(
        &broker,
        |v| raw_publish(v, 0x36, b"t", Some(1)),
        ReasonCode::MalformedPacket,
    )
    .await;
}

#[tokio::test]
async fn mqtt_1_5_4_1_invalid_utf8_topic_is_malformed() {
    let broker = TestBroker::start().await;
    // 0xC3 0x28 is an invalid two-byte sequence; ED A0 80 is an encoded surrogate.
    rejects(
        &broker,
        |v| raw_publish(v, 0x30, &[b'a', 0xC3, 0x28], None),
        ReasonCode::MalformedPacket,
    )
    .await;
    rejects(
        &broker,
        |v| raw_publish(v, 0x30, &[0xED, 0xA0, 0x80], None),
        ReasonCode::MalformedPacket,
    )
    .await;
    // U+0000 [MQTT-1.5.4-2].
    rejects(
        &broker,
        |v| raw_publish(v, 0x30, b"a\0b", None),
        ReasonCode::MalformedPacket,
    )
    .await;
}

#[tokio::test]
async fn mqtt_3_3_2_2_wildcard_in_publish_topic_is_refused() {
    let broker = TestBroker::start().await;
    for topic in [&b"a/+"[..], b"a/#", b"#"] {
        rejects(
            &broker,
            |v| raw_publish(v, 0x30, topic, None),
            ReasonCode::TopicNameInvalid,
        )
        .await;
    }
}

#[tokio::test]
async fn mqtt_2_2_1_2_publish_qos1_with_packet_id_zero_is_refused() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let (mut bad, _) = RawClient::mqtt_connect(broker.addr(), v, "bad", true).await;
        bad.send_bytes(&raw_publish(v, 0x32, b"t", Some(0))).await;
        let disconnect = bad.expect_closed().await;
        if v.is_v5() {
            let rc = disconnect.expect("5.0 DISCONNECT").reason_code;
            assert!(
                matches!(rc, ReasonCode::MalformedPacket | ReasonCode::ProtocolError),
                "got {rc}"
            );
        } else {
            assert_eq!(disconnect, None);
        }
        healthy_round_trip(broker.addr(), v).await;
    }
}

#[tokio::test]
async fn mqtt_3_10_3_2_empty_unsubscribe_closes_the_connection() {
    let broker = TestBroker::start().await;
    // 5.0 section 3.10.3: "An UNSUBSCRIBE packet with no Payload is a Protocol Error".
    rejects(
        &broker,
        |v| {
            if v.is_v5() {
                vec![0xA2, 0x03, 0x00, 0x01, 0x00]
            } else {
                vec![0xA2, 0x02, 0x00, 0x01]
            }
        },
        ReasonCode::ProtocolError,
    )
    .await;
}

#[tokio::test]
async fn mqtt_3_2_server_only_packets_from_a_client_are_a_protocol_error() {
    let broker = TestBroker::start().await;
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: Properties::default(),
    });
    rejects_packet(&broker, connack, ReasonCode::ProtocolError).await;
    let suback = Packet::SubAck(SubAck {
        packet_id: pid(1),
        reason_codes: vec![ReasonCode::Success],
        properties: Properties::default(),
    });
    rejects_packet(&broker, suback, ReasonCode::ProtocolError).await;
    let unsuback = Packet::UnsubAck(UnsubAck {
        packet_id: pid(1),
        reason_codes: vec![ReasonCode::Success],
        properties: Properties::default(),
    });
    rejects_packet(&broker, unsuback, ReasonCode::ProtocolError).await;
    rejects_packet(&broker, Packet::PingResp, ReasonCode::ProtocolError).await;
}

#[tokio::test]
async fn mqtt_3_1_2_24_packet_over_maximum_packet_size_is_refused() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_packet_size = 1024).await;
    for v in versions() {
        let (mut bad, connack) = RawClient::mqtt_connect(broker.addr(), v, "big", true).await;
        if v.is_v5() {
            assert_eq!(connack.properties.maximum_packet_size, Some(1024));
        }
        // Only the header is sent: the broker must refuse on the declared size alone.
        bad.send_bytes(&[0x30, 0xD0, 0x0F]).await; // PUBLISH, remaining length 2000
        bad.expect_disconnect(ReasonCode::PacketTooLarge).await;
        healthy_round_trip(broker.addr(), v).await;

        // A packet just under the limit is fine.
        let (mut ok, _) = RawClient::mqtt_connect(broker.addr(), v, "fits", true).await;
        ok.subscribe("fits", QoS::AtMostOnce).await;
        ok.publish("fits", vec![1u8; 900], QoS::AtMostOnce, false)
            .await;
        assert_eq!(ok.recv_publish().await.payload.len(), 900, "{v}");
    }
}

#[tokio::test]
async fn mqtt_3_14_v5_disconnect_after_bad_input_carries_no_packets_after_it() {
    // After the DISCONNECT nothing else is read: a healthy PUBLISH sent after the bad bytes in
    // the same write must not be delivered.
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "watch", true).await;
    sub.subscribe("after-bad", QoS::AtMostOnce).await;
    sub.subscribe("after-bad/will", QoS::AtMostOnce).await;
    // The sentinel is the bad client's will: its connection publishes it once it has ended,
    // after anything it read had gone to the router.
    let mut connect = connect_packet(v, "bad");
    connect.will = Some(Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: string("after-bad/will"),
        payload: RawClient::bytes(b"will"),
        properties: Default::default(),
    });
    let (mut bad, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    let mut bytes = vec![0xC1, 0x00];
    bytes.extend(raw_publish(v, 0x30, b"after-bad", None));
    bad.send_bytes(&bytes).await;
    bad.expect_disconnect(ReasonCode::MalformedPacket).await;
    sub.expect_next_publish_on("after-bad/will").await;
}
