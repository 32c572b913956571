//! Shared subscriptions (spec 4.8.2; `$queue/` is EMQX's shorthand for the group `$queue`):
//! each message goes to exactly one member of each group under every `shared.strategy`,
//! unacknowledged messages of a member that leaves go to another member, and the 5.0 rules
//! (No Local forbidden, no retained messages on subscribe).

use starling_codec::{Packet, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use starling_config::SharedStrategy;
use starling_testkit::{subscribe_packet, subscription, versions, RawClient, TestBroker};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

/// A plain topic every member also subscribes to: each publisher sends a message there after
/// its others, and [`drain`] reads until it comes (one publisher's messages reach one
/// subscriber in order, so nothing of that publisher's can come after it).
const SENTINEL: &str = "sentinel/shared";

/// `n` clients `<prefix>0`, `<prefix>1`, ... each subscribed to `filter` at QoS 1 (and to
/// [`SENTINEL`]).
async fn members(
    addr: SocketAddr,
    v: ProtocolVersion,
    prefix: &str,
    filter: &str,
    n: usize,
) -> Vec<RawClient> {
    let mut out = Vec::new();
    for i in 0..n {
        let (mut client, _) = RawClient::mqtt_connect(addr, v, &format!("{prefix}{i}"), true).await;
        let ack = client.subscribe(filter, QoS::AtLeastOnce).await;
        assert!(ack.reason_codes[0].is_success(), "{v} {filter}: {ack:?}");
        client.subscribe(SENTINEL, QoS::AtLeastOnce).await;
        out.push(client);
    }
    out
}

/// Everything each client receives (acknowledged) until the sentinels of `publishers`
/// publishers came, as `topic payload` strings.
async fn drain(clients: &mut [RawClient], publishers: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for client in clients.iter_mut() {
        let mut got = Vec::new();
        let mut sentinels = 0;
        while sentinels < publishers {
            let msg = client.recv_and_ack().await;
            if msg.topic.as_str() == SENTINEL {
                sentinels += 1;
                continue;
            }
            got.push(format!(
                "{} {}",
                msg.topic.as_str(),
                String::from_utf8_lossy(&msg.payload)
            ));
        }
        out.push(got);
    }
    out
}

/// Publishes `count` QoS 1 messages from `publisher_id`, to `topic(i)` with payload
/// `<publisher_id>-<i>`, then one to [`SENTINEL`].
async fn publish_n(
    addr: SocketAddr,
    v: ProtocolVersion,
    publisher_id: &str,
    count: usize,
    topic: impl Fn(usize) -> String,
) -> Vec<String> {
    let (mut publisher, _) = RawClient::mqtt_connect(addr, v, publisher_id, true).await;
    let mut sent = Vec::new();
    for i in 0..count {
        let (t, payload) = (topic(i), format!("{publisher_id}-{i}"));
        let rc = publisher
            .publish(&t, &payload, QoS::AtLeastOnce, false)
            .await;
        assert!(rc.is_success(), "{v}: {rc:?}");
        sent.push(format!("{t} {payload}"));
    }
    publish_sentinel(&mut publisher).await;
    publisher.disconnect().await;
    sent
}

async fn publish_sentinel(publisher: &mut RawClient) {
    let rc = publisher
        .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
        .await;
    assert!(rc.is_success(), "{rc:?}");
}

/// Every message sent was received exactly once across `got`.
fn exactly_once(v: ProtocolVersion, sent: &[String], got: &[Vec<String>]) {
    let all: Vec<&String> = got.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "{v}: duplicates in {got:?}");
    let want: HashSet<&String> = sent.iter().collect();
    assert_eq!(unique, want, "{v}: lost or unexpected messages");
}

async fn start(strategy: SharedStrategy) -> TestBroker {
    TestBroker::start_with(|cfg| cfg.shared.strategy = strategy).await
}

#[tokio::test]
async fn mqtt_4_8_2_random_delivers_each_message_to_exactly_one_member() {
    let broker = start(SharedStrategy::Random).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 3).await;
        let sent = publish_n(broker.addr(), v, "p", 60, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
    }
}

#[tokio::test]
async fn mqtt_4_8_2_round_robin_spreads_messages_evenly() {
    let broker = start(SharedStrategy::RoundRobin).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 3).await;
        let sent = publish_n(broker.addr(), v, "p", 60, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.len(), 20, "{v}: member {i} got {}", g.len());
        }
    }
}

#[tokio::test]
async fn mqtt_4_8_2_sticky_keeps_to_one_member_while_it_stays() {
    let broker = start(SharedStrategy::Sticky).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 3).await;
        let sent = publish_n(broker.addr(), v, "p", 60, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
        let busy: Vec<usize> = got.iter().map(Vec::len).filter(|&n| n > 0).collect();
        assert_eq!(busy, [60], "{v}: one member gets everything");
    }
}

#[tokio::test]
async fn mqtt_4_8_2_hash_topic_sends_a_topic_always_to_the_same_member() {
    let broker = start(SharedStrategy::HashTopic).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t/+", 3).await;
        let sent = publish_n(broker.addr(), v, "p", 60, |i| format!("t/{}", i % 6)).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
        let mut owner: BTreeMap<String, usize> = BTreeMap::new();
        for (member, msgs) in got.iter().enumerate() {
            for m in msgs {
                let topic = m.split(' ').next().unwrap_or_default().to_owned();
                let first = *owner.entry(topic.clone()).or_insert(member);
                assert_eq!(first, member, "{v}: {topic} went to two members");
            }
        }
        assert_eq!(owner.len(), 6, "{v}");
    }
}

#[tokio::test]
async fn mqtt_4_8_2_hash_clientid_sends_a_publisher_always_to_the_same_member() {
    let broker = start(SharedStrategy::HashClientid).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 3).await;
        let mut sent = Vec::new();
        for publisher in ["pa", "pb", "pc", "pd"] {
            sent.extend(publish_n(broker.addr(), v, publisher, 15, |_| "t".into()).await);
        }
        let got = drain(&mut group, 4).await;
        exactly_once(v, &sent, &got);
        let mut owner: BTreeMap<String, usize> = BTreeMap::new();
        for (member, msgs) in got.iter().enumerate() {
            for m in msgs {
                let publisher = m[2..4].to_owned(); // "t pa-3" -> "pa"
                let first = *owner.entry(publisher.clone()).or_insert(member);
                assert_eq!(first, member, "{v}: {publisher} went to two members");
            }
        }
    }
}

#[tokio::test]
async fn queue_prefix_is_the_share_group_named_queue() {
    let broker = start(SharedStrategy::RoundRobin).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "q", "$queue/t", 2).await;
        // The same group spelled the long way.
        group.extend(members(broker.addr(), v, "s", "$share/$queue/t", 1).await);
        let sent = publish_n(broker.addr(), v, "p", 30, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.len(), 10, "{v}: member {i}");
        }
    }
}

#[tokio::test]
async fn mqtt_4_8_2_each_group_and_each_plain_subscriber_gets_every_message() {
    let broker = start(SharedStrategy::Random).await;
    for v in versions() {
        let mut a = members(broker.addr(), v, "a", "$share/a/t", 2).await;
        let mut b = members(broker.addr(), v, "b", "$share/b/t", 2).await;
        let mut plain = members(broker.addr(), v, "plain", "t", 1).await;
        let sent = publish_n(broker.addr(), v, "p", 20, |_| "t".into()).await;
        exactly_once(v, &sent, &drain(&mut a, 1).await);
        exactly_once(v, &sent, &drain(&mut b, 1).await);
        exactly_once(v, &sent, &drain(&mut plain, 1).await);
    }
}

#[tokio::test]
async fn mqtt_4_8_2_unacknowledged_messages_of_a_member_that_leaves_go_to_another() {
    let broker = start(SharedStrategy::RoundRobin).await;
    for v in versions() {
        let mut leaver = members(broker.addr(), v, "leaver", "$share/g/t", 1).await;
        let sent = publish_n(broker.addr(), v, "p", 3, |_| "t".into()).await;
        // Received, never acknowledged.
        for _ in 0..3 {
            let msg = leaver[0].recv_publish().await;
            assert_eq!(msg.qos, QoS::AtLeastOnce);
        }
        let mut stayer = members(broker.addr(), v, "stayer", "$share/g/t", 1).await;
        drop(leaver);
        // The three come to the stayer once the broker has seen the leaver go; then nothing
        // more (no copy twice): the sentinel published after they came is next.
        let mut got = Vec::new();
        for _ in 0..3 {
            let msg = stayer[0].recv_and_ack().await;
            got.push(format!(
                "{} {}",
                msg.topic.as_str(),
                String::from_utf8_lossy(&msg.payload)
            ));
        }
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
        publish_sentinel(&mut publisher).await;
        stayer[0].expect_next_publish_on(SENTINEL).await;
        publisher.disconnect().await;
        exactly_once(v, &sent, &[got]);
    }
}

#[tokio::test]
async fn mqtt_3_10_4_unsubscribe_from_a_shared_subscription() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 1).await;
        let ack = group[0].unsubscribe(&["$share/g/t"]).await;
        if v.is_v5() {
            assert_eq!(ack.reason_codes, [ReasonCode::Success], "{v}");
        }
        publish_n(broker.addr(), v, "p", 2, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        assert_eq!(got, [Vec::<String>::new()], "{v}: nothing after UNSUBACK");
    }
}

#[tokio::test]
async fn mqtt_3_8_3_4_v5_no_local_on_a_shared_subscription_is_a_protocol_error() {
    let broker = TestBroker::start().await;
    let (mut client, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "nl", true).await;
    let mut subscribe = subscribe_packet(1, &[]);
    let mut sub = subscription("$share/g/t", QoS::AtLeastOnce);
    sub.options = SubscriptionOptions {
        no_local: true,
        ..sub.options
    };
    subscribe.subscriptions.push(sub);
    client.send(&Packet::Subscribe(subscribe)).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
}

#[tokio::test]
async fn mqtt_4_8_2_retained_messages_are_not_sent_to_a_new_shared_subscription() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("kept/{v}");
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
        publisher
            .publish(&topic, b"old", QoS::AtLeastOnce, true)
            .await;
        let mut group = members(broker.addr(), v, "m", &format!("$share/g/{topic}"), 1).await;
        let mut queue = members(broker.addr(), v, "q", &format!("$queue/{topic}"), 1).await;
        // A plain subscription does get it (the message really is retained).
        let mut plain = members(broker.addr(), v, "plain", &topic, 1).await;
        // Retained messages are handed out while the router handles the SUBSCRIBE: whatever
        // they got comes before this.
        publish_sentinel(&mut publisher).await;
        assert_eq!(drain(&mut group, 1).await, [Vec::<String>::new()], "{v}");
        assert_eq!(drain(&mut queue, 1).await, [Vec::<String>::new()], "{v}");
        assert_eq!(
            drain(&mut plain, 1).await,
            [vec![format!("{topic} old")]],
            "{v}"
        );
        publisher.publish(&topic, b"", QoS::AtLeastOnce, true).await;
        publisher.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_4_8_2_an_offline_member_is_skipped_while_another_is_online() {
    let broker = start(SharedStrategy::RoundRobin).await;
    for v in versions() {
        let mut connect = starling_testkit::connect_packet(v, "sleeper");
        connect.clean_start = false;
        connect.properties.session_expiry_interval = v.is_v5().then_some(60);
        let (mut sleeper, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
        sleeper.subscribe("$share/g/t", QoS::AtLeastOnce).await;
        sleeper.disconnect().await;
        let mut awake = members(broker.addr(), v, "awake", "$share/g/t", 1).await;
        let sent = publish_n(broker.addr(), v, "p", 10, |_| "t".into()).await;
        exactly_once(v, &sent, &drain(&mut awake, 1).await);
        // The offline member's session got none of them.
        let (mut sleeper, connack) = RawClient::connect_with(broker.addr(), connect).await;
        assert!(connack.session_present, "{v}");
        // Whatever its session had queued comes before its own sentinel.
        let own = "sentinel/sleeper";
        sleeper.subscribe(own, QoS::AtLeastOnce).await;
        sleeper.expect_nothing_before_own_sentinel(own).await;
        sleeper.unsubscribe(&["$share/g/t", own]).await;
        sleeper.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_8_4_3_subscribing_twice_to_a_share_keeps_one_membership() {
    let broker = start(SharedStrategy::RoundRobin).await;
    for v in versions() {
        let mut group = members(broker.addr(), v, "m", "$share/g/t", 2).await;
        let ack = group[0].subscribe("$share/g/t", QoS::AtLeastOnce).await;
        assert!(ack.reason_codes[0].is_success());
        let sent = publish_n(broker.addr(), v, "p", 20, |_| "t".into()).await;
        let got = drain(&mut group, 1).await;
        exactly_once(v, &sent, &got);
        assert_eq!(got[0].len(), 10, "{v}: still one member, not two");
    }
}
