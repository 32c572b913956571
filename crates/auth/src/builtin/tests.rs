use super::*;
use crate::acl::{Action, Decision, Principal};
use crate::{AllowedBy, Authenticator, Authorizer, Credentials, Refusal};
use starling_config::{AuthnConfig, AuthzConfig, Config, IpNet};

fn creds(username: &str, password: &str) -> Credentials {
    Credentials {
        client_id: "c1".into(),
        username: Some(username.into()),
        password: Some(password.as_bytes().to_vec()),
        ..Credentials::default()
    }
}

#[test]
fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
    let one = hash_password(b"secret").expect("hashes");
    let two = hash_password(b"secret").expect("hashes");
    assert!(one.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{one}");
    assert_ne!(one, two, "a random salt each time");
    assert!(verify_password(&one, b"secret"));
    assert!(!verify_password(&one, b"Secret"));
    assert!(!verify_password("not a hash", b"secret"));
    assert_eq!(check_hash(&one), Ok(()));
    assert!(
        check_hash("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").is_err()
    );
    assert_eq!(hash_password(b""), Err(UserError::EmptyPassword));
    assert_eq!(
        hash_password(&[b'x'; MAX_PASSWORD + 1]),
        Err(UserError::PasswordTooLong(MAX_PASSWORD + 1))
    );
    assert!(hash_password(&[b'x'; MAX_PASSWORD]).is_ok());
    assert!(!verify_password(&one, &[b'x'; MAX_PASSWORD + 1]));
    assert_eq!(check_username(""), Err(UserError::EmptyUsername));
    assert_eq!(
        check_username(&"u".repeat(257)),
        Err(UserError::UsernameTooLong(257))
    );
    assert_eq!(check_username(&"u".repeat(256)), Ok(()));
}

#[test]
fn the_chain_passes_unknown_users_on_and_keeps_the_superuser_flag() {
    let mut config = Config::default().auth;
    config.allow_anonymous = false;
    config.authn = vec![AuthnConfig::Builtin, AuthnConfig::X509];
    let users = Arc::new(BuiltinUsers::new(10));
    let authn = Authenticator::load_with(&config, &users).expect("loads");
    let hash: Arc<str> = hash_password(b"pw").expect("hashes").into();
    users.put(
        "alice",
        UserEntry {
            hash: hash.clone(),
            superuser: false,
            created_at: std::time::SystemTime::UNIX_EPOCH,
            scram: Arc::from(Vec::new()),
        },
    );
    users.put(
        "root",
        UserEntry {
            hash,
            superuser: true,
            created_at: std::time::SystemTime::UNIX_EPOCH,
            scram: Arc::from(Vec::new()),
        },
    );
    assert_eq!(users.len(), 2);

    let alice = authn.authenticate(&creds("alice", "pw")).expect("allowed");
    assert_eq!((alice.by, alice.superuser), (AllowedBy::Builtin, false));
    let root = authn.authenticate(&creds("root", "pw")).expect("allowed");
    assert!(root.superuser);
    assert_eq!(
        authn.authenticate(&creds("alice", "wrong")).map(|a| a.by),
        Err(Refusal::BadCredentials)
    );
    // Unknown to builtin: passed on; x509 takes it when a certificate was verified.
    let mut carol = creds("carol", "pw");
    assert_eq!(
        authn.authenticate(&carol).map(|a| a.by),
        Err(Refusal::BadCredentials)
    );
    carol.cert_verified = true;
    assert_eq!(
        authn.authenticate(&carol).map(|a| a.by),
        Ok(AllowedBy::X509)
    );
    // Removed: unknown again.
    assert!(users.remove("alice"));
    assert!(!users.remove("alice"));
    assert_eq!(users.len(), 1);
    assert_eq!(
        users.list().into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        vec!["root".to_owned()]
    );
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

fn allow(topic: &str) -> Rule {
    rule(Who::All, RuleAction::All, Permission::Allow, topic)
}

fn deny(topic: &str) -> Rule {
    rule(Who::All, RuleAction::All, Permission::Deny, topic)
}

fn who(username: Option<&str>, client_id: &str, peer: &str) -> Principal {
    Principal::new(
        username.map(str::to_owned),
        client_id,
        Some(peer.parse().expect("ip")),
    )
}

#[test]
fn the_rule_added_first_wins_across_groups() {
    let rules = BuiltinRules::new(100);
    rules.put(
        1,
        rule(
            Who::Username("alice".into()),
            RuleAction::Publish,
            Permission::Deny,
            "a/secret",
        ),
    );
    rules.put(2, allow("a/#"));
    rules.put(
        3,
        rule(
            Who::ClientId("c9".into()),
            RuleAction::All,
            Permission::Allow,
            "a/secret",
        ),
    );
    let alice = who(Some("alice"), "c1", "192.0.2.1");
    let bob = who(Some("bob"), "c9", "192.0.2.1");
    assert_eq!(
        rules.check(&alice, Action::Publish, "a/secret"),
        Decision::Deny
    );
    assert_eq!(
        rules.check(&alice, Action::Publish, "a/open"),
        Decision::Allow
    );
    assert_eq!(
        rules.check(&alice, Action::Read, "a/secret"),
        Decision::Allow
    );
    assert_eq!(
        rules.check(&bob, Action::Publish, "a/secret"),
        Decision::Allow
    );
    assert_eq!(rules.check(&bob, Action::Publish, "b"), Decision::NoMatch);
    // Rule 1 moves to another user: alice is no longer denied.
    let before = rules.generation();
    rules.put(
        1,
        rule(
            Who::Username("bob".into()),
            RuleAction::Publish,
            Permission::Deny,
            "a/secret",
        ),
    );
    assert_ne!(rules.generation(), before);
    assert_eq!(
        rules.check(&alice, Action::Publish, "a/secret"),
        Decision::Allow
    );
    assert_eq!(
        rules.check(&bob, Action::Publish, "a/secret"),
        Decision::Deny
    );
    assert_eq!(
        rules.remove(1).map(|r| r.permission),
        Some(Permission::Deny)
    );
    assert_eq!(
        rules.check(&bob, Action::Publish, "a/secret"),
        Decision::Allow
    );
    assert_eq!(rules.len(), 2);
    assert_eq!(rules.next_id(), 4);
    assert_eq!(
        rules.list().iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![2, 3]
    );
}

#[test]
fn eq_matches_the_topic_literally() {
    let rules = BuiltinRules::new(100);
    rules.put(
        1,
        Rule {
            eq: true,
            ..deny("t/#")
        },
    );
    rules.put(
        2,
        Rule {
            eq: true,
            ..allow("s/+")
        },
    );
    rules.put(3, allow("t/#"));
    let w = who(None, "c", "192.0.2.1");
    assert_eq!(rules.check(&w, Action::Subscribe, "t/#"), Decision::Deny);
    assert_eq!(rules.check(&w, Action::Subscribe, "t/+"), Decision::Allow);
    assert_eq!(rules.check(&w, Action::Publish, "t/x"), Decision::Allow);
    assert_eq!(rules.check(&w, Action::Read, "t/x"), Decision::Allow);
    // An eq allow grants exactly that filter, and receiving what it matches.
    assert_eq!(rules.check(&w, Action::Subscribe, "s/+"), Decision::Allow);
    assert_eq!(rules.check(&w, Action::Subscribe, "s/x"), Decision::NoMatch);
    assert_eq!(rules.check(&w, Action::Read, "s/x"), Decision::Allow);
    assert_eq!(rules.check(&w, Action::Publish, "s/x"), Decision::NoMatch);
    // Templates are text in eq rules.
    rules.put(
        4,
        Rule {
            eq: true,
            ..allow("u/%u")
        },
    );
    let alice = who(Some("alice"), "c", "192.0.2.1");
    assert_eq!(
        rules.check(&alice, Action::Publish, "u/alice"),
        Decision::NoMatch
    );
    assert_eq!(
        rules.check(&alice, Action::Publish, "u/%u"),
        Decision::Allow
    );
}

#[test]
fn templates_name_the_client() {
    let rules = BuiltinRules::new(100);
    rules.put(1, allow("users/%u/#"));
    rules.put(2, allow("devices/%c"));
    let alice = who(Some("alice"), "dev1", "192.0.2.1");
    assert_eq!(
        rules.check(&alice, Action::Publish, "users/alice/x"),
        Decision::Allow
    );
    assert_eq!(
        rules.check(&alice, Action::Publish, "users/bob/x"),
        Decision::NoMatch
    );
    assert_eq!(
        rules.check(&alice, Action::Subscribe, "devices/dev1"),
        Decision::Allow
    );
    assert_eq!(
        rules.check(&alice, Action::Subscribe, "devices/dev2"),
        Decision::NoMatch
    );
}

#[test]
fn address_and_network_rules_find_their_clients() {
    let rules = BuiltinRules::new(100);
    let net = |s: &str| Who::Network(IpNet::parse(s).expect("net"));
    rules.put(
        1,
        rule(
            Who::Address("10.1.2.3".parse().expect("ip")),
            RuleAction::All,
            Permission::Deny,
            "#",
        ),
    );
    rules.put(
        2,
        rule(
            net("10.0.0.0/8"),
            RuleAction::Publish,
            Permission::Allow,
            "#",
        ),
    );
    rules.put(
        3,
        rule(
            net("2001:db8::/32"),
            RuleAction::Publish,
            Permission::Allow,
            "v6",
        ),
    );
    let inside = who(None, "c", "10.200.0.1");
    let mapped = who(None, "c", "::ffff:10.200.0.1");
    let denied = who(None, "c", "10.1.2.3");
    let outside = who(None, "c", "11.0.0.1");
    let v6 = who(None, "c", "2001:db8:1::9");
    assert_eq!(rules.check(&inside, Action::Publish, "x"), Decision::Allow);
    assert_eq!(rules.check(&mapped, Action::Publish, "x"), Decision::Allow);
    assert_eq!(rules.check(&denied, Action::Publish, "x"), Decision::Deny);
    assert_eq!(
        rules.check(&outside, Action::Publish, "x"),
        Decision::NoMatch
    );
    assert_eq!(rules.check(&v6, Action::Publish, "v6"), Decision::Allow);
    assert_eq!(rules.check(&v6, Action::Publish, "x"), Decision::NoMatch);
    let no_peer = Principal::new(None, "c", None);
    assert_eq!(
        rules.check(&no_peer, Action::Publish, "x"),
        Decision::NoMatch
    );
}

#[test]
fn many_rules_of_other_principals_are_never_looked_at() {
    // Not a timing test: rules of other users live in tries this check never opens, so the
    // answer for one principal cannot depend on them (the design property behind "cost
    // independent of the rule count").
    let rules = BuiltinRules::new(20_000);
    let many = (1..=10_000u64).map(|i| {
        (
            i,
            rule(
                Who::Username(format!("user{i}")),
                RuleAction::All,
                Permission::Deny,
                "#",
            ),
        )
    });
    rules.restore(many.chain([(10_001, allow("x"))]));
    assert_eq!(rules.len(), 10_001);
    let w = who(Some("someone"), "c", "192.0.2.1");
    assert_eq!(rules.check(&w, Action::Publish, "x"), Decision::Allow);
    let user5 = who(Some("user5"), "c", "192.0.2.1");
    assert_eq!(rules.check(&user5, Action::Publish, "x"), Decision::Deny);
}

#[test]
fn validation_names_the_field() {
    assert_eq!(allow("a/+/b").validate(), Ok(()));
    assert!(matches!(
        allow("a/#/b").validate(),
        Err(RuleError::BadFilter { .. })
    ));
    assert_eq!(
        Rule {
            eq: true,
            ..allow("a/#/b")
        }
        .validate(),
        Ok(())
    );
    assert_eq!(allow("").validate(), Err(RuleError::EmptyTopic));
    let bad_net = Rule {
        who: Who::Network(IpNet::parse("10.1.0.0/8").expect("net")),
        ..allow("a")
    };
    assert!(bad_net
        .validate()
        .expect_err("host bits")
        .to_string()
        .starts_with("who:"));
    let empty = Rule {
        who: Who::Username(String::new()),
        ..allow("a")
    };
    assert!(matches!(
        empty.validate(),
        Err(RuleError::BadName {
            what: "username",
            len: 0
        })
    ));
}

#[test]
fn the_authorizer_asks_builtin_in_order_and_sees_its_generation() {
    let mut config = Config::default().auth;
    config.authz = vec![AuthzConfig::Builtin];
    config.no_match_allows = false;
    let rules = Arc::new(BuiltinRules::new(10));
    let authz = Authorizer::load_with(&config, &rules)
        .expect("loads")
        .expect("some");
    let w = who(None, "c", "192.0.2.1");
    assert!(!authz.allows(&w, Action::Publish, "a"));
    let before = authz.generation();
    rules.put(1, allow("a"));
    assert_ne!(authz.generation(), before);
    assert!(authz.allows(&w, Action::Publish, "a"));
    assert_eq!(authz.rules(), 1);
}
