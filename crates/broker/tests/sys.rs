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
