//! The ACL bypass tests: every path a message can take to a client that may not read it, or
//! from a client that may not write it, with a Mosquitto-format ACL file. Each must be
//! refused; the allowed part of the same traffic must still flow.
//!
//! Waits end on sentinels: a message published after the one that must not arrive, on a
//! topic the reader may read, so its arrival proves the other was dropped.

use starling_codec::{Packet, ProtocolVersion, QoS, ReasonCode, SubAck, Utf8String, Will};
use starling_config::AuthzConfig;
use starling_testkit::{
    connect_packet, publish_packet, string, subscribe_packet, versions, RawClient, TestBroker,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const ACL: &str = "\
# alice reads and writes data/, but not data/secret/
user alice
topic readwrite data/#
topic deny data/secret/#
topic readwrite sentinel/#

# bob writes everywhere under data/
user bob
topic write data/#
topic write sentinel/#
topic readwrite bob/#

# carol may read $SYS
user carol
topic read $SYS/#
topic readwrite sentinel/#
";

struct AclBroker {
    broker: TestBroker,
    acl: PathBuf,
    _dir: tempfile::TempDir,
}

async fn broker_with(acl: &str, tweak: impl FnOnce(&mut starling_config::Config)) -> AclBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("acl");
    std::fs::write(&path, acl).expect("write acl");
    let acl_path = path.clone();
    let broker = TestBroker::start_with(move |cfg| {
        cfg.auth.authz = vec![AuthzConfig::AclFile { path: acl_path }];
        cfg.auth.no_match_allows = false;
        tweak(cfg);
    })
    .await;
    AclBroker {
        broker,
        acl: path,
        _dir: dir,
    }
}

async fn broker() -> AclBroker {
    broker_with(ACL, |_| {}).await
}

async fn user(addr: SocketAddr, v: ProtocolVersion, name: &str, id: &str) -> RawClient {
    let connect = starling_codec::Connect {
        username: Some(string(name)),
        ..connect_packet(v, id)
    };
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success, "{name} ({v})");
    client
}

/// The topics `sub` receives until `sentinel/<tag>` arrives, which `publisher` sends last.
async fn received_before_sentinel(
    sub: &mut RawClient,
    publisher: &mut RawClient,
    tag: &str,
) -> Vec<String> {
    let sentinel = format!("sentinel/{tag}");
    publisher
        .publish(&sentinel, b"end", QoS::AtLeastOnce, false)
        .await;
    let mut topics = Vec::new();
    loop {
        let msg = sub.recv_publish().await;
        sub.ack(&msg).await;
        if msg.topic.as_str() == sentinel {
            return topics;
        }
        topics.push(msg.topic.as_str().to_owned());
    }
}

fn refused(v: ProtocolVersion) -> ReasonCode {
    // 3.x SUBACK has one failure code, 0x80.
    if v.is_v5() {
        ReasonCode::NotAuthorized
    } else {
        ReasonCode::UnspecifiedError
    }
}

#[tokio::test]
async fn a_wildcard_over_a_denied_subtree_delivers_only_the_allowed_part() {
    let b = broker().await;
    for v in versions() {
        let mut alice = user(b.broker.addr(), v, "alice", "alice-1").await;
        let mut bob = user(b.broker.addr(), v, "bob", "bob-1").await;
        let ack = alice.subscribe("data/#", QoS::AtLeastOnce).await;
        assert_eq!(ack.reason_codes, [ReasonCode::GrantedQoS1], "{v}");
        alice.subscribe("sentinel/#", QoS::AtLeastOnce).await;
        for topic in ["data/open", "data/secret/x", "data/secret", "data/a/secret"] {
            bob.publish(topic, b"m", QoS::AtLeastOnce, false).await;
        }
        let got = received_before_sentinel(&mut alice, &mut bob, "wild").await;
        assert_eq!(got, ["data/open", "data/a/secret"], "{v}");
        // A subscription inside the denied subtree is refused outright.
        let ack = alice.subscribe("data/secret/#", QoS::AtLeastOnce).await;
        assert_eq!(ack.reason_codes, [refused(v)], "{v}");
    }
}

#[tokio::test]
async fn shared_and_exclusive_filters_are_judged_on_the_real_filter() {
    let b = broker().await;
    for v in versions() {
        let mut alice = user(b.broker.addr(), v, "alice", "alice-2").await;
        let mut bob = user(b.broker.addr(), v, "bob", "bob-2").await;
        let sub = subscribe_packet(
            1,
            &[
                ("$share/g/data/secret/#", QoS::AtLeastOnce),
                ("$queue/data/secret/x", QoS::AtLeastOnce),
                ("$exclusive/data/secret/y", QoS::AtLeastOnce),
                ("$share/g/bob/#", QoS::AtLeastOnce),
                ("$share/g/data/#", QoS::AtLeastOnce),
            ],
        );
        let SubAck { reason_codes, .. } = alice.subscribe_with(sub).await;
        let r = refused(v);
        assert_eq!(reason_codes, [r, r, r, r, ReasonCode::GrantedQoS1], "{v}");
        alice.subscribe("sentinel/#", QoS::AtLeastOnce).await;
        bob.publish("data/secret/x", b"m", QoS::AtLeastOnce, false)
            .await;
        bob.publish("data/shared", b"m", QoS::AtLeastOnce, false)
            .await;
        let got = received_before_sentinel(&mut alice, &mut bob, "share").await;
        assert_eq!(got, ["data/shared"], "{v}");
        alice
            .send(&Packet::Unsubscribe(starling_testkit::unsubscribe_packet(
                9,
                &["$share/g/data/#"],
            )))
            .await;
    }
}

#[tokio::test]
async fn retained_messages_under_a_denied_topic_do_not_leak_on_subscribe() {
    let b = broker().await;
    for v in versions() {
        let mut bob = user(b.broker.addr(), v, "bob", "bob-3").await;
        bob.publish("data/secret/r", b"hidden", QoS::AtLeastOnce, true)
            .await;
        bob.publish("data/open/r", b"shown", QoS::AtLeastOnce, true)
            .await;
        let mut alice = user(b.broker.addr(), v, "alice", "alice-3").await;
        alice.subscribe("sentinel/#", QoS::AtLeastOnce).await;
        alice.subscribe("data/#", QoS::AtLeastOnce).await;
        let got = received_before_sentinel(&mut alice, &mut bob, "retain").await;
        assert_eq!(got, ["data/open/r"], "{v}");
    }
}

#[tokio::test]
async fn a_will_to_a_denied_topic_refuses_the_connect() {
    let b = broker().await;
    for v in versions() {
        let connect = starling_codec::Connect {
            username: Some(string("alice")),
            will: Some(Will {
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: Utf8String::from_static("data/secret/will"),
                payload: bytes::Bytes::from_static(b"gone"),
                properties: Default::default(),
            }),
            ..connect_packet(v, "alice-will")
        };
        let (_client, connack) = RawClient::connect_with(b.broker.addr(), connect).await;
        assert_eq!(connack.reason_code, ReasonCode::NotAuthorized, "{v}");
    }
}

#[tokio::test]
async fn a_delayed_publish_is_judged_on_its_target_topic() {
    let b = broker().await;
    let v = ProtocolVersion::V5;
    let mut alice = user(b.broker.addr(), v, "alice", "alice-4").await;
    let reason = alice
        .publish("$delayed/1/data/secret/d", b"m", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    let reason = alice
        .publish("$delayed/1/bob/x", b"m", QoS::ExactlyOnce, false)
        .await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    // Allowed target: accepted (the wrapper itself needs no rule).
    let reason = alice
        .publish("$delayed/3600/data/open", b"m", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(reason, ReasonCode::Success);
    assert!(
        b.broker
            .metrics()
            .acl_denied_publish
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[tokio::test]
async fn sys_topics_need_their_own_permission() {
    let b = broker().await;
    for v in versions() {
        let mut alice = user(b.broker.addr(), v, "alice", "alice-5").await;
        let ack = alice.subscribe("$SYS/#", QoS::AtMostOnce).await;
        assert_eq!(ack.reason_codes, [refused(v)], "{v}");
        let mut carol = user(b.broker.addr(), v, "carol", "carol-5").await;
        let ack = carol.subscribe("$SYS/#", QoS::AtMostOnce).await;
        assert_eq!(ack.reason_codes, [ReasonCode::Success], "{v}");
        // `#` does not reach `$SYS`, so a reader of everything gets no broker topics.
        let ack = carol.subscribe("#", QoS::AtMostOnce).await;
        assert_eq!(ack.reason_codes, [refused(v)], "{v}");
    }
}

#[tokio::test]
async fn a_denied_publish_is_refused_and_reaches_nobody() {
    let b = broker().await;
    for v in versions() {
        let mut bob = user(b.broker.addr(), v, "bob", "bob-6").await;
        bob.subscribe("bob/#", QoS::AtLeastOnce).await;
        let mut alice = user(b.broker.addr(), v, "alice", "alice-6").await;
        let reason = alice.publish("bob/in", b"m", QoS::AtLeastOnce, false).await;
        // 3.x PUBACK has no reason code: acknowledged and dropped.
        let expect = if v.is_v5() {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::Success
        };
        assert_eq!(reason, expect, "{v}");
        // bob's own message to his topic is the sentinel: alice's never came before it.
        bob.publish("bob/sentinel", b"end", QoS::AtLeastOnce, false)
            .await;
        let msg = bob.recv_publish().await;
        assert_eq!(msg.topic.as_str(), "bob/sentinel", "{v}");
    }
}

#[tokio::test]
async fn with_deny_action_disconnect_a_denied_publish_closes_the_connection() {
    let b = broker_with(ACL, |cfg| cfg.auth.deny_disconnects = true).await;
    for v in versions() {
        let mut alice = user(b.broker.addr(), v, "alice", "alice-7").await;
        let id = alice.next_packet_id().get();
        alice
            .send(&Packet::Publish(publish_packet(
                "bob/in",
                b"m",
                QoS::AtLeastOnce,
                false,
                Some(id),
            )))
            .await;
        let disconnect = alice.expect_closed().await;
        if v.is_v5() {
            assert_eq!(
                disconnect.map(|d| d.reason_code),
                Some(ReasonCode::NotAuthorized)
            );
        }
    }
}

fn rewrite(path: &Path, text: &str) {
    std::fs::write(path, text).expect("rewrite acl");
}

#[tokio::test]
async fn a_rule_changed_while_a_persistent_session_was_offline_holds_when_it_returns() {
    let b = broker().await;
    for v in versions() {
        let addr = b.broker.addr();
        let connect = starling_codec::Connect {
            username: Some(string("alice")),
            clean_start: false,
            properties: starling_codec::Properties {
                session_expiry_interval: v.is_v5().then_some(600),
                ..Default::default()
            },
            ..connect_packet(v, &format!("alice-offline-{v}"))
        };
        let (mut alice, _) = RawClient::connect_with(addr, connect.clone()).await;
        alice.subscribe("data/#", QoS::AtLeastOnce).await;
        alice.subscribe("sentinel/#", QoS::AtLeastOnce).await;
        alice.disconnect().await;
        // While alice is away, data/feed is taken from her.
        rewrite(
            &b.acl,
            &ACL.replace(
                "topic deny data/secret/#",
                "topic deny data/feed/#\ntopic deny data/secret/#",
            ),
        );
        b.broker.reload_auth();
        let mut bob = user(addr, v, "bob", "bob-8").await;
        bob.publish("data/feed/1", b"queued", QoS::AtLeastOnce, false)
            .await;
        bob.publish("data/other", b"queued", QoS::AtLeastOnce, false)
            .await;
        bob.publish("sentinel/offline", b"end", QoS::AtLeastOnce, false)
            .await;
        let (mut alice, connack) = RawClient::connect_with(addr, connect).await;
        assert!(connack.session_present, "{v}");
        let mut got = Vec::new();
        loop {
            let msg = alice.recv_publish().await;
            alice.ack(&msg).await;
            if msg.topic.as_str() == "sentinel/offline" {
                break;
            }
            got.push(msg.topic.as_str().to_owned());
        }
        assert_eq!(got, ["data/other"], "{v}");
        rewrite(&b.acl, ACL);
        b.broker.reload_auth();
    }
}
