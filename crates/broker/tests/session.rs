//! Session state across connections (spec 3.1.2.4, 3.1.2.11.2, 3.2.2.3.2, 3.14.2.2.2, 4.1):
//! session expiry (5.0) and Clean Session 0 (3.1.1) capped by the server, messages queued while
//! offline, the session queue's overflow policies, and offline QoS 0.

use starling_codec::{Connect, Disconnect, Packet, ProtocolVersion, QoS, ReasonCode};
use starling_config::QueueOverflow;
use starling_testkit::{connect_packet, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A topic clients subscribe to for the sentinel that shows nothing more is coming (see
/// [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/session";

/// A CONNECT resuming (or starting) a session: 3.x clean session 0, 5.0 Clean Start 0 with
/// Session Expiry Interval `expiry` seconds (3.x ignores it; the server caps it).
fn persistent(v: ProtocolVersion, id: &str, expiry: u32) -> Connect {
    let mut connect = connect_packet(v, id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = v.is_v5().then_some(expiry);
    connect
}

async fn connect_ok(addr: SocketAddr, connect: Connect) -> (RawClient, bool) {
    let id = connect.client_id.as_str().to_owned();
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(
        connack.reason_code,
        ReasonCode::Success,
        "{id}: {connack:?}"
    );
    (client, connack.session_present)
}

/// Connects `id` with a persistent session, subscribes to `filter` at QoS 1 and disconnects.
async fn park(addr: SocketAddr, v: ProtocolVersion, id: &str, filter: &str, expiry: u32) {
    let (mut client, _) = connect_ok(addr, persistent(v, id, expiry)).await;
    let ack = client.subscribe(filter, QoS::AtLeastOnce).await;
    assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
    client.disconnect().await;
}

/// Publishes `count` QoS 1 messages `m0`, `m1`, ... to `topic` from a fresh client.
async fn publish_n(addr: SocketAddr, v: ProtocolVersion, topic: &str, count: usize, qos: QoS) {
    let (mut publisher, _) = RawClient::mqtt_connect(addr, v, "publisher", true).await;
    for i in 0..count {
        publisher.publish(topic, format!("m{i}"), qos, false).await;
    }
    publisher.disconnect().await;
}

/// Receives (and acknowledges) exactly the payloads `want`, then nothing more: the next message
/// is the client's own sentinel, published once those came (whatever the broker had for the
/// client by then is delivered before it).
async fn expect_payloads(client: &mut RawClient, want: &[&str]) {
    for w in want {
        let msg = client.recv_and_ack().await;
        assert_eq!(
            std::str::from_utf8(&msg.payload),
            Ok(*w),
            "{}",
            client.version()
        );
    }
    client.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    client.expect_nothing_before_own_sentinel(SENTINEL).await;
}

#[tokio::test]
async fn mqtt_3_1_2_23_session_is_kept_while_offline_and_messages_are_queued() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("kept/{v}");
        park(broker.addr(), v, "sleeper", &topic, 60).await;
        publish_n(broker.addr(), v, &topic, 3, QoS::AtLeastOnce).await;
        let (mut back, present) = connect_ok(broker.addr(), persistent(v, "sleeper", 60)).await;
        assert!(present, "{v}: [MQTT-3.2.2-2] session present");
        expect_payloads(&mut back, &["m0", "m1", "m2"]).await;
        // The subscription is still there.
        publish_n(broker.addr(), v, &topic, 1, QoS::AtLeastOnce).await;
        expect_payloads(&mut back, &["m0"]).await;
        back.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_23_session_is_gone_after_its_expiry() {
    // 3.1.1 has no expiry of its own: the server's maximum applies to Clean Session 0.
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.max_session_expiry = Duration::from_secs(1);
    })
    .await;
    for v in versions() {
        let topic = format!("gone/{v}");
        park(broker.addr(), v, "brief", &topic, 1).await;
        // The scenario, not synchronisation: wall time must pass for the session to expire.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (mut back, present) = connect_ok(broker.addr(), persistent(v, "brief", 1)).await;
        assert!(!present, "{v}: the session expired");
        // Its subscription went with it: a message to `topic` does not come, the sentinel
        // published after it by the same publisher does.
        back.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "publisher", true).await;
        publisher
            .publish(&topic, "m0", QoS::AtLeastOnce, false)
            .await;
        publisher
            .publish(SENTINEL, "sentinel", QoS::AtLeastOnce, false)
            .await;
        back.expect_next_publish_on(SENTINEL).await;
        publisher.disconnect().await;
        back.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_2_2_3_2_v5_connack_shows_the_capped_session_expiry() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.max_session_expiry = Duration::from_secs(10);
    })
    .await;
    let v = ProtocolVersion::V5;
    let (client, connack) =
        RawClient::connect_with(broker.addr(), persistent(v, "greedy", 3600)).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert_eq!(connack.properties.session_expiry_interval, Some(10));
    client.disconnect().await;

    // Within the cap nothing is announced (the client's value is used).
    let (client, connack) =
        RawClient::connect_with(broker.addr(), persistent(v, "modest", 5)).await;
    assert_eq!(connack.properties.session_expiry_interval, None);
    client.disconnect().await;
}

#[tokio::test]
async fn mqtt_3_14_2_2_2_v5_disconnect_changes_the_session_expiry() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    // Shortened from 60 s to 1 s at DISCONNECT: gone.
    let (mut client, _) = connect_ok(broker.addr(), persistent(v, "shorter", 60)).await;
    client.subscribe("shorter", QoS::AtLeastOnce).await;
    let mut disconnect = Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(1);
    client.send(&Packet::Disconnect(disconnect)).await;
    assert_eq!(client.expect_closed().await, None);
    // The scenario, not synchronisation: wall time must pass the new 1 s expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (client, present) = connect_ok(broker.addr(), persistent(v, "shorter", 60)).await;
    assert!(!present, "expired after the new 1 s");
    client.disconnect().await;

    // Lengthened from 1 s to 60 s at DISCONNECT: still there.
    let (mut client, _) = connect_ok(broker.addr(), persistent(v, "longer", 1)).await;
    client.subscribe("longer", QoS::AtLeastOnce).await;
    let mut disconnect = Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(60);
    client.send(&Packet::Disconnect(disconnect)).await;
    assert_eq!(client.expect_closed().await, None);
    // The scenario, not synchronisation: wall time passes the old 1 s expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    publish_n(broker.addr(), v, "longer", 1, QoS::AtLeastOnce).await;
    let (mut client, present) = connect_ok(broker.addr(), persistent(v, "longer", 60)).await;
    assert!(present, "kept for the new 60 s");
    expect_payloads(&mut client, &["m0"]).await;
    client.disconnect().await;
}

/// An online clean session with one message in flight (never acknowledged) and a memory
/// queue of 2 receives 5 messages; returns what it gets once it acknowledges the first (up to
/// its own sentinel) and how many the broker counted as dropped.
async fn memory_overflow(policy: QueueOverflow, v: ProtocolVersion) -> (Vec<String>, u64) {
    let broker = TestBroker::start_with(|cfg| {
        cfg.session.max_queue_len = 2;
        cfg.session.queue_overflow = policy;
        cfg.mqtt.max_inflight = 1;
    })
    .await;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "slow", true).await;
    sub.subscribe("flood", QoS::AtLeastOnce).await;
    sub.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    publish_first(broker.addr(), v).await;
    let first = sub.recv_publish().await;
    // Published after the first arrived: the window is full, the queue takes the rest.
    publish_n(broker.addr(), v, "flood", 4, QoS::AtLeastOnce).await;
    let dropped = broker.metrics().messages_dropped.load(Ordering::Relaxed);
    sub.ack(&first).await;
    sub.publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    let mut got = vec![String::from_utf8_lossy(&first.payload).into_owned()];
    loop {
        let msg = sub.recv_publish().await;
        sub.ack(&msg).await;
        if msg.topic.as_str() == SENTINEL {
            break;
        }
        got.push(String::from_utf8_lossy(&msg.payload).into_owned());
    }
    sub.disconnect().await;
    (got, dropped)
}

/// Publishes `m0` first (alone), so that it is the one in flight.
async fn publish_first(addr: SocketAddr, v: ProtocolVersion) {
    let (mut publisher, _) = RawClient::mqtt_connect(addr, v, "first", true).await;
    publisher
        .publish("flood", "first", QoS::AtLeastOnce, false)
        .await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn session_queue_overflow_drop_oldest_keeps_the_newest() {
    for v in versions() {
        let (got, dropped) = memory_overflow(QueueOverflow::DropOldest, v).await;
        assert_eq!(got, ["first", "m2", "m3"], "{v}");
        assert_eq!(dropped, 2, "{v}: counted");
    }
}

#[tokio::test]
async fn session_queue_overflow_drop_newest_keeps_the_oldest() {
    for v in versions() {
        let (got, dropped) = memory_overflow(QueueOverflow::DropNewest, v).await;
        assert_eq!(got, ["first", "m0", "m1"], "{v}");
        assert_eq!(dropped, 2, "{v}: counted");
    }
}

/// A persistent session's queue is in the store: offline, it is capped by
/// `session.max_stored_messages` (and bytes), not by the memory queue. Past the cap, further
/// QoS 1 messages are dropped and counted, and a 5.0 publisher whose message reached nobody is
/// told Quota exceeded (0x97) rather than success; what was stored comes on resume.
#[tokio::test]
async fn a_stored_queue_at_its_cap_refuses_more_and_tells_the_publisher() {
    for v in versions() {
        let broker = TestBroker::start_with(|cfg| {
            cfg.session.max_queue_len = 1;
            cfg.session.max_stored_messages = 3;
        })
        .await;
        park(broker.addr(), v, "slow", "flood", 60).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "publisher", true).await;
        let mut codes = Vec::new();
        for i in 0..5 {
            let code = publisher
                .publish("flood", format!("m{i}"), QoS::AtLeastOnce, false)
                .await;
            codes.push(code);
        }
        publisher.disconnect().await;
        let over = if v.is_v5() {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::Success // 3.x has no way to say it
        };
        let ok = ReasonCode::Success;
        assert_eq!(codes, [ok, ok, ok, over, over], "{v}");
        assert_eq!(
            broker.metrics().stored_dropped.load(Ordering::Relaxed),
            2,
            "{v}"
        );
        let (mut back, present) = connect_ok(broker.addr(), persistent(v, "slow", 60)).await;
        assert!(present);
        expect_payloads(&mut back, &["m0", "m1", "m2"]).await;
        back.disconnect().await;
    }
}

#[tokio::test]
async fn session_queue_overflow_disconnect_closes_an_online_client_with_0x97() {
    for v in versions() {
        let broker = TestBroker::start_with(|cfg| {
            cfg.session.max_queue_len = 2;
            cfg.session.queue_overflow = QueueOverflow::Disconnect;
            cfg.mqtt.max_inflight = 1;
        })
        .await;
        let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "full", true).await;
        sub.subscribe("flood", QoS::AtLeastOnce).await;
        // One message in flight (never acknowledged), two queued, the fourth overflows.
        publish_n(broker.addr(), v, "flood", 4, QoS::AtLeastOnce).await;
        let first = sub.recv_publish().await;
        assert_eq!(&first.payload[..], b"m0");
        sub.expect_disconnect(ReasonCode::QuotaExceeded).await;
        assert!(
            broker.metrics().messages_dropped.load(Ordering::Relaxed) >= 1,
            "{v}: the overflowing message is counted"
        );
    }
}

#[tokio::test]
async fn session_offline_qos0_is_not_queued_when_queue_qos0_is_off() {
    let broker = TestBroker::start_with(|cfg| cfg.session.queue_qos0 = false).await;
    for v in versions() {
        let topic = format!("q0/{v}");
        let (mut client, _) = connect_ok(broker.addr(), persistent(v, "q0", 60)).await;
        client.subscribe(&topic, QoS::AtLeastOnce).await;
        client.disconnect().await;
        publish_n(broker.addr(), v, &topic, 2, QoS::AtMostOnce).await;
        publish_n(broker.addr(), v, &topic, 1, QoS::AtLeastOnce).await;
        let (mut back, present) = connect_ok(broker.addr(), persistent(v, "q0", 60)).await;
        assert!(present, "{v}");
        // Only the QoS 1 message was kept.
        expect_payloads(&mut back, &["m0"]).await;
        back.disconnect().await;
    }
}

#[tokio::test]
async fn session_offline_qos0_is_queued_by_default() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("q0/{v}");
        park(broker.addr(), v, "q0", &topic, 60).await;
        publish_n(broker.addr(), v, &topic, 2, QoS::AtMostOnce).await;
        let (mut back, _) = connect_ok(broker.addr(), persistent(v, "q0", 60)).await;
        expect_payloads(&mut back, &["m0", "m1"]).await;
        back.disconnect().await;
    }
}

#[tokio::test]
async fn session_queue_overflow_applies_to_an_online_client_with_a_full_window() {
    for (policy, want) in [
        (QueueOverflow::DropOldest, ["m0", "m3", "m4"]),
        (QueueOverflow::DropNewest, ["m0", "m1", "m2"]),
    ] {
        for v in versions() {
            let broker = TestBroker::start_with(|cfg| {
                cfg.session.max_queue_len = 2;
                cfg.session.queue_overflow = policy;
                cfg.mqtt.max_inflight = 1;
            })
            .await;
            let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "busy", true).await;
            sub.subscribe("flood", QoS::AtLeastOnce).await;
            // Granted QoS 0: the sentinel is sent at once, past the full window and queue (a
            // QoS 1 one would wait in the queue, or overflow it).
            sub.subscribe(SENTINEL, QoS::AtMostOnce).await;
            // m0 in flight (not yet acknowledged), m1 and m2 queued, m3 and m4 overflow.
            let (mut publisher, _) =
                RawClient::mqtt_connect(broker.addr(), v, "publisher", true).await;
            for i in 0..5 {
                publisher
                    .publish("flood", format!("m{i}"), QoS::AtLeastOnce, false)
                    .await;
            }
            publisher
                .publish(SENTINEL, "sentinel", QoS::AtMostOnce, false)
                .await;
            let first = sub.recv_publish().await;
            // The sentinel came after m4 from the same publisher: m3 and m4 were handled (and
            // the overflows counted) before it was sent.
            sub.expect_next_publish_on(SENTINEL).await;
            let dropped = broker.metrics().messages_dropped.load(Ordering::Relaxed);
            assert_eq!(dropped, 2, "{v} {policy:?}: both overflows counted");
            sub.ack(&first).await;
            let mut got = vec![String::from_utf8_lossy(&first.payload).into_owned()];
            for _ in 0..2 {
                let msg = sub.recv_and_ack().await;
                got.push(String::from_utf8_lossy(&msg.payload).into_owned());
            }
            assert_eq!(got, want, "{v} {policy:?}");
            // Nothing more: the next message is a sentinel from the same publisher.
            publisher
                .publish(SENTINEL, "sentinel", QoS::AtMostOnce, false)
                .await;
            sub.expect_next_publish_on(SENTINEL).await;
            publisher.disconnect().await;
        }
    }
}
