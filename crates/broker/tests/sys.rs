//! `$SYS` topics (`sys.interval`, `sys.client_events`): the periodic, retained
//! `$SYS/brokers/<node>/...` statistics and the client connected/disconnected events.

use starling_codec::{Packet, ProtocolVersion, Publish, QoS};
use starling_testkit::{versions, RawClient, TestBroker};
use std::collections::BTreeMap;
use std::time::Duration;

/// A plain topic clients subscribe to for sentinels (see
/// [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/sys";

/// Collects the `$SYS` PUBLISHes a client receives, first value per topic, until its own
/// sentinel: everything the broker had routed to it by then (the retained messages of its
/// subscriptions among them), and whatever live updates came meanwhile.
async fn collect(client: &mut RawClient) -> BTreeMap<String, Publish> {
    client.subscribe(SENTINEL, QoS::AtLeastOnce).await;
    client
        .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    let mut seen = BTreeMap::new();
    loop {
        let p = client.recv_and_ack().await;
        if p.topic.as_str() == SENTINEL {
            return seen;
        }
        seen.entry(p.topic.as_str().to_owned()).or_insert(p);
    }
}

/// Waits until `client` received a live (not retained) PUBLISH on `topic`, keeping the others
/// for later.
async fn live_on(client: &mut RawClient, topic: &str) -> Publish {
    client
        .recv_matching(|p| match p {
            Packet::Publish(p) if !p.retain && p.topic.as_str() == topic => Some(p.clone()),
            _ => None,
        })
        .await
}

fn text(p: &Publish) -> &str {
    std::str::from_utf8(&p.payload).expect("UTF-8 $SYS payload")
}

#[tokio::test]
async fn sys_statistics_are_published_retained_with_sane_values() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    let node = broker.config().node.name.clone();
    // Let the first round be stored before anyone subscribes: once an early subscriber got
    // each topic checked below (live or already retained), the router has stored it.
    let (mut early, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "early", true).await;
    early.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let mut stored = std::collections::BTreeSet::new();
    while stored.len() < 3 {
        let p = early.recv_publish().await;
        let suffix = p
            .topic
            .as_str()
            .strip_prefix(&format!("$SYS/brokers/{node}/"));
        if let Some(suffix @ ("version" | "uptime" | "clients/connected")) = suffix {
            stored.insert(suffix.to_owned());
        }
    }
    // Live updates keep coming, so no DISCONNECT handshake that expects silence.
    early.drop_connection();
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "sys", true).await;
        let ack = client.subscribe("$SYS/#", QoS::AtMostOnce).await;
        assert!(ack.reason_codes[0].is_success(), "{v}: {ack:?}");
        let seen = collect(&mut client).await;
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
        watcher.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        let (client, _) = RawClient::mqtt_connect(broker.addr(), v, "quiet", true).await;
        client.disconnect().await;
        // The same client id again: its CONNACK comes once the router has registered it, so
        // after it dealt with the first session's end (a disconnected event is routed then, or
        // never, if this connection came first), and after its own connected event. Its
        // sentinel then comes after all three events, had any been published.
        let (mut again, _) = RawClient::mqtt_connect(broker.addr(), v, "quiet", true).await;
        again
            .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        watcher.expect_next_publish_on(SENTINEL).await;
        watcher.disconnect().await;
        again.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_4_7_2_1_wildcards_at_the_first_level_do_not_match_sys() {
    let broker =
        TestBroker::start_with(|cfg| cfg.sys.interval = Some(Duration::from_secs(1))).await;
    let node = broker.config().node.name.clone();
    let uptime = format!("$SYS/brokers/{node}/uptime");
    let gone = format!("$SYS/brokers/{node}/clients/other/disconnected");
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "wild", true).await;
        client.subscribe("#", QoS::AtMostOnce).await;
        client.subscribe("+/brokers/#", QoS::AtMostOnce).await;
        // A watcher subscribed after the wildcards sees a live $SYS round (the periodic
        // publish), and another client comes and goes (an event)...
        let (mut watcher, _) = RawClient::mqtt_connect(broker.addr(), v, "watcher", true).await;
        watcher.subscribe(&uptime, QoS::AtMostOnce).await;
        watcher.subscribe(&gone, QoS::AtMostOnce).await;
        let (other, _) = RawClient::mqtt_connect(broker.addr(), v, "other", true).await;
        other.disconnect().await;
        live_on(&mut watcher, &gone).await;
        live_on(&mut watcher, &uptime).await;
        // ...so a wrong match would have reached `wild` before the watcher's sentinel.
        watcher
            .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        client.expect_next_publish_on(SENTINEL).await;
        // Live updates keep coming, so no DISCONNECT handshake that expects silence.
        watcher.drop_connection();
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
