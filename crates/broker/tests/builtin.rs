//! The `builtin` authenticator and authorization source, managed through
//! `RunningBroker::builtin()`: users and rules added at run time let clients in and govern
//! their topics, a rule change holds for a client already connected, and both survive a
//! restart on the same data directory.
//!
//! Waits end on acks, SUBACKs and sentinel messages, never on sleeps.

use starling_broker::{BuiltinError, Permission, Rule, RuleAction, Who};
use starling_codec::{Connect, ProtocolVersion, QoS, ReasonCode};
use starling_config::{AuthnConfig, AuthzConfig};
use starling_testkit::{connect_packet, string, RawClient, TestBroker};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const V5: ProtocolVersion = ProtocolVersion::V5;

async fn on(dir: PathBuf) -> TestBroker {
    TestBroker::start_with(move |cfg| {
        cfg.node.data_dir = dir;
        cfg.auth.authn = vec![AuthnConfig::Builtin];
        cfg.auth.authz = vec![AuthzConfig::Builtin];
        cfg.auth.no_match_allows = false;
        cfg.auth.allow_anonymous = false;
        cfg.auth.failure_delay = Duration::from_millis(1);
        cfg.auth.max_failure_delay = Duration::from_millis(2);
    })
    .await
}

async fn connect(
    addr: SocketAddr,
    id: &str,
    user: &str,
    password: &str,
) -> (RawClient, ReasonCode) {
    let connect = Connect {
        username: Some(string(user)),
        password: Some(bytes::Bytes::copy_from_slice(password.as_bytes())),
        ..connect_packet(V5, id)
    };
    let (client, connack) = RawClient::connect_with(addr, connect).await;
    (client, connack.reason_code)
}

fn rule(who: Who, action: RuleAction, permission: Permission, topic: &str) -> Rule {
    Rule {
        who,
        action,
        permission,
        topic: topic.into(),
        eq: false,
    }
}

#[tokio::test]
async fn builtin_users_and_rules_govern_clients_change_live_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = on(dir.path().to_owned()).await;
    let builtin = broker.running().builtin();
    builtin
        .add_user("alice", b"wonderland", false)
        .await
        .expect("alice");
    builtin.add_user("root", b"toor", true).await.expect("root");
    assert!(matches!(
        builtin.add_user("alice", b"again", false).await,
        Err(BuiltinError::UserExists(_))
    ));
    let alice = Who::Username("alice".into());
    let own = builtin
        .add_rule(rule(
            alice.clone(),
            RuleAction::All,
            Permission::Allow,
            "home/%u/#",
        ))
        .expect("rule");
    let data = builtin
        .add_rule(rule(
            alice.clone(),
            RuleAction::Publish,
            Permission::Allow,
            "data/#",
        ))
        .expect("rule");
    builtin
        .add_rule(rule(
            Who::All,
            RuleAction::Subscribe,
            Permission::Deny,
            "secret/#",
        ))
        .expect("rule");
    assert!(own < data);
    let addr = broker.addr();

    // Passwords: right, wrong, unknown user.
    let (mut client, code) = connect(addr, "a1", "alice", "wonderland").await;
    assert_eq!(code, ReasonCode::Success);
    assert_eq!(
        connect(addr, "a2", "alice", "wrong").await.1,
        ReasonCode::BadUserNameOrPassword
    );
    assert_eq!(
        connect(addr, "m", "mallory", "wonderland").await.1,
        ReasonCode::BadUserNameOrPassword
    );

    // A denied subscription gets 0x87; an allowed one works.
    let denied = client.subscribe("secret/x", QoS::AtLeastOnce).await;
    assert_eq!(denied.reason_codes, vec![ReasonCode::NotAuthorized]);
    let granted = client.subscribe("home/alice/#", QoS::AtLeastOnce).await;
    assert_eq!(granted.reason_codes, vec![ReasonCode::GrantedQoS1]);
    let ok = client
        .publish("home/alice/t", "x", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(ok, ReasonCode::Success);
    client.expect_next_publish_on("home/alice/t").await;

    // A rule change holds for the connected client's next PUBLISH.
    let published = client.publish("data/1", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(published, ReasonCode::Success);
    builtin
        .update_rule(
            data,
            rule(alice, RuleAction::Publish, Permission::Deny, "data/#"),
        )
        .expect("update");
    let refused = client.publish("data/1", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(refused, ReasonCode::NotAuthorized);
    builtin.delete_rule(data).expect("delete");
    let none = client.publish("data/1", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(none, ReasonCode::NotAuthorized, "no rule: no_match denies");

    // A superuser skips every rule.
    let (mut root, code) = connect(addr, "r1", "root", "toor").await;
    assert_eq!(code, ReasonCode::Success);
    let sub = root.subscribe("secret/#", QoS::AtLeastOnce).await;
    assert_eq!(sub.reason_codes, vec![ReasonCode::GrantedQoS1]);
    root.disconnect().await;
    client.disconnect().await;

    // A changed password, a deleted user.
    builtin
        .update_user("alice", Some(b"looking-glass"), None)
        .await
        .expect("update");
    builtin
        .add_user("bob", b"builder", false)
        .await
        .expect("bob");
    builtin.delete_user("bob").expect("delete bob");
    assert!(builtin.user("bob").is_none());
    broker.shutdown().await;

    // Restart on the same data dir.
    let broker = on(dir.path().to_owned()).await;
    let builtin = broker.running().builtin();
    let names: Vec<_> = builtin.users().into_iter().map(|u| u.username).collect();
    assert_eq!(names, vec!["alice".to_owned(), "root".to_owned()]);
    assert_eq!(builtin.user("root").map(|u| u.is_superuser), Some(true));
    assert_eq!(builtin.rules().len(), 2);
    let addr = broker.addr();
    assert_eq!(
        connect(addr, "a3", "alice", "wonderland").await.1,
        ReasonCode::BadUserNameOrPassword
    );
    let (mut client, code) = connect(addr, "a4", "alice", "looking-glass").await;
    assert_eq!(code, ReasonCode::Success);
    let denied = client.subscribe("secret/x", QoS::AtLeastOnce).await;
    assert_eq!(denied.reason_codes, vec![ReasonCode::NotAuthorized]);
    let granted = client.subscribe("home/alice/x", QoS::AtLeastOnce).await;
    assert_eq!(granted.reason_codes, vec![ReasonCode::GrantedQoS1]);
    client.disconnect().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn refused_changes_name_the_field_and_change_nothing() {
    let broker = TestBroker::start().await;
    let builtin = broker.running().builtin();
    let long = "u".repeat(257);
    let error = builtin
        .add_user(&long, b"pw", false)
        .await
        .expect_err("too long");
    assert!(error.to_string().starts_with("username:"), "{error}");
    let error = builtin.add_user("u", b"", false).await.expect_err("empty");
    assert!(error.to_string().starts_with("password:"), "{error}");
    let error = builtin
        .add_rule(rule(Who::All, RuleAction::All, Permission::Allow, "a/#/b"))
        .expect_err("bad filter");
    assert!(error.to_string().starts_with("topic:"), "{error}");
    assert!(matches!(
        builtin.update_rule(9, rule(Who::All, RuleAction::All, Permission::Allow, "a")),
        Err(BuiltinError::NoSuchRule(9))
    ));
    assert!(matches!(
        builtin.delete_user("nobody"),
        Err(BuiltinError::NoSuchUser(_))
    ));
    assert!(builtin.users().is_empty() && builtin.rules().is_empty());
    broker.shutdown().await;
}
