//! Persistent sessions across a restart: their subscriptions and queued messages, outgoing
//! QoS 2 messages in flight (same packet id, DUP set, or PUBREL once released), and incoming
//! QoS 2 ids awaiting PUBREL (a resend is not delivered twice). The broker is stopped and
//! started again on the same data directory; `kill -9` cycles are in
//! `tests/e2e/test_persist.py`.

use starling_codec::{Connect, Packet, ProtocolVersion, PubResp, QoS, ReasonCode};
use starling_testkit::{connect_packet, publish_packet, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::path::Path;

async fn broker_in(dir: &Path) -> TestBroker {
    let dir = dir.to_owned();
    TestBroker::start_with(move |c| c.node.data_dir = dir).await
}

fn persistent(v: ProtocolVersion, id: &str) -> Connect {
    let mut connect = connect_packet(v, id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = v.is_v5().then_some(3600);
    connect
}

async fn resume(addr: SocketAddr, v: ProtocolVersion, id: &str) -> (RawClient, bool) {
    let (client, connack) = RawClient::connect_with(addr, persistent(v, id)).await;
    assert_eq!(connack.reason_code, ReasonCode::Success, "{v} {id}");
    (client, connack.session_present)
}

#[tokio::test]
async fn queued_messages_and_subscriptions_of_an_offline_session_survive_a_restart() {
    for v in versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = broker_in(dir.path()).await;
        let (mut sub, _) = resume(broker.addr(), v, "sleeper").await;
        sub.subscribe("q/1", QoS::AtLeastOnce).await;
        sub.subscribe("q/2", QoS::ExactlyOnce).await;
        sub.disconnect().await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
        let mut want = Vec::new();
        for i in 0..60 {
            let (topic, qos) = if i % 3 == 0 {
                ("q/2", QoS::ExactlyOnce)
            } else {
                ("q/1", QoS::AtLeastOnce)
            };
            let code = publisher.publish(topic, format!("m{i}"), qos, false).await;
            assert_eq!(code, ReasonCode::Success);
            want.push((topic.to_owned(), format!("m{i}")));
        }
        publisher.disconnect().await;
        broker.shutdown().await;

        let broker = broker_in(dir.path()).await;
        let (mut back, present) = resume(broker.addr(), v, "sleeper").await;
        assert!(present, "{v}: session present after the restart");
        let mut got = Vec::new();
        for _ in 0..want.len() {
            let msg = back.recv_and_ack().await;
            got.push((
                msg.topic.to_string(),
                String::from_utf8_lossy(&msg.payload).into_owned(),
            ));
        }
        assert_eq!(got, want, "{v}: every message once, in order");
        // The subscriptions came back too: a new message on each arrives.
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
        publisher
            .publish("q/2", "after", QoS::ExactlyOnce, false)
            .await;
        let msg = back.recv_and_ack().await;
        assert_eq!(
            (msg.topic.as_str(), &msg.payload[..], msg.qos),
            ("q/2", &b"after"[..], QoS::ExactlyOnce),
            "{v}"
        );
        publisher.disconnect().await;
        back.disconnect().await;
        broker.shutdown().await;
    }
}

/// Exactly once towards a subscriber across restarts: a QoS 2 message sent but not answered is
/// sent again with the same packet id and DUP; once the subscriber answered PUBREC, what comes
/// after a restart is the PUBREL, not the message again.
#[tokio::test]
async fn an_outgoing_qos2_message_keeps_its_packet_id_and_state_across_restarts() {
    for v in versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = broker_in(dir.path()).await;
        let (mut sub, _) = resume(broker.addr(), v, "x").await;
        sub.subscribe("x/t", QoS::ExactlyOnce).await;
        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "p", true).await;
        publisher
            .publish("x/t", "once", QoS::ExactlyOnce, false)
            .await;
        publisher.disconnect().await;
        let first = sub.recv_publish().await;
        let id = first.packet_id.expect("QoS 2 has an id");
        assert!(!first.dup);
        sub.drop_connection();
        broker.shutdown().await;

        let broker = broker_in(dir.path()).await;
        let (mut sub, present) = resume(broker.addr(), v, "x").await;
        assert!(present, "{v}");
        let again = sub.recv_publish().await;
        assert_eq!(again.packet_id, Some(id), "{v}: the same packet id");
        assert!(again.dup, "{v}: sent again, DUP set");
        assert_eq!(&again.payload[..], b"once");
        sub.send(&Packet::PubRec(PubResp::new(id))).await;
        sub.recv_matching(|p| match p {
            Packet::PubRel(rel) if rel.packet_id == id => Some(()),
            _ => None,
        })
        .await;
        sub.drop_connection();
        broker.shutdown().await;

        let broker = broker_in(dir.path()).await;
        let (mut sub, present) = resume(broker.addr(), v, "x").await;
        assert!(present, "{v}");
        // Released before the restart: the PUBREL comes again, the message does not.
        let rel = sub
            .recv_matching(|p| match p {
                Packet::PubRel(rel) => Some(rel.packet_id),
                Packet::Publish(p) => panic!("{v}: the message again: {p:?}"),
                _ => None,
            })
            .await;
        assert_eq!(rel, id);
        sub.send(&Packet::PubComp(PubResp::new(id))).await;
        sub.subscribe("x/sentinel", QoS::AtLeastOnce).await;
        sub.expect_nothing_before_own_sentinel("x/sentinel").await;
        sub.disconnect().await;
        broker.shutdown().await;
    }
}

/// Exactly once from a publisher across a restart: the QoS 2 id it was sent PUBREC for is
/// still known, so the PUBLISH it sends again (DUP) is acknowledged but not delivered again.
#[tokio::test]
async fn an_incoming_qos2_id_awaiting_pubrel_survives_a_restart() {
    for v in versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = broker_in(dir.path()).await;
        let (mut sub, _) = resume(broker.addr(), v, "reader").await;
        sub.subscribe("in/t", QoS::AtLeastOnce).await;
        sub.disconnect().await;
        let (mut publisher, _) = resume(broker.addr(), v, "writer").await;
        let publish = publish_packet("in/t", b"exactly", QoS::ExactlyOnce, false, Some(7));
        publisher.send(&Packet::Publish(publish.clone())).await;
        let rec = publisher
            .recv_matching(|p| match p {
                Packet::PubRec(rec) => Some(rec.reason_code),
                _ => None,
            })
            .await;
        assert_eq!(rec, ReasonCode::Success);
        publisher.drop_connection();
        broker.shutdown().await;

        let broker = broker_in(dir.path()).await;
        let (mut publisher, present) = resume(broker.addr(), v, "writer").await;
        assert!(present, "{v}");
        let mut dup = publish;
        dup.dup = true;
        publisher.send(&Packet::Publish(dup)).await;
        publisher
            .recv_matching(|p| matches!(p, Packet::PubRec(_)).then_some(()))
            .await;
        publisher.send(&Packet::PubRel(PubResp::new(id7()))).await;
        publisher
            .recv_matching(|p| matches!(p, Packet::PubComp(_)).then_some(()))
            .await;
        publisher
            .publish("in/t", "sentinel", QoS::AtLeastOnce, false)
            .await;
        publisher.disconnect().await;
        let (mut reader, _) = resume(broker.addr(), v, "reader").await;
        let first = reader.recv_and_ack().await;
        assert_eq!(&first.payload[..], b"exactly", "{v}");
        let next = reader.recv_and_ack().await;
        assert_eq!(&next.payload[..], b"sentinel", "{v}: delivered once");
        reader.disconnect().await;
        broker.shutdown().await;
    }
}

fn id7() -> starling_codec::PacketId {
    starling_codec::PacketId::new(7).expect("id")
}
