//! The client against a real in-process broker, on 3.1.1 and 5.0.

use bytes::Bytes;
use starling_client::{Client, ClientError, ClientOptions, Message, ProtocolVersion, QoS};
use starling_testkit::TestBroker;
use std::time::Duration;

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3_1_1, ProtocolVersion::V5];

fn opts(broker: &TestBroker, version: ProtocolVersion, id: &str) -> ClientOptions {
    ClientOptions::new(broker.addr())
        .version(version)
        .client_id(id)
}

async fn recv(incoming: &mut starling_client::Incoming) -> starling_client::Publish {
    match tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await {
        Ok(Some(p)) => p,
        other => panic!("no message: {other:?}"),
    }
}

#[tokio::test]
async fn publish_and_receive_at_every_qos() {
    let broker = TestBroker::start().await;
    for version in VERSIONS {
        let (sub, mut incoming) = Client::connect(&opts(&broker, version, "sub"))
            .await
            .expect("sub");
        let suback = sub
            .subscribe("t/#", QoS::ExactlyOnce)
            .await
            .expect("suback");
        assert_eq!(suback.reason_codes.len(), 1);
        let (publ, _pin) = Client::connect(&opts(&broker, version, "pub"))
            .await
            .expect("pub");
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let payload = Bytes::from(vec![qos.as_u8(); 3]);
            let message = Message::new("t/x", payload.clone(), qos).expect("message");
            let code = publ.publish_confirmed(message).await.expect("acknowledged");
            assert!(code.is_success(), "{version} {qos:?}: {code:?}");
            let got = recv(&mut incoming).await;
            assert_eq!(
                (got.topic.as_str(), got.qos, got.payload),
                ("t/x", qos, payload)
            );
        }
        let unsuback = sub.unsubscribe(&["t/#"]).await.expect("unsuback");
        assert_eq!(unsuback.packet_id.get(), 2);
        publ.disconnect().await.expect("disconnect");
        sub.disconnect().await.expect("disconnect");
        incoming.finish().await.expect("clean end");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_qos1_publishes_all_arrive_in_order() {
    let broker = TestBroker::start().await;
    let mut o = opts(&broker, ProtocolVersion::V5, "burst-sub");
    o.incoming_capacity = 2;
    let (sub, mut incoming) = Client::connect(&o).await.expect("sub");
    sub.subscribe("burst", QoS::AtLeastOnce)
        .await
        .expect("suback");
    let (publ, _pin) = Client::connect(&opts(&broker, ProtocolVersion::V5, "burst-pub"))
        .await
        .expect("pub");
    let topic = Message::new("burst", Bytes::new(), QoS::AtLeastOnce).expect("m");
    let sender = tokio::spawn(async move {
        for i in 0u32..5000 {
            let mut m = topic.clone();
            m.payload = Bytes::copy_from_slice(&i.to_be_bytes());
            publ.publish(m).await.expect("queued");
        }
        publ.disconnect().await.expect("disconnect");
    });
    for i in 0u32..5000 {
        assert_eq!(recv(&mut incoming).await.payload.as_ref(), i.to_be_bytes());
    }
    sender.await.expect("sender");
    broker.shutdown().await;
}

#[tokio::test]
async fn refused_connect_names_the_reason() {
    let broker = TestBroker::start().await;
    // A 3.1.1 client with an empty id and no clean session is refused (identifier rejected).
    let o = opts(&broker, ProtocolVersion::V3_1_1, "").clean_start(false);
    match Client::connect(&o).await {
        Err(e @ ClientError::Refused(_)) => {
            assert!(e.to_string().contains("identifier"), "{e}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connect should be refused"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn unreachable_broker_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = Client::connect(&ClientOptions::new(addr)).await.err();
    assert!(matches!(err, Some(ClientError::Connect { .. })), "{err:?}");
}

#[tokio::test]
async fn keep_alive_pings_keep_the_connection_up() {
    let broker = TestBroker::start().await;
    let o = opts(&broker, ProtocolVersion::V5, "ka").keep_alive(Duration::from_secs(1));
    let (client, mut incoming) = Client::connect(&o).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    client
        .subscribe("ka", QoS::AtMostOnce)
        .await
        .expect("still connected");
    client
        .publish(Message::new("ka", "x", QoS::AtMostOnce).expect("m"))
        .await
        .expect("publish");
    assert_eq!(recv(&mut incoming).await.payload.as_ref(), b"x");
    broker.shutdown().await;
}
