//! `$SYS` topics (`sys.interval`, `sys.client_events`): the periodic, retained
//! `$SYS/brokers/<node>/...` statistics and the client connected/disconnected events.

use starling_codec::{Packet, ProtocolVersion, Publish, QoS};
use starling_testkit::{versions, RawClient, TestBroker};
use std::collections::BTreeMap;
use std::time::Duration;

/// Collects the `$SYS` PUBLISHes a client receives for `window`, last value per topic.
async fn collect(client: &mut RawClient, window: Duration) -> BTreeMap<String, Publish> {
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return seen;
        }
        match client.recv_timeout(left).await {
            Some(Packet::Publish(p)) => {
                seen.entry(p.topic.as_str().to_owned()).or_insert(p);
            }
            Some(other) => panic!("expected PUBLISH, got {other:?}"),
            None => return seen,
        }
    }
}

fn text(p: &Publish) -> &str {
    std::str::from_utf8(&p.payload).expect("UTF-8 $SYS payload")
}

#[tokio::test]
async fn sys_statistics_are_published_retained_with_sane_values() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    let node = broker.config().node.name.clone();
    // Let the first round be stored before anyone subscribes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "sys", true).await;
        let ack = client.subscribe("$SYS/#", QoS::AtMostOnce).await;
        assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
        let seen = collect(&mut client, Duration::from_millis(500)).await;
        let get = |suffix: &str| {
            let topic = format!("$SYS/brokers/{node}/{suffix}");
            match seen.get(&topic) {
                Some(p) => p.clone(),
                None => panic!("{v}: no {topic} in {:?}", seen.keys()),
            }
        };
        let version = get("version");
        assert!(version.retain, "{v}: retained");
        assert_eq!(text(&version), env!("CARGO_PKG_VERSION"), "{v}");
        let uptime = get("uptime");
        assert!(uptime.retain, "{v}: retained");
        let secs: u64 = text(&uptime).parse().expect("uptime is a number");
        assert!(secs < 3600, "{v}: uptime {secs}");
        let connected = get("clients/connected");
        assert!(connected.retain, "{v}: retained");
        let n: u64 = text(&connected).parse().expect("a count");
        assert!(n <= 2, "{v}: {n} clients connected");
        // Live updates keep coming, so no DISCONNECT handshake that expects silence.
        client.drop_connection();
    }
}

#[tokio::test]
async fn sys_statistics_are_refreshed_every_interval() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    let node = broker.config().node.name.clone();
    let v = ProtocolVersion::V5;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "sys", true).await;
    let topic = format!("$SYS/brokers/{node}/clients/connected");
    client.subscribe(&topic, QoS::AtMostOnce).await;
    // Whatever was stored, then at least one live update saying this client is connected.
    let live = client
        .recv_matching(|p| match p {
            Packet::Publish(p) if !p.retain => Some(p.clone()),
            _ => None,
        })
        .await;
    assert_eq!(live.topic.as_str(), topic);
    let n: u64 = text(&live).parse().expect("a count");
    assert!(n >= 1, "the subscriber itself is connected: {n}");
}

#[tokio::test]
async fn sys_client_connected_and_disconnected_events_are_published() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), v, "watcher", true).await;
        for what in ["connected", "disconnected"] {
            let filter = format!("$SYS/brokers/+/clients/+/{what}");
            watcher.subscribe(&filter, QoS::AtMostOnce).await;
        }
        let id = format!("ev-{}", v.level());
        let (client, _) = RawClient::mqtt_connect(broker.addr(), v, &id, true).await;
        client.disconnect().await;
        for what in ["connected", "disconnected"] {
            let event = watcher.recv_publish().await;
            let topic = event.topic.as_str();
            assert!(
                topic.starts_with("$SYS/brokers/")
                    && topic.ends_with(&format!("/clients/{id}/{what}")),
                "{v}: {topic}"
            );
            let json = text(&event);
            assert!(
                json.contains(&format!("\"clientid\":\"{id}\"")),
                "{v}: {json}"
            );
            assert!(
                json.contains(&format!("\"event\":\"{what}\"")),
                "{v}: {json}"
            );
        }
        watcher.disconnect().await;
    }
}

#[tokio::test]
async fn sys_client_events_off_publishes_none() {
    let broker = TestBroker::start_with(|cfg| cfg.sys.client_events = false).await;
    for v in versions() {
        let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), v, "watcher", true).await;
        watcher.subscribe("$SYS/#", QoS::AtMostOnce).await;
        let (client, _) = RawClient::mqtt_connect(broker.addr(), v, "quiet", true).await;
        client.disconnect().await;
        watcher.ping().await;
        watcher.expect_no_packet(Duration::from_millis(300)).await;
        watcher.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_4_7_2_1_wildcards_at_the_first_level_do_not_match_sys() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "wild", true).await;
        client.subscribe("#", QoS::AtMostOnce).await;
        client.subscribe("+/brokers/#", QoS::AtMostOnce).await;
        // Longer than one $SYS interval, and another client comes and goes (an event).
        let (other, _) = RawClient::mqtt_connect(broker.addr(), v, "other", true).await;
        other.disconnect().await;
        client.expect_no_packet(Duration::from_millis(1500)).await;
        client.disconnect().await;
    }
}

/// A will to `topic` on `connect`.
fn with_will(mut connect: starling_codec::Connect, topic: &str) -> starling_codec::Connect {
    connect.will = Some(starling_codec::Will {
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: starling_testkit::string(topic),
        payload: bytes::Bytes::from_static(b"will"),
        properties: starling_codec::Properties::default(),
    });
    connect
}

#[tokio::test]
async fn clients_cannot_publish_to_sys_directly_delayed_or_by_will() {
    use starling_codec::ReasonCode;
    // No client events: the `$SYS/#` subscriber then sees only what clients get through.
    let broker = TestBroker::start_with(|cfg| cfg.sys.client_events = false).await;
    for v in versions() {
        let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), v, "watcher", true).await;
        for filter in ["$SYS/#", "$SYSTEM/#", "sentinel/#"] {
            watcher.subscribe(filter, QoS::AtLeastOnce).await;
        }
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        // 5.0: Not authorized in the ack; 3.x: an ack without a reason code, nothing routed.
        let refused = if v.is_v5() {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::Success
        };
        for topic in ["$SYS/direct", "$delayed/0/$SYS/delayed"] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let rc = publisher.publish(topic, b"x", qos, false).await;
                let want = if qos == QoS::AtMostOnce {
                    ReasonCode::Success
                } else {
                    refused
                };
                assert_eq!(rc, want, "{v} {topic} {qos:?}");
            }
        }
        for topic in ["$SYS/will", "$delayed/0/$SYS/will"] {
            let connect = with_will(starling_testkit::connect_packet(v, "willer"), topic);
            let (_, connack) = RawClient::connect_with(broker.addr(), connect).await;
            // 3.x: return code 5, Not authorized.
            assert_eq!(
                connack.reason_code,
                ReasonCode::NotAuthorized,
                "{v} {topic}"
            );
        }
        // `$SYSTEM` is an ordinary topic; then the sentinels, one through the delayed queue.
        for topic in [
            "$SYSTEM/ok",
            "$delayed/0/sentinel/delayed",
            "sentinel/direct",
        ] {
            let rc = publisher
                .publish(topic, b"ok", QoS::AtLeastOnce, false)
                .await;
            assert_eq!(rc, ReasonCode::Success, "{v} {topic}");
        }
        let mut seen = Vec::new();
        while !(seen.contains(&"sentinel/delayed".to_owned())
            && seen.contains(&"sentinel/direct".to_owned()))
        {
            let msg = watcher.recv_and_ack().await;
            seen.push(msg.topic.as_str().to_owned());
        }
        seen.sort();
        assert_eq!(
            seen,
            ["$SYSTEM/ok", "sentinel/delayed", "sentinel/direct"],
            "{v}"
        );
        publisher.disconnect().await;
        watcher.disconnect().await;
    }
}
