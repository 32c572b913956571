//! PUBLISH and its QoS 1/2 handshakes in both directions (spec 3.3 to 3.7, 4.3, 4.4, 4.6, 4.9):
//! delivery QoS, ordering, exactly-once, packet identifiers, flow control, and redelivery when a
//! session resumes.

use starling_codec::{Connect, Packet, ProtocolVersion, PubResp, Publish, QoS, ReasonCode};
use starling_testkit::{connect_packet, pid, publish_packet, versions, RawClient, TestBroker};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// A topic subscribers also subscribe to for the sentinel that shows nothing more is coming
/// (see [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/publish_qos";

/// Nothing more from `publisher` is on its way to `sub`: a sentinel `publisher` sends now at
/// `qos` is the next packet `sub` gets (one publisher's messages reach one subscriber in
/// order). `sub` must subscribe to [`SENTINEL`] at `qos` or more. At QoS 0 the sentinel is sent
/// at once, past a full inflight window and the session queue.
async fn expect_sentinel_next(publisher: &mut RawClient, sub: &mut RawClient, qos: QoS) {
    let rc = publisher.publish(SENTINEL, b"sentinel", qos, false).await;
    assert!(rc.is_success(), "{}: {rc:?}", sub.version());
    let sentinel = sub.expect_next_publish_on(SENTINEL).await;
    assert_eq!(sentinel.qos, qos, "{}", sub.version());
}

/// A persistent-session CONNECT (3.x: clean session 0; 5.0: expiry 300 s).
fn persistent(v: ProtocolVersion, id: &str) -> Connect {
    let mut connect = connect_packet(v, id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = v.is_v5().then_some(300);
    connect
}

async fn subscriber(
    addr: SocketAddr,
    v: ProtocolVersion,
    id: &str,
    filter: &str,
    qos: QoS,
) -> RawClient {
    let (mut client, _) = RawClient::mqtt_connect(addr, v, id, true).await;
    let ack = client.subscribe(filter, qos).await;
    assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
    client
}

#[tokio::test]
async fn mqtt_4_3_each_qos_is_delivered_with_a_full_handshake() {
    let broker = TestBroker::start().await;
    for v in versions() {
        for qos in QOS {
            let topic = format!("qos/{v}/{}", qos.as_u8());
            let mut sub = subscriber(broker.addr(), v, "sub", &topic, QoS::ExactlyOnce).await;
            sub.subscribe(SENTINEL, QoS::ExactlyOnce).await;
            let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
            let rc = publisher.publish(&topic, b"hello", qos, false).await;
            assert_eq!(rc, ReasonCode::Success, "{v} QoS {qos:?}");
            let msg = sub.recv_publish().await;
            assert_eq!(msg.qos, qos, "{v}");
            assert_eq!(msg.topic.as_str(), topic);
            assert_eq!(&msg.payload[..], b"hello");
            assert!(!msg.dup, "{v}: first delivery");
            assert!(!msg.retain, "{v}: a live message is not retained");
            assert_eq!(msg.packet_id.is_some(), qos != QoS::AtMostOnce, "{v}");
            sub.ack(&msg).await;
            // The handshake is over (the ping: whatever answers the ack came before the
            // PINGRESP) and the message came once (the publisher's sentinel comes next).
            sub.ping().await;
            expect_sentinel_next(&mut publisher, &mut sub, qos).await;
        }
    }
}

#[tokio::test]
async fn mqtt_3_8_4_delivery_qos_is_the_minimum_of_publish_and_subscription() {
    let broker = TestBroker::start().await;
    for v in versions() {
        for sub_qos in QOS {
            let topic = format!("min/{v}/{}", sub_qos.as_u8());
            let mut sub = subscriber(broker.addr(), v, "sub", &topic, sub_qos).await;
            let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
            for pub_qos in QOS {
                publisher
                    .publish(&topic, [pub_qos.as_u8()], pub_qos, false)
                    .await;
                let msg = sub.recv_and_ack().await;
                assert_eq!(msg.payload[0], pub_qos.as_u8());
                assert_eq!(
                    msg.qos,
                    pub_qos.min(sub_qos),
                    "{v}: pub {pub_qos:?} sub {sub_qos:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn mqtt_4_6_ordering_is_preserved_per_topic_per_publisher() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("order/{v}");
        let mut sub = subscriber(broker.addr(), v, "sub", &topic, QoS::AtLeastOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        const N: u32 = 200;
        for i in 0..N {
            let id = publisher.next_packet_id();
            let publish = publish_packet(
                &topic,
                &i.to_be_bytes(),
                QoS::AtLeastOnce,
                false,
                Some(id.get()),
            );
            // Do not wait for each PUBACK: the broker must keep the order anyway.
            publisher.send(&Packet::Publish(publish)).await;
        }
        for i in 0..N {
            let msg = sub.recv_and_ack().await;
            assert_eq!(
                &msg.payload[..],
                &i.to_be_bytes(),
                "{v}: message {i} out of order"
            );
        }
        let mut acks = 0;
        while acks < N {
            match publisher.recv().await {
                Packet::PubAck(_) => acks += 1,
                other => panic!("{v}: expected PUBACK, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn mqtt_4_3_3_repeated_qos2_publish_before_pubrel_is_delivered_once() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("once/{v}");
        let mut sub = subscriber(broker.addr(), v, "sub", &topic, QoS::ExactlyOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        let mut publish = publish_packet(&topic, b"once", QoS::ExactlyOnce, false, Some(7));
        publisher.send(&Packet::Publish(publish.clone())).await;
        assert!(matches!(publisher.recv().await, Packet::PubRec(r) if r.packet_id == pid(7)));
        publish.dup = true;
        publisher.send(&Packet::Publish(publish)).await;
        assert!(
            matches!(publisher.recv().await, Packet::PubRec(r) if r.packet_id == pid(7)),
            "{v}: the duplicate is acknowledged again"
        );
        publisher.send(&Packet::PubRel(PubResp::new(pid(7)))).await;
        assert!(matches!(publisher.recv().await, Packet::PubComp(c) if c.packet_id == pid(7)));

        let msg = sub.recv_and_ack().await;
        assert_eq!(&msg.payload[..], b"once");

        // After PUBCOMP the id is free again: a new message with it is a new message. It is
        // also the sentinel: had the duplicate been routed too, it would come before it.
        publisher
            .publish_with(publish_packet(
                &topic,
                b"again",
                QoS::ExactlyOnce,
                false,
                Some(7),
            ))
            .await;
        assert_eq!(&sub.recv_and_ack().await.payload[..], b"again", "{v}");
    }
}

#[tokio::test]
async fn mqtt_3_7_2_1_pubrel_for_an_unknown_id_gets_pubcomp() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "rel", true).await;
        client.send(&Packet::PubRel(PubResp::new(pid(42)))).await;
        match client.recv().await {
            Packet::PubComp(comp) => {
                assert_eq!(comp.packet_id, pid(42));
                let expected = if v.is_v5() {
                    ReasonCode::PacketIdentifierNotFound
                } else {
                    ReasonCode::Success
                };
                assert_eq!(comp.reason_code, expected, "{v}");
            }
            other => panic!("{v}: expected PUBCOMP, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn mqtt_2_2_1_outgoing_packet_ids_never_collide() {
    // More messages than the inflight window, acknowledged out of order.
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_inflight = 8).await;
    for v in versions() {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("ids/{v}/{}", qos.as_u8());
            let mut sub = subscriber(broker.addr(), v, "sub", &topic, qos).await;
            // Granted QoS 0: the sentinel is sent at once, past the full window.
            sub.subscribe(SENTINEL, QoS::AtMostOnce).await;
            let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
            const N: usize = 40;
            for i in 0..N {
                publisher
                    .publish(&topic, (i as u32).to_be_bytes(), qos, false)
                    .await;
            }
            let mut received = 0;
            let mut in_flight: Vec<Publish> = Vec::new();
            while received < N {
                // Take everything the broker is willing to send now: all it sends before a
                // QoS 0 sentinel from the publisher (the acks of the previous round were
                // handled, and the window refilled, before the PINGRESP below).
                publisher
                    .publish(SENTINEL, b"sentinel", QoS::AtMostOnce, false)
                    .await;
                loop {
                    let msg = sub.recv_publish().await;
                    if msg.topic.as_str() == SENTINEL {
                        break;
                    }
                    let id = msg.packet_id.expect("QoS > 0 has an id");
                    assert!(
                        in_flight.iter().all(|m| m.packet_id != Some(id)),
                        "{v}: packet id {id} reused while still in flight"
                    );
                    in_flight.push(msg);
                    received += 1;
                }
                assert!(
                    !in_flight.is_empty(),
                    "{v}: nothing in flight but only {received}/{N} received"
                );
                assert!(
                    in_flight.len() <= 8,
                    "{v}: more than max_inflight unacknowledged"
                );
                // Acknowledge the newest half first, out of order.
                let keep = in_flight.len() / 2;
                let mut to_ack = in_flight.split_off(keep);
                to_ack.reverse();
                if in_flight.len() + to_ack.len() == 1 || to_ack.is_empty() {
                    to_ack.append(&mut in_flight);
                }
                for msg in to_ack {
                    sub.ack(&msg).await;
                }
                if received == N {
                    for msg in std::mem::take(&mut in_flight) {
                        sub.ack(&msg).await;
                    }
                }
                sub.ping().await;
            }
            // Nothing more than the N: the next message is the publisher's sentinel.
            expect_sentinel_next(&mut publisher, &mut sub, QoS::AtMostOnce).await;
        }
    }
}

#[tokio::test]
async fn mqtt_4_9_client_receive_maximum_limits_unacknowledged_publishes() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "slow");
    connect.properties.receive_maximum = Some(2);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    sub.subscribe("flow", QoS::AtLeastOnce).await;
    // Granted QoS 0: the sentinel is sent at once, past the full window.
    sub.subscribe(SENTINEL, QoS::AtMostOnce).await;
    let (mut publisher, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "pub", true).await;
    for i in 0u8..6 {
        publisher
            .publish("flow", [i], QoS::AtLeastOnce, false)
            .await;
    }
    let mut expected = 0u8;
    while expected < 6 {
        let first = sub.recv_publish().await;
        let mut window = vec![first];
        if expected + 1 < 6 {
            window.push(sub.recv_publish().await);
        }
        // No third PUBLISH while two are unacknowledged [MQTT-3.3.4-9]: the rest were queued
        // (or, in later rounds, left queued when the window refilled) before the publisher's
        // QoS 0 sentinel, which comes next.
        expect_sentinel_next(&mut publisher, &mut sub, QoS::AtMostOnce).await;
        for msg in window {
            assert_eq!(msg.payload[0], expected, "in order");
            expected += 1;
            sub.ack(&msg).await;
        }
        // The acks were handled (and the window refilled) before the next sentinel.
        sub.ping().await;
    }
    expect_sentinel_next(&mut publisher, &mut sub, QoS::AtMostOnce).await;
}

#[tokio::test]
async fn mqtt_4_4_unacknowledged_qos1_is_resent_with_dup_on_resume() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("dup-{v}");
        let topic = format!("dup/{v}");
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        sub.subscribe(&topic, QoS::AtLeastOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        publisher
            .publish(&topic, b"unacked", QoS::AtLeastOnce, false)
            .await;
        let first = sub.recv_publish().await;
        assert!(!first.dup);
        sub.drop_connection(); // no PUBACK

        let (mut sub, connack) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        assert!(connack.session_present, "{v}");
        let again = sub.recv_publish().await;
        assert!(again.dup, "{v}: resent with DUP=1 [MQTT-4.4.0-1]");
        assert_eq!(again.packet_id, first.packet_id, "{v}: same packet id");
        assert_eq!(again.payload, first.payload);
        assert_eq!(again.qos, QoS::AtLeastOnce);
        sub.ack(&again).await;
        // Resent once: the client's own sentinel comes next.
        sub.expect_nothing_before_own_sentinel(&topic).await;
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_4_4_pubrel_is_resent_on_resume_after_pubrec() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("rel-{v}");
        let topic = format!("rel/{v}");
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        sub.subscribe(&topic, QoS::ExactlyOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        publisher
            .publish(&topic, b"two", QoS::ExactlyOnce, false)
            .await;
        let msg = sub.recv_publish().await;
        let packet_id = msg.packet_id.expect("QoS 2");
        sub.send(&Packet::PubRec(PubResp::new(packet_id))).await;
        match sub.recv().await {
            Packet::PubRel(rel) => assert_eq!(rel.packet_id, packet_id),
            other => panic!("{v}: expected PUBREL, got {other:?}"),
        }
        sub.drop_connection(); // no PUBCOMP

        let (mut sub, connack) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        assert!(connack.session_present);
        match sub.recv().await {
            Packet::PubRel(rel) => assert_eq!(rel.packet_id, packet_id, "{v}"),
            other => panic!("{v}: expected the PUBREL again (not the PUBLISH), got {other:?}"),
        }
        sub.send(&Packet::PubComp(PubResp::new(packet_id))).await;
        // Not the PUBLISH again, nor anything else: the client's own sentinel comes next.
        sub.expect_nothing_before_own_sentinel(&topic).await;
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_3_4_messages_published_while_offline_are_delivered_on_resume() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("offline-{v}");
        let topic = format!("offline/{v}");
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        sub.subscribe(&topic, QoS::ExactlyOnce).await;
        sub.disconnect().await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        let mut want = HashSet::new();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            publisher.publish(&topic, [qos.as_u8()], qos, false).await;
            want.insert(qos.as_u8());
        }
        let (mut sub, connack) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        assert!(connack.session_present);
        for expected in [1u8, 2] {
            let msg = sub.recv_and_ack().await;
            assert_eq!(msg.payload[0], expected, "{v}: in publish order");
            assert_eq!(msg.qos.as_u8(), expected);
        }
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_2_2_11_v5_publish_above_maximum_qos_is_refused() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_qos = 1).await;
    let (mut client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "qos2", true).await;
    assert_eq!(connack.properties.maximum_qos, Some(1));
    let publish = publish_packet("q", b"x", QoS::ExactlyOnce, false, Some(1));
    client.send(&Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::QoSNotSupported).await;
}

#[tokio::test]
async fn mqtt_3_3_4_9_v5_exceeding_the_server_receive_maximum_is_refused() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.receive_maximum = 2;
        cfg.mqtt.max_awaiting_rel = 2;
    })
    .await;
    let (mut client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "greedy", true).await;
    assert_eq!(connack.properties.receive_maximum, Some(2));
    // QoS 2 messages stay unacknowledged until PUBREL: the third is one too many. (Sent after
    // the PUBRECs: a PUBREC waits for the router's answer, and a connection that closes first
    // sends none of what waits.)
    for id in 1..=2 {
        let publish = publish_packet("rm", b"x", QoS::ExactlyOnce, false, Some(id));
        client.send(&Packet::Publish(publish)).await;
    }
    for id in 1..=2 {
        match client.recv().await {
            Packet::PubRec(rec) => assert_eq!(rec.packet_id, pid(id)),
            other => panic!("expected PUBREC, got {other:?}"),
        }
    }
    let publish = publish_packet("rm", b"x", QoS::ExactlyOnce, false, Some(3));
    client.send(&Packet::Publish(publish)).await;
    client
        .expect_disconnect(ReasonCode::ReceiveMaximumExceeded)
        .await;
}

#[tokio::test]
async fn mqtt_3_1_2_25_v5_message_larger_than_client_maximum_packet_size_is_not_sent() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "small");
    connect.properties.maximum_packet_size = Some(128);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect).await;
    sub.subscribe("size", QoS::AtLeastOnce).await;
    let (mut publisher, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "pub", true).await;
    publisher
        .publish("size", vec![0u8; 500], QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("size", b"small", QoS::AtLeastOnce, false)
        .await;
    // The big one is discarded [MQTT-3.1.2-25]; the small one still arrives.
    let msg = sub.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"small");
}

#[tokio::test]
async fn mqtt_3_3_2_3_3_v5_expired_queued_message_is_not_delivered() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, "expiry")).await;
    sub.subscribe("exp", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
    let mut short = publish_packet("exp", b"short", QoS::AtLeastOnce, false, Some(1));
    short.properties.message_expiry_interval = Some(1);
    publisher.publish_with(short).await;
    let mut long = publish_packet("exp", b"long", QoS::AtLeastOnce, false, Some(2));
    long.properties.message_expiry_interval = Some(3600);
    publisher.publish_with(long).await;
    // The scenario, not synchronisation: wall time must pass the 1 s expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, "expiry")).await;
    let msg = sub.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"long", "[MQTT-3.3.2-5]");
    let left = msg.properties.message_expiry_interval.expect("forwarded");
    assert!(
        left < 3600,
        "the time spent queued is subtracted [MQTT-3.3.2-6], got {left}"
    );
    // Not the expired one either (after it, or at all): the client's own sentinel comes next.
    sub.expect_nothing_before_own_sentinel("exp").await;
}

#[tokio::test]
async fn mqtt_3_1_v31_client_publishes_and_receives_at_every_qos() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V3_1;
    let mut sub = subscriber(broker.addr(), v, "sub31", "v31", QoS::ExactlyOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub31", true).await;
    for qos in QOS {
        publisher.publish("v31", [qos.as_u8()], qos, false).await;
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.qos, qos);
    }
    // And across versions: a 3.1 publisher reaches a 5.0 subscriber.
    let mut sub5 = subscriber(
        broker.addr(),
        ProtocolVersion::V5,
        "sub5",
        "v31",
        QoS::AtLeastOnce,
    )
    .await;
    publisher
        .publish("v31", b"cross", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(&sub5.recv_and_ack().await.payload[..], b"cross");
    assert_eq!(&sub.recv_and_ack().await.payload[..], b"cross");
}

#[tokio::test]
async fn mqtt_4_6_resume_resends_inflight_with_dup_then_queued_in_order() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_inflight = 2).await;
    for v in versions() {
        let id = format!("window-{v}");
        let topic = format!("window/{v}");
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        sub.subscribe(&topic, QoS::AtLeastOnce).await;
        // Granted QoS 0: the sentinel is sent at once, past the full window.
        sub.subscribe(SENTINEL, QoS::AtMostOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        for i in 0u8..5 {
            publisher
                .publish(&topic, [i], QoS::AtLeastOnce, false)
                .await;
        }
        // Two are in flight (the window), none acknowledged.
        let a = sub.recv_publish().await;
        let b = sub.recv_publish().await;
        assert_eq!((a.payload[0], b.payload[0]), (0, 1), "{v}");
        // And no third: the other three were queued before the QoS 0 sentinel, which comes next.
        expect_sentinel_next(&mut publisher, &mut sub, QoS::AtMostOnce).await;
        sub.drop_connection();

        let (mut sub, connack) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        assert!(connack.session_present);
        for i in 0u8..5 {
            let msg = sub.recv_and_ack().await;
            assert_eq!(msg.payload[0], i, "{v}: order kept across the resume");
            assert_eq!(
                msg.dup,
                i < 2,
                "{v}: only the ones sent before carry DUP ({msg:?})"
            );
        }
        // Each once: the client's own sentinel comes next.
        sub.expect_nothing_before_own_sentinel(&topic).await;
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_moves_unacknowledged_messages_to_the_new_connection() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("move-{v}");
        let topic = format!("move/{v}");
        let (mut old, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        old.subscribe(&topic, QoS::ExactlyOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        publisher
            .publish(&topic, b"q1", QoS::AtLeastOnce, false)
            .await;
        publisher
            .publish(&topic, b"q2", QoS::ExactlyOnce, false)
            .await;
        let first = old.recv_publish().await;
        let second = old.recv_publish().await;
        // Keep the old connection open: the new one takes over.
        let (mut new, connack) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        assert!(connack.session_present, "{v}");
        old.expect_disconnect(ReasonCode::SessionTakenOver).await;
        for sent in [first, second] {
            let again = new.recv_and_ack().await;
            assert!(again.dup, "{v}");
            assert_eq!(again.packet_id, sent.packet_id, "{v}");
            assert_eq!(again.payload, sent.payload, "{v}");
        }
        // Each once: the client's own sentinel comes next.
        new.expect_nothing_before_own_sentinel(&topic).await;
        new.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_4_qos0_is_queued_for_an_offline_persistent_session() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("q0-{v}");
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        sub.subscribe("q0", QoS::AtMostOnce).await;
        sub.disconnect().await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        publisher
            .publish("q0", b"zero", QoS::AtMostOnce, false)
            .await;
        publisher.ping().await;
        // The router handles the publish before any later command from any client.
        let (mut sub, _) = RawClient::connect_with(broker.addr(), persistent(v, &id)).await;
        let msg = sub.recv_publish().await;
        assert_eq!(
            (&msg.payload[..], msg.qos),
            (&b"zero"[..], QoS::AtMostOnce),
            "{v}"
        );
        sub.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_4_3_3_v311_qos2_pipelining_is_bounded_by_max_awaiting_rel_not_receive_maximum() {
    // 3.1.1 has no Receive Maximum: a client may have many QoS 2 messages awaiting PUBREL. The
    // broker bounds them with `mqtt.max_awaiting_rel` (default 100), not the 5.0 receive maximum.
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.receive_maximum = 4;
        cfg.mqtt.max_awaiting_rel = 10;
    })
    .await;
    let v = ProtocolVersion::V3_1_1;
    let mut sub = subscriber(broker.addr(), v, "sub", "pipe", QoS::AtMostOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pipe", true).await;
    for id in 1..=10 {
        let publish = publish_packet("pipe", &[id as u8], QoS::ExactlyOnce, false, Some(id));
        publisher.send(&Packet::Publish(publish)).await;
    }
    for id in 1..=10 {
        match publisher.recv().await {
            Packet::PubRec(rec) => assert_eq!(rec.packet_id, pid(id)),
            other => panic!("expected PUBREC {id}, got {other:?}"),
        }
    }
    for id in 1..=10 {
        publisher.send(&Packet::PubRel(PubResp::new(pid(id)))).await;
        assert!(matches!(publisher.recv().await, Packet::PubComp(c) if c.packet_id == pid(id)));
    }
    for id in 1..=10u8 {
        assert_eq!(sub.recv_publish().await.payload[0], id);
    }
    // One more than max_awaiting_rel closes the connection (the last sent once the others
    // are acknowledged: what waits at the gate is not sent by a connection that closes).
    for id in 11..=20 {
        let publish = publish_packet("pipe", b"x", QoS::ExactlyOnce, false, Some(id));
        publisher.send(&Packet::Publish(publish)).await;
    }
    for _ in 11..=20 {
        assert!(matches!(publisher.recv().await, Packet::PubRec(_)));
    }
    let publish = publish_packet("pipe", b"x", QoS::ExactlyOnce, false, Some(21));
    publisher.send(&Packet::Publish(publish)).await;
    assert_eq!(publisher.expect_closed().await, None);
}

#[tokio::test]
async fn mqtt_4_3_an_ack_for_the_wrong_qos_closes_with_protocol_error() {
    let broker = TestBroker::start().await;
    for v in versions() {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("wrong-ack/{v}/{}", qos.as_u8());
            let mut sub = subscriber(broker.addr(), v, "sub", &topic, qos).await;
            let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
            publisher.publish(&topic, b"x", qos, false).await;
            let msg = sub.recv_publish().await;
            let id = msg.packet_id.expect("QoS 1/2 has a packet id");
            let ack = PubResp::new(id);
            // PUBREC for QoS 1, PUBACK for QoS 2.
            let packet = match qos {
                QoS::AtLeastOnce => Packet::PubRec(ack),
                _ => Packet::PubAck(ack),
            };
            sub.send(&packet).await;
            // [MQTT-4.3.2], [MQTT-4.3.3]: the ack does not belong to the exchange.
            sub.expect_disconnect(ReasonCode::ProtocolError).await;
        }
    }
}

#[tokio::test]
async fn mqtt_3_1_2_25_v5_resumed_inflight_too_large_for_the_new_maximum_packet_size_is_dropped() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut connect = persistent(v, "resize");
    connect.properties.receive_maximum = Some(1);
    let (mut sub, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    sub.subscribe("resize", QoS::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
    publisher
        .publish("resize", vec![0u8; 500], QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("resize", b"small", QoS::AtLeastOnce, false)
        .await;
    // The big one is in flight (not acknowledged), the small one queued behind it.
    let big = sub.recv_publish().await;
    assert_eq!(big.payload.len(), 500);
    sub.drop_connection();
    // Back with a Maximum Packet Size the big one does not fit: it is dropped, and the window
    // it held goes to the small one.
    connect.properties.maximum_packet_size = Some(128);
    let (mut sub, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert!(connack.session_present);
    let msg = sub.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"small");
}
