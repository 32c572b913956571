//! What the store keeps across a restart: retained and delayed messages; and one broker per
//! data directory. (Crash cycles with `kill -9` are in `tests/e2e/test_persist.py`.)

use starling_codec::{ProtocolVersion, QoS};
use starling_testkit::{RawClient, TestBroker};
use std::path::Path;

async fn broker_in(dir: &Path) -> TestBroker {
    let dir = dir.to_owned();
    TestBroker::start_with(move |c| c.node.data_dir = dir).await
}

#[tokio::test]
async fn retained_messages_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = broker_in(dir.path()).await;
    let v = ProtocolVersion::V5;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
    for i in 0..100 {
        let topic = format!("keep/{i:03}");
        publisher
            .publish(&topic, format!("m{i}").as_bytes(), QoS::AtLeastOnce, true)
            .await;
    }
    // Cleared before the restart: must not come back.
    publisher
        .publish("keep/050", b"", QoS::AtLeastOnce, true)
        .await;
    publisher.disconnect().await;
    broker.shutdown().await;

    let broker = broker_in(dir.path()).await;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "s", true).await;
    sub.subscribe("keep/#", QoS::AtLeastOnce).await;
    sub.subscribe("sentinel", QoS::AtLeastOnce).await;
    sub.publish("sentinel", b"end", QoS::AtLeastOnce, false)
        .await;
    let mut got = Vec::new();
    loop {
        let msg = sub.recv_and_ack().await;
        if msg.topic.as_str() == "sentinel" {
            break;
        }
        assert!(msg.retain);
        got.push((msg.topic.to_string(), msg.payload.to_vec()));
    }
    let want: Vec<_> = (0..100)
        .filter(|i| *i != 50)
        .map(|i| (format!("keep/{i:03}"), format!("m{i}").into_bytes()))
        .collect();
    assert_eq!(
        got, want,
        "every retained message, in topic order, none cleared"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_delayed_message_fires_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = broker_in(dir.path()).await;
    let v = ProtocolVersion::V5;
    let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
    publisher
        .publish("$delayed/3/later/t", b"held", QoS::AtLeastOnce, false)
        .await;
    publisher.disconnect().await;
    broker.shutdown().await;

    let broker = broker_in(dir.path()).await;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "s", true).await;
    sub.subscribe("later/t", QoS::AtLeastOnce).await;
    let msg = sub.recv_and_ack().await;
    assert_eq!(&msg.payload[..], b"held");
    broker.shutdown().await;
}

#[tokio::test]
async fn a_second_broker_on_the_same_directory_is_refused() {
    let broker = TestBroker::start().await;
    let mut config = broker.config().clone();
    config.listeners[0].bind = "127.0.0.1:0".parse().expect("addr");
    let refused = starling_broker::start(&config).await;
    let Err(error) = refused else {
        panic!("a second broker started on the same data directory");
    };
    let text = error.to_string();
    assert!(
        text.contains("in use by another broker"),
        "a clear message: {text}"
    );
    // The first one is undisturbed.
    let (client, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V3_1_1, "c", true).await;
    client.disconnect().await;
    broker.shutdown().await;
}
