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

async fn publisher(addr: SocketAddr, v: ProtocolVersion) -> RawClient {
    RawClient::mqtt_connect(addr, v, "publisher", true).await.0
}

#[tokio::test]
async fn delayed_message_reaches_the_real_topic_after_the_delay() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("later/{v}");
        let mut sub = subscriber(broker.addr(), v, "sub", &[&topic]).await;
        let mut raw = subscriber(broker.addr(), v, "raw", &["$delayed/#"]).await;
        let mut p = publisher(broker.addr(), v).await;
        let sent = Instant::now();
        p.publish(
            &format!("$delayed/2/{topic}"),
            b"wait",
            QoS::AtLeastOnce,
            false,
        )
        .await;
        sub.expect_no_packet(Duration::from_millis(1500)).await;
        let msg = sub.recv_and_ack().await;
        let waited = sent.elapsed();
        assert!(waited >= Duration::from_secs(2), "{v}: after {waited:?}");
        assert_eq!(msg.topic.as_str(), topic, "{v}: the real topic");
        assert_eq!(&msg.payload[..], b"wait");
        assert_eq!(msg.qos, QoS::AtLeastOnce);
        raw.expect_no_packet(Duration::from_millis(200)).await;
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
        let msg = sub
            .recv_timeout(Duration::from_millis(1000))
            .await
            .expect("delivered without waiting");
        assert!(matches!(msg, starling_codec::Packet::Publish(ref m) if m.topic.as_str() == "now"));
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
        p.ping().await;
        sub.expect_no_packet(Duration::from_millis(500)).await;
        // The broker still works.
        p.publish("t", b"ok", QoS::AtLeastOnce, false).await;
        let first = sub.recv_and_ack().await;
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
        let mut real = subscriber(broker.addr(), v, "real", &["t"]).await;
        let mut raw = subscriber(broker.addr(), v, "raw", &["$delayed/2/t"]).await;
        let mut p = publisher(broker.addr(), v).await;
        p.publish("$delayed/2/t", b"plain", QoS::AtLeastOnce, false)
            .await;
        let msg = raw
            .recv_timeout(Duration::from_millis(1000))
            .await
            .expect("delivered at once");
        assert!(
            matches!(msg, starling_codec::Packet::Publish(ref m) if m.topic.as_str() == "$delayed/2/t"),
            "{v}: {msg:?}"
        );
        real.expect_no_packet(Duration::from_millis(2500)).await;
        p.disconnect().await;
    }
}
