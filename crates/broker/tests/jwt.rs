//! JWT authentication at the broker: the token as password, its `acl` claim enforced before
//! any configured source, and the connection closed when the token expires.

use jsonwebtoken::{encode, EncodingKey, Header};
use starling_codec::{Connect, ProtocolVersion, QoS, ReasonCode};
use starling_testkit::{connect_packet, string, RawClient, TestBroker};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "a-test-secret-of-some-length";

fn token(exp_in: i64, acl: Option<serde_json::Value>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut claims = serde_json::json!({ "exp": now + exp_in, "sub": "device-1" });
    if let Some(acl) = acl {
        claims["acl"] = acl;
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

async fn broker() -> TestBroker {
    let auth = starling_config::parse_str(
        &format!(
            "[auth]\nallow_anonymous = false\nfailure_delay = \"1ms\"\nmax_failure_delay = \"1ms\"\n\
             [[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n"
        ),
        "jwt test",
    )
    .expect("config")
    .auth;
    TestBroker::start_with(move |c| c.auth = auth).await
}

async fn connect(addr: SocketAddr, id: &str, password: &str) -> (RawClient, ReasonCode) {
    let connect = Connect {
        username: Some(string("device")),
        password: Some(bytes::Bytes::copy_from_slice(password.as_bytes())),
        ..connect_packet(ProtocolVersion::V5, id)
    };
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    (client, connack.reason_code)
}

#[tokio::test]
async fn a_valid_token_gets_in_and_a_bad_or_expired_one_does_not() {
    let b = broker().await;
    let (_c, code) = connect(b.addr(), "jwt-ok", &token(600, None)).await;
    assert_eq!(code, ReasonCode::Success);
    let (_c, code) = connect(b.addr(), "jwt-old", &token(-10, None)).await;
    assert_eq!(code, ReasonCode::BadUserNameOrPassword);
    let mut forged = token(600, None);
    forged.push('x');
    let (_c, code) = connect(b.addr(), "jwt-forged", &forged).await;
    assert_eq!(code, ReasonCode::BadUserNameOrPassword);
    // Not a token at all: no authenticator claims it, and a username was sent.
    let (_c, code) = connect(b.addr(), "jwt-none", "hunter2").await;
    assert_eq!(code, ReasonCode::BadUserNameOrPassword);
}

#[tokio::test]
async fn the_acl_claim_is_enforced() {
    let b = broker().await;
    let acl = serde_json::json!([
        { "permission": "allow", "action": "publish", "topic": "devices/%c/out" },
        { "permission": "allow", "action": "subscribe", "topic": "devices/%c/in" },
        { "permission": "deny", "action": "all", "topic": "#" }
    ]);
    let (mut client, code) = connect(b.addr(), "dev-7", &token(600, Some(acl))).await;
    assert_eq!(code, ReasonCode::Success);
    let ack = client.subscribe("devices/dev-7/in", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::GrantedQoS1]);
    let ack = client.subscribe("devices/dev-8/in", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::NotAuthorized]);
    let ok = client
        .publish("devices/dev-7/out", b"m", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(ok, ReasonCode::Success);
    let denied = client
        .publish("devices/dev-8/out", b"m", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(denied, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn the_connection_closes_when_the_token_expires() {
    let b = broker().await;
    let (mut client, code) = connect(b.addr(), "jwt-short", &token(2, None)).await;
    assert_eq!(code, ReasonCode::Success);
    // The scenario is real time passing: the token's exp is 2 s away (whole seconds).
    let closed = tokio::time::timeout(Duration::from_secs(10), client.expect_closed())
        .await
        .expect("closed by the broker within 10 s");
    assert_eq!(
        closed.map(|d| d.reason_code),
        Some(ReasonCode::NotAuthorized)
    );
}
