//! Banned clients (by client id, username, address, network; with an end), kept across a
//! restart, and flapping detection banning a client id that reconnects too often.

use starling_broker::{BanKind, BanRecord};
use starling_codec::{Connect, ProtocolVersion, ReasonCode};
use starling_config::FlappingConfig;
use starling_testkit::{connect_packet, string, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

async fn connack(addr: SocketAddr, v: ProtocolVersion, id: &str, user: Option<&str>) -> ReasonCode {
    let connect = Connect {
        username: user.map(string),
        ..connect_packet(v, id)
    };
    RawClient::connect_with(addr, connect).await.1.reason_code
}

/// 3.x has return code 5 (not authorized) for a ban.
fn banned(v: ProtocolVersion) -> ReasonCode {
    if v.is_v5() {
        ReasonCode::Banned
    } else {
        ReasonCode::NotAuthorized
    }
}

fn ban(kind: BanKind, who: &str, until: Option<SystemTime>) -> BanRecord {
    BanRecord {
        kind,
        who: who.into(),
        at: SystemTime::now(),
        until,
        reason: "test".into(),
        by: "test".into(),
    }
}

async fn on(dir: PathBuf) -> TestBroker {
    TestBroker::start_with(move |c| c.node.data_dir = dir).await
}

#[tokio::test]
async fn bans_refuse_by_client_id_username_and_address_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = on(dir.path().to_owned()).await;
    let now = SystemTime::now();
    let bans = broker.running().bans();
    bans.add(ban(BanKind::ClientId, "evil", None), now)
        .expect("ban");
    bans.add(ban(BanKind::Username, "mallory", None), now)
        .expect("ban");
    bans.add(ban(BanKind::Address, "10.9.8.0/24", None), now)
        .expect("ban");
    // Already over: never refuses.
    bans.add(ban(BanKind::ClientId, "reformed", Some(now)), now)
        .expect("ban");
    let addr = broker.addr();
    for v in versions() {
        assert_eq!(connack(addr, v, "evil", None).await, banned(v), "{v}");
        assert_eq!(
            connack(addr, v, "x", Some("mallory")).await,
            banned(v),
            "{v}"
        );
        assert_eq!(
            connack(addr, v, "reformed", None).await,
            ReasonCode::Success,
            "{v}"
        );
        assert_eq!(
            connack(addr, v, "good", Some("alice")).await,
            ReasonCode::Success,
            "{v}"
        );
    }
    broker.shutdown().await;

    let broker = on(dir.path().to_owned()).await;
    let v = ProtocolVersion::V5;
    assert_eq!(
        connack(broker.addr(), v, "evil", None).await,
        ReasonCode::Banned
    );
    let kept: Vec<String> = broker
        .running()
        .bans()
        .list(SystemTime::now())
        .into_iter()
        .map(|b| b.who)
        .collect();
    assert_eq!(kept, ["evil", "mallory", "10.9.8.0/24"]);
    // Lifted, it lets the client in, and stays lifted.
    assert!(broker.running().bans().remove(BanKind::ClientId, "evil"));
    assert_eq!(
        connack(broker.addr(), v, "evil", None).await,
        ReasonCode::Success
    );
    assert!(broker.metrics().banned_refused.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn a_client_id_that_reconnects_too_often_is_banned_for_a_while() {
    let broker = TestBroker::start_with(|c| {
        c.flapping = Some(FlappingConfig {
            max_count: 5,
            window: Duration::from_secs(60),
            ban_time: Duration::from_secs(300),
        });
    })
    .await;
    let v = ProtocolVersion::V5;
    // Each connection is dropped at once. The broker counts a disconnect when it sees the
    // close, which may be after the next CONNECT: so the ban comes after at least 6 connects
    // (6 disconnects > 5), and within a bounded number more.
    let mut accepted = 0;
    loop {
        let code = connack(broker.addr(), v, "flappy", None).await;
        if code == ReasonCode::Banned {
            break;
        }
        assert_eq!(code, ReasonCode::Success);
        accepted += 1;
        assert!(accepted <= 50, "not banned after {accepted} reconnects");
    }
    assert!(accepted >= 6, "banned after only {accepted} connects");
    assert_eq!(
        connack(broker.addr(), v, "flappy", None).await,
        ReasonCode::Banned
    );
    assert_eq!(
        connack(broker.addr(), v, "steady", None).await,
        ReasonCode::Success
    );
    assert_eq!(broker.metrics().flapping_bans.load(Ordering::Relaxed), 1);
    let bans = broker.running().bans().list(SystemTime::now());
    assert_eq!(bans.len(), 1);
    assert_eq!(
        (bans[0].kind, bans[0].by.as_str()),
        (BanKind::ClientId, "flapping")
    );
    assert!(bans[0].until.is_some_and(|until| until > SystemTime::now()));
}

#[tokio::test]
async fn banning_a_connected_client_id_closes_its_connection() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "soon-banned", true).await;
    broker
        .running()
        .ban(ban(BanKind::ClientId, "soon-banned", None))
        .await
        .expect("ban");
    let disconnect = client.expect_closed().await;
    assert_eq!(
        disconnect.map(|d| d.reason_code),
        Some(ReasonCode::AdministrativeAction)
    );
    assert_eq!(
        connack(broker.addr(), v, "soon-banned", None).await,
        ReasonCode::Banned
    );
    // A kick alone closes the connection; the client may come back.
    let (mut other, _) = RawClient::mqtt_connect(broker.addr(), v, "kicked", true).await;
    broker.running().kick("kicked").await;
    assert!(other.expect_closed().await.is_some());
    assert_eq!(
        connack(broker.addr(), v, "kicked", None).await,
        ReasonCode::Success
    );
}

#[tokio::test]
async fn banning_a_username_or_a_network_closes_every_connection_it_covers() {
    let broker = TestBroker::start().await;
    let v = ProtocolVersion::V5;
    let with_user = |id: &str, user: &str| Connect {
        username: Some(string(user)),
        ..connect_packet(v, id)
    };
    let (mut a, _) = RawClient::connect_with(broker.addr(), with_user("a", "mallory")).await;
    let (mut b, _) = RawClient::connect_with(broker.addr(), with_user("b", "mallory")).await;
    let (mut c, _) = RawClient::connect_with(broker.addr(), with_user("c", "alice")).await;
    let closed = broker
        .running()
        .ban(ban(BanKind::Username, "mallory", None))
        .await
        .expect("ban");
    assert_eq!(closed, 2);
    for client in [&mut a, &mut b] {
        let d = client.expect_closed().await;
        assert_eq!(
            d.map(|d| d.reason_code),
            Some(ReasonCode::AdministrativeAction)
        );
    }
    // alice is still served: a round trip proves it.
    c.subscribe("still/here", starling_codec::QoS::AtMostOnce)
        .await;
    let closed = broker
        .running()
        .ban(ban(BanKind::Address, "127.0.0.0/8", None))
        .await
        .expect("ban");
    assert_eq!(closed, 1);
    let d = c.expect_closed().await;
    assert_eq!(
        d.map(|d| d.reason_code),
        Some(ReasonCode::AdministrativeAction)
    );
    let bad = broker
        .running()
        .ban(ban(BanKind::Address, "not-a-network", None))
        .await;
    assert!(bad.is_err());
}
