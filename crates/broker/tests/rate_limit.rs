//! Per-client publish rates with a real socket: a publisher far over its rate is slowed by
//! back-pressure (the broker stops reading it), and loses nothing; another client is served
//! meanwhile.

use starling_codec::{Packet, ProtocolVersion, QoS};
use starling_testkit::{publish_packet, wire, RawClient, TestBroker};

#[tokio::test]
async fn a_publisher_over_its_rate_is_slowed_not_dropped() {
    let broker = TestBroker::start_with(|c| {
        c.rate_limit.messages = Some((500, 20));
    })
    .await;
    let v = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "rate-sub", true).await;
    sub.subscribe("rate/#", QoS::AtMostOnce).await;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "rate-pub", true).await;
    // 600 PUBLISHes in one write: 20 pass at once, the rest at 500/s while the broker leaves
    // the socket unread.
    let packets: Vec<Packet> = (0..600)
        .map(|i| {
            Packet::Publish(publish_packet(
                "rate/x",
                format!("{i}").as_bytes(),
                QoS::AtMostOnce,
                false,
                None,
            ))
        })
        .collect();
    publisher.send_bytes(&wire(&packets, v)).await;
    // Another client is answered while the publisher is held back.
    let (mut other, _) = RawClient::mqtt_connect(broker.addr(), v, "rate-other", true).await;
    other.ping().await;
    for i in 0..600 {
        let msg = sub.recv_publish().await;
        assert_eq!(
            msg.payload.as_ref(),
            format!("{i}").as_bytes(),
            "in order, none lost"
        );
    }
    // Still connected, and read again: its PINGREQ is answered.
    publisher.ping().await;
}
