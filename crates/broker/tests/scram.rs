//! 5.0 enhanced authentication with SCRAM ([[auth.authn]] kind = "scram") over AUTH packets,
//! against `builtin` users made through `RunningBroker::builtin()` (spec 4.12): the exchange
//! at CONNECT (success with SCRAM-SHA-256 and SCRAM-SHA-512, the client then governed by the
//! ACL as that user; wrong password 0x87; unknown user 0x86; unknown method 0x8C; malformed
//! messages; an exchange left unfinished closed at the connect timeout), credentials kept
//! across a restart, and re-authentication (AUTH 0x19).
//!
//! The SCRAM client here is written from RFC 5802 for these tests; tests/e2e/test_scram.py
//! drives the broker with an independent one (scramp). Waits end on packets, never on sleeps.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use starling_broker::{Permission, Rule, RuleAction, Who};
use starling_codec::{Auth, Connect, Packet, ProtocolVersion, QoS, ReasonCode};
use starling_config::{AuthnConfig, AuthzConfig, ScramAlgorithm, ScramConfig};
use starling_testkit::{connect_packet, string, RawClient, TestBroker};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

const V5: ProtocolVersion = ProtocolVersion::V5;

async fn on(dir: PathBuf, algorithms: Vec<ScramAlgorithm>) -> TestBroker {
    TestBroker::start_with(move |cfg| {
        cfg.node.data_dir = dir;
        cfg.auth.authn = vec![AuthnConfig::Scram(ScramConfig {
            algorithms,
            iterations: 4096,
        })];
        cfg.auth.authz = vec![AuthzConfig::Builtin];
        cfg.auth.no_match_allows = false;
        cfg.auth.allow_anonymous = false;
        cfg.auth.failure_delay = Duration::from_millis(1);
        cfg.auth.max_failure_delay = Duration::from_millis(2);
    })
    .await
}

/// A broker with alice (password "wonderland") allowed `home/alice/#` only.
async fn with_alice(dir: PathBuf) -> TestBroker {
    let broker = on(dir, ScramAlgorithm::ALL.to_vec()).await;
    let builtin = broker.running().builtin();
    builtin
        .add_user("alice", b"wonderland", false)
        .await
        .expect("alice");
    builtin
        .add_rule(Rule {
            who: Who::Username("alice".into()),
            action: RuleAction::All,
            permission: Permission::Allow,
            topic: "home/alice/#".into(),
            eq: false,
        })
        .expect("rule");
    broker
}

fn hmac(algorithm: ScramAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        ScramAlgorithm::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        ScramAlgorithm::Sha512 => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// One client exchange, from RFC 5802.
struct ScramClient {
    algorithm: ScramAlgorithm,
    password: String,
    bare: String,
    nonce: String,
    server_signature: Vec<u8>,
}

impl ScramClient {
    fn new(algorithm: ScramAlgorithm, user: &str, password: &str, nonce: &str) -> Self {
        Self {
            algorithm,
            password: password.into(),
            bare: format!("n={user},r={nonce}"),
            nonce: nonce.into(),
            server_signature: Vec::new(),
        }
    }

    fn method(&self) -> &'static str {
        self.algorithm.name()
    }

    fn first(&self) -> Bytes {
        Bytes::from(format!("n,,{}", self.bare))
    }

    fn last(&mut self, server_first: &[u8]) -> Bytes {
        let server_first = std::str::from_utf8(server_first).expect("utf-8");
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").expect("r=");
        assert!(nonce.starts_with(&self.nonce) && nonce.len() > self.nonce.len());
        let salt = STANDARD
            .decode(fields[1].strip_prefix("s=").expect("s="))
            .expect("salt");
        let iterations: u32 = fields[2]
            .strip_prefix("i=")
            .expect("i=")
            .parse()
            .expect("i");
        assert_eq!(iterations, 4096);
        let a = self.algorithm;
        let mut salted = vec![0; if a == ScramAlgorithm::Sha256 { 32 } else { 64 }];
        let password = self.password.as_bytes();
        match a {
            ScramAlgorithm::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, iterations, &mut salted)
            }
            ScramAlgorithm::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, &salt, iterations, &mut salted)
            }
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        let client_key = hmac(a, &salted, b"Client Key");
        let stored_key = match a {
            ScramAlgorithm::Sha256 => Sha256::digest(&client_key).to_vec(),
            ScramAlgorithm::Sha512 => Sha512::digest(&client_key).to_vec(),
        };
        let signature = hmac(a, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(a, &salted, b"Server Key");
        self.server_signature = hmac(a, &server_key, auth_message.as_bytes());
        Bytes::from(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    fn check_final(&self, server_final: &[u8]) {
        assert_eq!(
            server_final,
            format!("v={}", STANDARD.encode(&self.server_signature)).as_bytes(),
            "server signature"
        );
    }
}

fn auth(reason: ReasonCode, method: &str, data: Bytes) -> Packet {
    let mut auth = Auth {
        reason_code: reason,
        properties: Default::default(),
    };
    auth.properties.authentication_method = Some(string(method));
    auth.properties.authentication_data = Some(data);
    Packet::Auth(auth)
}

/// The AUTH packet that comes next (panics on anything else).
async fn recv_auth(client: &mut RawClient) -> Auth {
    match client.recv().await {
        Packet::Auth(auth) => auth,
        other => panic!("expected AUTH, got {other:?}"),
    }
}

async fn send_connect(addr: SocketAddr, id: &str, scram: &ScramClient) -> RawClient {
    let mut connect: Connect = connect_packet(V5, id);
    connect.properties.authentication_method = Some(string(scram.method()));
    connect.properties.authentication_data = Some(scram.first());
    let mut client = RawClient::connect(addr, V5).await;
    client.send(&Packet::Connect(Box::new(connect))).await;
    client
}

/// The whole exchange at CONNECT; returns the client and its CONNACK.
async fn scram_connect(
    addr: SocketAddr,
    id: &str,
    scram: &mut ScramClient,
) -> (RawClient, starling_codec::ConnAck) {
    let mut client = send_connect(addr, id, scram).await;
    let challenge = recv_auth(&mut client).await;
    assert_eq!(challenge.reason_code, ReasonCode::ContinueAuthentication);
    assert_eq!(
        challenge
            .properties
            .authentication_method
            .as_ref()
            .map(|m| m.as_str()),
        Some(scram.method())
    );
    let server_first = challenge.properties.authentication_data.expect("data");
    let last = scram.last(&server_first);
    client
        .send(&auth(
            ReasonCode::ContinueAuthentication,
            scram.method(),
            last,
        ))
        .await;
    let connack = match client.recv().await {
        Packet::ConnAck(connack) => connack,
        other => panic!("expected CONNACK, got {other:?}"),
    };
    (client, connack)
}

#[tokio::test]
async fn scram_sha_256_and_512_at_connect_let_the_user_in_as_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = with_alice(dir.path().to_owned()).await;
    for algorithm in ScramAlgorithm::ALL {
        let mut scram =
            ScramClient::new(algorithm, "alice", "wonderland", "fyko+d2lbbFgONRv9qkxdawL");
        let (mut client, connack) = scram_connect(broker.addr(), "c1", &mut scram).await;
        assert_eq!(connack.reason_code, ReasonCode::Success, "{algorithm:?}");
        assert_eq!(
            connack
                .properties
                .authentication_method
                .as_ref()
                .map(|m| m.as_str()),
            Some(algorithm.name())
        );
        scram.check_final(
            connack
                .properties
                .authentication_data
                .as_deref()
                .expect("v="),
        );
        // The ACL sees alice: her subtree is granted, anything else refused.
        let granted = client.subscribe("home/alice/x", QoS::AtLeastOnce).await;
        assert_eq!(granted.reason_codes, vec![ReasonCode::GrantedQoS1]);
        let refused = client.subscribe("home/bob/x", QoS::AtLeastOnce).await;
        assert_eq!(refused.reason_codes, vec![ReasonCode::NotAuthorized]);
        client.disconnect().await;
    }
    assert_eq!(broker.metrics().auth_failures.load(Ordering::Relaxed), 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_is_0x87_an_unknown_user_0x86_and_both_are_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = with_alice(dir.path().to_owned()).await;
    let mut wrong = ScramClient::new(ScramAlgorithm::Sha256, "alice", "looking-glass", "abc");
    let (mut client, connack) = scram_connect(broker.addr(), "c1", &mut wrong).await;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    assert!(connack.properties.authentication_data.is_none());
    client.expect_closed().await;

    let unknown = ScramClient::new(ScramAlgorithm::Sha512, "mallory", "x", "abc");
    let mut client = send_connect(broker.addr(), "c2", &unknown).await;
    match client.recv().await {
        Packet::ConnAck(connack) => {
            assert_eq!(connack.reason_code, ReasonCode::BadUserNameOrPassword)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    client.expect_closed().await;
    assert_eq!(broker.metrics().auth_failures.load(Ordering::Relaxed), 2);
    broker.shutdown().await;
}

async fn connack_for(addr: SocketAddr, method: &str, data: &[u8]) -> ReasonCode {
    let mut connect: Connect = connect_packet(V5, "c");
    connect.properties.authentication_method = Some(string(method));
    connect.properties.authentication_data = Some(Bytes::copy_from_slice(data));
    let (mut client, connack) = RawClient::connect_with(addr, connect).await;
    client.expect_closed().await;
    connack.reason_code
}

#[tokio::test]
async fn an_unknown_method_is_0x8c_and_a_malformed_message_a_refusal() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = on(dir.path().to_owned(), vec![ScramAlgorithm::Sha256]).await;
    let builtin = broker.running().builtin();
    builtin
        .add_user("alice", b"pw", false)
        .await
        .expect("alice");
    let addr = broker.addr();
    for method in ["PLAIN", "SCRAM-SHA-1", "scram-sha-256", "SCRAM-SHA-512"] {
        assert_eq!(
            connack_for(addr, method, b"n,,n=alice,r=abc").await,
            ReasonCode::BadAuthenticationMethod,
            "{method}"
        );
    }
    for data in [
        &b""[..],
        b"n,,n=alice",
        b"p=tls-unique,,n=alice,r=abc",
        b"\xff\xfe",
        b"n,,n=al=ice,r=abc",
    ] {
        assert_eq!(
            connack_for(addr, "SCRAM-SHA-256", data).await,
            ReasonCode::NotAuthorized,
            "{}",
            String::from_utf8_lossy(data)
        );
    }
    // A client-final-message that is not SCRAM, and a packet other than AUTH mid-exchange.
    let scram = ScramClient::new(ScramAlgorithm::Sha256, "alice", "pw", "abc");
    let mut client = send_connect(addr, "c", &scram).await;
    recv_auth(&mut client).await;
    client
        .send(&auth(
            ReasonCode::ContinueAuthentication,
            "SCRAM-SHA-256",
            Bytes::from_static(b"garbage"),
        ))
        .await;
    match client.recv().await {
        Packet::ConnAck(connack) => assert_eq!(connack.reason_code, ReasonCode::NotAuthorized),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut client = send_connect(addr, "c", &scram).await;
    recv_auth(&mut client).await;
    client.send(&Packet::PingReq).await;
    match client.recv().await {
        Packet::ConnAck(connack) => assert_eq!(connack.reason_code, ReasonCode::ProtocolError),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // Without an Authentication Method, the chain decides as before: a username SCRAM does not
    // check is refused, and a client without one is not anonymous here.
    let (_, connack) = RawClient::connect_with(addr, connect_packet(V5, "plain")).await;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    broker.shutdown().await;
}

#[tokio::test]
async fn scram_credentials_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = with_alice(dir.path().to_owned()).await;
    broker.shutdown().await;
    let broker = on(dir.path().to_owned(), ScramAlgorithm::ALL.to_vec()).await;
    let mut scram = ScramClient::new(ScramAlgorithm::Sha512, "alice", "wonderland", "xyz");
    let (client, connack) = scram_connect(broker.addr(), "c1", &mut scram).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    scram.check_final(
        connack
            .properties
            .authentication_data
            .as_deref()
            .expect("v="),
    );
    client.disconnect().await;
    // A password changed: the new one works, the old one no longer does.
    broker
        .running()
        .builtin()
        .update_user("alice", Some(b"new"), None)
        .await
        .expect("update");
    let mut old = ScramClient::new(ScramAlgorithm::Sha256, "alice", "wonderland", "xyz");
    let (_, connack) = scram_connect(broker.addr(), "c1", &mut old).await;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    let mut new = ScramClient::new(ScramAlgorithm::Sha256, "alice", "new", "xyz");
    let (_, connack) = scram_connect(broker.addr(), "c1", &mut new).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    broker.shutdown().await;
}

/// Re-authenticates `client` (AUTH 0x19 then 0x18); returns the broker's last packet.
async fn reauthenticate(client: &mut RawClient, scram: &mut ScramClient) -> Packet {
    client
        .send(&auth(
            ReasonCode::ReAuthenticate,
            scram.method(),
            scram.first(),
        ))
        .await;
    let challenge = match client.recv().await {
        Packet::Auth(challenge) => challenge,
        other => return other,
    };
    assert_eq!(challenge.reason_code, ReasonCode::ContinueAuthentication);
    let last = scram.last(
        challenge
            .properties
            .authentication_data
            .as_deref()
            .expect("data"),
    );
    client
        .send(&auth(
            ReasonCode::ContinueAuthentication,
            scram.method(),
            last,
        ))
        .await;
    client.recv().await
}

#[tokio::test]
async fn a_client_re_authenticates_with_auth_0x19_and_keeps_its_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = with_alice(dir.path().to_owned()).await;
    let mut scram = ScramClient::new(ScramAlgorithm::Sha256, "alice", "wonderland", "one");
    let (mut client, connack) = scram_connect(broker.addr(), "c1", &mut scram).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    for round in 0..2 {
        let mut again = ScramClient::new(ScramAlgorithm::Sha256, "alice", "wonderland", "two");
        match reauthenticate(&mut client, &mut again).await {
            Packet::Auth(done) => {
                assert_eq!(done.reason_code, ReasonCode::Success, "round {round}");
                again.check_final(done.properties.authentication_data.as_deref().expect("v="));
            }
            other => panic!("expected AUTH 0x00, got {other:?}"),
        }
    }
    // Still connected, still alice.
    let granted = client.subscribe("home/alice/x", QoS::AtLeastOnce).await;
    assert_eq!(granted.reason_codes, vec![ReasonCode::GrantedQoS1]);
    client.disconnect().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_failed_re_authentication_is_0x87_and_another_method_or_no_enhanced_auth_0x82() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = with_alice(dir.path().to_owned()).await;
    broker
        .running()
        .builtin()
        .add_user("bob", b"builder", false)
        .await
        .expect("bob");
    let addr = broker.addr();
    let connected = |nonce: &'static str| async move {
        let mut scram = ScramClient::new(ScramAlgorithm::Sha256, "alice", "wonderland", nonce);
        let (client, connack) = scram_connect(addr, nonce, &mut scram).await;
        assert_eq!(connack.reason_code, ReasonCode::Success);
        client
    };
    // A wrong password.
    let mut client = connected("a").await;
    let mut wrong = ScramClient::new(ScramAlgorithm::Sha256, "alice", "nope", "x");
    match reauthenticate(&mut client, &mut wrong).await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::NotAuthorized),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    client.expect_closed().await;
    // Another user, with the right password: the connection is alice's.
    let mut client = connected("b").await;
    client
        .send(&auth(
            ReasonCode::ReAuthenticate,
            "SCRAM-SHA-256",
            Bytes::from_static(b"n,,n=bob,r=x"),
        ))
        .await;
    client.expect_disconnect(ReasonCode::NotAuthorized).await;
    // Another method than CONNECT's.
    let mut client = connected("c").await;
    client
        .send(&auth(
            ReasonCode::ReAuthenticate,
            "SCRAM-SHA-512",
            Bytes::from_static(b"n,,n=alice,r=x"),
        ))
        .await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    // A client that did not use enhanced authentication (an anonymous one, on a broker that
    // lets anonymous clients in).
    broker.shutdown().await;
    let broker = TestBroker::start_with(|cfg| {
        cfg.auth.authn = vec![AuthnConfig::Scram(ScramConfig::default())];
    })
    .await;
    let (mut client, connack) =
        RawClient::connect_with(broker.addr(), connect_packet(V5, "anon")).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    client
        .send(&auth(
            ReasonCode::ReAuthenticate,
            "SCRAM-SHA-256",
            Bytes::from_static(b"n,,n=alice,r=x"),
        ))
        .await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_exchange_left_unfinished_is_closed_at_the_connect_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_owned();
    let broker = TestBroker::start_with(move |cfg| {
        cfg.node.data_dir = path;
        cfg.auth.authn = vec![AuthnConfig::Scram(ScramConfig::default())];
        cfg.mqtt.connect_timeout = Duration::from_secs(1);
    })
    .await;
    broker
        .running()
        .builtin()
        .add_user("alice", b"pw", false)
        .await
        .expect("alice");
    let scram = ScramClient::new(ScramAlgorithm::Sha256, "alice", "pw", "abc");
    let mut client = send_connect(broker.addr(), "c", &scram).await;
    recv_auth(&mut client).await;
    // No client-final-message: the broker gives up without a CONNACK.
    assert!(client.expect_closed().await.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn without_a_scram_authenticator_every_method_is_0x8c() {
    let broker = TestBroker::start().await;
    for method in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        assert_eq!(
            connack_for(broker.addr(), method, b"n,,n=alice,r=abc").await,
            ReasonCode::BadAuthenticationMethod,
            "{method}"
        );
    }
    broker.shutdown().await;
}
