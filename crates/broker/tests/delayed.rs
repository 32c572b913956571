//! Delayed publish (EMQX's `$delayed/<seconds>/<topic>`, `delayed.enabled`): the message reaches
//! subscribers of `<topic>` after the delay, never subscribers of the `$delayed/` name; an invalid
//! delay is refused (5.0: Topic Name invalid in the ack); equal delays keep their order; disabled, `$delayed/...` is an ordinary topic.

use starling_codec::{ProtocolVersion, QoS, ReasonCode};
use starling_testkit::{versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

async fn subscriber(addr: SocketAddr, v: ProtocolVersion, id: &str, filters: &[&str]) -> RawClient {
    let (mut client, _) = RawClient::mqtt_connect(addr, v, id, true).await;
    for filter in filters {
        let ack = client.subscribe(filter, QoS::AtLeastOnce).await;
        assert!(ack.reason_codes[0].is_success(), "{v} {filter}: {ack:?}");
    }
    client
}

/// A topic subscribers also subscribe to when a test must show something did not reach them:
/// the publisher sends a message there afterwards, which must be the next they get.
const SENTINEL: &str = "sentinel/delayed";

async fn publisher(addr: SocketAddr, v: ProtocolVersion) -> RawClient {
    RawClient::mqtt_connect(addr, v, "publisher", true).await.0
}

#[tokio::test]
async fn delayed_message_reaches_the_real_topic_after_the_delay() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("later/{v}");
        let mut sub = subscriber(broker.addr(), v, "sub", &[&topic]).await;
        let mut raw = subscriber(broker.addr(), v, "raw", &["$delayed/#", SENTINEL]).await;
        let mut p = publisher(broker.addr(), v).await;
        let sent = Instant::now();
        p.publish(
            &format!("$delayed/2/{topic}"),
            b"wait",
            QoS::AtLeastOnce,
            false,
        )
        .await;
        // Not before the delay: the first message `sub` gets is this one, 2 s later.
        let msg = sub.recv_and_ack().await;
        let waited = sent.elapsed();
        assert!(waited >= Duration::from_secs(2), "{v}: after {waited:?}");
        assert_eq!(msg.topic.as_str(), topic, "{v}: the real topic");
        assert_eq!(&msg.payload[..], b"wait");
        assert_eq!(msg.qos, QoS::AtLeastOnce);
        // Neither when it was published nor when it was due did it reach `$delayed/#`.
        p.publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        raw.expect_next_publish_on(SENTINEL).await;
        p.disconnect().await;
    }
}

#[tokio::test]
async fn delayed_zero_seconds_is_delivered_at_once() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = subscriber(broker.addr(), v, "sub", &["now"]).await;
        let mut p = publisher(broker.addr(), v).await;
        p.publish("$delayed/0/now", b"now", QoS::AtLeastOnce, false)
            .await;
        // Delivered (without waiting: within the client's usual timeout, far below any delay
        // of a second or more).
        let msg = sub.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), "now", "{v}");
        p.disconnect().await;
    }
}

#[tokio::test]
async fn delayed_with_an_invalid_delay_is_delivered_nowhere() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = subscriber(
            broker.addr(),
            v,
            "sub",
            &["t", "abc/t", "4294968/t", "#", "$delayed/#"],
        )
        .await;
        let mut p = publisher(broker.addr(), v).await;
        // Not a number; over the maximum of 4294967 s; no topic after the delay. 5.0 is told
        // Topic Name invalid (0x90) in the ack; 3.x acks have no reason code.
        let want = if v.is_v5() {
            ReasonCode::TopicNameInvalid
        } else {
            ReasonCode::Success
        };
        let bad = [
            "$delayed/abc/t",
            "$delayed/4294968/t",
            "$delayed/-1/t",
            "$delayed/5",
        ];
        for topic in bad {
            for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let rc = p.publish(topic, b"bad", qos, false).await;
                assert_eq!(rc, want, "{v} {topic} {qos:?}");
            }
        }
        // The broker still works, and the first message `sub` gets is this sentinel from the
        // same publisher: none of the invalid ones was routed anywhere.
        p.publish("t", b"ok", QoS::AtLeastOnce, false).await;
        let first = sub.expect_next_publish_on("t").await;
        assert_eq!(&first.payload[..], b"ok", "{v}");
        p.disconnect().await;
    }
}

#[tokio::test]
async fn delayed_messages_with_equal_delays_keep_their_order() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut sub = subscriber(broker.addr(), v, "sub", &["ordered"]).await;
        let mut p = publisher(broker.addr(), v).await;
        for i in 0..5 {
            p.publish("$delayed/1/ordered", [i], QoS::AtLeastOnce, false)
                .await;
        }
        for i in 0..5 {
            let msg = sub.recv_and_ack().await;
            assert_eq!(&msg.payload[..], [i], "{v}");
        }
        p.disconnect().await;
    }
}

#[tokio::test]
async fn delayed_disabled_makes_delayed_an_ordinary_topic() {
    let broker = TestBroker::start_with(|cfg| cfg.delayed.enabled = false).await;
    for v in versions() {
        let mut real = subscriber(broker.addr(), v, "real", &["t", SENTINEL]).await;
        let mut raw = subscriber(broker.addr(), v, "raw", &["$delayed/2/t"]).await;
        let mut p = publisher(broker.addr(), v).await;
        p.publish("$delayed/2/t", b"plain", QoS::AtLeastOnce, false)
            .await;
        // Delivered at once, under its own name.
        let msg = raw.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), "$delayed/2/t", "{v}: {msg:?}");
        // And never to `t`, not even once the 2 s would have passed. This sleep is the scenario
        // (the delay must be over), not synchronisation: the sentinel, published after it by the
        // same publisher, must be the first message `real` gets.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        p.publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        real.expect_next_publish_on(SENTINEL).await;
        p.disconnect().await;
    }
}
