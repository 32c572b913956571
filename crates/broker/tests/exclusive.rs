//! Exclusive subscriptions (EMQX's `$exclusive/<filter>`): one subscriber per filter at a time;
//! others are refused (5.0 0x97 Quota exceeded, 3.1.1 0x80 Failure) until the holder
//! unsubscribes or its session ends. The holder receives what is published to `<filter>`.

use starling_codec::{ProtocolVersion, QoS, ReasonCode, Will};
use starling_testkit::{connect_packet, string, versions, RawClient, TestBroker};
use std::net::SocketAddr;

/// The SUBACK code a refused exclusive subscription gets in `v`.
fn refused(v: ProtocolVersion) -> ReasonCode {
    if v.is_v5() {
        ReasonCode::QuotaExceeded
    } else {
        ReasonCode::UnspecifiedError
    }
}

async fn try_subscribe(client: &mut RawClient, filter: &str) -> ReasonCode {
    let ack = client.subscribe(filter, QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes.len(), 1);
    ack.reason_codes[0]
}

async fn client(addr: SocketAddr, v: ProtocolVersion, id: &str) -> RawClient {
    RawClient::mqtt_connect(addr, v, id, true).await.0
}

#[tokio::test]
async fn exclusive_second_subscriber_is_refused_until_the_first_unsubscribes() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let filter = format!("$exclusive/ex/{v}");
        let mut first = client(broker.addr(), v, "first").await;
        let mut second = client(broker.addr(), v, "second").await;
        assert_eq!(
            try_subscribe(&mut first, &filter).await,
            ReasonCode::GrantedQoS1
        );
        assert_eq!(try_subscribe(&mut second, &filter).await, refused(v), "{v}");
        let ack = first.unsubscribe(&[&filter]).await;
        if v.is_v5() {
            assert_eq!(ack.reason_codes, [ReasonCode::Success]);
        }
        assert_eq!(
            try_subscribe(&mut second, &filter).await,
            ReasonCode::GrantedQoS1,
            "{v}: free again"
        );
        assert_eq!(try_subscribe(&mut first, &filter).await, refused(v), "{v}");
        first.disconnect().await;
        second.disconnect().await;
    }
}

#[tokio::test]
async fn exclusive_subscription_is_released_when_the_session_ends() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let filter = format!("$exclusive/ex/{v}");
        // The holder's will is the signal that the broker saw its connection go: the session
        // of a lost connection publishes its will, then ends, in that order, from one task.
        let will_topic = format!("will/first/{v}");
        let mut connect = connect_packet(v, "first");
        connect.will = Some(Will {
            qos: QoS::AtMostOnce,
            retain: false,
            topic: string(&will_topic),
            payload: RawClient::bytes(b"gone"),
            properties: Default::default(),
        });
        let (mut first, _) = RawClient::connect_with(broker.addr(), connect).await;
        let mut second = client(broker.addr(), v, "second").await;
        second.subscribe(&will_topic, QoS::AtMostOnce).await;
        assert_eq!(
            try_subscribe(&mut first, &filter).await,
            ReasonCode::GrantedQoS1
        );
        assert_eq!(try_subscribe(&mut second, &filter).await, refused(v), "{v}");
        // A clean session ends with its connection, even an abnormal close.
        first.drop_connection();
        second.expect_next_publish_on(&will_topic).await;
        assert_eq!(
            try_subscribe(&mut second, &filter).await,
            ReasonCode::GrantedQoS1,
            "{v}: granted once the holder's session ended"
        );
        second.disconnect().await;
    }
}

#[tokio::test]
async fn exclusive_subscriber_receives_messages_published_to_the_filter() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let topic = format!("ex/{v}/data");
        let mut holder = client(broker.addr(), v, "holder").await;
        assert_eq!(
            try_subscribe(&mut holder, &format!("$exclusive/ex/{v}/+")).await,
            ReasonCode::GrantedQoS1
        );
        let mut p = client(broker.addr(), v, "publisher").await;
        p.publish(&topic, b"mine", QoS::AtLeastOnce, false).await;
        let msg = holder.recv_and_ack().await;
        assert_eq!(msg.topic.as_str(), topic, "{v}");
        assert_eq!(&msg.payload[..], b"mine");
        assert_eq!(msg.qos, QoS::AtLeastOnce);
        p.disconnect().await;
        holder.disconnect().await;
    }
}

#[tokio::test]
async fn exclusive_holder_may_subscribe_again() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let filter = format!("$exclusive/again/{v}");
        let mut holder = client(broker.addr(), v, "holder").await;
        assert_eq!(
            try_subscribe(&mut holder, &filter).await,
            ReasonCode::GrantedQoS1
        );
        assert_eq!(
            try_subscribe(&mut holder, &filter).await,
            ReasonCode::GrantedQoS1,
            "{v}: [MQTT-3.8.4-3] a repeated subscription replaces the first"
        );
        let mut p = client(broker.addr(), v, "publisher").await;
        p.publish(&format!("again/{v}"), b"once", QoS::AtLeastOnce, false)
            .await;
        let msg = holder.recv_and_ack().await;
        assert_eq!(&msg.payload[..], b"once");
        // Once, not twice: the next message is a sentinel from the same publisher.
        let sentinel = format!("again/{v}/sentinel");
        holder.subscribe(&sentinel, QoS::AtLeastOnce).await;
        p.publish(&sentinel, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        holder.expect_next_publish_on(&sentinel).await;
        p.disconnect().await;
        holder.disconnect().await;
    }
}

#[tokio::test]
async fn exclusive_is_kept_by_an_offline_session_and_released_by_clean_start() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let filter = format!("$exclusive/kept/{v}");
        let mut connect = starling_testkit::connect_packet(v, "holder");
        connect.clean_start = false;
        connect.properties.session_expiry_interval = v.is_v5().then_some(60);
        let (mut holder, _) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(
            try_subscribe(&mut holder, &filter).await,
            ReasonCode::GrantedQoS1
        );
        holder.disconnect().await;
        let mut other = client(broker.addr(), v, "other").await;
        assert_eq!(
            try_subscribe(&mut other, &filter).await,
            refused(v),
            "{v}: the offline session still holds it"
        );
        // Clean start discards the old session and its subscriptions.
        let holder = client(broker.addr(), v, "holder").await;
        assert_eq!(
            try_subscribe(&mut other, &filter).await,
            ReasonCode::GrantedQoS1,
            "{v}: released with the discarded session"
        );
        holder.disconnect().await;
        other.disconnect().await;
    }
}
