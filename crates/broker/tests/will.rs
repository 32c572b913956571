//! The will message (spec 3.1.2.5 to 3.1.2.7, 3.1.3.2, 3.14): published when the connection ends
//! without a normal DISCONNECT (socket dropped, keep-alive timeout, protocol error, takeover),
//! not published after a normal DISCONNECT, honouring its QoS, retain flag and (5.0) properties
//! and Will Delay Interval.

use bytes::Bytes;
use starling_codec::{Connect, Disconnect, Packet, ProtocolVersion, QoS, ReasonCode, Will};
use starling_testkit::{connect_packet, string, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// A CONNECT for `id` carrying a will to `topic` with `payload` (QoS 1, not retained).
fn with_will(v: ProtocolVersion, id: &str, topic: &str, payload: &[u8]) -> Connect {
    let mut connect = connect_packet(v, id);
    connect.will = Some(Will {
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: string(topic),
        payload: Bytes::copy_from_slice(payload),
        properties: Default::default(),
    });
    connect
}

async fn connect_ok(addr: SocketAddr, connect: Connect) -> RawClient {
    let id = connect.client_id.as_str().to_owned();
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(
        connack.reason_code,
        ReasonCode::Success,
        "{id}: {connack:?}"
    );
    client
}

async fn watcher(addr: SocketAddr, v: ProtocolVersion, filter: &str) -> RawClient {
    let (mut client, _) = RawClient::mqtt_connect(addr, v, "watcher", true).await;
    let ack = client.subscribe(filter, QoS::ExactlyOnce).await;
    assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
    client
}

/// The topic of the `$SYS` event the router publishes when `id`'s session ends, or goes
/// offline (`sys.client_events`, on by default).
fn disconnected_event(broker: &TestBroker, id: &str) -> String {
    let node = &broker.config().node.name;
    format!("$SYS/brokers/{node}/clients/{id}/disconnected")
}

/// Subscribes `watcher` (at QoS 0) to the event of [`disconnected_event`] and returns its topic.
///
/// As a sentinel: a session with expiry 0 ends with its will (if it has one to publish) and
/// then its end, both sent to the router by the connection's task, in that order; the event is
/// published at the end. So had a will been published, it would reach the watcher before the
/// event. (A session held offline sends its event when it goes offline, before any will: no
/// sentinel for that.)
async fn watch_disconnected(broker: &TestBroker, watcher: &mut RawClient, id: &str) -> String {
    let topic = disconnected_event(broker, id);
    watcher.subscribe(&topic, QoS::AtMostOnce).await;
    topic
}

/// A topic the watcher's `will/#` covers that no will uses, for sentinels from other clients.
const SENTINEL: &str = "will/sentinel";

/// A client that is not the will's publishes a sentinel, which `watcher` must get next.
async fn expect_sentinel_next(broker: &TestBroker, watcher: &mut RawClient) {
    let v = watcher.version();
    let (mut other, _) = RawClient::mqtt_connect(broker.addr(), v, "sentinel", true).await;
    other
        .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    watcher.expect_next_publish_on(SENTINEL).await;
    other.disconnect().await;
}

/// Receives the will and checks topic and payload.
async fn expect_will(watcher: &mut RawClient, topic: &str, payload: &[u8]) {
    let msg = watcher.recv_and_ack().await;
    assert_eq!(msg.topic.as_str(), topic);
    assert_eq!(&msg.payload[..], payload);
}

#[tokio::test]
async fn mqtt_3_1_2_8_will_is_published_when_the_socket_is_dropped() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut w = watcher(broker.addr(), v, "will/#").await;
        let client = connect_ok(broker.addr(), with_will(v, "dies", "will/drop", b"gone")).await;
        client.drop_connection();
        expect_will(&mut w, "will/drop", b"gone").await;
        w.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_8_will_is_published_on_keep_alive_timeout() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut w = watcher(broker.addr(), v, "will/#").await;
        let mut connect = with_will(v, "silent", "will/ka", b"timed out");
        connect.keep_alive = 1;
        let mut client = connect_ok(broker.addr(), connect).await;
        expect_will(&mut w, "will/ka", b"timed out").await;
        client.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
        w.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_8_will_is_published_after_a_protocol_error() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut w = watcher(broker.addr(), v, "will/#").await;
        let mut client = connect_ok(broker.addr(), with_will(v, "rude", "will/err", b"bad")).await;
        // A second CONNECT is a protocol error [MQTT-3.1.0-2].
        client
            .send(&Packet::Connect(Box::new(connect_packet(v, "rude"))))
            .await;
        client.expect_disconnect(ReasonCode::ProtocolError).await;
        expect_will(&mut w, "will/err", b"bad").await;
        w.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_10_will_is_not_published_after_a_normal_disconnect() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut w = watcher(broker.addr(), v, "will/#").await;
        let ended = watch_disconnected(&broker, &mut w, "polite").await;
        let client = connect_ok(broker.addr(), with_will(v, "polite", "will/no", b"x")).await;
        client.disconnect().await;
        // No will before the session's end: the event of its end comes next.
        w.expect_next_publish_on(&ended).await;
        w.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_14_2_v5_disconnect_with_will_message_publishes_the_will() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let mut client = connect_ok(broker.addr(), with_will(v, "asks", "will/0x04", b"asked")).await;
    client
        .send(&Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::DisconnectWithWillMessage,
            properties: Default::default(),
        }))
        .await;
    assert_eq!(client.expect_closed().await, None, "the server just closes");
    expect_will(&mut w, "will/0x04", b"asked").await;
}

#[tokio::test]
async fn mqtt_3_1_2_14_will_qos_and_retain_are_honoured() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("will/retained/{v}");
        let mut w = watcher(broker.addr(), v, &topic).await;
        let mut connect = with_will(v, "keeper", &topic, b"last words");
        if let Some(will) = &mut connect.will {
            will.qos = QoS::ExactlyOnce;
            will.retain = true;
        }
        connect_ok(broker.addr(), connect).await.drop_connection();
        let live = w.recv_and_ack().await;
        assert_eq!(live.topic.as_str(), topic);
        assert_eq!(live.qos, QoS::ExactlyOnce, "{v}: will QoS");
        assert!(!live.retain, "{v}: a live delivery is not flagged retained");
        w.disconnect().await;

        // [MQTT-3.1.2-17]: a retained will is stored like any retained message.
        let (mut later, _) = RawClient::mqtt_connect(broker.addr(), v, "later", true).await;
        later.subscribe(&topic, QoS::AtLeastOnce).await;
        let stored = later.recv_and_ack().await;
        assert_eq!(stored.topic.as_str(), topic);
        assert_eq!(&stored.payload[..], b"last words");
        assert!(stored.retain, "{v}: retained will");
        assert_eq!(stored.qos, QoS::AtLeastOnce, "{v}: min(will, subscription)");
        later.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_3_2_v5_will_properties_are_forwarded() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let mut connect = with_will(v, "props", "will/props", b"{}");
    if let Some(will) = &mut connect.will {
        let p = &mut will.properties;
        p.content_type = Some(string("application/json"));
        p.payload_format_indicator = Some(1);
        p.message_expiry_interval = Some(600);
        p.response_topic = Some(string("will/reply"));
        p.correlation_data = Some(Bytes::from_static(b"corr"));
        p.user_properties = vec![(string("k"), string("v1")), (string("k"), string("v2"))];
    }
    connect_ok(broker.addr(), connect).await.drop_connection();
    let msg = w.recv_and_ack().await;
    let p = &msg.properties;
    assert_eq!(p.content_type, Some(string("application/json")));
    assert_eq!(p.payload_format_indicator, Some(1));
    let expiry = p.message_expiry_interval.expect("message expiry forwarded");
    assert!(
        (590..=600).contains(&expiry),
        "expiry counts down: {expiry}"
    );
    assert_eq!(p.response_topic, Some(string("will/reply")));
    assert_eq!(p.correlation_data, Some(Bytes::from_static(b"corr")));
    assert_eq!(
        p.user_properties,
        vec![(string("k"), string("v1")), (string("k"), string("v2"))]
    );
    assert_eq!(p.will_delay_interval, None, "not a PUBLISH property");
}

/// 5.0 CONNECT with a will delayed by `delay` s and session expiry `expiry` s.
fn delayed_will(id: &str, topic: &str, delay: u32, expiry: u32) -> Connect {
    let mut connect = with_will(ProtocolVersion::V5, id, topic, b"late");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(expiry);
    if let Some(will) = &mut connect.will {
        will.properties.will_delay_interval = Some(delay);
    }
    connect
}

#[tokio::test]
async fn mqtt_3_1_3_9_v5_delayed_will_is_published_after_the_delay() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let client = connect_ok(broker.addr(), delayed_will("slow", "will/delay", 1, 60)).await;
    let dropped = Instant::now();
    client.drop_connection();
    // The next packet is the will, and not before the delay.
    expect_will(&mut w, "will/delay", b"late").await;
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "published after {waited:?}"
    );
}

#[tokio::test]
async fn mqtt_3_1_3_9_v5_reconnecting_before_the_will_delay_cancels_the_will() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let offline_event = watch_disconnected(&broker, &mut w, "back").await;
    let client = connect_ok(broker.addr(), delayed_will("back", "will/delay", 2, 60)).await;
    client.drop_connection();
    // The session is held offline (its will delay running) once the event comes.
    w.expect_next_publish_on(&offline_event).await;
    let offline = Instant::now();
    let mut reconnect = connect_packet(v, "back");
    reconnect.clean_start = false;
    reconnect.properties.session_expiry_interval = Some(60);
    let (again, connack) = RawClient::connect_with(broker.addr(), reconnect).await;
    assert!(connack.session_present);
    // The scenario, not synchronisation: wall time must pass the 2 s will delay (with a second
    // to spare); a will still due would be out by then, before the sentinel.
    tokio::time::sleep_until(offline + Duration::from_secs(3)).await;
    expect_sentinel_next(&broker, &mut w).await;
    again.disconnect().await;
}

#[tokio::test]
async fn mqtt_3_1_2_8_v5_will_delay_longer_than_session_expiry_fires_at_expiry() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let client = connect_ok(broker.addr(), delayed_will("brief", "will/expiry", 60, 1)).await;
    let dropped = Instant::now();
    client.drop_connection();
    expect_will(&mut w, "will/expiry", b"late").await;
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "published after {waited:?}"
    );
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_publishes_the_old_connections_will() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut w = watcher(broker.addr(), v, "will/#").await;
        // Only the new connection's session ends (the old one's moved on): one event.
        let ended = watch_disconnected(&broker, &mut w, "twin").await;
        let mut old = connect_ok(broker.addr(), with_will(v, "twin", "will/take", b"old")).await;
        let new = connect_ok(broker.addr(), connect_packet(v, "twin")).await;
        old.expect_disconnect(ReasonCode::SessionTakenOver).await;
        expect_will(&mut w, "will/take", b"old").await;
        new.disconnect().await;
        // The new connection's normal DISCONNECT publishes nothing: its end's event comes next.
        w.expect_next_publish_on(&ended).await;
        w.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_3_9_v5_takeover_cancels_a_delayed_will() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let mut old = connect_ok(broker.addr(), delayed_will("twin", "will/take", 1, 60)).await;
    let mut resume = connect_packet(v, "twin");
    resume.clean_start = false;
    resume.properties.session_expiry_interval = Some(60);
    let new = connect_ok(broker.addr(), resume).await;
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    // The scenario, not synchronisation: wall time must pass the 1 s will delay (with a second
    // to spare); a will still due would be out by then, before the sentinel.
    tokio::time::sleep(Duration::from_secs(2)).await;
    expect_sentinel_next(&broker, &mut w).await;
    new.disconnect().await;
}

#[tokio::test]
async fn mqtt_3_1_2_8_v5_will_delay_with_session_expiry_zero_fires_at_once() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let client = connect_ok(broker.addr(), delayed_will("brief", "will/zero", 30, 0)).await;
    client.drop_connection();
    // The session ended at once, and the will with it: the usual receive, far from the 30 s.
    let msg = w.recv().await;
    assert!(matches!(msg, Packet::Publish(ref p) if p.topic.as_str() == "will/zero"));
}

#[tokio::test]
async fn mqtt_3_1_2_10_v5_will_is_not_published_after_a_normal_disconnect_with_delay() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let client = connect_ok(broker.addr(), delayed_will("polite", "will/no", 1, 2)).await;
    client.disconnect().await;
    // Neither at the will delay nor at session expiry. The scenario, not synchronisation: wall
    // time must pass the 2 s session expiry (with a second to spare).
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The session is gone: it ended after whatever will it published (the holder sends both
    // to the router, in that order), and this connection registered after its end, so the
    // sentinel it publishes is routed after any such will.
    let mut back = connect_packet(v, "polite");
    back.clean_start = false;
    let (mut back, connack) = RawClient::connect_with(broker.addr(), back).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert!(!connack.session_present, "the session expired");
    back.publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    w.expect_next_publish_on(SENTINEL).await;
    back.disconnect().await;
}

#[tokio::test]
async fn v5_will_of_an_assigned_client_id_honours_its_own_no_local_subscription() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let mut w = watcher(broker.addr(), v, "will/#").await;
    let mut connect = with_will(v, "", "will/own", b"mine");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(300);
    let (mut client, connack) = RawClient::connect_with(broker.addr(), connect).await;
    let id = connack
        .properties
        .assigned_client_identifier
        .expect("an assigned id")
        .as_str()
        .to_owned();
    let mut no_local = starling_testkit::subscription("will/#", QoS::AtLeastOnce);
    no_local.options.no_local = true;
    let subscribe = starling_codec::Subscribe {
        packet_id: client.next_packet_id(),
        subscriptions: vec![no_local],
        properties: Default::default(),
    };
    client.subscribe_with(subscribe).await;
    client.drop_connection();
    // The will is out (the watcher has it); the session is offline, then a sentinel.
    expect_will(&mut w, "will/own", b"mine").await;
    let (mut other, _) = RawClient::mqtt_connect(broker.addr(), v, "other", true).await;
    other
        .publish("will/sentinel", b"s", QoS::AtLeastOnce, false)
        .await;
    expect_will(&mut w, "will/sentinel", b"s").await;
    // Back on the session: its own will was not queued for it (No Local), the sentinel was.
    let mut resume = connect_packet(v, &id);
    resume.clean_start = false;
    resume.properties.session_expiry_interval = Some(300);
    let (mut client, connack) = RawClient::connect_with(broker.addr(), resume).await;
    assert!(connack.session_present);
    let msg = client.recv_and_ack().await;
    assert_eq!(msg.topic.as_str(), "will/sentinel");
}
