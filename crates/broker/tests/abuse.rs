//! What one client must not be able to do to the broker (issue "hardening"): exhaust its
//! memory, wedge it, or lock others out. One test per attack, each on the wire with the raw
//! test client, each waiting on explicit signals (acks, PINGRESP, `$SYS` events), never on
//! sleeps.

use bytes::BytesMut;
use starling_codec::{encode, Packet, QoS, ReasonCode};
use starling_testkit::{
    connect_packet, publish_packet, subscribe_packet, versions, wire, Event, ProtocolVersion,
    RawClient, TestBroker,
};
use std::collections::HashSet;
use std::time::Duration;

/// Resident memory of this test process (the broker runs in it), in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Stores `n` retained messages of 100 bytes under `r/`, and returns once the broker has
/// them all (a QoS 1 retained message sent last is acknowledged after the others were routed).
async fn store_retained(broker: &TestBroker, n: usize) {
    let version = ProtocolVersion::V5;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), version, "filler", true).await;
    let payload = [b'x'; 100];
    let packets: Vec<Packet> = (0..n)
        .map(|i| {
            let topic = format!("r/{}/{}", i % 100, i);
            Packet::Publish(publish_packet(
                &topic,
                &payload,
                QoS::AtMostOnce,
                true,
                None,
            ))
        })
        .collect();
    for chunk in packets.chunks(5000) {
        publisher.send_bytes(&wire(chunk, version)).await;
    }
    let rc = publisher
        .publish("r/last", payload, QoS::AtLeastOnce, true)
        .await;
    assert_eq!(rc, ReasonCode::Success);
    publisher.disconnect().await;
}

/// Item 1: 300 x `SUBSCRIBE #` in one write from a client that never reads, with many
/// retained messages stored. The broker used to hold every retained message once per SUBACK
/// (3.6 GB and climbing); now each subscription gets a cursor, paced by the client's credit.
#[tokio::test]
async fn retained_amplification_holds_constant_memory_and_still_delivers_everything() {
    let broker = TestBroker::start().await;
    const N: usize = 20_000;
    store_retained(&broker, N).await;
    let before = rss();

    let version = ProtocolVersion::V5;
    let (mut attacker, _) = RawClient::mqtt_connect(broker.addr(), version, "amp", true).await;
    let subscribes: Vec<Packet> = (1..=300)
        .map(|i| Packet::Subscribe(subscribe_packet(i, &[("#", QoS::AtMostOnce)])))
        .collect();
    attacker.send_bytes(&wire(&subscribes, version)).await;

    // The broker keeps serving others meanwhile: a round trip through the router, and a
    // subscription (behind the attacker's 300 in the router's inbox) that gets its answer.
    let (mut other, _) = RawClient::mqtt_connect(broker.addr(), version, "other", true).await;
    other.subscribe("r/7/7", QoS::AtLeastOnce).await;
    let retained = other.recv_publish().await;
    assert_eq!(retained.topic.as_str(), "r/7/7");
    other.ping().await;

    // 300 SUBACKs with 20,000 retained messages each would be 6 million deliveries (over a
    // gigabyte). What the attacker can make the broker hold is a cursor per subscription and
    // one credit's worth of messages, plus the socket buffers.
    let grown = rss().saturating_sub(before);
    assert!(grown < 64 << 20, "the broker grew by {} MB", grown >> 20);

    // Once it reads, the attacker gets its 300 SUBACKs and every retained message.
    let mut subacks = 0;
    let mut topics = HashSet::new();
    while subacks < 300 || topics.len() < N + 1 {
        match attacker.next_event(Duration::from_secs(30)).await {
            Event::Packet(Packet::SubAck(_)) => subacks += 1,
            Event::Packet(Packet::Publish(p)) => {
                assert!(p.retain);
                topics.insert(p.topic.as_str().to_owned());
            }
            other => panic!(
                "after {subacks} SUBACKs and {} topics: {other:?}",
                topics.len()
            ),
        }
    }
    broker.shutdown().await;
}

/// Item 2: one SUBSCRIBE carrying thousands of filters. Past `mqtt.max_subscriptions` (1000 by
/// default) they are refused with 0x97 (0x80 on 3.1.1), and later new ones too.
#[tokio::test]
async fn subscriptions_per_client_are_capped() {
    let broker = TestBroker::start().await;
    for version in versions() {
        let id = format!("many-{version}");
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), version, &id, true).await;
        let filters: Vec<String> = (0..3000).map(|i| format!("f/{i}")).collect();
        let pairs: Vec<(&str, QoS)> = filters
            .iter()
            .map(|f| (f.as_str(), QoS::AtMostOnce))
            .collect();
        let ack = client.subscribe_with(subscribe_packet(1, &pairs)).await;
        let refused = if version == ProtocolVersion::V5 {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::UnspecifiedError
        };
        assert_eq!(ack.reason_codes.len(), 3000);
        assert!(ack.reason_codes[..1000]
            .iter()
            .all(|c| *c == ReasonCode::Success));
        assert!(ack.reason_codes[1000..].iter().all(|c| *c == refused));
        // Replacing one it holds is fine; a new one is not.
        assert_eq!(
            client.subscribe("f/0", QoS::AtLeastOnce).await.reason_codes,
            [ReasonCode::GrantedQoS1]
        );
        assert_eq!(
            client.subscribe("g", QoS::AtMostOnce).await.reason_codes,
            [refused]
        );
        client.disconnect().await;
    }
    broker.shutdown().await;
}

/// Item 4: with `max_connections = 5`, five clients that keep their sessions and leave must
/// not lock everyone out: a slot counts a live connection, not a session.
#[tokio::test]
async fn offline_sessions_do_not_keep_listener_slots() {
    let broker = TestBroker::start_with(|c| c.listeners[0].max_connections = 5).await;
    for round in 0..3 {
        for i in 0..5 {
            let id = format!("keeper-{i}");
            let (client, ack) =
                RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V3_1_1, &id, false).await;
            assert_eq!(ack.session_present, round > 0, "{id} round {round}");
            // `disconnect` returns once the broker closed the socket, after the slot is free.
            client.disconnect().await;
        }
    }
    broker.shutdown().await;
}

/// Item 5: a subscriber whose socket stops taking writes keeps its session: reconnecting with
/// the same client id takes it over at once (session present) and gets every QoS 1 message
/// acknowledged to the publisher meanwhile.
#[tokio::test]
async fn a_wedged_subscriber_keeps_its_session_and_messages() {
    let broker = TestBroker::start().await;
    for version in versions() {
        let id = format!("wedged-{version}");
        let (mut stuck, _) = RawClient::mqtt_connect(broker.addr(), version, &id, false).await;
        stuck.subscribe("w/#", QoS::AtLeastOnce).await;
        let (mut publisher, _) =
            RawClient::mqtt_connect(broker.addr(), version, &format!("pub-{version}"), true).await;
        // 24 MB at QoS 0 fill the loopback socket buffers many times over: the broker's
        // writes to `stuck`, which reads nothing from here on, get stuck.
        let big = vec![b'b'; 512 * 1024];
        for _ in 0..48 {
            publisher
                .publish("w/big", &big, QoS::AtMostOnce, false)
                .await;
        }
        for i in 0..10 {
            let rc = publisher
                .publish("w/q", format!("m{i}"), QoS::AtLeastOnce, false)
                .await;
            assert_eq!(rc, ReasonCode::Success);
        }
        let (mut back, ack) = RawClient::mqtt_connect(broker.addr(), version, &id, false).await;
        assert!(
            ack.session_present,
            "{version}: the session was taken over, not lost"
        );
        let mut got = HashSet::new();
        while got.len() < 10 {
            let p = back.recv_and_ack().await;
            if p.topic.as_str() == "w/q" {
                got.insert(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
        drop(stuck);
        back.disconnect().await;
        publisher.disconnect().await;
    }
    broker.shutdown().await;
}

/// Item 6: under a sustained stream of deliveries, the client's own packets are still read:
/// its PINGREQ is answered while messages keep coming.
#[tokio::test]
async fn a_busy_subscriber_is_still_heard() {
    let broker = TestBroker::start().await;
    let version = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), version, "busy", true).await;
    sub.subscribe("flood", QoS::AtMostOnce).await;
    let addr = broker.addr();
    let stop = tokio_util::sync::CancellationToken::new();
    let flood = tokio::spawn({
        let stop = stop.clone();
        async move {
            let (mut publisher, _) = RawClient::mqtt_connect(addr, version, "flooder", true).await;
            let burst: Vec<Packet> = (0..200)
                .map(|_| {
                    Packet::Publish(publish_packet(
                        "flood",
                        b"0123456789",
                        QoS::AtMostOnce,
                        false,
                        None,
                    ))
                })
                .collect();
            let burst = wire(&burst, version);
            // Bounded: at most 2,000 bursts of 200 messages, or until the test is done.
            for _ in 0..2_000 {
                if stop.is_cancelled() {
                    break;
                }
                publisher.send_bytes(&burst).await;
            }
        }
    });
    // Wait until the stream is flowing, then ping in the middle of it.
    let _ = sub.recv_publish().await;
    for _ in 0..5 {
        sub.send(&Packet::PingReq).await;
        let mut seen = 0u32;
        loop {
            match sub.next_event(Duration::from_secs(30)).await {
                Event::Packet(Packet::PingResp) => break,
                Event::Packet(Packet::Publish(_)) => seen += 1,
                other => panic!("waiting for PINGRESP after {seen} messages: {other:?}"),
            }
        }
    }
    stop.cancel();
    flood.await.expect("flood task");
    broker.shutdown().await;
}

/// Item 9: a delayed will goes out when a Clean Start takeover ends the old session (the
/// session is over, so the delay no longer applies; spec 3.1.2.5).
#[tokio::test]
async fn a_clean_start_takeover_sends_the_delayed_will() {
    let broker = TestBroker::start().await;
    let version = ProtocolVersion::V5;
    let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), version, "watcher", true).await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await;
    let mut connect = connect_packet(version, "dying");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(600);
    connect.will = Some(starling_codec::Will {
        topic: starling_testkit::string("will/dying"),
        payload: RawClient::bytes("gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: starling_codec::Properties {
            will_delay_interval: Some(3600),
            ..Default::default()
        },
    });
    let (_old, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (new, ack) = RawClient::mqtt_connect(broker.addr(), version, "dying", true).await;
    assert!(!ack.session_present);
    let will = watcher.recv_and_ack().await;
    assert_eq!(will.topic.as_str(), "will/dying");
    assert_eq!(&will.payload[..], b"gone");
    new.disconnect().await;
    broker.shutdown().await;
}

/// Item 10: connections per address are capped per listener when configured; the one over
/// the cap is closed before CONNACK, and others from elsewhere are not affected.
#[tokio::test]
async fn connections_per_address_are_capped() {
    let broker =
        TestBroker::start_with(|c| c.listeners[0].max_connections_per_address = Some(2)).await;
    let version = ProtocolVersion::V5;
    let (a, _) = RawClient::mqtt_connect(broker.addr(), version, "a", true).await;
    let (b, _) = RawClient::mqtt_connect(broker.addr(), version, "b", true).await;
    let mut third = RawClient::connect(broker.addr(), version).await;
    third
        .send(&Packet::Connect(Box::new(connect_packet(version, "c"))))
        .await;
    assert!(
        third.expect_closed().await.is_none(),
        "closed without an answer"
    );
    a.disconnect().await;
    let (c, _) = RawClient::mqtt_connect(broker.addr(), version, "c", true).await;
    b.disconnect().await;
    c.disconnect().await;
    broker.shutdown().await;
}

/// Item 8: a client id with `/`, `+` or `#` cannot add levels to (or break) its `$SYS` event
/// topic: it is one percent-encoded level, and the payload names the real client id.
#[tokio::test]
async fn a_client_id_is_one_level_of_its_event_topic() {
    let broker = TestBroker::start().await;
    let version = ProtocolVersion::V5;
    let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), version, "watch", true).await;
    watcher
        .subscribe("$SYS/brokers/+/clients/+/connected", QoS::AtMostOnce)
        .await;
    for id in ["evil/x/y", "plus+hash#", "good"] {
        let (client, _) = RawClient::mqtt_connect(broker.addr(), version, id, true).await;
        let event = watcher.recv_publish().await;
        let level = event
            .topic
            .as_str()
            .split('/')
            .nth(4)
            .expect("client level");
        let want = id
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('#', "%23");
        assert_eq!(level, want, "event topic {}", event.topic.as_str());
        let payload = String::from_utf8_lossy(&event.payload).into_owned();
        assert!(
            payload.contains(&format!("\"clientid\":\"{id}\"")),
            "{payload}"
        );
        client.disconnect().await;
    }
    broker.shutdown().await;
}

/// Item 5: a client that takes none of our writes is closed after `mqtt.send_timeout`; its
/// session then ends as any other (here with expiry 0: the disconnected event says so).
#[tokio::test]
async fn writes_that_make_no_progress_end_the_connection() {
    let broker = TestBroker::start_with(|c| c.mqtt.send_timeout = Duration::from_secs(1)).await;
    let version = ProtocolVersion::V5;
    let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), version, "watch", true).await;
    watcher
        .subscribe("$SYS/brokers/+/clients/stuck/disconnected", QoS::AtMostOnce)
        .await;
    let (mut stuck, _) = RawClient::mqtt_connect(broker.addr(), version, "stuck", true).await;
    stuck.subscribe("fill", QoS::AtMostOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), version, "filler", true).await;
    let big = vec![b'f'; 512 * 1024];
    for _ in 0..48 {
        publisher
            .publish("fill", &big, QoS::AtMostOnce, false)
            .await;
    }
    publisher.ping().await;
    // `stuck` reads nothing: once its socket is full, a second passes without progress.
    let event = watcher.recv_publish().await;
    assert!(event
        .topic
        .as_str()
        .ends_with("/clients/stuck/disconnected"));
    drop(stuck);
    broker.shutdown().await;
}

/// Item 9: a CONNACK larger than the client's Maximum Packet Size is not sent as is: optional
/// properties go first, and if even the smallest does not fit, the connection is closed
/// without one ([MQTT-3.1.2-24]).
#[tokio::test]
async fn a_connack_fits_the_clients_maximum_packet_size() {
    let broker = TestBroker::start().await;
    let version = ProtocolVersion::V5;
    let mut connect = connect_packet(version, "small");
    connect.properties.maximum_packet_size = Some(24);
    let (client, ack) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let mut buf = BytesMut::new();
    encode(&Packet::ConnAck(ack.clone()), version, &mut buf).expect("encode");
    assert!(buf.len() <= 24, "CONNACK of {} bytes: {ack:?}", buf.len());
    client.disconnect().await;

    let mut tiny = connect_packet(version, "tiny");
    tiny.properties.maximum_packet_size = Some(6);
    let mut client = RawClient::connect(broker.addr(), version).await;
    client.send(&Packet::Connect(Box::new(tiny))).await;
    assert!(
        client.expect_closed().await.is_none(),
        "closed without a CONNACK"
    );
    broker.shutdown().await;
}

/// Item 9: `SUB $exclusive/t`, `SUB t`, `UNSUB t` used to leave the exclusive lock held with
/// no trie entry behind it (the holder got nothing, nobody else could subscribe). The two are
/// separate subscriptions: after the UNSUBSCRIBE the holder still holds `$exclusive/t` and
/// still receives `t`, once.
#[tokio::test]
async fn unsubscribing_a_plain_filter_keeps_the_exclusive_one() {
    let broker = TestBroker::start().await;
    for version in versions() {
        let (mut holder, _) =
            RawClient::mqtt_connect(broker.addr(), version, &format!("h-{version}"), true).await;
        holder.subscribe("$exclusive/ex/t", QoS::AtMostOnce).await;
        holder.subscribe("ex/t", QoS::AtMostOnce).await;
        holder.unsubscribe(&["ex/t"]).await;
        let (mut other, _) =
            RawClient::mqtt_connect(broker.addr(), version, &format!("o-{version}"), true).await;
        let refused = other.subscribe("$exclusive/ex/t", QoS::AtMostOnce).await;
        assert!(
            !refused.reason_codes[0].is_success(),
            "{version}: still held"
        );
        other.publish("ex/t", "one", QoS::AtMostOnce, false).await;
        other.publish("ex/t", "two", QoS::AtMostOnce, false).await;
        assert_eq!(
            &holder.expect_next_publish_on("ex/t").await.payload[..],
            b"one"
        );
        assert_eq!(
            &holder.expect_next_publish_on("ex/t").await.payload[..],
            b"two"
        );
        holder.disconnect().await;
        other.disconnect().await;
    }
    broker.shutdown().await;
}

/// Item 9: with delayed publish off, `$delayed/...` is an ordinary topic: routed as it is and
/// acknowledged with success, even when it would not parse as a delay.
#[tokio::test]
async fn with_delayed_publish_off_delayed_topics_are_ordinary() {
    let broker = TestBroker::start_with(|c| c.delayed.enabled = false).await;
    let version = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), version, "s", true).await;
    sub.subscribe("$delayed/#", QoS::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), version, "p", true).await;
    for topic in ["$delayed/abc/x", "$delayed/10/x"] {
        let rc = publisher
            .publish(topic, "now", QoS::AtLeastOnce, false)
            .await;
        assert_eq!(rc, ReasonCode::Success, "{topic}");
        let got = sub.recv_and_ack().await;
        assert_eq!(got.topic.as_str(), topic, "delivered at once, as is");
    }
    broker.shutdown().await;
}

/// Item 10: over `max_connection_rate`, new connections wait in the kernel's backlog rather
/// than being refused: a burst past the rate is served, later (no timing is asserted).
#[tokio::test]
async fn connections_over_the_accept_rate_wait_instead_of_failing() {
    let broker = TestBroker::start_with(|c| c.listeners[0].max_connection_rate = Some(2)).await;
    let version = ProtocolVersion::V5;
    let mut clients = Vec::new();
    for i in 0..4 {
        let (client, ack) =
            RawClient::mqtt_connect(broker.addr(), version, &format!("rate-{i}"), true).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        clients.push(client);
    }
    for client in clients {
        client.disconnect().await;
    }
    assert_eq!(
        broker
            .metrics()
            .connections_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    broker.shutdown().await;
}
